"""Search performance: latency as the posts grow, and what the index costs a post.

For each database (SQLite in a temporary directory; PostgreSQL too when ``--pg URL``
or ``TEST_DATABASE_URL`` names a server on 127.0.0.1), in one run:

1. **Latency at 1,000 against 100,000 posts.** Two fresh, migrated databases are
   filled with SQLAlchemy Core bulk inserts into ``posts`` (executemany in
   batches), so every row goes through the same index maintenance as a member's
   post (the FTS5 triggers on SQLite, the GIN index on PostgreSQL): 100 members,
   one community, posts of 8–20 words from a 5,000-word vocabulary, a marker word
   in 1 % of posts and a second one in 0.1 %. Then, alternating between the two
   databases query by query, ``search.search`` (the service the API and the page
   call) is timed for a member: the first page (20) of the 1 % word, of the
   0.1 % word, of a prefix, of two words, and the third page of three results. p50 / p95 per
   size and the ratio 100k / 1k of the medians (goal: at most 2x).
2. **Indexing cost per post.** Two more fresh databases, one migrated as shipped
   and one with the search index dropped (``app.infra.fulltext.drop``), each
   seeded with the same 1,000 posts; then posts are written alternately into one
   and the other through ``posts.create`` (the service a request calls), each in
   its own committed transaction, and timed. Median per post and the ratio
   indexed / unindexed (goal: at most 1.2x).

    .venv/bin/python bench/search.py [--pg URL] [--only sqlite|postgresql] [--large 100000]
        [--posts 400] [--rounds 60] [--quick]

``--quick`` is a smoke run (10,000 posts, fewer queries). Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from common import database, machine, ms, summary
from sqlalchemy import Engine, insert
from sqlalchemy.engine import make_url

from app.config import Settings, is_loopback_host
from app.db import make_engine, transaction
from app.infra import fulltext
from app.migrate import upgrade
from app.models import Account, Community, Membership, Post
from app.services import Ctx, posts, search

MEMBERS = 100
BATCH = 5000
COMMON, RARE = "zephyr", "quokka"  # in 1 % and 0.1 % of posts


def _settings(url: str, tmp: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        data_dir=Path(tmp),
        database_url=url,
        domain="bench.example",
        scheme="https",
        secret_key="bench",
        post_limit_per_account=10**9,
        post_limit_per_client=10**9,
    )


def _vocabulary(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnoprstuvw"
    words = {"".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(6000)}
    return sorted(words - {COMMON, RARE})[:5000]


def seed(engine: Engine, n: int, rng: random.Random) -> tuple[int, int]:
    """``n`` posts by ``MEMBERS`` members in one community; (a member's id, the community's)."""
    words = _vocabulary(rng)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(Account),
            [
                {
                    "username": f"m{i}",
                    "username_key": f"m{i}",
                    "domain": "",
                    "uri": f"https://bench.example/users/m{i}",
                    "display_name": f"Member {i}",
                    "bio": "",
                    "avatar_url": "",
                    "header_url": "",
                    "is_admin": False,
                    "is_active": True,
                    "expand_warnings": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(MEMBERS)
            ],
        )
        conn.execute(
            insert(Community),
            [
                {
                    "name": "commons",
                    "name_key": "commons",
                    "domain": "",
                    "uri": "https://bench.example/c/commons",
                    "title": "Commons",
                    "description": "",
                    "charter": "",
                    "charter_html": "",
                    "join_policy": "open",
                    "algorithm_governance": "admins",
                    "vote_min_hours": 24,
                    "vote_quorum_percent": 10,
                    "vote_openers": "members",
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
        conn.execute(
            insert(Membership),
            [
                {
                    "community_id": 1,
                    "account_id": i + 1,
                    "role": "member",
                    "state": "active",
                    "created_at": now,
                }
                for i in range(MEMBERS)
            ],
        )
        start = now - timedelta(days=90)
        step = timedelta(days=90) / max(n, 1)
        for lo in range(0, n, BATCH):
            rows = []
            for i in range(lo, min(n, lo + BATCH)):
                text = rng.choices(words, k=rng.randint(8, 20))
                if i % 100 == 0:
                    text.insert(rng.randrange(len(text)), COMMON)
                if i % 1000 == 0:
                    text.insert(rng.randrange(len(text)), RARE)
                body = " ".join(text)
                rows.append(
                    {
                        "uri": f"https://bench.example/posts/{i}",
                        "author_id": rng.randint(1, MEMBERS),
                        "community_id": 1,
                        "text": body,
                        "html": f"<p>{body}</p>",
                        "object_type": "Note",
                        "reply_count": 0,
                        "created_at": start + step * i,
                    }
                )
            conn.execute(insert(Post), rows)
    with engine.begin() as conn:  # what autovacuum does after a bulk load (as bench/feed.py)
        conn.exec_driver_sql("ANALYZE")
    return 1, 1


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def latency(kind: str, pg: str | None, sizes: tuple[int, int], rounds: int, tmp: str) -> list[str]:
    rng = random.Random(12)
    out = []
    with database(kind, pg) as small_url, database(kind, pg) as large_url:
        dbs = {}
        for n, url in zip(sizes, (small_url, large_url), strict=True):
            upgrade(url)
            engine = make_engine(url)
            t0 = time.perf_counter()
            seed(engine, n, rng)
            built = time.perf_counter() - t0
            out.append(f"  built {n:,} posts (with the index) in {built:.1f} s")
            dbs[n] = (engine, _settings(url, tmp))
        queries: dict[str, Callable[[Ctx], object]] = {
            f"'{COMMON}' (1 %)": lambda ctx: search.search(ctx, viewer(ctx), COMMON),
            f"'{RARE}' (0.1 %)": lambda ctx: search.search(ctx, viewer(ctx), RARE),
            f"'{COMMON[:4]}' prefix": lambda ctx: search.search(ctx, viewer(ctx), COMMON[:4]),
            "two words": lambda ctx: search.search(ctx, viewer(ctx), f"{COMMON} {RARE}"),
            "3rd page of 3": lambda ctx: search.search(
                ctx, viewer(ctx), COMMON, cursor=deep[ctx.settings.database_url], limit=3
            ),
        }
        deep: dict[str, str | None] = {}
        for engine, settings in dbs.values():
            with transaction(engine, write=False) as db:
                deep[settings.database_url] = _third_page_cursor(Ctx(db, settings))
        times: dict[tuple[str, int], list[float]] = {}
        for _ in range(rounds):
            for name, q in queries.items():
                for n, (engine, settings) in dbs.items():
                    with transaction(engine, write=False) as db:
                        ctx = Ctx(db, settings)
                        times.setdefault((name, n), []).append(_timed(partial(q, ctx)))
        small, large = sizes
        head = f"{small:,} p50/p95 ms", f"{large:,} p50/p95 ms"
        out.append(f"  {'query':<18} {head[0]:>20} {head[1]:>22} {'ratio':>7}")
        for name in queries:
            s50, s95 = summary(times[(name, small)])
            l50, l95 = summary(times[(name, large)])
            cells = f"{ms(s50):>9} / {ms(s95):<9} {ms(l50):>10} / {ms(l95):<10}"
            out.append(f"  {name:<18} {cells} {l50 / s50:>6.2f}x")
        for engine, _ in dbs.values():
            engine.dispose()
    return out


def viewer(ctx: Ctx) -> Account:
    found = ctx.db.get(Account, 7)
    assert found is not None
    return found


def _third_page_cursor(ctx: Ctx) -> str | None:
    """The cursor of the third page of three results (1,000 posts hold ten matches)."""
    cursor = None
    for _ in range(2):
        cursor = search.search(ctx, viewer(ctx), COMMON, cursor=cursor, limit=3).next_cursor
    return cursor


def _post(engine: Engine, settings: Settings, author_id: int, text: str) -> None:
    """One post through the service, in its own committed transaction (as a request)."""
    with transaction(engine) as db:
        ctx = Ctx(db, settings)
        author = ctx.db.get(Account, author_id)
        assert author is not None
        posts.create(ctx, author, text, community="commons")


def indexing(kind: str, pg: str | None, n_posts: int, tmp: str) -> list[str]:
    rng = random.Random(34)
    words = _vocabulary(random.Random(56))
    with database(kind, pg) as indexed_url, database(kind, pg) as plain_url:
        dbs = {}
        for label, url in (("indexed", indexed_url), ("no index", plain_url)):
            upgrade(url)
            engine = make_engine(url)
            if label == "no index":
                with engine.begin() as conn:
                    fulltext.drop(conn)
            seed(engine, 1000, random.Random(78))
            dbs[label] = (engine, _settings(url, tmp))
        times: dict[str, list[float]] = {label: [] for label in dbs}
        for i in range(n_posts):
            text = " ".join(rng.choices(words, k=rng.randint(8, 20))) + f" #tag{i % 50}"
            order = list(dbs.items()) if i % 2 == 0 else list(reversed(dbs.items()))
            for label, (engine, settings) in order:
                write = partial(_post, engine, settings, 1 + i % MEMBERS, text)
                times[label].append(_timed(write))
        ind, _ = summary(times["indexed"])
        plain, _ = summary(times["no index"])
        out = [
            f"  posts.create, {n_posts} each, alternating: indexed {ms(ind)} ms, "
            f"no index {ms(plain)} ms per post (median); ratio {ind / plain:.2f}x"
        ]
        for engine, _ in dbs.values():
            engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--posts", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one database")
    args = parser.parse_args()
    if args.quick:
        args.large, args.posts, args.rounds = 10_000, 60, 10
    if args.pg and not is_loopback_host(make_url(args.pg).host or ""):
        parser.error("--pg must name a server on 127.0.0.1")
    kinds = ["sqlite"] + (["postgresql"] if args.pg else [])
    if args.only:
        kinds = [k for k in kinds if k == args.only]
    print(machine())
    with tempfile.TemporaryDirectory(prefix="cg-bench-search-") as tmp:
        for kind in kinds:
            print(f"{kind}: search latency")
            for line in latency(kind, args.pg, (1000, args.large), args.rounds, tmp):
                print(line)
            print(f"{kind}: indexing cost per post")
            for line in indexing(kind, args.pg, args.posts, tmp):
                print(line)


if __name__ == "__main__":
    main()
