"""Who and what the member blocked or muted, as Mastodon apps list them:
``GET /api/v1/blocks`` and ``/mutes`` (accounts; a blocked community is its Group
account), and ``/api/v1/domain_blocks`` (the member's domain mutes: Commonground's
way of not seeing a whole server), which apps also add to and remove from. Over
app/services/blocks.py and mutes.py, as the pages and the native API are."""

from __future__ import annotations

import contextlib
from typing import Any

from anyio.to_thread import run_sync
from fastapi import APIRouter, Request
from pydantic import Field
from sqlmodel import col, select

from app.api.auth import Reader, Writer
from app.deps import CtxDep
from app.errors import NotFound
from app.mastodon import entities, params
from app.models import Account, Community
from app.services import Ctx, blocks, mutes

router = APIRouter(prefix="/api/v1")


@router.get("/blocks")
def blocked(ctx: CtxDep, viewer: Reader) -> list[dict[str, Any]]:
    """Newest block first; a block of someone this server no longer knows is left out."""
    actors = [actor for _, actor in blocks.listing(ctx, viewer) if actor is not None]
    return _accounts(ctx, actors)


@router.get("/mutes")
def muted(ctx: CtxDep, viewer: Reader) -> list[dict[str, Any]]:
    """The accounts muted (threads, tags and domains are muted too, not listed here)."""
    uris = [row.target for row, _ in mutes.listing(ctx, viewer) if row.kind == "account"]
    rows = ctx.db.exec(select(Account).where(col(Account.uri).in_(uris))) if uris else []
    known = {a.uri: a for a in rows}
    return _accounts(ctx, [known[u] for u in uris if u in known])


@router.get("/domain_blocks")
def blocked_domains(ctx: CtxDep, viewer: Reader) -> list[str]:
    return [row.target for row, _ in mutes.listing(ctx, viewer) if row.kind == "domain"]


class DomainParams(params.Params):
    domain: params.Text = Field(min_length=1, max_length=253)


@router.post("/domain_blocks")
async def block_domain(request: Request, ctx: CtxDep, viewer: Writer) -> dict[str, Any]:
    given = params.parse(DomainParams, await params.read(request))
    await run_sync(_mute_domain, ctx, viewer, given.domain, True)
    return {}


@router.delete("/domain_blocks")
async def unblock_domain(request: Request, ctx: CtxDep, viewer: Writer) -> dict[str, Any]:
    given = params.parse(DomainParams, await params.read(request))
    await run_sync(_mute_domain, ctx, viewer, given.domain, False)
    return {}


def _mute_domain(ctx: Ctx, viewer: Account, domain: str, on: bool) -> None:
    target = mutes.parse(ctx, f"domain:{domain}")
    if on:
        mutes.mute(ctx, viewer, target)
        return
    with contextlib.suppress(NotFound):  # not muted: answered the same, as Mastodon does
        mutes.unmute(ctx, viewer, target)


def _accounts(ctx: Ctx, actors: list[Account | Community]) -> list[dict[str, Any]]:
    people = [a for a in actors if isinstance(a, Account)]
    bands = [a for a in actors if isinstance(a, Community)]
    cards = entities.accounts(ctx, people)
    groups = entities.groups(ctx, bands)
    return [cards[a.id] if isinstance(a, Account) else groups[a.id] for a in actors]
