"""The feed service: every feed, of posts or of artifacts, goes through here.

Pages and the API never order a feed themselves. They describe *where* a feed's
candidates come from (:class:`~app.services.ranking.types.Sources`) and this
module picks the strategy the community or member chose (:func:`strategy`),
ranks, paginates and presents. Beneath it, in import order: ``types`` (the
vocabulary), ``candidates`` and ``artifact_items`` (what a module is given),
``rankers`` and ``snapshots`` (strategies), ``registry`` (module versions),
``choices`` (who uses which) and ``comparison`` (what a version would change).
The background jobs that keep submitted modules' rankings fresh live here too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlmodel import col, select

from app.db import get_or_raise
from app.errors import DomainError
from app.infra import jobs
from app.models import (
    Account,
    AlgorithmModule,
    AlgorithmVersion,
    Boost,
    Community,
    Post,
    utcnow,
)
from app.services import Ctx, artifacts, blocks, mutes
from app.services.ranking import choices, reasons, registry, snapshots
from app.services.ranking.candidates import (
    base_conditions,
    candidate_posts,
    candidate_window,
    full_posts,
    home_sources,
    status_id_page,
)
from app.services.ranking.rankers import (
    CHRONOLOGICAL,
    Chronological,
    ModuleRanking,
    rank_artifacts,
)
from app.services.ranking.snapshots import SnapshotRanking, artifacts_from_snapshot
from app.services.ranking.types import (
    MAX_LIMIT,
    WINDOW,
    ArtifactFeed,
    Candidate,
    Cursor,
    FeedContext,
    FeedItem,
    FeedPage,
    Ranking,
    Sources,
)
from app.services.views import present


def strategy(
    ctx: Ctx, version: AlgorithmVersion, params: dict, community: Community | None = None
) -> Ranking:
    """Chronological stays a fast keyset feed; built-ins rank a window inline; a
    community's submitted module is served from its background snapshot."""
    module = get_or_raise(ctx.db, AlgorithmModule, version.module_id)
    if module.builtin_key == registry.DEFAULT and not params:
        return Chronological(version.version, version.sha256)
    if community is not None and module.builtin_key is None:
        return SnapshotRanking(community, version, module, params)
    return ModuleRanking(version, module, params)


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
        cursors: list[str | None] = [Cursor(r.post.created_at, r.post.id).encode() for r in ranked]
    else:
        pool = candidate_window(ctx, sources, after, WINDOW)
        # the window is fixed by its newest post, so later pages rank the same window
        anchor = after or (Cursor(pool[0].created_at, pool[0].id + 1) if pool else None)
        offset = after.offset if after else 0
        ranked_all = ranking.rank(pool, context)
        cut = ranked_all[offset : offset + limit]
        place = {r.post.id: offset + i + 1 for i, r in enumerate(cut)}  # rank after each
        ranked = full_posts(ctx, cut)
        more = offset + limit < len(ranked_all)
        next_cursor = (
            Cursor(anchor.created_at, anchor.id, offset + limit).encode()
            if more and anchor
            else None
        )
        cursors = [
            Cursor(anchor.created_at, anchor.id, place[r.post.id]).encode() if anchor else None
            for r in ranked
        ]
    shown = [_full(r.post) for r in ranked]
    views = {v.id: v for v in present(ctx, shown, viewer)}
    why = reasons.explain(ctx, sources, viewer, shown)
    version, sha = getattr(ranking, "version", None), getattr(ranking, "sha256", None)
    items = [
        FeedItem(
            views[r.post.id], r.score, r.factors, ranking.name, version, sha, why[r.post.id], at
        )
        for r, at in zip(ranked, cursors, strict=True)
    ]
    return FeedPage(items, next_cursor, ranking.name, version, sha, ranking.notice)


def _full(post: Post | Candidate) -> Post:
    """A post on a page: the keyset path ranks full posts, the window path swaps
    its candidates for them (``full_posts``) before the page is made."""
    if not isinstance(post, Post):
        raise TypeError(f"post {post.id} reached a page as a bare candidate")
    return post


@dataclass(frozen=True)
class RankedFeed:
    """A feed's candidates and the ranking chosen for it: what :func:`build_feed`
    and :func:`walk` are given."""

    sources: Sources
    ranking: Ranking


