"""Commonground's ranked feeds as Mastodon lists: the member's own ranked home
feed and one per community they belong to, and their timelines in the server's
order (docs/mastodon-api.md, "Ranked feeds").

A list's id is ``home`` or ``community-<the community's row id>``: stable while
the membership lasts, and never a number, so no app mistakes it for a status id.
Lists here are the ranked feeds; making, renaming or filling one is refused (422).

The ranking's order is not the order of status ids, so a list timeline's pages
are cut by the ranking's own cursor, which the ``next`` link carries in
``max_id`` (the one parameter clients copy from it, Mastodon.py included)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from itertools import islice
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlmodel import col, select

from app.api.auth import MaybeAccount, Reader, reader
from app.deps import CtxDep
from app.errors import Invalid, NotFound
from app.mastodon import entities, ids
from app.mastodon.pagination import CURSORS, Page, page_params
from app.models import MAX_ID, Account, Community, Post
from app.services import Ctx, communities
from app.services.ranking import feeds
from app.services.ranking.types import WINDOW, FeedItem

router = APIRouter()

Json = dict[str, Any]
HOME = "home"
COMMUNITY = "community-"
READ_ONLY = (
    "Lists here are the ranked feeds (your home feed and your communities'): "
    "they can't be made, changed or filled; see docs/mastodon-api.md."
)
_Cursor = Annotated[str | None, Query(max_length=500)]


def _entity(list_id: str, title: str, replies_policy: str) -> Json:
    return {"id": list_id, "title": title, "replies_policy": replies_policy, "exclusive": False}


def _memberships(ctx: Ctx, viewer: Account) -> list[Community]:
    return [c for c, m in communities.of_member(ctx, viewer) if m.state == "active"]


def _lists(ctx: Ctx, viewer: Account) -> Iterator[tuple[Json, feeds.RankedFeed]]:
    home = feeds.home_feed(ctx, viewer)
    yield _entity(HOME, f"Ranked: {home.ranking.name}", "followed"), home
    for group in _memberships(ctx, viewer):
        feed = feeds.community_feed(ctx, group)
        title = f"{group.display_title} · {feed.ranking.name}"
        yield _entity(f"{COMMUNITY}{group.id}", title, "none"), feed


def _find(ctx: Ctx, viewer: Account, list_id: str) -> tuple[Json, feeds.RankedFeed]:
    """The viewer's list with this id, else 404 (also for a community they left)."""
    if list_id == HOME:
        return next(_lists(ctx, viewer))
    n = ids.number(list_id.removeprefix(COMMUNITY)) if list_id.startswith(COMMUNITY) else None
    group = next((c for c in _memberships(ctx, viewer) if c.id == n), None)
    if n is None or n > MAX_ID or group is None:
        raise NotFound("No such list.", code="list_not_found")
    feed = feeds.community_feed(ctx, group)
    return _entity(list_id, f"{group.display_title} · {feed.ranking.name}", "none"), feed


@router.get("/api/v1/lists")
def all_lists(ctx: CtxDep, viewer: Reader) -> list[Json]:
    return [entity for entity, _ in _lists(ctx, viewer)]


@router.get("/api/v1/lists/{list_id}")
def one_list(list_id: str, ctx: CtxDep, viewer: Reader) -> Json:
    return _find(ctx, viewer, list_id)[0]


@router.get("/api/v1/lists/{list_id}/accounts")
def list_accounts(list_id: str, ctx: CtxDep, viewer: Reader) -> list[Json]:
    """A ranked feed has no member list of its own: none."""
    _find(ctx, viewer, list_id)
    return []


def _refuse() -> Json:
    raise Invalid(READ_ONLY, code="lists_are_ranked_feeds")


router.add_api_route("/api/v1/lists", _refuse, methods=["POST"], dependencies=[Depends(reader)])
for _path, _methods in (
    ("/api/v1/lists/{list_id}", ["PUT", "DELETE"]),
    ("/api/v1/lists/{list_id}/accounts", ["POST", "DELETE"]),
):
    router.add_api_route(_path, _refuse, methods=_methods, dependencies=[Depends(reader)])


# --- statuses in the ranking's order ------------------------------------------


def why(item: FeedItem) -> Json:
    """The ranking service's own explanation of an item, as the native feed gives it."""
    return {
        "algorithm": item.algorithm,
        "version": item.version,
        "sha256": item.sha256,
        "score": item.score,
        "factors": item.factors,
        "reasons": [asdict(r) for r in item.reasons],
    }


