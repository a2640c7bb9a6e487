"""An accepted activity is processed when it is queued, not at the worker's next poll.

Real processes: ``commonground serve`` with its worker in the same process (SQLite
and PostgreSQL) or a separate ``commonground worker`` (PostgreSQL), a remote
member played by a small HTTP server on 127.0.0.1. The poll interval is set to
60 s, so a post readable within 10 s of its 202 was the wake-up's doing; with the
wake-up switched off (the control) the same post is not readable within those
10 s, which shows the test can tell. Nothing here measures how fast it was
(bench/latency.py does).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from tests.peers import Instance, eventually
from tests.server_process import _terminate, commonground
from tests.test_inbox_hostile import DocServer, Peer
from tests.test_list_values_e2e import create, deliver, note, person

pytestmark = pytest.mark.slow
LONG_POLL = {"CG_WORKER_POLL_SECONDS": "60"}
WITHIN = 10.0  # seconds; the poll would fire after 60


@pytest.fixture
def elsewhere() -> Iterator[DocServer]:
    server = DocServer()
    yield server
    server.close()


def _as_utc(value: object) -> datetime:
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(when, datetime), value
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def worker_waiting(instance: Instance) -> bool:
    """The worker has done everything due and has been waiting for a moment (so it
    is in its long wait, not about to claim again after its last job)."""
    now = datetime.now(UTC)
    rows = instance.sql("SELECT state, run_at, finished_at FROM jobs")
    if not any(state == "done" for state, _, _ in rows):
        return False  # not even the housekeeping queued at its start has run yet
    for state, run_at, finished_at in rows:
        if state == "running" or (state == "queued" and _as_utc(run_at) <= now):
            return False
        if finished_at is not None and (now - _as_utc(finished_at)).total_seconds() < 1:
            return False
    return True


@contextmanager
def separate_worker(instance: Instance) -> Iterator[None]:
    process = subprocess.Popen(
        [commonground(), "worker"],
        env=instance.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield
    finally:
        _terminate(process)


def readable_within(instance: Instance, peer: Peer, timeout: float) -> bool:
    """Deliver a Create once the worker waits; is the post readable within ``timeout``?"""
    instance.register("alice")
    eventually(lambda: worker_waiting(instance), what="the worker to be waiting")
    obj = note(peer)
    r = deliver(instance, peer, create(peer, obj))
    assert r.status_code == 202 and r.json() == {"status": "accepted"}, r.text

    def found() -> bool:
        rows = instance.sql("SELECT id FROM posts WHERE uri = :u", u=obj["id"])
        return bool(rows) and instance.api("GET", f"/posts/{rows[0][0]}").status_code == 200

    try:
        return eventually(found, timeout=timeout, what="the post")
    except AssertionError:
        return False


def test_sqlite_serve_with_worker_is_woken_in_process(elsewhere: DocServer) -> None:
    with Instance(env=LONG_POLL) as ours:
        assert readable_within(ours, person(elsewhere, "ann"), WITHIN)


def test_without_the_wake_up_the_worker_waits_for_its_poll(elsewhere: DocServer) -> None:
    """The control: the same setup with the wake-up off is still waiting."""
    with Instance(env={**LONG_POLL, "CG_WORKER_WAKE": "0"}) as ours:
        assert not readable_within(ours, person(elsewhere, "ann"), WITHIN)
        rows = ours.sql("SELECT state FROM inbox_items")
        assert rows == [("queued",)]


def test_postgresql_serve_with_worker_is_woken_by_notify(
    elsewhere: DocServer, fresh_postgres: str
) -> None:
    with Instance(env=LONG_POLL, database_url=fresh_postgres) as ours:
        assert readable_within(ours, person(elsewhere, "ann"), WITHIN)


def test_postgresql_a_separate_worker_process_is_woken_by_notify(
    elsewhere: DocServer, fresh_postgres: str
) -> None:
    with (
        Instance(env=LONG_POLL, database_url=fresh_postgres, with_worker=False) as ours,
        separate_worker(ours),
    ):
        assert readable_within(ours, person(elsewhere, "ann"), WITHIN)
