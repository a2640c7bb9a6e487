"""Ranking modules: in-process vs sandboxed latency, and feed pages ranked by
bridging vs chronological, measured side by side in one run.

    .venv/bin/python bench/algorithms.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import httpx
from common import machine, ms, summary

from algorithms.builtin import NAMES, source_of
from algorithms.runner import Module, run
from algorithms.sandbox import Limits, Pool
from app.services.algorithms import metadata
from tests.server_process import ServerProcess

NOW = 1_800_000_000.0


def items(n: int, rng: random.Random) -> tuple[list[dict], dict]:
    out = [
        {
            "id": f"https://bench.example/posts/{i}",
            "kind": "post",
            "author": f"https://bench.example/users/u{rng.randint(0, 200)}",
            "community": None,
            "created_at": NOW - rng.uniform(0, 7 * 86400),
            "text": "words " * 30 + "?" * (i % 2),
            "tags": ["a", "b"],
            "reply_count": rng.randint(0, 20),
            "repliers": rng.randint(0, 10),
            "reactions": {
                "like": 1,
                "agree": rng.randint(0, 9),
                "disagree": rng.randint(0, 9),
                "pass": 0,
            },
            "is_reply": False,
            "origin": "bench.example",
        }
        for i in range(n)
    ]
    ratings = [
        [f"https://bench.example/users/r{rng.randint(0, 300)}", it["id"], rng.choice([1, 0, -1])]
        for it in out
        for _ in range(3)
    ]
    return out, {
        "now": NOW,
        "viewer": None,
        "following": [],
        "communities": [],
        "ratings": ratings,
        "limit": 20,
    }


def time_calls(fn, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def module_latency(repeats: int) -> None:
    rng = random.Random(1)
    pool = Pool(Limits(call_seconds=30, recycle_after=10_000))
    print("| module | candidates | in-process p50 (ms) | sandbox p50 (ms) | ratio |")
    print("|---|---:|---:|---:|---:|")
    try:
        for name in NAMES:
            trusted = Module.builtin_module(name)
            source = source_of(name)
            sandboxed = Module.from_source(source, name)
            defaults = metadata(source)[2]
            for n in (50, 500, 2000):
                batch, context = items(n, rng)
                reps = max(3, repeats // (4 if n == 2000 else 1))
                run(sandboxed, batch, context, {}, pool, defaults=defaults)  # start the worker
                inproc = time_calls(
                    lambda m=trusted, b=batch, c=context: run(m, b, c, {}, None), reps
                )
                boxed = time_calls(
                    lambda m=sandboxed, b=batch, c=context, d=defaults: run(
                        m, b, c, {}, pool, defaults=d
                    ),
                    reps,
                )
                print(
                    f"| {name} | {n:,} | {ms(inproc)} | {ms(boxed)} | {boxed / inproc:.2f}x |",
                    flush=True,
                )
    finally:
        pool.close()


def feed_pages(requests: int) -> None:
    with ServerProcess() as server, httpx.Client(base_url=server.url, timeout=60) as http:
        server.run("demo-data")
        token = http.post(
            "/api/v1/tokens",
            json={"username": "ada", "password": "demo-password", "scope": "write"},
        ).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        for k in range(300):  # a busier community with stances to learn from
            post = http.post(
                "/api/v1/posts", json={"text": f"idea {k}", "community": "riverside"}, headers=auth
            ).json()
            http.post(
                f"/api/v1/posts/{post['id']}/reactions",
                json={"kind": ("agree", "disagree", "pass")[k % 3]},
                headers=auth,
            )
        algos = {
            a["name"]: a["latest"]["version_id"] for a in http.get("/api/v1/algorithms").json()
        }
        results = {}
        for name in ("Chronological", "Bridging"):
            http.put("/api/v1/me/feed-algorithm", json={"algorithm": algos[name]}, headers=auth)
            http.get("/api/v1/feed/home", headers=auth)  # warm up
            samples = []
            for _ in range(requests):
                t = time.perf_counter()
                http.get("/api/v1/feed/home", headers=auth).raise_for_status()
                samples.append(time.perf_counter() - t)
            results[name] = summary(samples)
    print("\n| home feed ranked by | p50 (ms) | p95 (ms) |\n|---|---:|---:|")
    for name, (p50, p95) in results.items():
        print(f"| {name} | {ms(p50)} | {ms(p95)} |")
    ratio = results["Bridging"][0] / results["Chronological"][0]
    print(f"\nbridging / chronological p50 = {ratio:.2f}x (goal <= 2x with the cache warm)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(f"# Algorithm benchmark\nmachine: {machine()}\n")
    module_latency(5 if args.quick else 21)
    feed_pages(20 if args.quick else 100)


if __name__ == "__main__":
    main()
