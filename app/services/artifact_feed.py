"""A community's artifacts as feed candidates, ranked by the community's algorithm.

Each artifact becomes a contract-v1 item of ``kind: "artifact"`` (docs/algorithms.md
lists the extra fields), so every module, built-in or submitted, ranks artifacts
with the same code it ranks posts with, and every item says why it is there.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlmodel import func, select

from algorithms import contract
from algorithms.runner import Module, RunFailed, run
from algorithms.sandbox import SandboxUnavailable
from app.models import (
    Account,
    AlgorithmModule,
    AlgorithmVersion,
    Artifact,
    ArtifactTag,
    Community,
    Stance,
    Statement,
    utcnow,
)
from app.services import Ctx, algorithms, artifacts, jobs, snapshots
from app.services.ranking import STANCE_VALUE, context_for
from app.text import plain_text

WINDOW = 300


@dataclass
class ArtifactItem:
    artifact: Artifact
    score: float
    why: dict[str, float]


@dataclass
class ArtifactFeed:
    algorithm: str
    version: int | None
    sha256: str | None
    notice: str | None
    items: list[ArtifactItem]


def items_for(ctx: Ctx, rows: list[Artifact]) -> list[dict]:
    """Contract-v1 items for artifacts, in a fixed number of queries."""
    ids = [a.id for a in rows] or [0]
    authors = dict(
        ctx.db.exec(
            select(Account.id, Account.uri).where(
                Account.id.in_({a.author_id for a in rows} or {0})
            )
        ).all()
    )
    groups = dict(
        ctx.db.exec(
            select(Community.id, Community.uri).where(
                Community.id.in_({a.community_id for a in rows} or {0})
            )
        ).all()
    )
    tags: dict[int, list[str]] = defaultdict(list)
    for artifact_id, tag in ctx.db.exec(
        select(ArtifactTag.artifact_id, ArtifactTag.tag).where(ArtifactTag.artifact_id.in_(ids))
    ):
        tags[artifact_id].append(tag)
    contributors = artifacts.counts(ctx, ids)
    statements = dict(
        ctx.db.exec(
            select(Statement.artifact_id, func.count())
            .where(Statement.artifact_id.in_(ids))
            .group_by(Statement.artifact_id)
        ).all()
    )
    on_artifact: dict[int, Counter] = defaultdict(Counter)
    on_statements: Counter = Counter()
    for artifact_id, statement_id, stance in ctx.db.exec(
        select(Stance.artifact_id, Stance.statement_id, Stance.stance).where(
            Stance.artifact_id.in_(ids)
        )
    ):
        if statement_id is None:
            on_artifact[artifact_id][stance] += 1
        else:
            on_statements[artifact_id] += 1
    domain = ctx.settings.domain
    out = []
    for a in rows:
        author = authors.get(a.author_id, "")
        counts = on_artifact[a.id]
        out.append(
            {
                "id": a.uri,
                "kind": "artifact",
                "author": author,
                "community": groups.get(a.community_id),
                "created_at": a.created_at.timestamp(),
                "text": plain_text(f"{a.title}. {a.html}", 2000),
                "tags": tags.get(a.id, []),
                "reply_count": int(statements.get(a.id, 0)),
                "repliers": int(contributors.get(a.id, 1)),
                "reactions": {
                    "like": 0,
                    "agree": counts["agree"],
                    "disagree": counts["disagree"],
                    "pass": counts["pass"],
                },
                "is_reply": False,
                "origin": author.split("/")[2] if "://" in author else domain,
                # artifact-only fields (docs/algorithms.md#artifacts)
                "artifact_kind": a.kind,
                "stage": a.stage,
                "updated_at": a.updated_at.timestamp(),
                "revision_count": a.revision_count,
                "contributors": int(contributors.get(a.id, 1)),
                "statements": int(statements.get(a.id, 0)),
                "stances": sum(counts.values()) + on_statements[a.id],
            }
        )
    return out


def _ratings(ctx: Ctx, rows: list[Artifact]) -> list[list]:
    by_id = {a.id: a.uri for a in rows}
    if not by_id:
        return []
    found = ctx.db.exec(
        select(Stance.artifact_id, Account.uri, Stance.stance)
        .join(Account, Account.id == Stance.account_id)
        .where(Stance.artifact_id.in_(by_id), Stance.statement_id.is_(None))
    ).all()
    return [[uri, by_id[aid], STANCE_VALUE[stance]] for aid, uri, stance in found]


RANK_KIND = "algorithms.rank_artifacts"


def community_feed(
    ctx: Ctx, community: Community, viewer: Account | None, *, limit: int = 50
) -> ArtifactFeed:
    """The community's artifacts ranked by the community's chosen algorithm (the
    most recently updated ``WINDOW`` are candidates). Built-in modules rank inline;
    a submitted module's order comes from a background job's snapshot, so the page
    never waits on untrusted code. Newest first, with a notice, when neither can."""
    rows = artifacts.in_community(ctx, community, limit=WINDOW)
    version, params = algorithms.active_for_community(ctx, community)
    module_row = ctx.db.get(AlgorithmModule, version.module_id)
    if module_row.builtin_key:
        ranked, notice = _rank(ctx, viewer, rows, version, module_row, params, limit)
    else:
        ranked, notice = _from_snapshot(ctx, community, rows, version, module_row, params)
    return ArtifactFeed(module_row.name, version.version, version.sha256, notice, ranked[:limit])


def _newest_first(rows: list[Artifact]) -> list[ArtifactItem]:
    return [
        ArtifactItem(
            a, a.updated_at.timestamp(), {"updated at (unix time)": a.updated_at.timestamp()}
        )
        for a in sorted(rows, key=lambda a: a.updated_at, reverse=True)
    ]


def _rank(
    ctx: Ctx,
    viewer: Account | None,
    rows: list[Artifact],
    version: AlgorithmVersion,
    module_row: AlgorithmModule,
    params: dict,
    limit: int,
) -> tuple[list[ArtifactItem], str | None]:
    """Run the module now: (ranked items, or newest first with a notice if it failed)."""
    items = items_for(ctx, rows)
    context = context_for(ctx, viewer, [], utcnow().timestamp(), limit)
    context["ratings"] = _ratings(ctx, rows)
    module = (
        Module.builtin_module(module_row.builtin_key)
        if module_row.builtin_key
        else Module(module_row.name, version.source, version.sha256)
    )
    by_uri = {a.uri: a for a in rows}
    try:
        pool = None if module_row.builtin_key else algorithms.sandbox_pool()
        result = run(module, items, context, params, pool, defaults=json.loads(version.parameters))
    except (RunFailed, SandboxUnavailable, contract.ContractError) as exc:
        kind = getattr(exc, "kind", "contract")
        notice = f"“{module_row.name}” could not rank these ({kind}); showing the newest first."
        return _newest_first(rows), notice
    return [ArtifactItem(by_uri[r.item_id], r.score, r.why) for r in result.ranked], None


def _from_snapshot(
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
    snapshot = snapshots.latest(ctx, community, version, params, feed="artifacts")
    if snapshot is None:
        snapshots.schedule(ctx, community.id, RANK_KIND)
        notice = (
            f"“{module_row.name}” is ranking these in the background; "
            "showing the newest first until it is done."
        )
        return _newest_first(rows), notice
    changed = [a for a in rows if a.updated_at > snapshot.computed_at]
    if changed or snapshot.computed_at < utcnow() - snapshots.REFRESH_AFTER:
        snapshots.schedule(ctx, community.id, RANK_KIND)
    order = {row_id: (score, why) for row_id, score, why in json.loads(snapshot.ranked)}
    on_top = [
        ArtifactItem(item.artifact, float("inf"), {"changed since the last ranking": 1.0})
        for item in _newest_first(changed)
    ]
    moved = {a.id for a in changed}
    ranked = [ArtifactItem(a, *order[a.id]) for a in rows if a.id in order and a.id not in moved]
    ranked.sort(key=lambda i: (-i.score, -i.artifact.updated_at.timestamp()))
    return on_top + ranked, None


@jobs.handler(RANK_KIND)
def rank_community_artifacts(ctx: Ctx, payload: dict) -> None:
    """Rank a community's artifacts with its submitted module and keep the order."""
    if (choice := snapshots.submitted_choice(ctx, payload["community_id"])) is None:
        return
    community, version, module_row, params = choice
    rows = artifacts.in_community(ctx, community, limit=WINDOW)
    ranked, notice = _rank(ctx, None, rows, version, module_row, params, 50)
    if notice is not None:
        return  # the module failed: keep the last good snapshot
    rows_ranked = [[i.artifact.id, i.score, i.why] for i in ranked]
    snapshots.store(ctx, community, version, params, rows_ranked, feed="artifacts")
