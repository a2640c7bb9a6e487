"""Inbox-to-visible latency: from an inbox POST's 202 to the post being readable.

A real ``commonground serve`` (its worker in the same process, or a separate
``commonground worker``) on SQLite and on PostgreSQL, with the worker's wake-up
on and off, the poll interval the same in every run (``--poll``, default the
production 1 s). A remote member (a small HTTP server on 127.0.0.1 serving its
actor document) sends signed Creates one at a time, a random 0-200 ms apart (so
arrivals do not keep step with the poll); for each, the time from the 202 to the
post's row being committed, read by polling the database every 2 ms (what the
API and pages read), then checked through the API. Prints p50/p95 per setup.

    .venv/bin/python bench/latency.py [--pg URL] [--n 40] [--poll 1.0] [--quick]

``--pg`` defaults to ``$TEST_DATABASE_URL`` (a throw-away ``cg_bench_<random>``
database on that server, dropped afterwards); without it, SQLite only. Only
127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from common import ActorHost, create_activity, database, machine, ms, summary
from sqlalchemy import create_engine, text

from federation.httpsig import sign_request
from tests.server_process import ServerProcess, commonground


@contextmanager
def instance(db_url: str | None, *, wake: bool, poll: float, separate: bool) -> Iterator:
    env = {
        "CG_ALLOW_PRIVATE_ADDRESSES": "1",
        "CG_WORKER_POLL_SECONDS": str(poll),
        "CG_WORKER_WAKE": "1" if wake else "0",
    }
    with ServerProcess(env=env, database_url=db_url, with_worker=not separate) as server:
        worker = None
        if separate:
            worker = subprocess.Popen(  # our own command, stopped below
                [commonground(), "worker"],
                env=server.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        try:
            yield server
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait()


def measure(server: ServerProcess, db_url: str | None, n: int) -> list[float]:
    sender = ActorHost()
    url = db_url or f"sqlite:///{server.data_dir / 'commonground.db'}"
    engine = create_engine(url)
    inbox = f"{server.url}/inbox"
    rng = random.Random(7)
    try:
        with httpx.Client(base_url=server.url, trust_env=False, timeout=30) as http:
            r = http.post("/api/cg/v1/accounts", json={"username": "alice", "password": "x" * 12})
            assert r.status_code == 201, r.text
            to = f"{server.url}/users/alice"

            def one(i: int) -> float:
                activity = create_activity(sender.actor, i, to)
                body = json.dumps(activity).encode()
                headers = sign_request(
                    "POST", inbox, {}, body, f"{sender.actor}#main-key", sender.private_pem
                )
                r = http.post(inbox, content=body, headers=headers)
                accepted = time.perf_counter()
                assert r.status_code == 202, r.text
                uri = activity["object"]["id"]
                deadline = accepted + 60
                with engine.connect() as conn:
                    while True:
                        row = conn.execute(
                            text("SELECT id FROM posts WHERE uri = :u"), {"u": uri}
                        ).first()
                        conn.rollback()  # a fresh snapshot for the next look
                        if row is not None:
                            break
                        if time.perf_counter() > deadline:
                            raise RuntimeError(f"post {i} never became readable")
                        time.sleep(0.002)
                seen = time.perf_counter() - accepted
                assert http.get(f"/api/cg/v1/posts/{row[0]}").status_code == 200
                return seen

            one(0)  # the first fetches and stores the sender's key: not counted
            times = []
            for i in range(1, n + 1):
                time.sleep(rng.uniform(0, 0.2))
                times.append(one(i))
            return times
    finally:
        sender.shutdown()
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.add_argument("--quick", action="store_true", help="10 posts per setup")
    args = parser.parse_args()
    n = 10 if args.quick else args.n
    print(machine())
    print(f"poll interval {args.poll} s, {n} posts per setup, p50 / p95 in ms from the 202\n")
    setups = [("sqlite", False)] + ([("postgresql", False)] if args.pg else [])
    setups += [("sqlite", True)] + ([("postgresql", True)] if args.pg else [])
    print(f"{'database':<11} {'worker':<22} {'wake-up':<8} {'p50':>8} {'p95':>8}")
    for kind, separate in setups:
        for wake in (True, False):
            with database(kind, args.pg) as url:
                db_url = url if kind == "postgresql" else None
                with instance(db_url, wake=wake, poll=args.poll, separate=separate) as server:
                    times = measure(server, db_url, n)
            p50, p95 = summary(times)
            where = "separate process" if separate else "serve --with-worker"
            print(
                f"{kind:<11} {where:<22} {'on' if wake else 'off':<8} {ms(p50):>8} {ms(p95):>8}",
                flush=True,
            )


if __name__ == "__main__":
    main()
