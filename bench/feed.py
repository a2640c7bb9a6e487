"""Feed and posting performance, measured through the real HTTP API.

For each size N (default 1,000 and 100,000 posts) and each database (SQLite in a
temporary directory; PostgreSQL too when ``--pg URL`` or ``TEST_DATABASE_URL``
names a server), this:

1. creates a fresh database and runs the migrations (``app.migrate.upgrade``);
2. bulk-inserts an instance with SQLAlchemy Core: 1,000 members in 50 communities
   (about 5 each), follows between members, N posts spread over 90 days (a fifth
   of them replies, kept in their thread's community with ``reply_count`` and
   ``root_id`` right), hashtags, likes and stances;
3. starts a real ``commonground serve`` process (one uvicorn worker) per size on
   a free 127.0.0.1 port; all sizes are up at once and measured side by side,
   request by request, over keep-alive HTTP connections (wall time at the client):
   - the home feed's first page (``limit=20``) for many members: p50 / p95;
   - a deep page: each of several members follows ``next_cursor`` 50 pages in
     (or to the end of a shorter feed), then that page is requested repeatedly;
   - post creation: sequential ``POST /api/cg/v1/posts`` into a community, posts/s;
4. prints a table and the ratio of feed latency at the largest size to the
   smallest (goal: at most 1.5x).

    .venv/bin/python bench/feed.py [--sizes 1000,100000] [--pg URL] [--quick]

``--quick`` is a smoke run (500 and 5,000 posts, few requests).

Only 127.0.0.1 is ever contacted (the PostgreSQL URL must name a loopback host);
on PostgreSQL a throw-away ``cg_bench_<random>`` database is created and dropped.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from common import database, machine, ms, summary
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from app.config import Settings, is_loopback_host
from app.db import make_engine
from app.migrate import upgrade
from app.models import Account, Community, Follow, Membership, Post, PostTag, Reaction
from app.security.passwords import hash_password
from tests.server_process import ServerProcess, free_port

MEMBERS = 1000
COMMUNITIES = 50
PASSWORD = "bench password"  # every member's; hashed once, with cheap argon2 settings
SPAN = timedelta(days=90)  # posts are spread over the 90 days before the run
REPLY_SHARE = 0.2
BATCH = 5000
PAGE = 20
DEPTH = 50  # pages to follow for the "deep page"


# --- seeding -----------------------------------------------------------------


def _chunks(rows: list[dict], size: int = BATCH) -> Iterator[list[dict]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


@dataclass
class Seeded:
    counts: dict[str, int]
    member_of: dict[int, list[int]]
    seconds: float


def seed(url: str, n_posts: int, base: str, rng: random.Random) -> Seeded:
    """Bulk-insert a plausible instance into a migrated, empty database.

    Not through the API: that is what gets measured afterwards. Ids are explicit
    so replies can point at earlier posts; on PostgreSQL the sequences are moved
    past them and the tables analysed, as autovacuum would after such a load.
    """
    started = time.perf_counter()
    cheap = Settings(argon2_time_cost=1, argon2_memory_kib=1024, secret_key="bench")
    password_hash = hash_password(cheap, PASSWORD)
    now = datetime.now(UTC)
    start = now - SPAN

    accounts = [
        {
            "id": i,
            "username": f"m{i}",
            "username_key": f"m{i}",
            "domain": "",
            "uri": f"{base}/users/m{i}",
            "display_name": f"Member {i}",
            "bio": "",
            "avatar_url": "",
            "password_hash": password_hash,
            "is_admin": i == 1,
            "is_active": True,
            "created_at": start - timedelta(days=1),
            "updated_at": start - timedelta(days=1),
        }
        for i in range(1, MEMBERS + 1)
    ]
    groups = [
        {
            "id": c,
            "name": f"c{c}",
            "name_key": f"c{c}",
            "domain": "",
            "uri": f"{base}/c/c{c}",
            "title": f"Community {c}",
            "description": f"Community number {c}.",
            "charter": "",
            "charter_html": "",
            "join_policy": "open",
            "created_by_id": 1,
            "created_at": start - timedelta(days=1),
            "updated_at": start - timedelta(days=1),
        }
        for c in range(1, COMMUNITIES + 1)
    ]

    # memberships: each member in 3-7 communities (5 on average)
    member_of: dict[int, list[int]] = {}
    members: dict[int, list[int]] = {c: [] for c in range(1, COMMUNITIES + 1)}
    memberships = []
    for m in range(1, MEMBERS + 1):
        member_of[m] = rng.sample(range(1, COMMUNITIES + 1), rng.randint(3, 7))
        for c in member_of[m]:
            members[c].append(m)
            memberships.append(
                {
                    "community_id": c,
                    "account_id": m,
                    "role": "admin" if len(members[c]) == 1 else "member",
                    "state": "active",
                    "created_at": start,
                }
            )

    # follows: each member follows 5-15 others; one in five also follows a
    # community they are not a member of
    follows = []
    for m in range(1, MEMBERS + 1):
        for t in rng.sample(range(1, MEMBERS + 1), rng.randint(5, 15)):
            if t != m:
                follows.append(
                    {
                        "follower_id": m,
                        "target_account_id": t,
                        "target_community_id": None,
                        "state": "accepted",
                        "created_at": start,
                    }
                )
        if rng.random() < 0.2:
            others = sorted(set(range(1, COMMUNITIES + 1)) - set(member_of[m]))
            follows.append(
                {
                    "follower_id": m,
                    "target_account_id": None,
                    "target_community_id": rng.choice(others),
                    "state": "accepted",
                    "created_at": start,
                }
            )

    # posts, oldest first, ids in time order as the server would assign them
    posts: list[dict] = []
    tags, reactions = [], []
    step = SPAN / n_posts
    for i in range(1, n_posts + 1):
        created = start + step * i
        parent = None
        if i > 10 and rng.random() < REPLY_SHARE:
            parent = posts[rng.randint(max(1, i - 2000), i - 1) - 1]  # mostly recent threads
        if parent is not None:
            community = parent["community_id"]
            author = rng.choice(members[community]) if community else rng.randint(1, MEMBERS)
            parent["reply_count"] += 1
        else:
            author = rng.randint(1, MEMBERS)
            community = rng.choice(member_of[author]) if rng.random() < 0.8 else None
        title = f"Thread {i}" if parent is None and community and rng.random() < 0.5 else None
        tag = f"t{rng.randint(0, 199)}"
        text = f"Post {i} by m{author}: some words about #{tag} and the weather."
        posts.append(
            {
                "id": i,
                "uri": f"{base}/posts/{i}",
                "author_id": author,
                "community_id": community,
                "in_reply_to_id": parent["id"] if parent else None,
                "root_id": (parent["root_id"] or parent["id"]) if parent else None,
                "title": title,
                "text": text,
                "html": (
                    f"<p>Post {i} by m{author}: some words about "
                    f'<a href="{base}/tags/{tag}" class="hashtag">#{tag}</a> and the weather.</p>'
                ),
                "url": None,
                "object_type": "Page" if title else "Note",
                "reply_count": 0,
                "created_at": created,
                "updated_at": None,
                "deleted_at": None,
            }
        )
        tags.append({"post_id": i, "tag": tag})
        for slot, share, kinds in (
            ("like", 0.4, ["like"]),
            ("stance", 0.25, ["agree", "agree", "disagree", "pass"]),
        ):
            if rng.random() < share:
                for who in rng.sample(range(1, MEMBERS + 1), rng.randint(1, 4)):
                    reactions.append(
                        {
                            "post_id": i,
                            "account_id": who,
                            "slot": slot,
                            "kind": rng.choice(kinds),
                            "created_at": min(created + timedelta(minutes=5), now),
                        }
                    )

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(Account), accounts)
            conn.execute(insert(Community), groups)
            for model, rows in (
                (Membership, memberships),
                (Follow, follows),
                (Post, posts),
                (PostTag, tags),
                (Reaction, reactions),
            ):
                for chunk in _chunks(rows):
                    conn.execute(insert(model), chunk)
            if engine.dialect.name == "postgresql":  # explicit ids were inserted
                for table in ("accounts", "communities", "posts"):
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                        f"(SELECT max(id) FROM {table}))"  # fixed table names
                    )
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(Post)) == n_posts
    finally:
        engine.dispose()
    counts = {
        "members": len(accounts),
        "communities": len(groups),
        "memberships": len(memberships),
        "follows": len(follows),
        "posts": len(posts),
        "replies": sum(1 for p in posts if p["in_reply_to_id"]),
        "reactions": len(reactions),
    }
    return Seeded(counts, member_of, time.perf_counter() - started)


# --- measuring ---------------------------------------------------------------


@dataclass
class Result:
    first: list[float] = field(default_factory=list)
    deep: list[float] = field(default_factory=list)
    depths: list[int] = field(default_factory=list)
    short_first_pages: int = 0
    post_latencies: list[float] = field(default_factory=list)
    posts_per_s: float = float("nan")

    def row(self) -> dict[str, float]:
        first_p50, first_p95 = summary(self.first)
        nan = float("nan")
        deep_p50, deep_p95 = summary(self.deep) if self.deep else (nan, nan)
        return {
            "first_p50": first_p50,
            "first_p95": first_p95,
            "deep_p50": deep_p50,
            "deep_p95": deep_p95,
            "depth": statistics.mean(self.depths) if self.depths else 0.0,
            "post_p50": statistics.median(self.post_latencies) if self.post_latencies else nan,
            "posts_per_s": self.posts_per_s,
        }


class Target:
    """One seeded instance behind its own server process, with a keep-alive client."""

    def __init__(self, size: int, seeded: Seeded, server: ServerProcess) -> None:
        self.size, self.seeded, self.server = size, seeded, server
        # trust_env=False: never route 127.0.0.1 through a proxy named in the environment
        self.http = httpx.Client(base_url=server.url, timeout=60, trust_env=False)
        self.tokens: dict[int, dict[str, str]] = {}
        self.result = Result()

    def login(self, member: int) -> None:
        r = self.http.post(
            "/api/cg/v1/tokens",
            json={"username": f"m{member}", "password": PASSWORD, "scope": "write"},
        )
        r.raise_for_status()
        self.tokens[member] = {"Authorization": f"Bearer {r.json()['token']}"}

    def home(self, member: int, cursor: str | None = None) -> tuple[float, dict]:
        params: dict[str, str | int] = {"limit": PAGE}
        if cursor:
            params["cursor"] = cursor
        t = time.perf_counter()
        r = self.http.get("/api/cg/v1/feed/home", params=params, headers=self.tokens[member])
        elapsed = time.perf_counter() - t
        r.raise_for_status()
        return elapsed, r.json()

    def post(self, member: int, text: str) -> float:
        community = f"c{self.seeded.member_of[member][0]}"
        t = time.perf_counter()
        r = self.http.post(
            "/api/cg/v1/posts",
            json={"text": text, "community": community},
            headers=self.tokens[member],
        )
        elapsed = time.perf_counter() - t
        r.raise_for_status()
        return elapsed


def _rotated(targets: list[Target], k: int) -> list[Target]:
    k %= len(targets)
    return targets[k:] + targets[:k]


def measure(
    targets: list[Target],
    *,
    requests: int,
    readers: int,
    deep_readers: int,
    posts_to_create: int,
    rng: random.Random,
) -> None:
    """Time the same requests against every target, interleaved request by request
    (in rotating order), so drifting load from other processes on the machine
    hits every size alike and the ratios between sizes stay fair."""
    members = rng.sample(range(1, MEMBERS + 1), max(readers, deep_readers) + 1)
    poster, members = members[0], members[1:]
    for target in targets:
        for m in [poster, *members]:
            target.login(m)
        for m in members[:readers]:  # warm up: connection, caches, lazily created rows
            target.home(m)

    # first page, round-robin over many members
    for k in range(requests):
        m = members[k % readers]
        for target in _rotated(targets, k):
            elapsed, page = target.home(m)
            target.result.first.append(elapsed)
            target.result.short_first_pages += len(page["items"]) < PAGE

    # deep page: walk DEPTH pages in (or to the end of a shorter feed), then time it
    cursors: dict[int, dict[int, str]] = {t.size: {} for t in targets}
    for target in targets:
        for m in members[:deep_readers]:
            cursor, depth = None, 1
            while depth < DEPTH:
                next_cursor = target.home(m, cursor)[1]["next_cursor"]
                if not next_cursor:
                    break
                cursor, depth = next_cursor, depth + 1
            if cursor:
                cursors[target.size][m] = cursor
                target.result.depths.append(depth)
    for k in range(requests):
        for target in _rotated(targets, k):
            deep = list(cursors[target.size])
            if deep:
                m = deep[k % len(deep)]
                target.result.deep.append(target.home(m, cursors[target.size][m])[0])

    # post creation, sequential, into one of the poster's communities, with a
    # hashtag and a mention to resolve, like a typical post
    for k in range(posts_to_create):
        text = f"Bench post {k}: hello @m{members[k % len(members)]} #bench"
        for target in _rotated(targets, k):
            target.result.post_latencies.append(target.post(poster, text))
    for target in targets:
        if posts_to_create:
            target.result.posts_per_s = posts_to_create / sum(target.result.post_latencies)


# --- reporting ---------------------------------------------------------------


def _check_loopback(pg_url: str) -> None:
    host = make_url(pg_url).host or "127.0.0.1"  # no host: a local Unix socket
    if not is_loopback_host(host):
        raise SystemExit(f"--pg must name a server on 127.0.0.1, not {host!r}")


def _ratio(a: float, b: float) -> str:
    return "n/a" if math.isnan(a) or math.isnan(b) or a <= 0 else f"{b / a:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000", help="post counts, comma-separated")
    parser.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL"), help="PostgreSQL URL")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per figure")
    parser.add_argument("--readers", type=int, default=50, help="members reading first pages")
    parser.add_argument("--deep-readers", type=int, default=20, help="members paging deep")
    parser.add_argument("--posts", type=int, default=300, help="posts created via the API")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--quick", action="store_true", help="smoke run: small sizes and counts")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    if args.quick:
        sizes = [500, 5000]
        args.requests, args.readers, args.deep_readers, args.posts = 40, 10, 5, 30
    if args.pg:
        _check_loopback(args.pg)
    backends = ["sqlite"] + (["postgresql"] if args.pg else [])

    print(f"# Feed benchmark\n\nmachine: {machine()}")
    print(
        f"server: `commonground serve`, {args.workers} worker(s); {args.requests} timed requests "
        f"per figure, first pages over {args.readers} members, page {DEPTH} over "
        f"{args.deep_readers}; {args.posts} posts created\n",
        flush=True,
    )
    results: dict[tuple[str, int], dict[str, float]] = {}
    for backend in backends:
        # every size is seeded and served at once, then measured side by side
        with contextlib.ExitStack() as stack:
            targets = []
            for size in sizes:
                url = stack.enter_context(database(backend, args.pg))
                upgrade(url)
                port = free_port()
                seeded = seed(url, size, f"http://127.0.0.1:{port}", random.Random(size))
                c = seeded.counts
                print(
                    f"{backend}: seeded {size:,} posts in {seeded.seconds:.1f} s "
                    f"({c['replies']:,} replies, {c['reactions']:,} reactions, "
                    f"{c['memberships']:,} memberships, {c['follows']:,} follows)",
                    flush=True,
                )
                env = {"CG_DATABASE_URL": url, "CG_WEB_WORKERS": str(args.workers)}
                server = stack.enter_context(ServerProcess(port=port, env=env))
                target = Target(size, seeded, server)
                stack.callback(target.http.close)
                targets.append(target)
            measure(
                targets,
                requests=args.requests,
                readers=args.readers,
                deep_readers=args.deep_readers,
                posts_to_create=args.posts,
                rng=random.Random(1),
            )
        for target in targets:
            r = results[(backend, target.size)] = target.result.row()
            print(
                f"{backend:10} {target.size:>7,} posts: first page p50 {ms(r['first_p50'])} ms, "
                f"p95 {ms(r['first_p95'])} ms ({target.result.short_first_pages} short pages); "
                f"page {r['depth']:.0f} p50 {ms(r['deep_p50'])} ms, p95 {ms(r['deep_p95'])} ms; "
                f"{r['posts_per_s']:.0f} posts/s (p50 {ms(r['post_p50'])} ms)",
                flush=True,
            )

    print(
        "\n| database | posts | first page p50 / p95 (ms) | deep page | deep page p50 / p95 (ms) "
        "| POST p50 (ms) | posts created /s |\n|---|---:|---:|---:|---:|---:|---:|"
    )
    for (backend, size), r in results.items():
        print(
            f"| {'SQLite' if backend == 'sqlite' else 'PostgreSQL'} | {size:,} | "
            f"{ms(r['first_p50'])} / {ms(r['first_p95'])} | {r['depth']:.0f} | "
            f"{ms(r['deep_p50'])} / {ms(r['deep_p95'])} | {ms(r['post_p50'])} | "
            f"{r['posts_per_s']:.0f} |"
        )
    small, large = sizes[0], sizes[-1]
    if small != large:
        print(f"\nfeed latency p50 at {large:,} posts / at {small:,} posts (goal <= 1.5x):")
        for backend in backends:
            a, b = results[(backend, small)], results[(backend, large)]
            print(
                f"  {backend:10} first page {_ratio(a['first_p50'], b['first_p50'])}, "
                f"deep page {_ratio(a['deep_p50'], b['deep_p50'])} "
                f"(p95: {_ratio(a['first_p95'], b['first_p95'])}, "
                f"{_ratio(a['deep_p95'], b['deep_p95'])}); "
                f"posting {_ratio(a['posts_per_s'], b['posts_per_s'])} the rate"
            )


if __name__ == "__main__":
    main()
