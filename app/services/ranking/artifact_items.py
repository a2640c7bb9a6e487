"""A community's artifacts as contract-v1 items of ``kind: "artifact"``
(docs/algorithms.md lists the extra fields), so every module, built-in or
submitted, ranks artifacts with the same code it ranks posts with."""

from __future__ import annotations

from collections import Counter, defaultdict

from sqlmodel import col, func, select

from app.models import (
    Account,
    Artifact,
    ArtifactTag,
    Community,
    Stance,
    Statement,
)
from app.services import Ctx, artifacts
from app.services.ranking.types import STANCE_VALUE
from app.text import plain_text


def items_for(ctx: Ctx, rows: list[Artifact]) -> list[dict]:
    """Contract-v1 items for artifacts, in a fixed number of queries."""
    ids = [a.id for a in rows] or [0]
    authors = dict(
        ctx.db.exec(
            select(col(Account.id), col(Account.uri)).where(
                col(Account.id).in_({a.author_id for a in rows} or {0})
            )
        ).all()
    )
    groups = dict(
        ctx.db.exec(
            select(col(Community.id), col(Community.uri)).where(
                col(Community.id).in_({a.community_id for a in rows} or {0})
            )
        ).all()
    )
    tags: dict[int, list[str]] = defaultdict(list)
    for artifact_id, tag in ctx.db.exec(
        select(col(ArtifactTag.artifact_id), col(ArtifactTag.tag)).where(
            col(ArtifactTag.artifact_id).in_(ids)
        )
    ):
        tags[artifact_id].append(tag)
    contributors = artifacts.counts(ctx, ids)
    statements = dict(
        ctx.db.exec(
            select(col(Statement.artifact_id), func.count())
            .where(col(Statement.artifact_id).in_(ids))
            .group_by(col(Statement.artifact_id))
        ).all()
    )
    on_artifact: dict[int, Counter] = defaultdict(Counter)
    on_statements: Counter = Counter()
    for artifact_id, statement_id, stance in ctx.db.exec(
        select(col(Stance.artifact_id), col(Stance.statement_id), col(Stance.stance)).where(
            col(Stance.artifact_id).in_(ids)
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


def ratings(ctx: Ctx, rows: list[Artifact]) -> list[list]:
    """Members' stances on the artifacts themselves, as the context's ratings."""
    by_id = {a.id: a.uri for a in rows}
    if not by_id:
        return []
    found = ctx.db.exec(
        select(col(Stance.artifact_id), col(Account.uri), col(Stance.stance))
        .join(Account, col(Account.id) == col(Stance.account_id))
        .where(col(Stance.artifact_id).in_(by_id), col(Stance.statement_id).is_(None))
    ).all()
    return [[uri, by_id[aid], STANCE_VALUE[stance]] for aid, uri, stance in found]
