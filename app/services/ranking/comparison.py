"""Comparing rankings: what a new module version would change in a community's
feed (for submission reports and previews). Overlap@20 and Kendall's tau are
computed on real candidates, not fixtures."""

from __future__ import annotations

import difflib
import json
from itertools import combinations

from sqlmodel import col, select

from app.db import get_or_raise, unlocked
from app.models import AlgorithmModule, AlgorithmVersion, Community, Post, utcnow
from app.services import Ctx
from app.services.ranking import choices, registry
from app.services.ranking.rankers import ModuleRanking
from app.services.ranking.types import FeedContext

CANDIDATES = 500


def kendall_tau(a: list[str], b: list[str]) -> float | None:
    """Kendall's tau-a between two orders, over the items both contain."""
    common = [x for x in a if x in set(b)]
    if len(common) < 2:
        return None
    pos_b = {x: i for i, x in enumerate(b)}
    concordant = discordant = 0
    for x, y in combinations(common, 2):  # x before y in a
        if pos_b[x] < pos_b[y]:
            concordant += 1
        else:
            discordant += 1
    return (concordant - discordant) / (concordant + discordant)


def ranked_ids(ctx: Ctx, version: AlgorithmVersion, params: dict, posts: list[Post]) -> list[str]:
    module = get_or_raise(ctx.db, AlgorithmModule, version.module_id)
    ranking = ModuleRanking(version, module, params)
    context = FeedContext(ctx=ctx, viewer=None, now=utcnow(), limit=20)
    return [r.post.uri for r in ranking.rank(posts, context)]


def community_candidates(ctx: Ctx, community: Community) -> list[Post]:
    return list(
        ctx.db.exec(
            select(Post)
            .where(
                col(Post.community_id) == community.id,
                col(Post.deleted_at).is_(None),
                col(Post.in_reply_to_id).is_(None),
            )
            .order_by(col(Post.created_at).desc(), col(Post.id).desc())
            .limit(CANDIDATES)
        )
    )


def compare(
    ctx: Ctx, community: Community, version: AlgorithmVersion, params: dict | None = None
) -> dict:
    """The new version against the community's current algorithm, on its last
    500 threads: overlap of the top 20, Kendall's tau, what moves in and out."""
    current, current_params = choices.active_for_community(ctx, community)
    posts = community_candidates(ctx, community)
    before = ranked_ids(ctx, current, current_params, posts)
    after = ranked_ids(ctx, version, params or {}, posts)
    top_before, top_after = before[:20], after[:20]
    return {
        "community": community.name,
        "candidates": len(posts),
        "against": {"version_id": current.id, "sha256": current.sha256},
        "overlap_at_20": (
            len(set(top_before) & set(top_after)) / min(20, len(top_before)) if top_before else None
        ),
        "kendall_tau": kendall_tau(before, after),
        "moved_in": [x for x in top_after if x not in top_before],
        "moved_out": [x for x in top_before if x not in top_after],
    }


def report_ranking_diff(ctx: Ctx, community: Community, version: AlgorithmVersion) -> None:
    """Add to a just-submitted version's report what it would change in this
    community's feed. The version is stored first: comparing runs the module
    twice, so it holds no lock meanwhile."""
    with unlocked(ctx.db):
        diff = compare(ctx, community, version)
    report = json.loads(version.report)
    report["ranking_diff"] = diff
    version.report = json.dumps(report)
    ctx.db.add(version)


def source_diff(a: AlgorithmVersion, b: AlgorithmVersion) -> str:
    return "".join(
        difflib.unified_diff(
            a.source.splitlines(keepends=True),
            b.source.splitlines(keepends=True),
            fromfile=f"v{a.version} {a.sha256[:12]}",
            tofile=f"v{b.version} {b.sha256[:12]}",
        )
    )


def lineage(ctx: Ctx, version: AlgorithmVersion, depth: int = 50) -> list[AlgorithmVersion]:
    """The version, its parent, its parent's parent … (oldest last)."""
    chain, seen = [version], {version.id}
    while chain[-1].parent_id and len(chain) < depth:
        parent = ctx.db.get(AlgorithmVersion, chain[-1].parent_id)
        if parent is None or parent.id in seen:
            break
        chain.append(parent)
        seen.add(parent.id)
    return chain


def forks_of(ctx: Ctx, module: AlgorithmModule) -> list[tuple[AlgorithmModule, AlgorithmVersion]]:
    """Other modules whose versions were forked from this module's versions."""
    mine = [v.id for v in registry.versions(ctx, module)]
    rows = ctx.db.exec(
        select(AlgorithmModule, AlgorithmVersion)
        .join(AlgorithmVersion, col(AlgorithmVersion.module_id) == col(AlgorithmModule.id))
        .where(col(AlgorithmVersion.parent_id).in_(mine), col(AlgorithmModule.id) != module.id)
    ).all()
    return list(rows)
