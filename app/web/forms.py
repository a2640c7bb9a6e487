"""Helpers for form handlers: typed form fields, and re-showing a form after an error."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse

from app.api.schemas import CleanStr
from app.errors import DomainError, RateLimited
from app.services import Ctx
from app.web.templating import render

ShortField = Annotated[CleanStr, Form(max_length=300)]
TextField = Annotated[CleanStr, Form(max_length=1_000_000)]
OptionalShort = Annotated[CleanStr, Form(max_length=300)]


def show_error(
    request: Request, ctx: Ctx, exc: DomainError, template: str, **context: object
) -> HTMLResponse:
    """Roll back whatever the failed action wrote, then show the form again with
    the member's input kept and the problem explained."""
    ctx.db.rollback()
    response = render(request, template, status=exc.status, error=exc.detail, **context)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response
