"""Helpers for form handlers: typed form fields, and re-showing a form after an error."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app.api.schemas import CleanStr
from app.errors import DomainError, RateLimited
from app.services import Ctx
from app.web.templating import render

ShortField = Annotated[CleanStr, Form(max_length=300)]
TextField = Annotated[CleanStr, Form(max_length=1_000_000)]
OptionalShort = Annotated[CleanStr, Form(max_length=300)]
Confirm = Annotated[str, Form(max_length=10)]


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


def unconfirmed(request: Request, confirm: str) -> RedirectResponse | None:
    """Destructive forms (delete, remove, suspend, leave, dissolve) act only with
    ``confirm=yes``, which their confirmation page (a GET on the same address) adds.
    Without it nothing is done and the person is sent to that page to decide."""
    if confirm == "yes":
        return None
    return RedirectResponse(request.url.path, status_code=303)


def confirmation(
    request: Request, *, question: str, consequence: str, button: str, back: str
) -> HTMLResponse:
    """The read-only page that asks before a destructive action: it explains what
    will happen and posts the action's own form with ``confirm=yes``."""
    return render(
        request,
        "confirm.html",
        question=question,
        consequence=consequence,
        button=button,
        action=request.url.path,
        back=back,
    )