def home_feed(ctx: Ctx, viewer: Account) -> RankedFeed:
    """The viewer's home feed, ranked by the algorithm they chose (or chronological)."""
    ranking = strategy(ctx, *choices.active_for_member(ctx, viewer))
    return RankedFeed(home_sources(ctx, viewer), ranking)


def community_feed(ctx: Ctx, group: Community) -> RankedFeed:
    """A community's threads (top-level posts), ranked by the community's algorithm."""
    chosen = strategy(ctx, *choices.active_for_community(ctx, group), community=group)
    return RankedFeed(Sources(community_ids=[group.id], top_level_only=True), chosen)


def instance_feed(ctx: Ctx) -> RankedFeed:
    """Every thread this instance holds, by the instance's default algorithm: what
    the Mastodon client API offers as trending statuses."""
    default = strategy(ctx, registry.builtin_version(ctx, registry.DEFAULT), {})
    return RankedFeed(Sources(everyone=True, top_level_only=True), default)


def walk(
    ctx: Ctx,
    feed: RankedFeed,
    viewer: Account | None,
    *,
    cursor: str | None = None,
    most: int = WINDOW,
) -> Iterator[FeedItem]:
    """A ranked feed's items in its order, from ``cursor``, at most ``most`` of
    them: for clients that page by what a ranking can't be cut at (an offset, a
    status id). Each item's ``cursor`` goes on right after it."""
    seen = 0
    while seen < most:
        page = build_feed(
            ctx,
            feed.sources,
            viewer=viewer,
            cursor=cursor,
            limit=min(MAX_LIMIT, most - seen),
            ranking=feed.ranking,
        )
        yield from page.items
        seen += len(page.items)
        if page.next_cursor is None or not page.items:
            return
        cursor = page.next_cursor


def home(
    ctx: Ctx,
    viewer: Account,
    *,
    cursor: str | None = None,
    limit: int = 20,
    ranking: Ranking | None = None,
) -> FeedPage:
    """The viewer's home feed, ranked by the algorithm they chose (or chronological)."""
    feed = home_feed(ctx, viewer)
    return build_feed(
        ctx,
        feed.sources,
        viewer=viewer,
        cursor=cursor,
        limit=limit,
        ranking=ranking or feed.ranking,
    )


def in_time_order(
    ctx: Ctx,
    sources: Sources,
    viewer: Account | None,
    *,
    below: int | None = None,
    above: int | None = None,
    oldest_first: bool = False,
    limit: int = 20,
) -> list[Post]:
    """A feed in time order by status id, between ``above`` and ``below``: what the
    Mastodon client API's timelines show (their order is the time, not a ranking;
    docs/mastodon-api.md). The same posts are hidden as in every feed."""
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise DomainError(f"limit must be between 1 and {MAX_LIMIT}.", code="invalid_limit")
    if viewer is not None and sources.viewer_id is None:
        sources = replace(sources, viewer_id=viewer.id)
    return status_id_page(
        ctx, sources, below=below, above=above, oldest_first=oldest_first, limit=limit
    )


