"""Looking up a remote actor before a request's transaction (pages and API share it)."""

from __future__ import annotations

import logging

from fastapi import Request

from app.errors import DomainError, NotFound
from app.models import Account, Community
from app.services import Ctx, follows
from app.web.templating import SESSION_COOKIE
from federation import handlers
from federation.fetcher import FetchError, plain_reason
from federation.network import ensure_known
from federation.remote import InvalidActor
from federation.resolve import looks_remote, resolve

log = logging.getLogger("commonground.lookup")


async def remote_lookup(request: Request, target: str) -> None:
    """Make ``name@domain`` or a remote actor URL known here, or say clearly why not."""
    try:
        await ensure_known(request.app.state.engine, request.app.state.settings, target)
    except (FetchError, InvalidActor) as exc:
        log.info("looking up %r failed: %s", target[:200], exc)  # the technical reason
        reason = (
            plain_reason(exc)
            if isinstance(exc, FetchError)
            else "That server answered, but not with an account or community we can use."
        )
        raise NotFound(
            f"Could not find “{target[:200]}”. {reason}", code="target_not_found"
        ) from exc


async def look_up_form_target(request: Request) -> None:
    """A page dependency: before the transaction, make the form's ``target`` known;
    a failure waits in ``request.state.lookup_error`` for the handler to show."""
    form = await request.form()
    try:
        await remote_lookup(request, str(form.get("target", ""))[:2048])
        request.state.lookup_error = None
    except DomainError as exc:
        request.state.lookup_error = exc


def form_target(request: Request, ctx: Ctx, target: str) -> Account | Community:
    """The actor a form named, after :func:`look_up_form_target` ran (its failure,
    if any, is raised here, inside the handler's error handling)."""
    if request.state.lookup_error is not None:
        raise request.state.lookup_error
    return follows.resolve_target(ctx, target)


def _signed_in(request: Request) -> bool:
    """Whether the request carries a member's credentials (checked later, in the
    transaction): anonymous readers never make this server fetch from others."""
    return bool(request.headers.get("authorization") or request.cookies.get(SESSION_COOKIE))


async def search_lookup(request: Request, q: str) -> None:
    """Before a search's transaction: make a remote ``name@domain``, actor URL or
    post URL known here, or say clearly why not (404 ``target_not_found``)."""
    settings = request.app.state.settings
    if not looks_remote(settings, q) or not _signed_in(request):
        return
    try:
        await resolve(request.app.state.engine, settings, q)
    except (FetchError, InvalidActor, handlers.Ignored) as exc:
        log.info("looking up %r failed: %s", q[:200], exc)
        reason = (
            plain_reason(exc)
            if isinstance(exc, FetchError)
            else "That server answered, but not with a post, account or community we can use."
        )
        raise NotFound(f"Could not find “{q[:200]}”. {reason}", code="target_not_found") from exc
