"""Ranking modules: in-process vs sandboxed latency, and feed pages ranked by
bridging vs chronological, measured side by side in one run.

    .venv/bin/python bench/algorithms.py [--quick] [--modules-only]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from common import machine, ms, summary

from algorithms.builtin import NAMES, source_of
from algorithms.runner import Module, run
from algorithms.sandbox import Limits, Pool
from app.services.ranking.registry import metadata
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


FASTEST: list[tuple[float, float]] = []  # (in-process, sandbox) minimum of each row


def side_by_side(first, second, repeats: int, third=None) -> tuple[float, ...]:
    """Medians of two (or three) calls timed alternately, so that load from
    elsewhere on the machine falls on all alike; the minimums of the first two go
    to FASTEST (on a loaded machine they show the cost without waiting for a
    CPU), that of the third to FASTEST_SHARED."""
    calls = [first, second] + ([third] if third else [])
    samples: list[list[float]] = [[] for _ in calls]
    for _ in range(repeats):
        for fn, times in zip(calls, samples, strict=True):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    FASTEST.append((min(samples[0]), min(samples[1])))
    if third:
        FASTEST_SHARED.append(min(samples[2]))
    return tuple(statistics.median(times) for times in samples)


FASTEST_SHARED: list[float] = []


def fastest() -> str:
    inproc, boxed = FASTEST[-1]
    return f"{ms(inproc)} / {ms(boxed)} ({boxed / inproc:.2f}x)"


def module_latency(repeats: int) -> None:
    """Each built-in, trusted in-process against the same source in the sandbox
    (a fresh child of its zygote per call), on the same candidates: sent with
    each call, and as a window the zygote already holds (how the app ranks for
    a viewer whose window another viewer's call already sent)."""
    rng = random.Random(1)
    pool = Pool(Limits(call_seconds=30))
    print(
        "| module | candidates | in-process p50 (ms) | sandbox p50 (ms) | ratio "
        "| fastest: in-process / sandbox (ms) | sandbox, window held p50 (ms) | ratio "
        "| fastest, window held (ms) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    try:
        for name in NAMES:
            trusted = Module.builtin_module(name)
            source = source_of(name)
            sandboxed = Module.from_source(source, name)
            defaults = metadata(source)[2]
            for n in (50, 500, 2000):
                batch, context = items(n, rng)
                reps = max(3, repeats // (4 if n == 2000 else 1))
                key = f"{name}-{n}"
                for _ in range(2):  # start the zygote; a window is sent when named twice
                    run(sandboxed, batch, context, {}, pool, defaults=defaults, window=key)
                inproc, boxed, held = side_by_side(
                    lambda m=trusted, b=batch, c=context: run(m, b, c, {}, None),
                    lambda m=sandboxed, b=batch, c=context, d=defaults: run(
                        m, b, c, {}, pool, defaults=d
                    ),
                    reps,
                    lambda m=sandboxed, b=batch, c=context, d=defaults, k=key: run(
                        m, b, c, {}, pool, defaults=d, window=k
                    ),
                )
                quickest = FASTEST[-1][0]
                print(
                    f"| {name} | {n:,} | {ms(inproc)} | {ms(boxed)} | {boxed / inproc:.2f}x "
                    f"| {fastest()} | {ms(held)} | {held / inproc:.2f}x "
                    f"| {ms(FASTEST_SHARED[-1])} ({FASTEST_SHARED[-1] / quickest:.2f}x) |",
                    flush=True,
                )
        fork_floor(repeats * 10)
        fork_cost(pool, repeats * 3)
        shared_window(pool, rng, repeats)
    finally:
        pool.close()


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def tree_cpu(root: int) -> float:
    """CPU seconds of a process and all its descendants, live or already reaped
    by them (utime + stime + cutime + cstime from /proc, in clock ticks)."""
    stats = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(stat.parent.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]))
    inside, grew = {root}, True
    while grew:
        more = {pid for pid, (ppid, _) in stats.items() if ppid in inside} - inside
        grew, inside = bool(more), inside | more
    return sum(stats[pid][1] for pid in inside if pid in stats) / os.sysconf("SC_CLK_TCK")


def sandbox_cpu(
    module: Module,
    batch: list,
    context: dict,
    defaults: dict,
    calls: int,
    window: str | None = None,
) -> float:
    """CPU seconds the server and the sandbox (bubblewrap, zygote, its children)
    spend on ``calls`` calls, the zygote's start included (and, with ``window``,
    sending the window once)."""
    before = cpu_seconds(resource.RUSAGE_SELF)
    pool = Pool(Limits(call_seconds=30))
    try:
        for _ in range(calls):
            run(module, batch, context, {}, pool, defaults=defaults, window=window)
        spent = cpu_seconds(resource.RUSAGE_SELF) - before
        return spent + tree_cpu(pool._zygotes[module.sha256].process.pid)
    finally:
        pool.close()


def cpu_cost(calls: int) -> None:
    """What a call costs in CPU time, whatever else the machine runs: on a loaded
    machine the wall-clock medians above mostly measure waiting for a CPU (a call
    crosses four processes: server, zygote, child, zygote, server)."""
    rng = random.Random(2)
    print(
        "\n| module | candidates | in-process CPU per call (ms) "
        "| sandbox CPU per call (ms) | ratio | sandbox, window held (ms) | ratio |"
        "\n|---|---:|---:|---:|---:|---:|---:|"
    )
    for name in NAMES:
        trusted = Module.builtin_module(name)
        sandboxed = Module.from_source(source_of(name), name)
        defaults = metadata(source_of(name))[2]
        batch, context = items(500, rng)
        n = calls if name != "bridging" else max(3, calls // 10)
        before = cpu_seconds(resource.RUSAGE_SELF)
        for _ in range(n):
            run(trusted, batch, context, {}, None)
        inproc = (cpu_seconds(resource.RUSAGE_SELF) - before) / n
        start = sandbox_cpu(sandboxed, batch, context, defaults, 1)
        boxed = (sandbox_cpu(sandboxed, batch, context, defaults, n + 1) - start) / n
        start = sandbox_cpu(sandboxed, batch, context, defaults, 1, "w")
        held = (sandbox_cpu(sandboxed, batch, context, defaults, n + 1, "w") - start) / n
        print(
            f"| {name} | 500 | {ms(inproc)} | {ms(boxed)} | {boxed / inproc:.2f}x "
            f"| {ms(held)} | {held / inproc:.2f}x |",
            flush=True,
        )
    empty = Module.from_source(EMPTY, "empty")
    start = sandbox_cpu(empty, [], {}, {}, 1)
    fixed = (sandbox_cpu(empty, [], {}, {}, calls + 1) - start) / calls
    print(f"| empty module (the fixed cost of a call) | 0 | | {ms(fixed)} | | | |")
    if FLOOR_CPU:
        print(
            f"| fork + exit + reap alone (the floor, no sandbox) | 0 | "
            f"| {ms(FLOOR_CPU[-1])} | | | |"
        )


EMPTY = 'NAME = "empty"\nPARAMETERS = {}\n\n\ndef rank(items, context, params):\n    return []\n'


FLOOR = """
import os, resource, sys, time
sys.path.insert(0, sys.argv[1])
import sandbox_worker  # the zygote's libraries, so the interpreter has its size
import gc
gc.freeze()
def cpu():
    return sum(
        u.ru_utime + u.ru_stime
        for u in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )
times, spent = [], cpu()
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    times.append(time.perf_counter() - t)
times.sort()
print(times[len(times) // 2], times[0], (cpu() - spent) / len(times))
"""


FLOOR_CPU: list[float] = []  # CPU seconds of one fork + exit + reap, both processes


def fork_floor(repeats: int) -> None:
    """The physical floor of a fresh process per call: fork, exit and reap an
    interpreter of the zygote's size (its libraries loaded), with no sandbox, no
    pipes and no request; what no design with a process per call can go under."""
    worker_dir = str(Path(__file__).resolve().parent.parent / "algorithms")
    out = subprocess.run(
        [sys.executable, "-I", "-B", "-c", FLOOR, worker_dir, str(repeats)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    p50, quickest = float(out[0]), float(out[1])
    FLOOR_CPU.append(float(out[2]))
    print(
        f"| fork + exit + reap alone (the floor, no sandbox) | 0 | | {ms(p50)} | | {ms(quickest)} |"
    )


def fork_cost(pool: Pool, repeats: int) -> None:
    """A module that does nothing, on no candidates: the price of a fresh process
    per call (request, fork, top level, answer, the child killed)."""
    module = Module.from_source(EMPTY, "empty")
    run(module, [], {}, {}, pool)
    _, cost = side_by_side(lambda: None, lambda: run(module, [], {}, {}, pool), repeats)
    print(
        f"| fork cost alone (empty module, 0 candidates) | 0 | | {ms(cost)} | "
        f"| {ms(FASTEST[-1][1])} |"
    )


def shared_window(pool: Pool, rng: random.Random, repeats: int) -> None:
    """One community's window of 500 candidates ranked for 20 viewers: sent and
    decoded once, then handed to each viewer's child copy-on-write."""
    name = "recent_discussion"
    trusted = Module.builtin_module(name)
    sandboxed = Module.from_source(source_of(name), name)
    defaults = metadata(source_of(name))[2]
    batch, context = items(500, rng)
    viewers = [dict(context, viewer=f"https://bench.example/users/v{v}") for v in range(20)]

    def each(module: Module, box: Pool | None, window: str | None) -> None:
        for viewer in viewers:
            run(module, batch, viewer, {}, box, defaults=defaults, window=window)

    each(sandboxed, pool, "community-window")
    inproc, boxed = side_by_side(
        lambda: each(trusted, None, None),
        lambda: each(sandboxed, pool, "community-window"),
        max(3, repeats // 3),
    )
    _, resent = side_by_side(
        lambda: None, lambda: each(sandboxed, pool, None), max(3, repeats // 3)
    )
    shared, again = FASTEST[-2], FASTEST[-1]
    print(
        f"| {name}, one 500-candidate window for 20 viewers | 500 x 20 | {ms(inproc)} | "
        f"{ms(boxed)} | {boxed / inproc:.2f}x | {ms(shared[0])} / {ms(shared[1])} "
        f"({shared[1] / shared[0]:.2f}x) |"
    )
    print(
        f"| the same, window sent again for each viewer | 500 x 20 | {ms(inproc)} | "
        f"{ms(resent)} | {resent / inproc:.2f}x | {ms(shared[0])} / {ms(again[1])} "
        f"({again[1] / shared[0]:.2f}x) |"
    )


def feed_pages(requests: int) -> None:
    with ServerProcess() as server, httpx.Client(base_url=server.url, timeout=60) as http:
        server.run("demo-data")
        token = http.post(
            "/api/cg/v1/tokens",
            json={"username": "ada", "password": "demo-password", "scope": "write"},
        ).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        for k in range(300):  # a busier community with stances to learn from
            post = http.post(
                "/api/cg/v1/posts",
                json={"text": f"idea {k}", "community": "riverside"},
                headers=auth,
            ).json()
            http.post(
                f"/api/cg/v1/posts/{post['id']}/reactions",
                json={"kind": ("agree", "disagree", "pass")[k % 3]},
                headers=auth,
            )
        algos = {
            a["name"]: a["latest"]["version_id"] for a in http.get("/api/cg/v1/algorithms").json()
        }
        results = {}
        for name in ("Chronological", "Bridging"):
            http.put("/api/cg/v1/me/feed-algorithm", json={"algorithm": algos[name]}, headers=auth)
            http.get("/api/cg/v1/feed/home", headers=auth)  # warm up
            samples = []
            for _ in range(requests):
                t = time.perf_counter()
                http.get("/api/cg/v1/feed/home", headers=auth).raise_for_status()
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
    parser.add_argument("--modules-only", action="store_true", help="skip the feed pages")
    args = parser.parse_args()
    print(f"# Algorithm benchmark\nmachine: {machine()}")
    print("load average at start: {:.2f} {:.2f} {:.2f}\n".format(*os.getloadavg()))
    module_latency(5 if args.quick else 21)
    cpu_cost(20 if args.quick else 100)
    if not args.modules_only:
        feed_pages(20 if args.quick else 100)


if __name__ == "__main__":
    main()
