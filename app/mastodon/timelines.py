"""Timelines in the Mastodon client API: home, public (local or remote only) and
by hashtag, newest first by status id (the post's time), paged with max_id,
since_id and min_id and a Link header.

The home timeline has the home feed's sources (people and communities followed,
the member's communities, replies in their threads) in time order: Mastodon apps
show a timeline, so the member's ranking algorithm does not apply here (the
native API's /api/cg/v1/feed/home keeps it, and so does the "home" list: the
ranked feeds are lists, app/mastodon/lists.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from app.api.auth import MaybeAccount, Reader
from app.deps import CtxDep
from app.mastodon import entities, groups
from app.mastodon.pagination import Page, PageDep, linked
from app.models import Account, Post
from app.services import Ctx
from app.services.ranking import feeds
from app.services.ranking.types import Sources
from app.text import normalize_tag

router = APIRouter(prefix="/api/v1/timelines")

Json = dict[str, Any]


def answer(
    ctx: Ctx,
    request: Request,
    response: Response,
    rows: list[Post],
    viewer: Account | None,
) -> list[Json]:
    """Statuses for ``rows`` with the Link header that pages on from them."""
    return linked(response, request, ctx.base_url, entities.statuses(ctx, rows, viewer))


def in_time_order(ctx: Ctx, sources: Sources, viewer: Account | None, page: Page) -> list[Post]:
    """One page of ``sources`` by status id, under every feed's hiding rules."""
    return feeds.in_time_order(
        ctx,
        sources,
        viewer,
        below=page.below,
        above=page.above,
        oldest_first=page.oldest_first,
        limit=page.limit,
    )


def _origin(local: bool, remote: bool) -> str | None:
    if local and not remote:
        return "local"
    if remote and not local:
        return "remote"
    return None


@router.get("/home")
def home(
    request: Request, response: Response, ctx: CtxDep, viewer: Reader, page: PageDep
) -> list[Json]:
    """Community posts are their Group's boosts here (app/mastodon/groups.py)."""
    return groups.home(ctx, request, response, viewer, page)


@router.get("/public")
def public(
    request: Request,
    response: Response,
    ctx: CtxDep,
    viewer: MaybeAccount,
    page: PageDep,
    local: bool = False,
    remote: bool = False,
) -> list[Json]:
    """Every post this instance holds that starts a thread (replies are left out,
    as Mastodon's public timeline leaves them); ``only_media`` is not filtered on."""
    sources = Sources(everyone=True, top_level_only=True, origin=_origin(local, remote))
    return answer(ctx, request, response, in_time_order(ctx, sources, viewer, page), viewer)


@router.get("/tag/{tag}")
def by_tag(
    tag: Annotated[str, Path(max_length=100)],
    request: Request,
    response: Response,
    ctx: CtxDep,
    viewer: MaybeAccount,
    page: PageDep,
    local: bool = False,
    remote: bool = False,
) -> list[Json]:
    name = normalize_tag(tag.lstrip("#"))[:100]
    if not name:
        return []
    sources = Sources(tag=name, origin=_origin(local, remote))
    return answer(ctx, request, response, in_time_order(ctx, sources, viewer, page), viewer)
