"""Background rankings of community feeds by submitted (sandboxed) modules.

A job (app/services/ranking/feeds.py) ranks a community's newest threads or
artifacts and stores the order here; the community page serves that order, with
threads newer than the snapshot (artifacts changed since) on top, marked as
such, until the next run. The page never waits for untrusted code; built-in
modules, which are trusted and fast, still rank inline.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import timedelta

from sqlmodel import col, select

from app.db import side_transaction
from app.infra import jobs
from app.models import (
    AlgorithmModule,
    AlgorithmVersion,
    Artifact,
    Community,
    Job,
    Post,
    RankingSnapshot,
    utcnow,
)
from app.services import Ctx
from app.services.ranking.rankers import Chronological, newest_artifacts_first
from app.services.ranking.types import ArtifactItem, Candidate, FeedContext, Ranked

KIND = "algorithms.rank_community"
ARTIFACTS_KIND = "algorithms.rank_artifacts"
REFRESH_AFTER = timedelta(minutes=5)


def params_key(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


def schedule(ctx: Ctx, community_id: int, kind: str = KIND) -> None:
    """Queue a re-ranking of the community (``kind``: its threads, or its
    artifacts), unless one is already waiting."""
    waiting = ctx.db.exec(
        select(col(Job.id)).where(
            col(Job.kind) == kind,
            col(Job.state) == "queued",
            col(Job.payload) == json.dumps({"community_id": community_id}),
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
            col(RankingSnapshot.community_id) == community.id,
            col(RankingSnapshot.feed) == feed,
            col(RankingSnapshot.sha256) == version.sha256,
            col(RankingSnapshot.params_key) == params_key(params),
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


class SnapshotRanking:
    """Serves a stored ranking; newer threads go on top until the next run."""

    keyset = False

    def __init__(
        self, community: Community, version: AlgorithmVersion, module: AlgorithmModule, params: dict
    ) -> None:
        self.community, self.version_row, self.params = community, version, params
        self.name, self.version, self.sha256 = module.name, version.version, version.sha256
        self.notice: str | None = None

    def rank(self, posts: Sequence[Post | Candidate], context: FeedContext) -> list[Ranked]:
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
            Ranked(r.post, float("inf"), {"newer than the last ranking": 1.0})
            for r in Chronological().rank(fresh, context)
        ]
        ranked = [Ranked(p, *order[p.id]) for p in posts if p.id in order]
        ranked.sort(key=lambda r: (-r.score, -r.post.created_at.timestamp()))
        return on_top + ranked


def artifacts_from_snapshot(
    ctx: Ctx,
    community: Community,
    rows: list[Artifact],
    version: AlgorithmVersion,
    module_row: AlgorithmModule,
    params: dict,
) -> tuple[list[ArtifactItem], str | None]:
    """The stored order; artifacts changed since it was computed go on top (marked
    so) and a fresh ranking is queued, as is one for a snapshot older than
    ``REFRESH_AFTER`` (stances move scores without changing the artifact)."""
    snapshot = latest(ctx, community, version, params, feed="artifacts")
    if snapshot is None:
        schedule(ctx, community.id, ARTIFACTS_KIND)
        notice = (
            f"“{module_row.name}” is ranking these in the background; "
            "showing the newest first until it is done."
        )
        return newest_artifacts_first(rows), notice
    changed = [a for a in rows if a.updated_at > snapshot.computed_at]
    if changed or snapshot.computed_at < utcnow() - REFRESH_AFTER:
        schedule(ctx, community.id, ARTIFACTS_KIND)
    order = {row_id: (score, why) for row_id, score, why in json.loads(snapshot.ranked)}
    on_top = [
        ArtifactItem(item.artifact, float("inf"), {"changed since the last ranking": 1.0})
        for item in newest_artifacts_first(changed)
    ]
    moved = {a.id for a in changed}
    ranked = [ArtifactItem(a, *order[a.id]) for a in rows if a.id in order and a.id not in moved]
    ranked.sort(key=lambda i: (-i.score, -i.artifact.updated_at.timestamp()))
    return on_top + ranked, None
