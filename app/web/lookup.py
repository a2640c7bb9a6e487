"""Looking up a remote actor before a request's transaction (pages and API share it)."""

from __future__ import annotations

from fastapi import Request

from app.errors import NotFound
from federation.fetcher import FetchError
from federation.network import ensure_known
from federation.remote import InvalidActor


async def remote_lookup(request: Request, target: str) -> None:
    """Make ``name@domain`` or a remote actor URL known here, or say clearly why not."""
    try:
        await ensure_known(request.app.state.engine, request.app.state.settings, target)
    except (FetchError, InvalidActor) as exc:
        raise NotFound(
            f"Could not find “{target[:200]}” on its instance: {exc}", code="target_not_found"
        ) from exc
