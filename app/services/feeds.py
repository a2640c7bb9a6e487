"""Feeds: candidate sourcing, then ranking, then pagination — in one pipeline.

Pages and the API never order posts themselves. They describe *where* a feed's
candidates come from (:class:`Sources`) and pass a :class:`Ranking` strategy;
:func:`build_feed` does the rest. :class:`Chronological` is the default; ranking
modules plug in as further strategies (:mod:`app.services.ranking`).

Candidate sourcing is index-driven: one ``ORDER BY created_at DESC LIMIT n``
subquery per followed community or author (each a range scan on a composite
index), merged by a UNION. A deep page costs the same as the first one, since
the cursor is a keyset ``(created_at, id)``, not an OFFSET.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Protocol

from sqlalchemy import Select, bindparam, tuple_, union
from sqlmodel import select

from app.errors import DomainError
from app.models import MAX_ID, Account, Community, Follow, Membership, Post, PostTag
from app.services import Ctx, blocks
from app.services.views import PostView, present

MAX_LIMIT = 100
# SQLite allows 500 terms in a compound SELECT; beyond this many sources we
# fall back to IN-lists, which are still indexed but sort more rows.
MAX_SOURCE_SUBQUERIES = 200


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: before ``(created_at, id)``; for ranked feeds also the
    ``offset`` into the ranking of the window that ends there."""

    created_at: datetime
    id: int
    offset: int = 0

    def encode(self) -> str:
        data = {"t": self.created_at.isoformat(), "i": self.id}
        if self.offset:
            data["o"] = self.offset
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        """The cursor a client sent back, or ``invalid_cursor`` (400) for anything
        we did not make: garbled, out of range, or a time the database can't hold."""
        try:
            padded = value + "=" * (-len(value) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if not isinstance(data, dict) or not isinstance(data.get("t"), str):
                raise ValueError("not a cursor")
            created_at = datetime.fromisoformat(data["t"])
            if created_at.tzinfo is None:
                raise ValueError("a cursor's time carries its offset")
            created_at = created_at.astimezone(UTC)  # OverflowError near year 1 or 9999
            row_id, offset = data.get("i"), data.get("o", 0)
            # ids follow the columns' range (models.MAX_ID); a ranked window's
            # anchor lies one past its newest id
            if not _is_int(row_id) or not 0 < row_id <= MAX_ID + 1:
                raise ValueError("id out of range")
            if not _is_int(offset) or not 0 <= offset <= WINDOW:
                raise ValueError("offset out of range")
        except (ValueError, OverflowError, RecursionError, binascii.Error) as exc:
            raise DomainError("That page cursor is not valid.", code="invalid_cursor") from exc
        return cls(created_at, row_id, offset)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class Sources:
    """Where a feed's candidates come from. Empty lists mean "none"."""

    community_ids: list[int] = field(default_factory=list)
    author_ids: list[int] = field(default_factory=list)
    tag: str | None = None
    top_level_only: bool = False
    viewer_id: int | None = None  # whose blocks hide authors (see blocks.hides_account)


@dataclass
class FeedContext:
    ctx: Ctx
    viewer: Account | None
    now: datetime
    limit: int


@dataclass(slots=True)
class Candidate:
    """What ranking needs of a post, read without building an ORM object: a ranked
    feed looks at up to ``WINDOW`` of these but shows only a page of full posts."""

    id: int
    uri: str
    created_at: datetime
    updated_at: datetime | None
    reply_count: int
    deleted_at: datetime | None
    author_id: int
    community_id: int | None
    in_reply_to_id: int | None


CANDIDATE_COLUMNS = (
    Post.id,
    Post.uri,
    Post.created_at,
    Post.updated_at,
    Post.reply_count,
    Post.deleted_at,
    Post.author_id,
    Post.community_id,
    Post.in_reply_to_id,
)


@dataclass
class Ranked:
    post: Post | Candidate
    score: float
    factors: dict[str, float]


class Ranking(Protocol):
    """A strategy ranks a window of candidates. ``keyset`` strategies keep time
    order, so pages are cut by cursor alone; others rank a window of up to
    ``WINDOW`` candidates and page through that ranking."""

    name: str
    keyset: bool
    notice: str | None

    def rank(self, posts: list[Post] | list[Candidate], context: FeedContext) -> list[Ranked]: ...


def unix(dt: datetime) -> float:
    return dt.timestamp()


class Chronological:
    """Newest first. The placeholder strategy until communities choose modules."""

    name = "Chronological"
    keyset = True
    notice = None

    def __init__(self, version: int | None = None, sha256: str | None = None) -> None:
        self.version, self.sha256 = version, sha256

    def rank(self, posts: list[Post] | list[Candidate], context: FeedContext) -> list[Ranked]:
        ordered = sorted(posts, key=lambda p: (p.created_at, p.id), reverse=True)
        return [
            Ranked(p, unix(p.created_at), {"posted at (unix time)": unix(p.created_at)})
            for p in ordered
        ]


CHRONOLOGICAL = Chronological()


@dataclass
class FeedItem:
    post: PostView
    score: float
    factors: dict[str, float]
    algorithm: str
    version: int | None = None
    sha256: str | None = None


@dataclass
class FeedPage:
    items: list[FeedItem]
    next_cursor: str | None
    algorithm: str
    version: int | None = None
    sha256: str | None = None
    notice: str | None = None  # e.g. "the module failed; showing newest first"


def _before(cursor: Cursor | None):
    if cursor is None:
        return None
    # a row-value comparison, so the cursor bounds each per-source index range scan
    # (an OR of the two cases only filters, and deep pages scan past newer rows)
    return tuple_(Post.created_at, Post.id) < tuple_(cursor.created_at, cursor.id)


@lru_cache(maxsize=256)
def _candidate_statement(
    n_communities: int,
    n_authors: int,
    tag: bool,
    top_level_only: bool,
    after: bool,
    many: bool,
    viewer: bool = False,
) -> Select | None:
    """The candidate query for one *shape* of sources, with bound parameters for
    the ids, the cursor and the limit. Built once per shape: constructing a UNION of
    a dozen subqueries costs milliseconds of Python, more than running it."""
    # posts of authors hidden from this viewer (suspended, blocked...) are never
    # candidates: each post considered joins its author by primary key
    hidden = blocks.hides_account(bindparam("viewer_id") if viewer else None)
    base = [Post.deleted_at.is_(None), ~hidden]
    if top_level_only:
        base.append(Post.in_reply_to_id.is_(None))
    if after:
        base.append(
            tuple_(Post.created_at, Post.id)
            < tuple_(bindparam("before_t", type_=Post.created_at.type), bindparam("before_id"))
        )
    conditions = []
    if many:
        if n_communities:
            conditions.append(Post.community_id.in_(bindparam("cids", expanding=True)))
        if n_authors:
            conditions.append(Post.author_id.in_(bindparam("aids", expanding=True)))
    else:
        conditions += [Post.community_id == bindparam(f"c{i}") for i in range(n_communities)]
        conditions += [Post.author_id == bindparam(f"a{i}") for i in range(n_authors)]
    if tag:
        conditions.append(
            Post.id.in_(select(PostTag.post_id).where(PostTag.tag == bindparam("tag")))
        )
    if not conditions:
        return None
    limit = bindparam("lim")
    parts = [
        select(Post.id.label("id"), Post.created_at.label("created_at"))
        .join(Account, Account.id == Post.author_id)
        .where(cond, *base)
        .order_by(Post.created_at.desc(), Post.id.desc())
        .limit(limit)
        .subquery()
        for cond in conditions
    ]
    if len(parts) == 1:
        merged = parts[0]
    else:
        merged = union(*[select(p.c.id, p.c.created_at) for p in parts]).subquery()
    return select(merged.c.id).order_by(merged.c.created_at.desc(), merged.c.id.desc()).limit(limit)


def candidate_posts(ctx: Ctx, sources: Sources, cursor: Cursor | None, limit: int) -> list[Post]:
    """Up to ``limit`` posts from ``sources`` older than ``cursor``, newest first."""
    ids = _candidate_ids(ctx, sources, cursor, limit)
    if not ids:
        return []
    rows = {p.id: p for p in ctx.db.exec(select(Post).where(Post.id.in_(ids)))}
    return [rows[i] for i in ids if i in rows]


def candidate_window(
    ctx: Ctx, sources: Sources, cursor: Cursor | None, limit: int
) -> list[Candidate]:
    """Like :func:`candidate_posts`, as light :class:`Candidate` rows (about half the
    cost of loading full posts, which only the page shown needs)."""
    ids = _candidate_ids(ctx, sources, cursor, limit)
    if not ids:
        return []
    rows = {
        row[0]: Candidate(*row)
        for row in ctx.db.exec(select(*CANDIDATE_COLUMNS).where(Post.id.in_(ids)))
    }
    return [rows[i] for i in ids if i in rows]


def full_posts(ctx: Ctx, ranked: list[Ranked]) -> list[Ranked]:
    """The same ranking with each candidate replaced by its full post (one query)."""
    wanted = [r.post.id for r in ranked if not isinstance(r.post, Post)]
    if not wanted:
        return ranked
    posts = {p.id: p for p in ctx.db.exec(select(Post).where(Post.id.in_(wanted)))}
    out = []
    for r in ranked:
        post = r.post if isinstance(r.post, Post) else posts.get(r.post.id)
        if post is not None:  # deleted since it was ranked: left out
            out.append(Ranked(post, r.score, r.factors))
    return out


def _candidate_ids(ctx: Ctx, sources: Sources, cursor: Cursor | None, limit: int) -> list[int]:
    many = len(sources.community_ids) + len(sources.author_ids) > MAX_SOURCE_SUBQUERIES
    stmt = _candidate_statement(
        len(sources.community_ids),
        len(sources.author_ids),
        bool(sources.tag),
        sources.top_level_only,
        cursor is not None,
        many,
        sources.viewer_id is not None,
    )
    if stmt is None:
        return []
    params: dict[str, object] = {"lim": limit}
    if sources.viewer_id is not None:
        params["viewer_id"] = sources.viewer_id
    if cursor is not None:
        params.update(before_t=cursor.created_at, before_id=cursor.id)
    if sources.tag:
        params["tag"] = sources.tag
    if many:
        if sources.community_ids:
            params["cids"] = list(sources.community_ids)
        if sources.author_ids:
            params["aids"] = list(sources.author_ids)
    else:
        params.update({f"c{i}": cid for i, cid in enumerate(sources.community_ids)})
        params.update({f"a{i}": aid for i, aid in enumerate(sources.author_ids)})
    return list(ctx.db.exec(stmt, params=params))


WINDOW = 300  # candidates a ranking module sees per feed


def build_feed(
    ctx: Ctx,
    sources: Sources,
    *,
    viewer: Account | None,
    cursor: str | None = None,
    limit: int = 20,
    ranking: Ranking = CHRONOLOGICAL,
    now: datetime | None = None,
) -> FeedPage:
    """The one feed pipeline: source candidates, rank them, paginate, present."""
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise DomainError(f"limit must be between 1 and {MAX_LIMIT}.", code="invalid_limit")
    after = Cursor.decode(cursor) if cursor else None
    if viewer is not None and sources.viewer_id is None:
        sources = replace(sources, viewer_id=viewer.id)
    context = FeedContext(ctx=ctx, viewer=viewer, now=now or datetime.now(UTC), limit=limit)
    if ranking.keyset:
        window = candidate_posts(ctx, sources, after, limit + 1)
        ranked = ranking.rank(window[:limit], context)
        oldest = window[limit - 1] if len(window) > limit else None
        next_cursor = Cursor(oldest.created_at, oldest.id).encode() if oldest else None
    else:
        window = candidate_window(ctx, sources, after, WINDOW)
        # the window is fixed by its newest post, so later pages rank the same window
        anchor = after or (Cursor(window[0].created_at, window[0].id + 1) if window else None)
        offset = after.offset if after else 0
        ranked_all = ranking.rank(window, context)
        ranked = full_posts(ctx, ranked_all[offset : offset + limit])
        more = offset + limit < len(ranked_all)
        next_cursor = (
            Cursor(anchor.created_at, anchor.id, offset + limit).encode()
            if more and anchor
            else None
        )
    views = {v.id: v for v in present(ctx, [r.post for r in ranked], viewer)}
    version, sha = getattr(ranking, "version", None), getattr(ranking, "sha256", None)
    items = [
        FeedItem(views[r.post.id], r.score, r.factors, ranking.name, version, sha) for r in ranked
    ]
    return FeedPage(items, next_cursor, ranking.name, version, sha, ranking.notice)


def home_sources(ctx: Ctx, viewer: Account) -> Sources:
    """The viewer's own posts, posts by people they follow, and posts in
    communities they belong to or follow."""
    member_of = ctx.db.exec(
        select(Membership.community_id).where(
            Membership.account_id == viewer.id, Membership.state == "active"
        )
    )
    follows = ctx.db.exec(
        select(Follow.target_account_id, Follow.target_community_id).where(
            Follow.follower_id == viewer.id, Follow.state == "accepted"
        )
    ).all()
    community_ids = set(member_of) | {c for _, c in follows if c is not None}
    author_ids = {viewer.id} | {a for a, _ in follows if a is not None}
    return Sources(community_ids=sorted(community_ids), author_ids=sorted(author_ids))


def home(
    ctx: Ctx,
    viewer: Account,
    *,
    cursor: str | None = None,
    limit: int = 20,
    ranking: Ranking | None = None,
) -> FeedPage:
    """The viewer's home feed, ranked by the algorithm they chose (or chronological)."""
    if ranking is None:
        from app.services import algorithms
        from app.services import ranking as module_ranking

        ranking = module_ranking.strategy(ctx, *algorithms.active_for_member(ctx, viewer))
    return build_feed(
        ctx, home_sources(ctx, viewer), viewer=viewer, cursor=cursor, limit=limit, ranking=ranking
    )


def community(
    ctx: Ctx,
    group: Community,
    viewer: Account | None,
    *,
    cursor: str | None = None,
    limit: int = 20,
) -> FeedPage:
    """A community's threads (top-level posts), ranked by the community's algorithm."""
    from app.services import algorithms
    from app.services import ranking as module_ranking

    strategy = module_ranking.strategy(
        ctx, *algorithms.active_for_community(ctx, group), community=group
    )
    sources = Sources(community_ids=[group.id], top_level_only=True)
    return build_feed(ctx, sources, viewer=viewer, cursor=cursor, limit=limit, ranking=strategy)


def profile(
    ctx: Ctx, author: Account, viewer: Account | None, *, cursor: str | None = None, limit: int = 20
) -> FeedPage:
    return build_feed(
        ctx, Sources(author_ids=[author.id]), viewer=viewer, cursor=cursor, limit=limit
    )


def tag(
    ctx: Ctx, name: str, viewer: Account | None, *, cursor: str | None = None, limit: int = 20
) -> FeedPage:
    return build_feed(ctx, Sources(tag=name.lower()), viewer=viewer, cursor=cursor, limit=limit)
