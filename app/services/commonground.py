"""The common-ground map of an artifact: opinion groups among the people who
took stances on its statements, what every group agrees on, and what divides them.

The method (Pol.is's, in plain words, shown on the page too):
1. Each participant (two or more stances) is a row of +1 agree, −1 disagree,
   0 pass or not seen, one column per statement.
2. PCA projects the rows onto the two directions along which people differ most.
3. k-means splits the projected people into 2–5 groups; the k with the best
   silhouette (how much closer people are to their own group than to the next) wins.
4. A statement's *group-informed consensus* is Π over groups of
   (agrees + 1) / (seen + 2): high only when every group tends to agree.
   Its *divisiveness* is the largest gap between two groups' (agrees + 1) / (seen + 2).

It runs in the background (``artifacts.map`` job) a few seconds after stances
arrive, and the stored result is what pages and the API show.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TypedDict

import numpy as np
from sqlmodel import col, select

from app.infra import events, jobs
from app.models import Account, Artifact, CommonGroundMap, Job, Stance, Statement, utcnow
from app.services import Ctx

MIN_STANCES = 2  # a participant counts once they took this many stances
MIN_PARTICIPANTS = 4  # fewer people than this form one group
MAX_GROUPS = 5
RECOMPUTE_DELAY = timedelta(seconds=5)
METHOD = (
    "People who took at least two stances are placed by PCA (the two directions along "
    "which their agree/disagree/pass stances differ most) and split by k-means into 2–5 "
    "opinion groups, choosing the number with the best silhouette. A statement's "
    "group-informed consensus is the product over groups of (agrees + 1) / (seen + 2), "
    "so it is high only if every group leans to agree; divisiveness is the largest gap "
    "between two groups' (agrees + 1) / (seen + 2)."
)
VALUE = {"agree": 1.0, "disagree": -1.0, "pass": 0.0}


# The map as computed, stored (CommonGroundMap.data, as JSON) and shown.
class GroupStances(TypedDict):
    group: int
    agrees: int
    seen: int


class StatementStats(TypedDict):
    statement: int  # its id
    text: str
    seen: int
    agrees: int
    consensus: float  # group-informed: agreed across every opinion group
    divisiveness: float  # the spread of the groups' agreement rates
    groups: list[GroupStances]


class OpinionGroup(TypedDict):
    id: int
    size: int
    remote: int  # members from other instances


class Point(TypedDict):
    x: float
    y: float
    group: int


class Map(TypedDict):
    method: str
    participants: int
    statements: int
    groups: list[OpinionGroup]
    consensus: list[StatementStats]  # the ten most agreed-on
    divisive: list[StatementStats]  # the ten most divisive
    points: list[Point]


def group_informed_consensus(per_group: list[tuple[int, int]]) -> float:
    """Π over groups of (agrees + 1) / (seen + 2); ``per_group`` is (agrees, seen)."""
    product = 1.0
    for agrees, seen in per_group:
        product *= (agrees + 1) / (seen + 2)
    return product


def _kmeans(points: np.ndarray, k: int, rng: np.random.Generator, rounds: int = 50) -> np.ndarray:
    """Labels from k-means with k-means++ seeding (deterministic for a given rng)."""
    centers = [points[rng.integers(len(points))]]
    for _ in range(1, k):
        d2 = np.min([((points - c) ** 2).sum(axis=1) for c in centers], axis=0)
        total = d2.sum()
        if total <= 0:
            centers.append(points[rng.integers(len(points))])
            continue
        centers.append(points[rng.choice(len(points), p=d2 / total)])
    centers_arr = np.array(centers)
    labels = np.zeros(len(points), dtype=int)
    for _ in range(rounds):
        dist = ((points[:, None, :] - centers_arr[None, :, :]) ** 2).sum(axis=2)
        new = dist.argmin(axis=1)
        if _ and np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            members = points[labels == j]
            if len(members):
                centers_arr[j] = members.mean(axis=0)
    return labels


def _silhouette(points: np.ndarray, labels: np.ndarray) -> float:
    groups = np.unique(labels)
    if len(groups) < 2:
        return -1.0
    dist = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=2))
    scores = []
    for i in range(len(points)):
        own = labels == labels[i]
        if own.sum() <= 1:
            scores.append(0.0)
            continue
        a = dist[i, own].sum() / (own.sum() - 1)
        b = min(dist[i, labels == g].mean() for g in groups if g != labels[i])
        scores.append((b - a) / max(a, b) if max(a, b) > 0 else 0.0)
    return float(np.mean(scores))


def opinion_groups(matrix: np.ndarray, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, 2-D coordinates)`` of the participants (rows of ``matrix``)."""
    n = len(matrix)
    if n == 0:
        return np.zeros(0, dtype=int), np.zeros((0, 2))
    centred = matrix - matrix.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    comps = min(2, len(s))
    coords = np.zeros((n, 2))
    coords[:, :comps] = u[:, :comps] * s[:comps]
    if n < MIN_PARTICIPANTS or not np.any(s > 1e-9):
        return np.zeros(n, dtype=int), coords
    rng = np.random.default_rng(seed)
    best, best_score = np.zeros(n, dtype=int), -1.0
    # silhouette is O(n²): judge k on a sample of at most 400 people
    sample = np.arange(n) if n <= 400 else np.sort(rng.choice(n, 400, replace=False))
    for k in range(2, min(MAX_GROUPS, n - 1) + 1):
        labels = _kmeans(coords, k, np.random.default_rng(seed + k))
        score = _silhouette(coords[sample], labels[sample])
        if score > best_score + 1e-9:
            best, best_score = labels, score
    return best, coords


