"""Mixed member traffic against a running instance, for the concurrency test and
``bench/load.py``: 70 % reads (home feeds, threads, the anonymous tag page) and
30 % writes (posts and reactions), from many clients at once.

Every write the server acknowledges is remembered, so a caller can check that
each one was really stored.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from dataclasses import dataclass, field

import httpx

PASSWORD = "correct horse battery"
TAG = "river"

# (weight, name): reads first, then writes; 70/30 overall.
MIX = [
    (30, "home"),
    (25, "thread"),
    (15, "tag"),
    (20, "post"),
    (10, "react"),
]
WRITES = {"post", "react"}


@dataclass
class Member:
    """A member online from an address of their own, as members are: the server
    sits behind a proxy on loopback (as nginx in deploy/), which names the address
    in ``X-Forwarded-For``. One shared address would put every member in one
    per-address rate-limit bucket, which no real instance sees."""

    username: str
    token: str
    address: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Forwarded-For": self.address}


def address_of(i: int) -> str:
    """The i-th address of 198.18.0.0/15, the range set aside for benchmarks
    (RFC 2544); only ever a header value, never a network target."""
    return f"198.{18 + i // 65536 % 2}.{i // 256 % 256}.{i % 256}"


@dataclass
class Seed:
    members: list[Member]
    community: str
    post_ids: list[int]


@dataclass
class Results:
    """What the clients saw: per-action latencies and every status code."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # transport errors and 5xx, described
    acknowledged_posts: list[int] = field(default_factory=list)
    acknowledged_reactions: list[tuple[str, int, str]] = field(default_factory=list)
    seconds: float = 0.0  # until the last answer, in-flight requests included
    window: float = 0.0  # how long clients kept sending
    answered_in_window: int = 0  # answers that came before the clients stopped sending

    def record(self, action: str, seconds: float, status: int) -> None:
        self.latencies.setdefault(action, []).append(seconds)
        self.statuses[status] = self.statuses.get(status, 0) + 1

    @property
    def throughput(self) -> float:
        """Answers per second while every client was sending: the steady rate, not
        diluted by the requests still queued when the clients stop."""
        return self.answered_in_window / self.window if self.window else 0.0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def of(self, kinds: set[str] | None = None, *, writes: bool | None = None) -> list[float]:
        out: list[float] = []
        for action, values in self.latencies.items():
            if kinds is not None and action not in kinds:
                continue
            if writes is not None and (action in WRITES) != writes:
                continue
            out.extend(values)
        return out


def seed(base_url: str, *, members: int = 20, posts: int = 60) -> Seed:
    """Members with write tokens who all follow each other's community, and some
    threads to read. Sequential and through the public API, like real sign-ups."""
    with httpx.Client(base_url=base_url, trust_env=False, timeout=60) as http:
        made: list[Member] = []
        for i in range(members):
            name = f"load{i}"
            r = http.post("/api/cg/v1/accounts", json={"username": name, "password": PASSWORD})
            r.raise_for_status()
            r = http.post(
                "/api/cg/v1/tokens",
                json={"username": name, "password": PASSWORD, "scope": "write"},
            )
            r.raise_for_status()
            made.append(Member(name, r.json()["token"], address_of(i)))
        community = "riverside"
        r = http.post(
            "/api/cg/v1/communities",
            json={"name": community, "title": "Riverside"},
            headers=made[0].headers,
        )
        r.raise_for_status()
        for m in made[1:]:
            http.post(
                f"/api/cg/v1/communities/{community}/join", headers=m.headers
            ).raise_for_status()
        ids = []
        for i in range(posts):
            author = made[i % len(made)]
            r = http.post(
                "/api/cg/v1/posts",
                json={"text": f"Seed thread {i} about the #{TAG}", "community": community},
                headers=author.headers,
            )
            r.raise_for_status()
            ids.append(r.json()["id"])
        return Seed(made, community, ids)


async def _one(
    http: httpx.AsyncClient, s: Seed, results: Results, rng: random.Random, counter: list[int]
) -> None:
    action = rng.choices([a for _, a in MIX], weights=[w for w, _ in MIX])[0]
    member = rng.choice(s.members)
    pid = rng.choice(s.post_ids)
    start = time.perf_counter()
    try:
        if action == "home":
            r = await http.get("/api/cg/v1/feed/home", headers=member.headers)
        elif action == "thread":
            r = await http.get(f"/api/cg/v1/posts/{pid}/thread", headers=member.headers)
        elif action == "tag":
            r = await http.get(f"/tags/{TAG}")  # the anonymous page
        elif action == "post":
            counter[0] += 1
            body = {"text": f"Load post {counter[0]} #{TAG}", "community": s.community}
            if rng.random() < 0.5:
                body = {"text": f"Load reply {counter[0]}", "in_reply_to": pid}
            r = await http.post("/api/cg/v1/posts", json=body, headers=member.headers)
            if r.status_code == 201:
                results.acknowledged_posts.append(r.json()["id"])
        else:
            kind = rng.choice(["like", "agree", "disagree", "pass"])
            r = await http.post(
                f"/api/cg/v1/posts/{pid}/reactions", json={"kind": kind}, headers=member.headers
            )
            if r.status_code == 200:
                results.acknowledged_reactions.append((member.username, pid, kind))
    except httpx.HTTPError as exc:
        results.record(action, time.perf_counter() - start, 599)
        results.failures.append(f"{action}: {type(exc).__name__}: {exc}")
        return
    results.record(action, time.perf_counter() - start, r.status_code)
    if r.status_code >= 500:
        results.failures.append(f"{action}: {r.status_code} {r.text[:200]}")


async def run(
    base_url: str, s: Seed, *, clients: int, seconds: float, seed_value: int = 1
) -> Results:
    """``clients`` concurrent clients, each on its own connection, issuing
    requests back to back for ``seconds``.

    Each client has an HTTP client of its own, as each member's browser or app
    does. One client with a pool of ``clients`` connections would cost the load
    generator itself four times the CPU per request at 50 clients as at 5 (the
    pool is searched on every request), on the same cores as the server, and that
    would show up as server latency."""
    results = Results()
    counter = [0]
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    timeout = httpx.Timeout(120.0)
    # Plain HTTP on loopback: no TLS is ever spoken, but each new client would build
    # its own default TLS context (about 15 ms of CPU, 3 s for 200 clients).
    unused_tls = ssl.create_default_context()
    deadline = time.perf_counter() + seconds

    async def client(n: int) -> None:
        rng = random.Random(seed_value * 100_003 + n)
        async with httpx.AsyncClient(
            base_url=base_url, trust_env=False, limits=limits, timeout=timeout, verify=unused_tls
        ) as http:
            while time.perf_counter() < deadline:
                await _one(http, s, results, rng, counter)
                if time.perf_counter() < deadline:
                    results.answered_in_window += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    results.seconds = time.perf_counter() - started
    results.window = seconds
    return results
