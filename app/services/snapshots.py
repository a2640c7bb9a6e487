"""Background rankings of community feeds by submitted (sandboxed) modules.

A job ranks a community's newest threads and stores the order; the community
page serves that order, with threads newer than the snapshot on top (marked as
such) until the next run. The page never waits for untrusted code; built-in
modules, which are trusted and fast, still rank inline.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from sqlmodel import select

from app.db import side_transaction
from app.models import (
    AlgorithmModule,
    AlgorithmVersion,
    Community,
    Job,
    Post,
    RankingSnapshot,
    utcnow,
)
from app.services import Ctx, algorithms, jobs
from app.services.feeds import WINDOW, Candidate, Chronological, FeedContext, Ranked, Sources
from app.services.feeds import candidate_window as _candidates

KIND = "algorithms.rank_community"
REFRESH_AFTER = timedelta(minutes=5)


def params_key(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


def schedule(ctx: Ctx, community_id: int, kind: str = KIND) -> None:
    """Queue a re-ranking of the community (``kind``: its threads, or its
    artifacts), unless one is already waiting."""
    waiting = ctx.db.exec(
        select(Job.id).where(
            Job.kind == kind,
            Job.state == "queued",
            Job.payload == json.dumps({"community_id": community_id}),
        )
    ).first()
    if waiting is not None:
        return
    if not ctx.db.info.get("read_only"):
        jobs.enqueue(ctx, kind, {"community_id": community_id}, max_attempts=3)
        return
    # A page found the ranking stale: queue the run in a short transaction of its
    # own (at most once per run, since the next view finds it waiting).
    with side_transaction(ctx.db) as own:
        jobs.enqueue(Ctx(own, ctx.settings), kind, {"community_id": community_id}, max_attempts=3)


def latest(
    ctx: Ctx, community: Community, version: AlgorithmVersion, params: dict, feed: str = "posts"
) -> RankingSnapshot | None:
    return ctx.db.exec(
        select(RankingSnapshot).where(
            RankingSnapshot.community_id == community.id,
            RankingSnapshot.feed == feed,
            RankingSnapshot.sha256 == version.sha256,
            RankingSnapshot.params_key == params_key(params),
        )
    ).first()


def store(
    ctx: Ctx,
    community: Community,
    version: AlgorithmVersion,
    params: dict,
    ranked: list[list],
    feed: str = "posts",
) -> None:
    """Keep ``ranked`` ([[row id, score, why]]) as the community's latest order."""
    snapshot = latest(ctx, community, version, params, feed) or RankingSnapshot(
        community_id=community.id,
        feed=feed,
        sha256=version.sha256,
        params_key=params_key(params),
        ranked="[]",
    )
    snapshot.ranked = json.dumps(ranked)
    snapshot.computed_at = utcnow()
    ctx.db.add(snapshot)


def submitted_choice(
    ctx: Ctx, community_id: int
) -> tuple[Community, AlgorithmVersion, AlgorithmModule, dict] | None:
    """What a background ranking job runs: the community's active module and
    parameters, or None when there is nothing to do (the community is gone, or
    its module is a built-in, which ranks inline)."""
    community = ctx.db.get(Community, community_id)
    if community is None:
        return None
    version, params = algorithms.active_for_community(ctx, community)
    module = ctx.db.get(AlgorithmModule, version.module_id)
    if module.builtin_key:
        return None
    return community, version, module, params


@jobs.handler(KIND)
def rank_community(ctx: Ctx, payload: dict) -> None:
    from app.services.ranking import ModuleRanking

    if (choice := submitted_choice(ctx, payload["community_id"])) is None:
        return
    community, version, module, params = choice
    posts = _candidates(
        ctx, Sources(community_ids=[community.id], top_level_only=True), None, WINDOW
    )
    ranking = ModuleRanking(version, module, params)
    ranked = ranking.rank(posts, FeedContext(ctx=ctx, viewer=None, now=utcnow(), limit=20))
    if ranking.notice:  # the module failed: keep the last good snapshot
        return
    store(ctx, community, version, params, [[r.post.id, r.score, r.factors] for r in ranked])


class SnapshotRanking:
    """Serves a stored ranking; newer threads go on top until the next run."""

    keyset = False

    def __init__(
        self, community: Community, version: AlgorithmVersion, module: AlgorithmModule, params: dict
    ) -> None:
        self.community, self.version_row, self.params = community, version, params
        self.name, self.version, self.sha256 = module.name, version.version, version.sha256
        self.notice: str | None = None

    def rank(self, posts: list[Post] | list[Candidate], context: FeedContext) -> list[Ranked]:
        ctx = context.ctx
        snapshot = latest(ctx, self.community, self.version_row, self.params)
        if snapshot is None:
            schedule(ctx, self.community.id)
            self.notice = (
                f"“{self.name}” is ranking this community in the background; "
                "showing newest first until it is done."
            )
            return Chronological().rank(posts, context)
        order = {pid: (score, why) for pid, score, why in json.loads(snapshot.ranked)}
        fresh = [p for p in posts if p.id not in order and p.created_at > snapshot.computed_at]
        if fresh:
            schedule(ctx, self.community.id)
        on_top = [
            Ranked(p, float("inf"), {"newer than the last ranking": 1.0})
            for p in Chronological().rank(fresh, context)
            for p in [p.post]
        ]
        ranked = [Ranked(p, *order[p.id]) for p in posts if p.id in order]
        ranked.sort(key=lambda r: (-r.score, -r.post.created_at.timestamp()))
        return on_top + ranked