def compute(ctx: Ctx, artifact: Artifact) -> Map:
    statements = {
        s.id: s
        for s in ctx.db.exec(select(Statement).where(col(Statement.artifact_id) == artifact.id))
    }
    rows = ctx.db.exec(
        select(col(Stance.account_id), col(Stance.statement_id), col(Stance.stance)).where(
            col(Stance.artifact_id) == artifact.id, col(Stance.statement_id).is_not(None)
        )
    ).all()
    by_person: dict[int, dict[int, str]] = {}
    for account_id, statement_id, stance in rows:
        if statement_id is None:  # left out by the query: a stance on the artifact itself
            continue
        by_person.setdefault(account_id, {})[statement_id] = stance
    people = sorted(p for p, votes in by_person.items() if len(votes) >= MIN_STANCES)
    columns = sorted(statements)
    column_of = {sid: j for j, sid in enumerate(columns)}
    matrix = np.zeros((len(people), len(columns)))
    seen = np.zeros((len(people), len(columns)), dtype=bool)
    agree = np.zeros((len(people), len(columns)), dtype=bool)
    for i, person in enumerate(people):
        for sid, stance in by_person[person].items():
            j = column_of[sid]
            matrix[i, j], seen[i, j], agree[i, j] = VALUE[stance], True, stance == "agree"
    labels, coords = opinion_groups(matrix)
    group_ids = sorted(set(labels.tolist()))
    who = select(col(Account.id), col(Account.domain)).where(col(Account.id).in_(people or [0]))
    origins = dict(ctx.db.exec(who).all())
    stats: list[StatementStats] = []
    for j, sid in enumerate(columns):
        per_group: list[GroupStances] = []
        rates = []
        for g in group_ids:
            members = labels == g
            a, n = int(agree[members, j].sum()), int(seen[members, j].sum())
            per_group.append({"group": g, "agrees": a, "seen": n})
            rates.append((a + 1) / (n + 2))
        total_seen = int(seen[:, j].sum())
        stats.append(
            {
                "statement": sid,
                "text": statements[sid].text,
                "seen": total_seen,
                "agrees": int(agree[:, j].sum()),
                "consensus": group_informed_consensus(
                    [(g["agrees"], g["seen"]) for g in per_group]
                ),
                "divisiveness": (max(rates) - min(rates)) if len(rates) > 1 else 0.0,
                "groups": per_group,
            }
        )
    voted = [s for s in stats if s["seen"]]
    scale = float(np.abs(coords).max()) or 1.0 if len(coords) else 1.0
    return {
        "method": METHOD,
        "participants": len(people),
        "statements": len(columns),
        "groups": [
            {
                "id": g,
                "size": int((labels == g).sum()),
                "remote": sum(1 for i, p in enumerate(people) if labels[i] == g and origins.get(p)),
            }
            for g in group_ids
        ],
        "consensus": sorted(voted, key=lambda s: (-s["consensus"], s["statement"]))[:10],
        "divisive": sorted(
            [s for s in voted if s["divisiveness"] > 0],
            key=lambda s: (-s["divisiveness"], s["statement"]),
        )[:10],
        "points": [
            {"x": round(float(x) / scale, 4), "y": round(float(y) / scale, 4), "group": int(g)}
            for (x, y), g in zip(coords.tolist(), labels.tolist(), strict=True)
        ],
    }


def refresh(ctx: Ctx, artifact: Artifact) -> CommonGroundMap:
    data = compute(ctx, artifact)
    row = ctx.db.get(CommonGroundMap, artifact.id) or CommonGroundMap(
        artifact_id=artifact.id, data="{}"
    )
    row.data = json.dumps(data)
    row.stances_seen = sum(s["seen"] for s in data["consensus"])
    row.computed_at = utcnow()
    ctx.db.add(row)
    return row


def stored(ctx: Ctx, artifact: Artifact) -> tuple[Map, datetime | None]:
    """The last computed map and when it was computed; computed now if there is none."""
    row = ctx.db.get(CommonGroundMap, artifact.id)
    if row is None:
        return compute(ctx, artifact), None
    return json.loads(row.data), row.computed_at


@jobs.handler("artifacts.map")
def recompute(ctx: Ctx, payload: dict) -> None:
    artifact = ctx.db.get(Artifact, payload["artifact"])
    if artifact is not None:
        refresh(ctx, artifact)


@events.on("stance.taken")
def _schedule(ctx: Ctx, stance: Stance) -> None:
    """Recompute within RECOMPUTE_DELAY; stances arriving meanwhile share the run."""
    if stance.statement_id is None:
        return
    payload = json.dumps({"artifact": stance.artifact_id})
    waiting = ctx.db.exec(
        select(col(Job.id)).where(
            col(Job.kind) == "artifacts.map",
            col(Job.state) == "queued",
            col(Job.payload) == payload,
        )
    ).first()
    if waiting is None:
        jobs.enqueue(
            ctx,
            "artifacts.map",
            {"artifact": stance.artifact_id},
            run_at=utcnow() + RECOMPUTE_DELAY,
        )
