"""Request-scoped dependencies shared by the JSON API and the web pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request

from app.db import transaction
from app.services import Ctx


def get_ctx(request: Request) -> Iterator[Ctx]:
    """One transaction per request, committed *before* the response is sent
    (``scope="function"``), so a client never sees success for a lost write."""
    with transaction(request.app.state.engine) as db:
        yield Ctx(db, request.app.state.settings)


CtxDep = Annotated[Ctx, Depends(get_ctx, scope="function")]


def client_ip(request: Request) -> str:
    """The client address as uvicorn reports it (with --proxy-headers behind nginx)."""
    return request.client.host if request.client else "unknown"
