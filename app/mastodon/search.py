"""Search in the Mastodon client API: GET /api/v2/search (accounts, statuses and
hashtags at once, or one ``type``) and the accounts of GET /api/v1/accounts/search,
both over app/services/search.py, so the two always find the same accounts.

``resolve`` makes a remote ``name@domain`` or URL known first, with the lookup
the native search and the pages use (:func:`app.web.lookup.search_lookup`: the
one fetcher, WebFinger then the actor, or the object store for a post), run in
:func:`resolve_first` before the request's transaction is opened. As in
Mastodon, only a signed-in member may resolve or page with ``offset`` (401), and
a handle that could not be resolved is nothing found, not an error. See
docs/mastodon-api.md ("Search")."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field
from sqlmodel import col, select

from app.api.auth import MaybeAccount, _bearer
from app.deps import CtxDep
from app.errors import DomainError, Invalid, NotAuthenticated, NotFound
from app.mastodon import entities, ids, params
from app.mastodon.pagination import DEFAULT_LIMIT, MAX_LIMIT
from app.models import Account, Community, Post
from app.services import Ctx, auth, follows, search
from app.web.lookup import search_lookup
from federation.network import in_db

log = logging.getLogger("commonground.mastodon.search")
router = APIRouter()

Json = dict[str, Any]
TYPES = ("accounts", "statuses", "hashtags")
MAX_OFFSET = 10_000
MAX_ROUNDS = 20  # pages of the search service one answer may walk (offset, filters)


class SearchParams(params.Params):
    q: params.Text = Field(default="", max_length=2048)
    type: str | None = Field(default=None, max_length=20)
    resolve: bool = False
    following: bool = False
    account_id: str | None = Field(default=None, max_length=40)
    limit: str | None = Field(default=None, max_length=20)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


def limit_of(value: str | None, default: int = DEFAULT_LIMIT) -> int:
    """Read leniently, as Mastodon does (and pagination.py): unreadable is the default."""
    if value is None or not value.strip().isdigit() or len(value) > 6:
        return default
    return min(max(int(value), 1), MAX_LIMIT)


async def resolve_first(request: Request) -> SearchParams:
    """Before the transaction: check the parameters, refuse what needs a token
    without one, and with ``resolve`` (and a valid token) look the handle or URL up
    on its server. A lookup that fails leaves nothing found."""
    given = params.parse(SearchParams, await params.read(request))
    raw = _bearer(request.headers.get("authorization"))
    if given.offset and raw is None:
        raise NotAuthenticated("Paging a search needs a token.", code="offset_needs_token")
    if not given.resolve:
        return given
    if raw is None:
        raise NotAuthenticated("Resolving needs a token.", code="resolve_needs_token")
    engine, settings = request.app.state.engine, request.app.state.settings
    await in_db(engine, settings, lambda ctx: auth.token_account(ctx, raw), write=False)
    try:
        await search_lookup(request, given.q)
    except NotFound as exc:
        log.info("resolving %r found nothing: %s", given.q[:200], exc.detail)
    return given


Keep = Callable[[list[Any]], list[Any]]


def _walk(ctx: Ctx, viewer: Account | None, q: str, kind: str, want: int, keep: Keep) -> list[Any]:
    """The first ``want`` hits of ``kind`` that ``keep`` keeps of each page, walking
    the search service's cursor (a few rounds at most)."""
    out: list[Any] = []
    cursor: str | None = None
    for _ in range(MAX_ROUNDS):
        try:
            page = search.search(
                ctx, viewer, q, type=kind, cursor=cursor, limit=min(search.MAX_LIMIT, want)
            )
        except Invalid as exc:
            if exc.code == "empty_query":  # only punctuation: nothing to find
                return []
            raise
        out += keep(page.items if page.type == kind else [])
        cursor = page.next_cursor
        if len(out) >= want or cursor is None:
            break
    return out[:want]


def found_accounts(
    ctx: Ctx,
    viewer: Account | None,
    q: str,
    *,
    limit: int,
    offset: int = 0,
    following: bool = False,
) -> list[Json]:
    """Account entities for ``q`` (``following``: only those the viewer follows):
    members, then communities as Group accounts (app/mastodon/groups.py)."""
    if not q.strip():
        return []

    def keep(items: list[Any]) -> list[Any]:
        found = [a for a in items if isinstance(a, Account | Community)]
        if not following or viewer is None:
            return found
        people = [a for a in found if isinstance(a, Account)]
        pairs = follows.accepted_between(ctx, [viewer.id], [a.id for a in people])
        return [a for a in people if (viewer.id, a.id) in pairs]

    hits = _walk(ctx, viewer, q, "members", offset + limit, keep)[offset:]
    people = [h for h in hits if isinstance(h, Account)]
    bands = [h for h in hits if isinstance(h, Community)]  # ``@name`` of a community
    if not following and not bands and offset == 0 and len(people) < limit:
        more = search.search(ctx, viewer, q, type="communities", limit=limit - len(people))
        bands = [c for c in more.items if isinstance(c, Community)]
    cards = entities.accounts(ctx, people)
    return [cards[p.id] for p in people] + list(entities.groups(ctx, bands).values())


def _found_statuses(
    ctx: Ctx, viewer: Account | None, q: str, *, limit: int, offset: int, author: Account | None
) -> list[Json]:
    def keep(items: list[Any]) -> list[Any]:
        return [v for v in items if author is None or v.author.uri == author.uri]

    views = _walk(ctx, viewer, q, "posts", offset + limit, keep)[offset:]
    wanted = [v.id for v in views]
    if not wanted:
        return []
    rows = {p.id: p for p in ctx.db.exec(select(Post).where(col(Post.id).in_(wanted)))}
    return entities.statuses(ctx, [rows[i] for i in wanted if i in rows], viewer)


def _hashtags(ctx: Ctx, q: str, *, limit: int, offset: int) -> list[Json]:
    return [
        {"name": tag, "url": f"{ctx.base_url}/tags/{tag}", "history": [], "following": False}
        for tag in search.hashtags(ctx, q, limit=limit, offset=offset)
    ]


@router.get("/api/v2/search")
def search_v2(
    given: Annotated[SearchParams, Depends(resolve_first)], ctx: CtxDep, viewer: MaybeAccount
) -> Json:
    """Accounts, statuses and hashtags matching ``q``, each list its own ``limit``
    (default 20, at most 40) after ``offset``."""
    if not given.q.strip():
        raise DomainError("param is missing or the value is empty: q", code="missing_q")
    if given.type is not None and given.type not in TYPES:
        raise Invalid(f"type must be one of {', '.join(TYPES)}.", code="invalid_type")
    wanted = [given.type] if given.type else list(TYPES)
    limit, offset = limit_of(given.limit), given.offset
    author = ids.account_by_id(ctx, given.account_id) if given.account_id else None
    out: Json = {"accounts": [], "statuses": [], "hashtags": []}
    if "accounts" in wanted and author is None:
        out["accounts"] = found_accounts(
            ctx, viewer, given.q, limit=limit, offset=offset, following=given.following
        )
    if "statuses" in wanted:
        out["statuses"] = _found_statuses(
            ctx, viewer, given.q, limit=limit, offset=offset, author=author
        )
    if "hashtags" in wanted and author is None:
        out["hashtags"] = _hashtags(ctx, given.q, limit=limit, offset=offset)
    return out
