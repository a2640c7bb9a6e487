"""Feed and posting performance through the real HTTP API.

Seeds N posts across 50 communities and 1,000 members, starts a real
`commonground serve` process, and measures:

- home feed, first page and a deep page (50 pages in): p50 / p95 latency;
- post creation rate (sequential POST /api/v1/posts);
- the ratio of feed latency at the largest size to the smallest (goal ≤ 1.5×).

On SQLite, and on PostgreSQL when --pg or TEST_DATABASE_URL names a server.

    .venv/bin/python bench/feed.py [--sizes 1000,100000] [--pg URL] [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import UTC, datetime, timedelta

import httpx
from common import database, machine, ms, summary
from sqlalchemy import insert

from app.config import Settings
from app.db import make_engine
from app.migrate import upgrade
from app.models import Account, Community, Follow, Membership, Post, PostTag, Reaction
from app.security.passwords import hash_password
from tests.server_process import ServerProcess, free_port

MEMBERS, COMMUNITIES, PASSWORD = 1000, 50, "bench password"


def seed(url: str, n_posts: int, base: str, rng: random.Random) -> None:
    """Bulk-insert a realistic instance (not through the API: that is measured separately)."""
    settings = Settings(argon2_time_cost=1, argon2_memory_kib=1024, secret_key="bench")
    pw = hash_password(settings, PASSWORD)
    now = datetime.now(UTC)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            insert(Account),
            [
                {
                    "id": i,
                    "username": f"m{i}",
                    "username_key": f"m{i}",
                    "domain": "",
                    "uri": f"{base}/users/m{i}",
                    "display_name": f"Member {i}",
                    "bio": "",
                    "avatar_url": "",
                    "password_hash": pw,
                    "is_admin": False,
                    "is_active": True,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(1, MEMBERS + 1)
            ],
        )
        conn.execute(
            insert(Community),
            [
                {
                    "id": c,
                    "name": f"c{c}",
                    "name_key": f"c{c}",
                    "domain": "",
                    "uri": f"{base}/c/c{c}",
                    "title": f"Community {c}",
                    "description": "",
                    "charter": "",
                    "charter_html": "",
                    "join_policy": "open",
                    "created_by_id": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for c in range(1, COMMUNITIES + 1)
            ],
        )
        member_of: dict[int, list[int]] = {}
        rows = []
        for m in range(1, MEMBERS + 1):
            member_of[m] = rng.sample(range(1, COMMUNITIES + 1), 5)
            rows += [
                {
                    "community_id": c,
                    "account_id": m,
                    "role": "member",
                    "state": "active",
                    "created_at": now,
                }
                for c in member_of[m]
            ]
        conn.execute(insert(Membership), rows)
        follows = set()
        for m in range(1, MEMBERS + 1):
            for t in rng.sample(range(1, MEMBERS + 1), 10):
                if t != m:
                    follows.add((m, t))
        conn.execute(
            insert(Follow),
            [
                {"follower_id": a, "target_account_id": b, "state": "accepted", "created_at": now}
                for a, b in follows
            ],
        )
        start = now - timedelta(days=30)
        step = timedelta(days=30) / n_posts
        batch, tags, reactions = [], [], []
        for i in range(1, n_posts + 1):
            author = rng.randint(1, MEMBERS)
            community = rng.choice(member_of[author]) if rng.random() < 0.8 else None
            parent = rng.randint(1, i - 1) if i > 10 and rng.random() < 0.1 else None
            batch.append(
                {
                    "id": i,
                    "uri": f"{base}/posts/{i}",
                    "author_id": author,
                    "community_id": community if parent is None else None,
                    "in_reply_to_id": parent,
                    "root_id": parent,
                    "title": None,
                    "text": f"post {i} #t{i % 100}",
                    "html": f"<p>post {i}</p>",
                    "object_type": "Note",
                    "reply_count": 0,
                    "created_at": start + step * i,
                }
            )
            tags.append({"post_id": i, "tag": f"t{i % 100}"})
            if rng.random() < 0.3:
                reactions.append(
                    {
                        "post_id": i,
                        "account_id": rng.randint(1, MEMBERS),
                        "slot": "stance",
                        "kind": rng.choice(["agree", "disagree"]),
                        "created_at": now,
                    }
                )
            if len(batch) == 5000:
                conn.execute(insert(Post), batch)
                batch = []
        if batch:
            conn.execute(insert(Post), batch)
        conn.execute(insert(PostTag), tags)
        unique = {(r["post_id"], r["account_id"]): r for r in reactions}
        conn.execute(insert(Reaction), list(unique.values()))
        if engine.dialect.name == "postgresql":  # we inserted explicit ids
            for table in ("accounts", "communities", "posts"):
                sql = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: E501, S608 - fixed names
                conn.exec_driver_sql(sql)
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def measure(
    server: ServerProcess, requests: int, posts_to_create: int, rng: random.Random
) -> dict[str, float]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        members = rng.sample(range(1, MEMBERS + 1), 20)
        tokens = {}
        for m in members:
            r = http.post(
                "/api/v1/tokens", json={"username": f"m{m}", "password": PASSWORD, "scope": "write"}
            )
            r.raise_for_status()
            tokens[m] = {"Authorization": f"Bearer {r.json()['token']}"}
        for m in members:  # warm up connections and caches
            http.get("/api/v1/feed/home", headers=tokens[m])
        first = []
        for k in range(requests):
            headers = tokens[members[k % len(members)]]
            t = time.perf_counter()
            r = http.get("/api/v1/feed/home", params={"limit": 20}, headers=headers)
            first.append(time.perf_counter() - t)
            r.raise_for_status()
        deep_cursors = {}
        for m in members[:10]:
            cursor = None
            for _ in range(50):
                page = http.get(
                    "/api/v1/feed/home",
                    params={"limit": 20, "cursor": cursor} if cursor else {"limit": 20},
                    headers=tokens[m],
                ).json()
                if not page["next_cursor"]:
                    break
                cursor = page["next_cursor"]
            if cursor:
                deep_cursors[m] = cursor
        deep = []
        keys = list(deep_cursors)
        for k in range(requests if keys else 0):
            m = keys[k % len(keys)]
            t = time.perf_counter()
            http.get(
                "/api/v1/feed/home",
                params={"limit": 20, "cursor": deep_cursors[m]},
                headers=tokens[m],
            ).raise_for_status()
            deep.append(time.perf_counter() - t)
        poster = members[0]
        community = http.get("/api/v1/me/communities", headers=tokens[poster]).json()[0]
        t = time.perf_counter()
        for k in range(posts_to_create):
            http.post(
                "/api/v1/posts",
                json={"text": f"bench post {k} #bench", "community": community["community"]},
                headers=tokens[poster],
            ).raise_for_status()
        rate = posts_to_create / (time.perf_counter() - t)
    p50, p95 = summary(first)
    d50, d95 = summary(deep) if deep else (float("nan"), float("nan"))
    return {
        "first_p50": p50,
        "first_p95": p95,
        "deep_p50": d50,
        "deep_p95": d95,
        "posts_per_s": rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="small sizes, few requests")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.quick:
        sizes, args.requests, args.posts = [500, 5000], 40, 50
    backends = ["sqlite"] + (["postgresql"] if args.pg else [])
    print(f"# Feed benchmark\nmachine: {machine()}\n")
    results: dict[tuple[str, int], dict[str, float]] = {}
    for backend in backends:
        for size in sizes:
            rng = random.Random(size)
            with database(backend, args.pg) as url:
                upgrade(url)
                port = free_port()
                t = time.perf_counter()
                seed(url, size, f"http://127.0.0.1:{port}", rng)
                seeded = time.perf_counter() - t
                with ServerProcess(port=port, env={"CG_DATABASE_URL": url}) as server:
                    results[(backend, size)] = measure(server, args.requests, args.posts, rng)
            r = results[(backend, size)]
            print(
                f"{backend:10} {size:>7,} posts (seeded in {seeded:.1f} s): "
                f"first page p50 {ms(r['first_p50'])} ms p95 {ms(r['first_p95'])} ms | "
                f"deep page p50 {ms(r['deep_p50'])} ms p95 {ms(r['deep_p95'])} ms | "
                f"{r['posts_per_s']:.0f} posts/s",
                flush=True,
            )
    print(
        "\n| database | posts | first page p50 / p95 (ms) | page 50 p50 / p95 (ms) "
        "| posts created /s |\n|---|---:|---:|---:|---:|"
    )
    for (backend, size), r in results.items():
        print(
            f"| {backend} | {size:,} | {ms(r['first_p50'])} / {ms(r['first_p95'])} | "
            f"{ms(r['deep_p50'])} / {ms(r['deep_p95'])} | {r['posts_per_s']:.0f} |"
        )
    small, large = min(sizes), max(sizes)
    print()
    for backend in backends:
        a, b = results[(backend, small)], results[(backend, large)]
        print(
            f"{backend}: first-page p50 at {large:,} / {small:,} posts = "
            f"{b['first_p50'] / a['first_p50']:.2f}x; "
            f"deep page {b['deep_p50'] / a['deep_p50']:.2f}x (goal <= 1.5x)"
        )


if __name__ == "__main__":
    main()
