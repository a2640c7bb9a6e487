"""Mixed load on a real server: does the instance keep serving when many members
are online at once?

Starts ``commonground serve`` (SQLite with one web worker; PostgreSQL with two),
seeds members and threads through the API, then runs the traffic of
``tests/load_traffic.py`` (70 % feed, thread and tag reads, 30 % posts and
reactions) at several client counts, side by side in one run, and prints
throughput (answers per second while all clients were sending; the requests
still queued when they stop are answered and timed, but not counted in the
rate), latency percentiles and server errors per level, with the ratios the
goals name:

- SQLite, 1 web worker: 0 × 5xx at 20, 100 and 200 clients, and throughput at 200
  at least 90 % of throughput at 20;
- PostgreSQL, 2 web workers: write p99 at 50 clients at most 3 × write p99 at 5.

    .venv/bin/python bench/load.py                       # both, 15 s per level
    .venv/bin/python bench/load.py --only sqlite --seconds 5

The PostgreSQL URL (``--pg``, default ``$TEST_DATABASE_URL``) must name a server on
127.0.0.1; a throw-away database is made there and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os

from common import database, machine, pct

from tests import load_traffic
from tests.server_process import ServerProcess


def _row(clients: int, r: load_traffic.Results) -> dict:
    reads, writes = r.of(writes=False), r.of(writes=True)
    return {
        "clients": clients,
        "requests": r.requests,
        "rps": r.throughput,
        "5xx": r.server_errors,
        "other": sum(n for s, n in r.statuses.items() if s not in (200, 201) and s < 500),
        "read_p50": pct(reads, 50) * 1000,
        "read_p99": pct(reads, 99) * 1000,
        "write_p50": pct(writes, 50) * 1000,
        "write_p99": pct(writes, 99) * 1000,
        "lost": 0,
    }


def _print(rows: list[dict]) -> None:
    print(
        f"{'clients':>7} {'requests':>8} {'req/s':>7} {'5xx':>4} {'4xx':>4} "
        f"{'read p50':>9} {'read p99':>9} {'write p50':>10} {'write p99':>10} {'lost':>5}"
    )
    for x in rows:
        print(
            f"{x['clients']:>7} {x['requests']:>8} {x['rps']:>7.0f} {x['5xx']:>4} "
            f"{x['other']:>4} {x['read_p50']:>7.1f}ms {x['read_p99']:>7.1f}ms "
            f"{x['write_p50']:>8.1f}ms {x['write_p99']:>8.1f}ms {x['lost']:>5}"
        )


def _stored_posts(server: ServerProcess, ids: list[int]) -> int:
    """How many of the acknowledged posts the API can still show."""
    import httpx

    with httpx.Client(base_url=server.url, trust_env=False, timeout=30) as http:
        return sum(1 for i in ids if http.get(f"/api/cg/v1/posts/{i}").status_code == 200)


def run_backend(kind: str, url: str | None, levels: list[int], seconds: float) -> list[dict]:
    workers = 1 if kind == "sqlite" else 2
    env = {"CG_WEB_WORKERS": str(workers)}  # ServerProcess lifts the rate limits
    rows = []
    with ServerProcess(env=env, database_url=url, startup_timeout=120) as server:
        seed = load_traffic.seed(server.url, members=30, posts=100)
        asyncio.run(load_traffic.run(server.url, seed, clients=10, seconds=2))  # warm up
        for n, clients in enumerate(levels):
            results = asyncio.run(
                load_traffic.run(server.url, seed, clients=clients, seconds=seconds, seed_value=n)
            )
            row = _row(clients, results)
            acked = results.acknowledged_posts
            row["lost"] = len(acked) - _stored_posts(server, acked)
            rows.append(row)
            if results.failures:
                print(f"  first failures at {clients}: {results.failures[:3]}")
    print(f"\n{kind}, {workers} web worker(s), {seconds:.0f} s per level:")
    _print(rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--sqlite-levels", default="20,100,200")
    parser.add_argument("--pg-levels", default="5,50")
    args = parser.parse_args()
    print(machine())
    if args.only != "postgresql":
        levels = [int(x) for x in args.sqlite_levels.split(",")]
        with database("sqlite", None) as url:
            rows = run_backend("sqlite", url, levels, args.seconds)
        first, last = rows[0], rows[-1]
        print(
            f"SQLite: 5xx at all levels = {sum(r['5xx'] for r in rows)} (goal 0); "
            f"throughput at {last['clients']} / at {first['clients']} = "
            f"{last['rps'] / first['rps']:.2f} (goal >= 0.90); "
            f"acknowledged posts lost = {sum(r['lost'] for r in rows)}"
        )
    if args.only != "sqlite":
        if not args.pg:
            print("PostgreSQL: skipped (no --pg and no TEST_DATABASE_URL)")
            return
        levels = [int(x) for x in args.pg_levels.split(",")]
        with database("postgresql", args.pg) as url:
            rows = run_backend("postgresql", url, levels, args.seconds)
        first, last = rows[0], rows[-1]
        print(
            f"PostgreSQL: 5xx = {sum(r['5xx'] for r in rows)}; write p99 at "
            f"{last['clients']} / at {first['clients']} = "
            f"{last['write_p99'] / first['write_p99']:.2f} (goal <= 3.0); "
            f"acknowledged posts lost = {sum(r['lost'] for r in rows)}"
        )


if __name__ == "__main__":
    main()
