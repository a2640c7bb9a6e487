"""Federation throughput, measured side by side in one run on this machine.

1. Inbox acceptance: signed ``Create`` activities POSTed to a real
   ``commonground serve`` (signature verified with a cached key, origin checks,
   raw activity + job stored in one transaction, 202) against the same server's
   rate on a trivial endpoint (``/.well-known/host-meta``), same concurrency.
   Goal: ≥ 50 % of the trivial rate.
2. Delivery: ``ap.deliver`` jobs run by one ``commonground worker`` process
   (signing each POST with RSA-2048, pooled connections) to a local sink that
   answers 202, against the RSA-2048 signing floor of one process measured in the
   same run. Goal: ≥ 70 % of the floor per worker process.
3. Inbox processing: queued ``ap.inbox`` jobs (Creates of Notes from a known actor)
   applied by one worker: activities per second.

    .venv/bin/python bench/federation.py [--pg URL] [--quick]

Deliveries and processing use PostgreSQL when ``--pg`` or ``TEST_DATABASE_URL``
names a server (one worker runs 16 jobs at once there; SQLite runs one at a time),
else SQLite. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import ROOT, ActorHost, create_activity, database, machine
from sqlmodel import func, select

from app import plugins
from app.config import Settings
from app.db import make_engine, transaction
from app.infra import jobs
from app.migrate import upgrade
from app.models import Account, InboxItem, Job, RemoteActor
from app.services import Ctx, accounts
from federation import outbound
from federation.httpsig import generate_keypair, sign_request
from tests.server_process import HOST, ServerProcess, free_port

BIN = Path(sys.executable).parent
CONCURRENCY = 16


async def _blast(requests: list[tuple[str, str, dict, bytes | None]]) -> tuple[float, list[int]]:
    """Send all requests with CONCURRENCY in flight; (seconds, statuses)."""
    statuses: list[int] = []
    queue = list(reversed(requests))
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(trust_env=False, limits=limits, timeout=30) as client:

        async def lane() -> None:
            while queue:
                method, url, headers, body = queue.pop()
                r = await client.request(method, url, headers=headers, content=body)
                statuses.append(r.status_code)

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
        return time.perf_counter() - started, statuses


def inbox_acceptance(n: int) -> dict:
    sender = ActorHost()
    with ServerProcess(env={"CG_ALLOW_PRIVATE_ADDRESSES": "1"}) as server:
        with httpx.Client(base_url=server.url, trust_env=False) as http:
            r = http.post("/api/cg/v1/accounts", json={"username": "alice", "password": "x" * 12})
            assert r.status_code == 201, r.text
        inbox = f"{server.url}/users/alice/inbox"
        to = f"{server.url}/users/alice"

        def signed(i: int) -> tuple[str, str, dict, bytes]:
            body = json.dumps(create_activity(sender.actor, i, to)).encode()
            headers = {"Content-Type": "application/activity+json"}
            headers.update(
                sign_request(
                    "POST", inbox, headers, body, f"{sender.actor}#main-key", sender.private_pem
                )
            )
            return "POST", inbox, headers, body

        warm = [signed(i) for i in range(CONCURRENCY)]  # first one fetches and stores the key
        asyncio.run(_blast(warm[:1]))
        asyncio.run(_blast(warm[1:]))
        posts = [signed(i) for i in range(CONCURRENCY, CONCURRENCY + n)]  # signed before timing
        trivial = [("GET", f"{server.url}/.well-known/host-meta", {}, None)] * n
        asyncio.run(_blast(trivial[:50]))
        t_trivial, s_trivial = asyncio.run(_blast(trivial))
        t_inbox, s_inbox = asyncio.run(_blast(posts))
    sender.shutdown()
    assert set(s_trivial) == {200}, set(s_trivial)
    assert set(s_inbox) == {202}, set(s_inbox)
    return {"trivial": n / t_trivial, "inbox": n / t_inbox}


SINK = """
import asyncio, sys
async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            length = 0
            for line in head.split(b"\\r\\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 202 Accepted\\r\\nContent-Length: 0\\r\\n\\r\\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


def signing_floor(n: int) -> float:
    private_pem, _ = generate_keypair()
    body = json.dumps(create_activity("https://a.example/users/x", 1, "https://b.example")).encode()
    started = time.perf_counter()
    for _ in range(n):
        sign_request(
            "POST", "https://b.example/inbox", {}, body, "https://a.example/x#k", private_pem
        )
    return n / (time.perf_counter() - started)


def _settings(url: str, data_dir: str) -> Settings:
    return Settings(
        data_dir=Path(data_dir),
        database_url=url,
        domain="127.0.0.1:9",
        scheme="http",
        allow_private_addresses=True,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
    )


def _worker_env(url: str, data_dir: str) -> dict:
    """The worker processes' environment: this checkout's code (PYTHONPATH first, as
    tests/server_process.py does, since the venv's editable install may be another
    checkout's), this benchmark's database and settings."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        "CG_DATABASE_URL": url,
        "CG_DATA_DIR": data_dir,
        "CG_DOMAIN": "127.0.0.1:9",
        "CG_SCHEME": "http",
        "CG_ALLOW_PRIVATE_ADDRESSES": "1",
        "CG_WORKER_POLL_SECONDS": "0.05",
        "CG_WORKER_CONCURRENCY": os.environ.get("CG_WORKER_CONCURRENCY", str(CONCURRENCY)),
    }


def _done(engine, kind: str) -> int:
    with transaction(engine, write=False) as db:
        return db.exec(
            select(func.count())
            .select_from(Job)
            .where(Job.kind == kind, Job.state.in_(("done", "dead")))
        ).one()


def _drain(engine, kind: str, url: str, data_dir: str, expected: int, *, workers: int = 1) -> float:
    """Run ``workers`` worker processes until ``expected`` more jobs of ``kind`` are
    done; the steady-state rate in jobs per second, timed from the first finished job
    (so the workers' start-up, ~1 s of imports, is not counted as delivery time)."""
    baseline = _done(engine, kind)
    procs = [
        subprocess.Popen(  # our own command
            [str(BIN / "commonground"), "worker"],
            env=_worker_env(url, data_dir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    started = time.perf_counter()
    first: tuple[float, int] | None = None
    try:
        while True:
            done = _done(engine, kind) - baseline
            now = time.perf_counter()
            if first is None and done:
                first = (now, done)
            if done >= expected:
                assert first is not None
                return (done - first[1]) / (now - first[0])
            if now - started > 300:
                raise RuntimeError(f"only {done} of {expected} {kind} jobs finished")
            time.sleep(0.02)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()


def _queue_deliveries(engine, settings: Settings, sender_uri: str, inbox: str, n: int) -> None:
    with transaction(engine) as db:
        ctx = Ctx(db, settings)
        for i in range(n):
            activity = create_activity(sender_uri, i, inbox)
            activity.pop("@context")
            activity["id"] = outbound.activity_id(ctx)
            outbound.publish(ctx, activity, [inbox])


def delivery_and_processing(url: str, n: int, scaling: tuple[int, ...]) -> dict:
    plugins.load()
    upgrade(url)
    engine = make_engine(url)
    data_dir = tempfile.mkdtemp(prefix="cg-bench-fed-")
    settings = _settings(url, data_dir)
    port = free_port()
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(port)])
    time.sleep(0.5)
    inbox = f"http://{HOST}:{port}/inbox"
    try:
        with transaction(engine) as db:
            ctx = Ctx(db, settings)
            sender_uri = accounts.register(ctx, "sender", "x" * 12).uri
            peer = Account(
                username="peer", username_key="peer", domain=f"{HOST}:{port}", uri=f"{inbox}/peer"
            )
            db.add(peer)
            db.add(RemoteActor(uri=peer.uri, actor_type="Person", inbox=inbox))
        # Each rate is paired with the signing floor measured just before and after
        # it (their mean), so a machine shared with other work compares like with like.
        _queue_deliveries(engine, settings, sender_uri, inbox, n)
        delivery_rate = _with_floor(lambda: _drain(engine, "ap.deliver", url, data_dir, n))
        clients = {
            name: _with_floor(lambda name=name: asyncio.run(_client_ceiling(name, inbox, n)))
            for name in CLIENTS
        }
        signed = _with_floor(lambda: asyncio.run(_signed_ceiling(inbox, n)))
        scaled: dict[int, tuple[float, float]] = {}
        for workers in scaling:  # PostgreSQL only: SQLite is one worker by design
            _queue_deliveries(engine, settings, sender_uri, inbox, n)
            scaled[workers] = _with_floor(
                lambda w=workers: _drain(engine, "ap.deliver", url, data_dir, n, workers=w)
            )
        # processing: Creates from a known remote actor, queued as if just received
        actor = ActorHost()
        with transaction(engine) as db:
            ctx = Ctx(db, settings)
            from federation.remote import store_actor

            store_actor(ctx, httpx.get(actor.actor, trust_env=False).json())
            for i in range(n):
                activity = create_activity(actor.actor, i, sender_uri)
                item = InboxItem(
                    activity_id=activity["id"],
                    activity_type="Create",
                    actor_uri=actor.actor,
                    body=json.dumps(activity),
                )
                db.add(item)
                db.flush()
                jobs.enqueue(ctx, "ap.inbox", {"item": item.id})
        processing_rate = _drain(engine, "ap.inbox", url, data_dir, n)
        actor.shutdown()
    finally:
        sink.terminate()
        sink.wait()
        engine.dispose()
    return {
        "delivery": delivery_rate,
        "clients": clients,
        "signed": signed,
        "scaled": scaled,
        "processing": processing_rate,
    }


def _with_floor(measure) -> tuple[float, float]:
    """(rate, the mean of the signing floor measured right before and right after it)."""
    before = signing_floor(300)
    rate = measure()
    return rate, (before + signing_floor(300)) / 2


CLIENTS = ("httpx: fetcher.SafeClient", "aiohttp: poster.SafePoster")


async def _client_ceiling(name: str, inbox: str, n: int) -> float:
    """POSTs per second of one SSRF-safe client alone (no signing, no database) to
    the same sink at the same concurrency: what HTTP costs a delivery."""
    from federation.fetcher import SafeNetwork, make_client, read_limited
    from federation.poster import SafePoster

    policy = SafeNetwork(allow_private=True)
    body = json.dumps(create_activity("https://a.example/users/x", 1, inbox)).encode()
    headers = {"Content-Type": "application/activity+json"}
    if name.startswith("httpx"):
        client = make_client(policy)

        async def post() -> None:
            request = client.build_request("POST", inbox, content=body, headers=headers)
            response = await client.send(request, stream=True)
            await read_limited(response, 65_536)
            await response.aclose()

        rate = await _lanes(post, n)
        await client.aclose()
        return rate
    poster = SafePoster(policy)
    rate = await _lanes(lambda: poster.post(inbox, body, headers), n)
    await poster.aclose()
    return rate


async def _signed_ceiling(inbox: str, n: int) -> float:
    """Signed POSTs per second in-process (signing pool + SafePoster, no database):
    what a delivery costs without the job queue's bookkeeping."""
    from federation.fetcher import SafeNetwork
    from federation.poster import SafePoster
    from federation.signing_pool import SigningPool

    private_pem, _ = generate_keypair()
    body = json.dumps(create_activity("https://a.example/users/x", 1, inbox)).encode()
    poster, signer = SafePoster(SafeNetwork(allow_private=True)), SigningPool()

    async def post() -> None:
        headers = {"Content-Type": "application/activity+json"}
        headers.update(
            await signer.sign_request("POST", inbox, headers, body, "https://a/x#k", private_pem)
        )
        await poster.post(inbox, body, headers)

    rate = await _lanes(post, n)
    await poster.aclose()
    signer.close()
    return rate


async def _lanes(post, n: int) -> float:
    """Run ``post`` n times with CONCURRENCY in flight; calls per second."""

    async def lane(count: int) -> None:
        for _ in range(count):
            await post()

    await lane(CONCURRENCY)  # warm the pool
    started = time.perf_counter()
    await asyncio.gather(*(lane(n // CONCURRENCY) for _ in range(CONCURRENCY)))
    return (n // CONCURRENCY * CONCURRENCY) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--delivery-only", action="store_true", help="skip inbox acceptance")
    args = parser.parse_args()
    n = 150 if args.quick else 1000
    print(f"Machine: {machine()}")
    acceptance = None if args.delivery_only else inbox_acceptance(n)
    kind = "postgresql" if args.pg else "sqlite"
    scaling = (2, 4) if args.pg else ()
    with database(kind, args.pg) as url:
        rates = delivery_and_processing(url, n // 2 if args.quick else 2000, scaling)
    if acceptance is not None:
        print(f"\nInbox, {n} signed Creates, {CONCURRENCY} concurrent clients, one uvicorn worker:")
        print(f"  trivial endpoint (host-meta): {acceptance['trivial']:8.0f} requests/s")
        print(f"  inbox (verify + enqueue):     {acceptance['inbox']:8.0f} requests/s")
        ratio = acceptance["inbox"] / acceptance["trivial"]
        print(f"  ratio: {ratio:.0%} (goal >= 50 %)")
    concurrency = os.environ.get("CG_WORKER_CONCURRENCY", str(CONCURRENCY))
    print(f"\nDelivery ({kind}, {concurrency} jobs at once per worker on PostgreSQL);")
    print("each figure beside the RSA-2048 signing floor of one process measured around it:")
    rows = [(f"client alone, same sink ({name})", rate) for name, rate in rates["clients"].items()]
    rows.append(("signed POSTs in-process, no database", rates["signed"]))
    rows.append(("deliveries by one worker process", rates["delivery"]))
    rows += [(f"deliveries by {w} worker processes", r) for w, r in rates["scaled"].items()]
    for label, (rate, floor) in rows:
        print(f"  {label:55s} {rate:7.0f}/s  floor {floor:5.0f}/s  {rate / floor:5.0%}")
    print("  goal: deliveries by one worker process >= 70 % of the floor")
    print(f"\nInbox processing ({kind}, one worker): {rates['processing']:8.0f} activities/s")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
