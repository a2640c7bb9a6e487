"""Delivery survives what real deployments go through: a worker killed with
SIGKILL mid-queue, a peer that is down for a while, and several workers sharing
one PostgreSQL queue. Real processes on 127.0.0.1 throughout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from app import plugins
from app.config import Settings
from app.db import make_engine, transaction
from app.infra import jobs
from app.migrate import upgrade
from app.models import Account, Job, RemoteActor
from app.services import Ctx, accounts, posts
from federation import outbound
from tests.peers import Instance, eventually, serving
from tests.server_process import HOST, commonground, free_port

pytestmark = pytest.mark.slow


def instance_settings(instance: Instance) -> Settings:
    """The settings the instance's own processes run with."""
    return Settings(
        data_dir=instance.data_dir,
        database_url=instance.database_url or "",
        domain=instance.domain,
        scheme="http",
        allow_private_addresses=True,
    )


class Worker:
    """A ``commonground worker`` process for an instance (started, stopped, killed)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        with open(self.log, "a") as out:
            self.process = subprocess.Popen(
                [commonground(), "worker"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup, no finishing the job at hand."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def count(instance: Instance, query: str, **params: object) -> int:
    return instance.sql(query, **params)[0][0]


def test_kill_9_mid_queue_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    """1,000 deliveries queued; the sender's worker is SIGKILLed part-way and restarted.
    Every activity arrives, and the receiver applies each exactly once."""
    with Instance(with_worker=False) as a, Instance() as b:
        a.register("alice")
        b.register("bob")
        worker = Worker(a.env, tmp_path / "worker.log").start()
        try:
            r = b.api("POST", "/follows", "bob", json={"target": f"alice@{a.domain}"})
            assert r.status_code == 202, r.text
            eventually(
                lambda: count(b, "SELECT count(*) FROM follows WHERE state = 'accepted'") == 1,
                what="alice to accept bob",
            )
            worker.stop()

            plugins.load()
            settings = instance_settings(a)
            engine = make_engine(settings.resolved_database_url)
            with transaction(engine) as db:
                ctx = Ctx(db, settings)
                alice = accounts.get_local(ctx, "alice")
                uris = [posts.create(ctx, alice, f"note number {i}").uri for i in range(1000)]
            engine.dispose()
            queued = "SELECT count(*) FROM jobs WHERE kind = 'ap.deliver' AND state = 'queued'"
            assert count(a, queued) == 1000

            worker = Worker(a.env, tmp_path / "worker.log").start()
            done = "SELECT count(*) FROM jobs WHERE kind = 'ap.deliver' AND state = 'done'"
            eventually(lambda: count(a, done) >= 150, timeout=120, what="some deliveries")
            worker.kill()
            delivered_before_kill = count(a, done)
            assert 150 <= delivered_before_kill < 1001

            worker = Worker(a.env, tmp_path / "worker.log").start()
            eventually(lambda: count(a, done) == 1001, timeout=240, what="every delivery")
            eventually(b.queue_idle, timeout=240, what="B to process its inbox")
        finally:
            worker.stop()

        received = b.sql(
            "SELECT p.uri FROM posts p JOIN accounts a ON a.id = p.author_id WHERE a.domain = :d",
            d=a.domain,
        )
        assert sorted(u for (u,) in received) == sorted(uris)  # all arrived, each once
        assert count(b, "SELECT count(*) FROM inbox_items WHERE activity_type = 'Create'") == 1000
        assert count(a, "SELECT count(*) FROM jobs WHERE state = 'dead'") == 0
        assert count(a, queued) == 0
        assert count(a, "SELECT count(*) FROM delivery_attempts") >= 1000


def test_peer_outage_backs_off_opens_the_breaker_then_delivers_everything(
    tmp_path: Path,
) -> None:
    fast = {"CG_RETRY_BASE_SECONDS": "0.2", "CG_BREAKER_BASE_SECONDS": "1"}
    b_dir, b_port = tmp_path / "b", free_port()
    with Instance(env=fast) as a:
        b = Instance(data_dir=b_dir, port=b_port).start()
        try:
            a.register("alice")
            b.register("bob")
            b.api("POST", "/follows", "bob", json={"target": f"alice@{a.domain}"})
            eventually(
                lambda: count(b, "SELECT count(*) FROM follows WHERE state = 'accepted'") == 1,
                what="alice to accept bob",
            )
        finally:
            b.stop()  # the peer goes down

        sent = [
            a.api("POST", "/posts", "alice", json={"text": f"while you were out {i}"}).json()["uri"]
            for i in range(10)
        ]
        breaker = "SELECT consecutive_failures, open_until FROM peer_domains WHERE domain = :d"
        failures, open_until = eventually(
            lambda: (row := a.sql(breaker, d=b.domain)) and row[0][1] is not None and row[0],
            what="the circuit breaker to open",
        )
        assert failures >= 5 and open_until is not None
        # Waiting (or being retried right now by the worker), never dead or done.
        waiting = (
            "SELECT count(*) FROM jobs WHERE kind = 'ap.deliver' AND state IN ('queued', 'running')"
        )
        assert count(a, waiting) == 10
        assert count(a, "SELECT count(*) FROM jobs WHERE state = 'dead'") == 0
        refused = "SELECT count(*) FROM delivery_attempts WHERE status_code IS NULL"
        assert count(a, refused) >= 5

        with Instance(data_dir=b_dir, port=b_port) as b_again:  # the peer is back
            for uri in sent:
                eventually(
                    lambda u=uri: count(b_again, "SELECT count(*) FROM posts WHERE uri = :u", u=u),
                    timeout=90,
                    what=f"{uri} on B",
                )
            # Closed by the first success, which is recorded just after the peer
            # stored what it was sent (so the last post can arrive first).
            eventually(
                lambda: a.sql(breaker, d=b.domain) == [(0, None)], what="the breaker to close"
            )
            assert count(a, "SELECT count(*) FROM jobs WHERE state = 'dead'") == 0


class Sink(ThreadingHTTPServer):
    """An inbox that records every activity id POSTed to it."""

    daemon_threads = True
    request_queue_size = 128  # a worker opens 16 connections at once; the default is 5

    def __init__(self) -> None:
        self.received: list[str] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with sink.lock:
                    sink.received.append(json.loads(body)["id"])
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__((HOST, free_port()), Handler)


@pytest.fixture
def sink() -> Iterator[Sink]:
    with serving(Sink()) as server:
        yield server


def _queue_deliveries(engine: Engine, settings: Settings, inbox: str, n: int) -> list[str]:
    with transaction(engine) as db:
        ctx = Ctx(db, settings)
        sender = accounts.register(ctx, "sender", "correct horse battery")
        peer = Account(
            username="peer", username_key="peer", domain=inbox.split("/")[2], uri=f"{inbox}/peer"
        )
        db.add(peer)
        db.add(RemoteActor(uri=peer.uri, actor_type="Person", inbox=inbox))
        ids = []
        for i in range(n):
            activity = {
                "id": outbound.activity_id(ctx),
                "type": "Create",
                "actor": sender.uri,
                "object": {"id": f"{sender.uri}/notes/{i}", "type": "Note", "content": str(i)},
            }
            outbound.publish(ctx, activity, [inbox])
            ids.append(activity["id"])
    return ids


def test_three_workers_on_postgresql_deliver_each_job_exactly_once(
    fresh_postgres: str, sink: Sink, tmp_path: Path
) -> None:
    upgrade(fresh_postgres)
    settings = Settings(
        data_dir=tmp_path, database_url=fresh_postgres, domain="127.0.0.1:9", scheme="http"
    )
    engine = make_engine(fresh_postgres)
    inbox = f"http://{HOST}:{sink.server_address[1]}/inbox"
    expected = _queue_deliveries(engine, settings, inbox, 300)
    env = {
        **os.environ,
        "CG_DATABASE_URL": fresh_postgres,
        "CG_DATA_DIR": str(tmp_path),
        "CG_DOMAIN": "127.0.0.1:9",
        "CG_SCHEME": "http",
        "CG_ALLOW_PRIVATE_ADDRESSES": "1",
        "CG_WORKER_POLL_SECONDS": "0.2",
        "CG_WORKER_CONCURRENCY": "8",
    }
    workers = [Worker(env, tmp_path / f"worker{i}.log").start() for i in range(3)]
    try:
        eventually(lambda: len(sink.received) >= 300, timeout=120, what="300 deliveries")

        def drained() -> bool:
            with transaction(engine) as db:
                states = db.exec(select(Job.state).where(Job.kind == "ap.deliver")).all()
                return set(states) == {"done"}

        eventually(drained, what="the queue to drain")
    finally:
        for w in workers:
            w.stop()
    duplicates = [i for i, n in Counter(sink.received).items() if n > 1]
    assert duplicates == []
    assert sorted(sink.received) == sorted(expected)
    with transaction(engine) as db:
        rows = db.exec(select(Job.state, Job.attempts).where(Job.kind == "ap.deliver")).all()
    engine.dispose()
    assert [r for r in rows if r != ("done", 1)] == []


def test_a_claimed_batch_of_deliveries_is_prepared_in_one_lookup(
    engine: Engine,
    settings: Settings,
    sink: Sink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker loads the outbox items, keys and peer state of a claimed batch at
    once; no delivery falls back to a lookup of its own, every activity arrives
    once, and every attempt is logged."""
    import asyncio

    from app.models import DeliveryAttempt
    from federation import delivery

    own_lookups: list[int] = []
    real_prepare = delivery._prepare

    def counting(ctx, item_id, inbox, cache):
        own_lookups.append(item_id)
        return real_prepare(ctx, item_id, inbox, cache)

    monkeypatch.setattr(delivery, "_prepare", counting)
    settings = settings.model_copy(update={"allow_private_addresses": True})
    inbox = f"http://{HOST}:{sink.server_address[1]}/inbox"
    expected = _queue_deliveries(engine, settings, inbox, 40)

    async def drive() -> None:
        stop = asyncio.Event()
        worker = asyncio.create_task(jobs.work(engine, settings, stop, concurrency=16))
        for _ in range(400):
            await asyncio.sleep(0.05)
            with transaction(engine) as db:
                states = db.exec(select(Job.state).where(Job.kind == "ap.deliver")).all()
            if set(states) == {"done"}:
                break
        stop.set()
        await worker

    asyncio.run(drive())
    assert sorted(sink.received) == sorted(expected)
    assert own_lookups == []
    with transaction(engine) as db:
        logged = db.exec(select(DeliveryAttempt.status_code)).all()
    assert logged == [202] * 40


def test_a_cached_peer_state_expires_so_a_new_block_is_honoured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.models import PeerDomain
    from federation import delivery

    clock = [1000.0]
    monkeypatch.setattr(delivery.time, "monotonic", lambda: clock[0])
    cache = delivery.DeliveryCache()
    prepared = delivery.Prepared(b"{}", "https://a.test/u#key", "PEM")
    cache.remember(1, "https://a.test/u", prepared, PeerDomain(domain="b.test"))
    assert cache.prepared(1, "b.test") == (prepared, PeerDomain(domain="b.test"))
    clock[0] += delivery.DeliveryCache.PEER_SECONDS + 0.1
    assert cache.prepared(1, "b.test") is None  # re-read: an admin may have blocked it
