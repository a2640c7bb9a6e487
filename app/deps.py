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
    # Even a GET may write a little (a token's last use, a built-in module's first
    # row, an actor's key); on SQLite a reader that turns writer fails with "database
    # is locked" if the worker committed meanwhile, so requests take the write lock
    # up front there (they are short). On PostgreSQL this costs nothing.
    with transaction(request.app.state.engine) as db:
        yield Ctx(db, request.app.state.settings)


CtxDep = Annotated[Ctx, Depends(get_ctx, scope="function")]


def client_ip(request: Request) -> str:
    """The client address as uvicorn reports it (with --proxy-headers behind nginx)."""
    return request.client.host if request.client else "unknown"