def home_in_time_order(
    ctx: Ctx,
    viewer: Account,
    *,
    below: int | None = None,
    above: int | None = None,
    oldest_first: bool = False,
    limit: int = 20,
) -> list[Post]:
    """The viewer's home feed's posts (:func:`home`'s sources), in time order."""
    sources = home_sources(ctx, viewer)
    return in_time_order(
        ctx, sources, viewer, below=below, above=above, oldest_first=oldest_first, limit=limit
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
    feed = community_feed(ctx, group)
    return build_feed(
        ctx, feed.sources, viewer=viewer, cursor=cursor, limit=limit, ranking=feed.ranking
    )


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


def community_artifacts(
    ctx: Ctx, community: Community, viewer: Account | None, *, limit: int = 50
) -> ArtifactFeed:
    """The community's artifacts ranked by the community's chosen algorithm (the
    most recently updated ``WINDOW`` are candidates). Built-in modules rank inline;
    a submitted module's order comes from a background job's snapshot, so the page
    never waits on untrusted code. Newest first, with a notice, when neither can."""
    rows = artifacts.in_community(ctx, community, limit=WINDOW)
    version, params = choices.active_for_community(ctx, community)
    module_row = get_or_raise(ctx.db, AlgorithmModule, version.module_id)
    if module_row.builtin_key:
        ranked, notice = rank_artifacts(ctx, viewer, rows, version, module_row, params, limit)
    else:
        ranked, notice = artifacts_from_snapshot(ctx, community, rows, version, module_row, params)
    return ArtifactFeed(module_row.name, version.version, version.sha256, notice, ranked[:limit])


# --- background rankings by submitted modules ---------------------------------


@jobs.handler(snapshots.KIND)
def rank_community(ctx: Ctx, payload: dict) -> None:
    """Rank a community's newest threads with its submitted module and keep the order."""
    if (choice := choices.submitted_choice(ctx, payload["community_id"])) is None:
        return
    community, version, module, params = choice
    posts = candidate_window(
        ctx, Sources(community_ids=[community.id], top_level_only=True), None, WINDOW
    )
    ranking = ModuleRanking(version, module, params)
    ranked = ranking.rank(posts, FeedContext(ctx=ctx, viewer=None, now=utcnow(), limit=20))
    if ranking.notice:  # the module failed: keep the last good snapshot
        return
    snapshots.store(
        ctx, community, version, params, [[r.post.id, r.score, r.factors] for r in ranked]
    )


@jobs.handler(snapshots.ARTIFACTS_KIND)
def rank_community_artifacts(ctx: Ctx, payload: dict) -> None:
    """Rank a community's artifacts with its submitted module and keep the order."""
    if (choice := choices.submitted_choice(ctx, payload["community_id"])) is None:
        return
    community, version, module_row, params = choice
    rows = artifacts.in_community(ctx, community, limit=WINDOW)
    ranked, notice = rank_artifacts(ctx, None, rows, version, module_row, params, 50)
    if notice is not None:
        return  # the module failed: keep the last good snapshot
    rows_ranked = [[i.artifact.id, i.score, i.why] for i in ranked]
    snapshots.store(ctx, community, version, params, rows_ranked, feed="artifacts")


def boosts_in_time_order(
    ctx: Ctx,
    viewer: Account,
    booster_ids: list[int],
    *,
    below: int | None = None,
    above: int | None = None,
    oldest_first: bool = False,
    limit: int = 20,
) -> list[Boost]:
    """Up to ``limit`` boosts by ``booster_ids`` with status ids between ``above``
    and ``below`` (both excluded), newest first (``oldest_first``: the ones just
    above ``above``, still returned newest first), under every feed's hiding rules
    for the viewer: neither a booster nor a post the viewer's feeds would hide. The
    Mastodon home timeline merges them with its posts (app/mastodon/groups.py)."""
    if not booster_ids:
        return []
    post_shown = (
        select(col(Post.id))
        .join(Account, col(Account.id) == col(Post.author_id))
        .where(col(Post.id) == col(Boost.post_id), *base_conditions(True))
        .correlate_except(Post, Account)
    )
    # the boosters the viewer's feeds hide (their blocks and mutes), as their own
    # query: the post's author is tested with the same conditions below
    hidden = select(col(Account.id)).where(
        col(Account.id).in_(booster_ids),
        blocks.hides_account(viewer.id) | mutes.mutes_actor_row(viewer.id),
    )
    hidden_ids: set[int] = set(ctx.db.exec(hidden).all())
    shown = sorted(set(booster_ids) - hidden_ids)
    if not shown:
        return []
    q = select(Boost).where(
        col(Boost.account_id).in_(shown),
        col(Boost.status_id).is_not(None),
        post_shown.exists(),
    )
    if below is not None:
        q = q.where(col(Boost.status_id) < below)
    if above is not None:
        q = q.where(col(Boost.status_id) > above)
    order = col(Boost.status_id).asc() if oldest_first else col(Boost.status_id).desc()
    now = utcnow()
    rows = list(
        ctx.db.exec(
            q.order_by(order).limit(limit),
            params={"viewer_id": viewer.id, "now": now, "ban_now": now},
        )
    )
    if oldest_first:
        rows.reverse()
    return rows
