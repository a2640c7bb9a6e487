"""Artifacts: the common-ground map, a long history, and a big diff, measured in one run.

1. ``commonground.compute`` for 1,000 members × 200 statements × 30 % stance
   density, and for 100 members (same statements and density): the ratio shows
   how it scales; the numpy part (PCA + k-means + silhouette) is timed apart.
2. The history page (``GET /artifacts/{id}/history``) and the revisions API of an
   artifact with 1,000 revisions, and its page (contributor shares, cold and warm).
3. A word diff of two ~50 KB revisions (10 % of words changed), as a function
   and as the diff page.

    .venv/bin/python bench/artifacts.py [--pg URL] [--quick]

SQLite in a temporary directory unless ``--pg`` names a PostgreSQL server (a
throw-away database is created and dropped). Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from common import database, machine
from fastapi.testclient import TestClient
from sqlalchemy import insert

from app import plugins
from app.config import Settings
from app.db import make_engine, transaction
from app.main import create_app
from app.migrate import upgrade
from app.models import Account, Membership, Stance, Statement
from app.services import Ctx, accounts, artifacts, commonground, communities, textmerge

WORDS = [
    "river",
    "bank",
    "flood",
    "drain",
    "leaves",
    "council",
    "street",
    "neighbours",
    "bridge",
    "path",
    "garden",
    "trees",
    "water",
    "rain",
    "storm",
    "repair",
    "plan",
    "budget",
    "school",
    "children",
    "market",
    "square",
    "shade",
    "bench",
]


def timed(fn, runs: int) -> float:
    values = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        values.append(time.perf_counter() - started)
    return statistics.median(values)


def prose(rng: random.Random, words: int) -> str:
    out, line = [], []
    for _ in range(words):
        line.append(rng.choice(WORDS))
        if len(line) >= 14:
            out.append(" ".join(line) + ".")
            line = []
    return "\n".join(out) + "\n"


def populate_map(ctx: Ctx, members: int, statements: int, density: float, seed: int):
    rng = random.Random(seed)
    owner = accounts.register(ctx, f"owner{seed}", "x" * 12)
    community = communities.create(ctx, owner, f"map{seed}")
    art = artifacts.create(ctx, owner, community, "problem", "Map", "Where do we stand?")
    ids = []
    for i in range(statements):
        ids.append(
            ctx.db.execute(
                insert(Statement).values(
                    uri=f"{art.uri}/s{i}", artifact_id=art.id, author_id=owner.id, text=f"s{i}"
                )
            ).inserted_primary_key[0]
        )
    people = []
    for i in range(members):
        people.append(
            ctx.db.execute(
                insert(Account).values(
                    username=f"m{seed}_{i}", username_key=f"m{seed}_{i}", domain="",
                    uri=f"http://127.0.0.1:9/users/m{seed}_{i}",
                    bio="",
                )
            ).inserted_primary_key[0]
        )  # fmt: skip
    ctx.db.execute(
        insert(Membership), [{"community_id": community.id, "account_id": p} for p in people]
    )
    rows = []
    for person in people:
        faction = rng.randrange(3)
        for j, sid in enumerate(ids):
            if rng.random() >= density:
                continue
            leaning = 0.85 if j % 3 == faction else 0.2
            if j < 10:
                leaning = 0.9  # a few statements everyone likes
            roll = rng.random()
            stance = "agree" if roll < leaning else ("pass" if roll < leaning + 0.1 else "disagree")
            rows.append(
                {
                    "target": f"s:{sid}",
                    "artifact_id": art.id,
                    "statement_id": sid,
                    "account_id": person,
                    "stance": stance,
                }
            )
    ctx.db.execute(insert(Stance), rows)
    return art, len(rows)


def map_figures(engine, settings: Settings, quick: bool) -> dict:
    out = {}
    for members in (100, 1000):
        with transaction(engine) as db:
            art, stance_count = populate_map(Ctx(db, settings), members, 200, 0.3, members)
        with transaction(engine) as db:
            ctx = Ctx(db, settings)
            whole = timed(lambda a=art, c=ctx: commonground.compute(c, a), 2 if quick else 3)
            matrix = np.random.default_rng(1).choice([-1.0, 0.0, 1.0], size=(members, 200))
            numpy_part = timed(lambda m=matrix: commonground.opinion_groups(m), 3)
            groups = len(commonground.compute(ctx, art)["groups"])
        out[members] = (whole, numpy_part, stance_count, groups)
    return out


def history_figures(engine, settings: Settings, quick: bool) -> dict:
    rng = random.Random(5)
    revisions = 200 if quick else 1000
    with transaction(engine) as db:
        ctx = Ctx(db, settings)
        owner = accounts.register(ctx, "historian", "x" * 12)
        editors = [owner] + [accounts.register(ctx, f"editor{i}", "x" * 12) for i in range(9)]
        community = communities.create(ctx, owner, "history")
        for e in editors[1:]:
            communities.join(ctx, e, community)
        body = prose(rng, 330)  # ~2 KB
        art = artifacts.create(ctx, owner, community, "vision", "Our river", body)
    for i in range(revisions):
        with transaction(engine) as db:
            ctx = Ctx(db, settings)
            a = artifacts.get(ctx, art.id)
            lines = a.body.splitlines(keepends=True)
            k = rng.randrange(len(lines))
            lines[k] = prose(rng, 14)
            artifacts.revise(ctx, editors[i % 10], a.id, a.current_revision_id, "".join(lines))
    # a 50 KB pair for the diff
    with transaction(engine) as db:
        ctx = Ctx(db, settings)
        big_text = prose(rng, 8000)
        big = artifacts.create(ctx, owner, community, "lesson", "Long", big_text)
        words = big_text.split(" ")
        for i in rng.sample(range(len(words)), len(words) // 10):
            words[i] = rng.choice(WORDS)
        changed = " ".join(words)
        second = artifacts.revise(ctx, owner, big.id, big.current_revision_id, changed).revision
        first_id, second_id = big.current_revision_id, second.id
        first_id = artifacts.revisions(ctx, big)[1].id
    app = create_app(settings, engine)
    out = {"revisions": revisions, "kb": len(big_text.encode()) / 1000}
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        history = f"/artifacts/{art.id}/history"
        assert client.get(history).status_code == 200
        out["history"] = timed(lambda: client.get(history), 10 if quick else 20)
        api = f"/api/cg/v1/artifacts/{art.id}/revisions?limit=50"
        out["api"] = timed(lambda: client.get(api), 10 if quick else 20)
        artifacts._shares.cache_clear()
        started = time.perf_counter()
        assert client.get(f"/artifacts/{art.id}").status_code == 200
        out["page_cold"] = time.perf_counter() - started
        out["page_warm"] = timed(lambda: client.get(f"/artifacts/{art.id}"), 10)
        diff_page = f"/artifacts/{big.id}/diff?from={first_id}&to={second_id}"
        assert client.get(diff_page).status_code == 200
        out["diff_page"] = timed(lambda: client.get(diff_page), 3 if quick else 5)
    out["diff_fn"] = timed(lambda: textmerge.word_diff(big_text, changed), 3 if quick else 5)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    plugins.load()
    print(f"Machine: {machine()}")
    kind = "postgresql" if args.pg else "sqlite"
    with database(kind, args.pg) as url, tempfile.TemporaryDirectory() as tmp:
        upgrade(url)
        engine = make_engine(url)
        settings = Settings(
            data_dir=Path(tmp), database_url=url, secret_key="bench", argon2_time_cost=1,
            argon2_memory_kib=1024,
        )  # fmt: skip
        maps = map_figures(engine, settings, args.quick)
        hist = history_figures(engine, settings, args.quick)
        engine.dispose()
    print(f"\nCommon-ground map ({kind}), 200 statements, 30 % density:")
    print("  members   stances   groups   compute p50 (ms)   numpy part (ms)")
    for members, (whole, numpy_part, stance_count, groups) in sorted(maps.items()):
        row = f"  {members:7}   {stance_count:7}   {groups:6}   {whole * 1000:16.1f}"
        print(f"{row}   {numpy_part * 1000:15.1f}")
    print(f"  ratio 1,000 / 100 members: {maps[1000][0] / maps[100][0]:.2f}x")
    print(f"\nHistory of {hist['revisions']} revisions ({kind}, in-process ASGI client, p50):")
    print(f"  history page: {hist['history'] * 1000:.1f} ms")
    print(f"  revisions API (50): {hist['api'] * 1000:.1f} ms")
    cold, warm = hist["page_cold"] * 1000, hist["page_warm"] * 1000
    print(f"  artifact page: cold {cold:.1f} ms, warm {warm:.1f} ms")
    diff_fn, diff_page = hist["diff_fn"] * 1000, hist["diff_page"] * 1000
    print(f"\nDiff of two {hist['kb']:.0f} KB revisions: word_diff {diff_fn:.1f} ms")
    print(f"  diff page: {diff_page:.1f} ms")


if __name__ == "__main__":
    main()