def ranked_statuses(ctx: Ctx, items: list[FeedItem], viewer: Account | None) -> list[Json]:
    """Status entities for ranked items, in their order, each with its ``why``."""
    wanted = [i.post.id for i in items]
    if not wanted:
        return []
    rows = {p.id: p for p in ctx.db.exec(select(Post).where(col(Post.id).in_(wanted)))}
    shown = entities.statuses(ctx, [rows[i] for i in wanted], viewer)
    for status, item in zip(shown, items, strict=True):
        status["commonground"]["why"] = why(item)
    return shown


def _status_ids(ctx: Ctx, items: list[FeedItem]) -> dict[int, int]:
    """The status id of each item's post, by post id."""
    wanted = [i.post.id for i in items]
    if not wanted:
        return {}
    rows = ctx.db.exec(select(col(Post.id), col(Post.status_id)).where(col(Post.id).in_(wanted)))
    return {pid: sid or 0 for pid, sid in rows}


def _page(
    ctx: Ctx, feed: feeds.RankedFeed, viewer: Account, max_id: str | None, page: Page
) -> list[FeedItem]:
    """One page in the ranking's order: after a cursor of ours; after a status
    id (where that status ranks, if it is in the ranked window); or the items
    newer than ``since_id``/``min_id``, wherever they rank."""
    if page.above is not None or (max_id and max_id.isdigit()):
        walked = list(feeds.walk(ctx, feed, viewer))
        status_of = _status_ids(ctx, walked)
        if page.above is not None:
            return [i for i in walked if status_of[i.post.id] > page.above][: page.limit]
        n = ids.number(max_id)
        found = next((i for i in walked if status_of[i.post.id] == n), None)
        if found is None or found.cursor is None:
            return []
        max_id = found.cursor
    return feeds.build_feed(
        ctx,
        feed.sources,
        viewer=viewer,
        cursor=max_id or None,
        limit=page.limit,
        ranking=feed.ranking,
    ).items


def _link(request: Request, base_url: str, query: dict[str, str], rel: str) -> str:
    """The request's own URL with ``query`` in place of its cursors (and offset)."""
    dropped = (*CURSORS, "offset", *query)
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in dropped]
    return f'<{base_url}{request.url.path}?{urlencode([*kept, *query.items()])}>; rel="{rel}"'


@router.get("/api/v1/timelines/list/{list_id}")
def list_timeline(
    list_id: str,
    request: Request,
    response: Response,
    ctx: CtxDep,
    viewer: Reader,
    max_id: _Cursor = None,
    since_id: _Cursor = None,
    min_id: _Cursor = None,
    limit: _Cursor = None,
) -> list[Json]:
    """The list's feed in the ranking's order (not by id). ``next`` carries the
    cursor after the last status shown; ``prev`` the newest status id shown."""
    _, feed = _find(ctx, viewer, list_id)
    page = page_params(since_id=since_id, min_id=min_id, limit=limit)
    items = _page(ctx, feed, viewer, max_id, page)
    shown = ranked_statuses(ctx, items, viewer)
    links = []
    if items and items[-1].cursor:
        links.append(_link(request, ctx.base_url, {"max_id": items[-1].cursor}, "next"))
    if shown:
        newest = max(shown, key=lambda s: int(s["id"]))["id"]
        links.append(_link(request, ctx.base_url, {"min_id": newest}, "prev"))
    if links:
        response.headers["Link"] = ", ".join(links)
    return shown


@router.get("/api/v1/trends/statuses")
def trending_statuses(
    request: Request,
    response: Response,
    ctx: CtxDep,
    viewer: MaybeAccount,
    offset: _Cursor = None,
    limit: _Cursor = None,
) -> list[Json]:
    """The instance's ranking of every thread it holds, by ``offset`` (Mastodon's
    way for trends), up to the ranked window's end."""
    start = int(offset) if offset and offset.isdigit() and len(offset) < 6 else 0
    size = page_params(limit=limit).limit
    if start >= WINDOW:
        return []
    feed = feeds.instance_feed(ctx)
    items = list(islice(feeds.walk(ctx, feed, viewer, most=start + size), start, None))
    shown = ranked_statuses(ctx, items, viewer)
    if len(items) == size:
        query = {"offset": str(start + size), "limit": str(size)}
        response.headers["Link"] = _link(request, ctx.base_url, query, "next")
    return shown
