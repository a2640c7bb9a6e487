"""Feeds: candidate sourcing, then ranking, then pagination — in one pipeline.

Pages and the API never order posts themselves. They describe *where* a feed's
candidates come from (:class:`Sources`) and pass a :class:`Ranking` strategy;
:func:`build_feed` does the rest. Today the only strategy is
:class:`Chronological`; algorithm modules plug in as further strategies.

Candidate sourcing is index-driven: one ``ORDER BY created_at DESC LIMIT n``
subquery per followed community or author (each a range scan on a composite
index), merged by a UNION. A deep page costs the same as the first one, since
the cursor is a keyset ``(created_at, id)``, not an OFFSET.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import and_, or_, union
from sqlmodel import select

from app.errors import DomainError
from app.models import Account, Community, Follow, Membership, Post, PostTag
from app.services import Ctx
from app.services.views import PostView, present

MAX_LIMIT = 100
# SQLite allows 500 terms in a compound SELECT; beyond this many sources we
# fall back to IN-lists, which are still indexed but sort more rows.
MAX_SOURCE_SUBQUERIES = 200


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: int

    def encode(self) -> str:
        raw = json.dumps({"t": self.created_at.isoformat(), "i": self.id}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            padded = value + "=" * (-len(value) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            cursor = cls(datetime.fromisoformat(data["t"]), int(data["i"]))
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
            raise DomainError("That page cursor is not valid.", code="invalid_cursor") from exc
        if cursor.created_at.tzinfo is None:
            raise DomainError("That page cursor is not valid.", code="invalid_cursor")
        return cursor


@dataclass
class Sources:
    """Where a feed's candidates come from. Empty lists mean "none"."""

    community_ids: list[int] = field(default_factory=list)
    author_ids: list[int] = field(default_factory=list)
    tag: str | None = None
    top_level_only: bool = False


@dataclass
class FeedContext:
    viewer: Account | None
    now: datetime
    limit: int


@dataclass
class Ranked:
    post: Post
    score: float
    factors: dict[str, float]


class Ranking(Protocol):
    name: str

    def rank(self, posts: list[Post], context: FeedContext) -> list[Ranked]: ...


def unix(dt: datetime) -> float:
    return dt.timestamp()


class Chronological:
    """Newest first. The placeholder strategy until communities choose modules."""

    name = "chronological"

    def rank(self, posts: list[Post], context: FeedContext) -> list[Ranked]:
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


@dataclass
class FeedPage:
    items: list[FeedItem]
    next_cursor: str | None
    algorithm: str


def _before(cursor: Cursor | None):
    if cursor is None:
        return None
    return or_(
        Post.created_at < cursor.created_at,
        and_(Post.created_at == cursor.created_at, Post.id < cursor.id),
    )


def candidate_posts(ctx: Ctx, sources: Sources, cursor: Cursor | None, limit: int) -> list[Post]:
    """Up to ``limit`` posts from ``sources`` older than ``cursor``, newest first."""
    base = [Post.deleted_at.is_(None)]
    if sources.top_level_only:
        base.append(Post.in_reply_to_id.is_(None))
    if (before := _before(cursor)) is not None:
        base.append(before)

    conditions = []
    many = len(sources.community_ids) + len(sources.author_ids) > MAX_SOURCE_SUBQUERIES
    if many:
        if sources.community_ids:
            conditions.append(Post.community_id.in_(sources.community_ids))
        if sources.author_ids:
            conditions.append(Post.author_id.in_(sources.author_ids))
    else:
        conditions += [Post.community_id == cid for cid in sources.community_ids]
        conditions += [Post.author_id == aid for aid in sources.author_ids]
    if sources.tag:
        tagged = select(PostTag.post_id).where(PostTag.tag == sources.tag)
        conditions.append(Post.id.in_(tagged))
    if not conditions:
        return []

    parts = [
        select(Post.id.label("id"), Post.created_at.label("created_at"))
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
    ids = list(
        ctx.db.exec(
            select(merged.c.id)
            .order_by(merged.c.created_at.desc(), merged.c.id.desc())
            .limit(limit)
        )
    )
    if not ids:
        return []
    rows = {p.id: p for p in ctx.db.exec(select(Post).where(Post.id.in_(ids)))}
    return [rows[i] for i in ids if i in rows]


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
    window = candidate_posts(ctx, sources, after, limit + 1)
    has_more = len(window) > limit
    window = window[:limit]
    ranked = ranking.rank(
        window, FeedContext(viewer=viewer, now=now or datetime.now(UTC), limit=limit)
    )
    views = {v.id: v for v in present(ctx, [r.post for r in ranked], viewer)}
    items = [FeedItem(views[r.post.id], r.score, r.factors, ranking.name) for r in ranked]
    oldest = min(window, key=lambda p: (p.created_at, p.id)) if window else None
    next_cursor = Cursor(oldest.created_at, oldest.id).encode() if has_more and oldest else None
    return FeedPage(items, next_cursor, ranking.name)


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


def home(ctx: Ctx, viewer: Account, *, cursor: str | None = None, limit: int = 20) -> FeedPage:
    return build_feed(ctx, home_sources(ctx, viewer), viewer=viewer, cursor=cursor, limit=limit)


def community(
    ctx: Ctx,
    group: Community,
    viewer: Account | None,
    *,
    cursor: str | None = None,
    limit: int = 20,
) -> FeedPage:
    """A community's threads (top-level posts)."""
    sources = Sources(community_ids=[group.id], top_level_only=True)
    return build_feed(ctx, sources, viewer=viewer, cursor=cursor, limit=limit)


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
