"""The job queue's rules one by one (app/infra/jobs.py): the backoff as a pure
table, and the fence every outcome goes through (a claim's token, row by row),
attempts, free retries and dead jobs. Written to kill the mutants tests/test_jobs.py
left (docs/quality.md); that file tests the flows and the worker loop."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from app.config import Settings
from app.infra import jobs
from app.models import Job, utcnow

hooked: list[tuple[dict, str]] = []


@jobs.handler("rules.ok")
def _ok(ctx, payload: dict) -> None:
    pass


@jobs.handler("rules.fails")
def _fails(ctx, payload: dict) -> None:
    raise RuntimeError("no")


@jobs.handler("rules.permanent")
def _permanent(ctx, payload: dict) -> None:
    raise jobs.PermanentError("never")


@jobs.handler("rules.wait")
async def _wait(job: jobs.JobContext, payload: dict) -> None:
    raise jobs.RetryAt(utcnow() + timedelta(hours=1), "breaker open", free=payload["free"])


@jobs.on_dead("rules.fails")
def _buried(db, payload: dict, error: str) -> None:
    hooked.append((payload, error))


@pytest.fixture(autouse=True)
def _clear() -> None:
    hooked.clear()


# --- backoff: pure ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "first", "base"),
    [
        (0, 30.0, 30),  # no attempt yet counts as the first
        (1, 30.0, 30),
        (2, 30.0, 60),
        (3, 30.0, 120),
        (11, 30.0, 30 * 1024),
        (12, 30.0, 12 * 3600),  # 30 * 2048 s is past the cap
        (40, 30.0, 12 * 3600),
        (3, 1.0, 4),
    ],
)
def test_backoff_is_between_half_and_all_of_its_base(
    monkeypatch: pytest.MonkeyPatch, attempts: int, first: float, base: float
) -> None:
    asked: list[tuple[float, float]] = []
    highest = [False]

    def uniform(low: float, high: float) -> float:
        asked.append((low, high))
        return high if highest[0] else low

    monkeypatch.setattr(jobs.random, "uniform", uniform)
    assert jobs.backoff(attempts, first) == timedelta(seconds=base / 2)
    highest[0] = True
    assert jobs.backoff(attempts, first) == timedelta(seconds=base)
    assert asked == [(0, base / 2)] * 2


def test_the_default_first_delay_is_thirty_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs.random, "uniform", lambda low, high: high)
    assert jobs.backoff(1) == timedelta(seconds=30)


# --- outcomes, fenced by the claim -------------------------------------------------


def _enqueue(new_ctx, kind: str, n: int = 1, **kw: object) -> list[int]:
    with new_ctx() as ctx:
        return [jobs.enqueue(ctx, kind, {"n": i, **kw}).id for i in range(n)]  # type: ignore[arg-type]


def _row(new_ctx, job_id: int) -> Job:
    with new_ctx() as ctx:
        return ctx.db.get(Job, job_id)


def _run(job: Job, engine: Engine, settings: Settings) -> Job:
    return asyncio.run(jobs.execute(job, engine, settings, {}))


def test_one_failure_of_a_batch_touches_only_its_own_row(new_ctx, engine, settings) -> None:
    """A batch shares one claim token: the failure's fence is the token and the id."""
    failing = _enqueue(new_ctx, "rules.fails")[0]
    fine = _enqueue(new_ctx, "rules.ok")[0]
    batch = {j.id: j for j in jobs.claim_many(engine, "w1", 2)}
    assert batch[failing].claim_token == batch[fine].claim_token
    assert _run(batch[failing], engine, settings).state == "queued"
    row = _row(new_ctx, failing)
    assert (row.state, row.claim_token, row.locked_by, row.locked_at) == (
        "queued",
        None,
        None,
        None,
    )
    assert (row.last_error, row.finished_at) == ("RuntimeError: no", None)
    assert row.run_at > utcnow()
    other = _row(new_ctx, fine)
    assert (other.state, other.locked_by) == ("running", "w1")
    assert other.claim_token == batch[fine].claim_token
    assert _run(batch[fine], engine, settings).state == "done"
    done = _row(new_ctx, fine)
    assert (done.state, done.claim_token, done.last_error) == ("done", None, None)
    assert done.finished_at is not None


def test_an_outcome_under_a_lost_claim_is_dropped_and_said_so(
    new_ctx, engine, settings, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = _enqueue(new_ctx, "rules.fails")[0]
    old = jobs.claim(engine, "w1")
    new = jobs.claim(engine, "w2", now=utcnow() + jobs.LOCK_TIMEOUT + timedelta(seconds=1))
    assert old.id == new.id == job_id
    with caplog.at_level(logging.WARNING, logger="commonground.jobs"):
        assert _run(old, engine, settings).state == "running"  # not what it recorded
    assert f"job {job_id} was taken over meanwhile; its outcome is dropped" in caplog.messages
    row = _row(new_ctx, job_id)
    assert (row.state, row.locked_by, row.claim_token) == ("running", "w2", new.claim_token)
    assert hooked == []


def test_the_last_attempt_buries_the_job_and_runs_its_hook(new_ctx, engine, settings) -> None:
    with new_ctx() as ctx:
        job_id = jobs.enqueue(ctx, "rules.fails", {"n": 9}, max_attempts=1).id
    assert _run(jobs.claim(engine, "w1"), engine, settings).state == "dead"
    row = _row(new_ctx, job_id)
    assert (row.state, row.attempts, row.claim_token) == ("dead", 1, None)
    assert row.finished_at is not None
    assert hooked == [({"n": 9}, "RuntimeError: no")]


def test_a_permanent_error_is_dead_at_its_first_attempt(new_ctx, engine, settings) -> None:
    job_id = _enqueue(new_ctx, "rules.permanent")[0]
    assert _run(jobs.claim(engine, "w1"), engine, settings).state == "dead"
    row = _row(new_ctx, job_id)
    assert (row.state, row.attempts, row.last_error) == ("dead", 1, "PermanentError: never")


@pytest.mark.parametrize("free", [True, False])
def test_a_free_retry_gives_its_attempt_back(new_ctx, engine, settings, free: bool) -> None:
    """Waiting for a circuit breaker is no attempt; a peer's Retry-After is one. Even
    at the last attempt a free retry is not the end."""
    with new_ctx() as ctx:
        job_id = jobs.enqueue(ctx, "rules.wait", {"free": free}, max_attempts=1).id
    job = _run(jobs.claim(engine, "w1"), engine, settings)
    row = _row(new_ctx, job_id)
    if free:
        assert (job.state, row.state, row.attempts) == ("queued", "queued", 0)
        assert row.run_at > utcnow() + timedelta(minutes=59)
    else:
        assert (job.state, row.state, row.attempts) == ("dead", "dead", 1)
    assert row.last_error == "RetryAt: breaker open"


def test_claims_take_due_jobs_oldest_first_and_count_attempts(new_ctx, engine, settings) -> None:
    now = utcnow()
    with new_ctx() as ctx:
        later = jobs.enqueue(ctx, "rules.ok", run_at=now + timedelta(minutes=5)).id
        second = jobs.enqueue(ctx, "rules.ok", run_at=now - timedelta(minutes=1)).id
        first = jobs.enqueue(ctx, "rules.ok", run_at=now - timedelta(minutes=2)).id
        due_now = jobs.enqueue(ctx, "rules.ok", run_at=now).id
    taken = jobs.claim_many(engine, "w1", 10, now=now)
    assert [j.id for j in taken] == [first, second, due_now]  # not the one due later
    assert {(j.state, j.attempts, j.locked_by, j.locked_at) for j in taken} == {
        ("running", 1, "w1", now)
    }
    assert len({j.claim_token for j in taken}) == 1 and taken[0].claim_token
    assert jobs.claim_many(engine, "w2", 10, now=now) == []  # held, lock fresh
    soon = now + timedelta(minutes=6)  # the others' locks are still fresh
    assert [j.id for j in jobs.claim_many(engine, "w2", 10, now=soon)] == [later]


def test_a_stale_claim_is_taken_over_and_says_why(new_ctx, engine, settings) -> None:
    job_id = _enqueue(new_ctx, "rules.ok")[0]
    now = utcnow()
    assert jobs.claim(engine, "w1", now=now).id == job_id
    assert jobs.claim(engine, "w2", now=now + jobs.LOCK_TIMEOUT) is None  # not yet stale
    taken = jobs.claim(engine, "w2", now=now + jobs.LOCK_TIMEOUT + timedelta(seconds=1))
    assert (taken.id, taken.attempts, taken.locked_by) == (job_id, 2, "w2")
    assert taken.last_error == jobs.WORKER_DIED
    fresh = _enqueue(new_ctx, "rules.ok")[0]
    assert jobs.claim(engine, "w3", now=now + jobs.LOCK_TIMEOUT + timedelta(seconds=2)).id == fresh
    assert _row(new_ctx, fresh).last_error is None  # a first claim is no take-over


def test_a_stale_claim_at_its_last_attempt_is_buried_with_its_hook(
    new_ctx, engine, settings
) -> None:
    with new_ctx() as ctx:
        job_id = jobs.enqueue(ctx, "rules.fails", {"n": 3}, max_attempts=1).id
        waiting = jobs.enqueue(ctx, "rules.ok", run_at=utcnow() + timedelta(days=1)).id
    now = utcnow()
    assert jobs.claim(engine, "w1", now=now).id == job_id
    assert jobs.claim(engine, "w2", now=now + jobs.LOCK_TIMEOUT + timedelta(seconds=1)) is None
    row = _row(new_ctx, job_id)
    error = f"{jobs.WORKER_DIED} (attempt 1 of 1)"
    assert (row.state, row.attempts, row.last_error, row.claim_token) == ("dead", 1, error, None)
    assert (row.locked_by, row.locked_at) == (None, None)
    assert row.finished_at == now + jobs.LOCK_TIMEOUT + timedelta(seconds=1)
    assert hooked == [({"n": 3}, error)]
    assert _row(new_ctx, waiting).state == "queued"


@jobs.handler("rules.shared")
async def _shared(job: jobs.JobContext, payload: dict) -> None:
    job.shared["seen"] = job.shared.get("given")


def test_a_claim_token_fills_its_column(new_ctx, engine, settings) -> None:
    _enqueue(new_ctx, "rules.ok")
    token = jobs.claim(engine, "w1").claim_token
    assert len(token) == 32 and int(token, 16) >= 0  # Job.claim_token is 32 characters


def test_a_take_over_marks_only_the_claims_it_takes(new_ctx, engine, settings) -> None:
    stale = _enqueue(new_ctx, "rules.ok")[0]
    now = utcnow()
    assert jobs.claim(engine, "w1", now=now).id == stale
    fresh = _enqueue(new_ctx, "rules.ok")[0]
    assert jobs.claim(engine, "w2", now=now + jobs.LOCK_TIMEOUT).id == fresh
    assert jobs.claim(engine, "w3", now=now + jobs.LOCK_TIMEOUT + timedelta(seconds=1)).id == stale
    assert _row(new_ctx, stale).last_error == jobs.WORKER_DIED
    assert (_row(new_ctx, fresh).locked_by, _row(new_ctx, fresh).last_error) == ("w2", None)


def test_a_running_last_attempt_is_not_buried_while_its_lock_is_fresh(
    new_ctx, engine, settings
) -> None:
    with new_ctx() as ctx:
        job_id = jobs.enqueue(ctx, "rules.ok", max_attempts=1).id
    now = utcnow()
    assert jobs.claim(engine, "w1", now=now).id == job_id
    assert jobs.claim(engine, "w2", now=now + jobs.LOCK_TIMEOUT) is None
    assert (_row(new_ctx, job_id).state, _row(new_ctx, job_id).locked_by) == ("running", "w1")


def test_a_claim_buries_at_most_a_hundred_spent_jobs(new_ctx, engine, settings) -> None:
    """Burying stays a short part of a claim; the rest wait for the next one, and a
    spent job left over is never taken again meanwhile."""
    with new_ctx() as ctx:
        for _ in range(101):
            jobs.enqueue(ctx, "rules.ok", max_attempts=1)
    now = utcnow()
    assert len(jobs.claim_many(engine, "w1", 200, now=now)) == 101
    later = now + jobs.LOCK_TIMEOUT + timedelta(seconds=1)
    assert jobs.claim_many(engine, "w2", 200, now=later) == []
    with new_ctx() as ctx:
        assert jobs.stats(ctx).by_state == {"dead": 100, "running": 1}
    assert jobs.claim_many(engine, "w2", 200, now=later) == []
    with new_ctx() as ctx:
        assert jobs.stats(ctx).by_state == {"dead": 101}


def test_an_orphan_at_its_last_attempt_is_buried_and_the_others_released(
    new_ctx, engine, settings, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    with new_ctx() as ctx:
        spent = jobs.enqueue(ctx, "rules.fails", {"n": 1}, max_attempts=1).id
        again = jobs.enqueue(ctx, "rules.ok", max_attempts=5).id
    dead_worker = f"{socket.gethostname()}:999999999"  # no such process
    assert len(jobs.claim_many(engine, dead_worker, 2)) == 2
    with caplog.at_level(logging.WARNING, logger="commonground.jobs"):
        assert jobs.release_orphans(engine) == 2
    error = f"{jobs.WORKER_DIED} (attempt 1 of 1)"
    assert f"job {spent} (rules.fails) buried: {error}" in caplog.messages
    row = _row(new_ctx, spent)
    assert (row.state, row.last_error, row.locked_by, row.locked_at, row.claim_token) == (
        "dead",
        error,
        None,
        None,
        None,
    )
    assert hooked == [({"n": 1}, error)]
    released = _row(new_ctx, again)
    assert (released.state, released.locked_by, released.last_error) == (
        "queued",
        None,
        jobs.WORKER_DIED,
    )


def test_a_batch_completion_clears_the_claim_and_says_what_it_dropped(
    new_ctx, engine, settings, caplog: pytest.LogCaptureFixture
) -> None:
    ids = _enqueue(new_ctx, "rules.ok", 3)
    old = jobs.claim_many(engine, "w1", 3)
    taken = jobs.claim(engine, "w2", now=utcnow() + jobs.LOCK_TIMEOUT + timedelta(seconds=1))
    with caplog.at_level(logging.WARNING, logger="commonground.jobs"):
        jobs._finish_many(engine, [(job, []) for job in old])
    assert "1 finished jobs had been taken over meanwhile" in caplog.messages
    rows = [_row(new_ctx, i) for i in ids]
    assert [r.state for r in rows] == ["running", "done", "done"]
    for row in rows[1:]:
        assert (row.locked_by, row.locked_at, row.claim_token) == (None, None, None)
        assert row.finished_at is not None
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="commonground.jobs"):
        jobs._finish_many(engine, [(taken, [])])  # the claim that holds it
    assert caplog.messages == [] and _row(new_ctx, ids[0]).state == "done"


def test_a_failure_backs_off_from_the_configured_base_and_is_logged(
    new_ctx, engine, settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(jobs.random, "uniform", lambda low, high: high)
    job_id = _enqueue(new_ctx, "rules.fails")[0]
    quick = settings.model_copy(update={"retry_base_seconds": 5.0})
    before = utcnow()
    with caplog.at_level(logging.WARNING, logger="commonground.jobs"):
        _run(jobs.claim(engine, "w1"), engine, quick)
    assert f"job {job_id} (rules.fails) failed, attempt 1: RuntimeError: no" in caplog.messages
    run_at = _row(new_ctx, job_id).run_at
    assert before + timedelta(seconds=5) <= run_at <= utcnow() + timedelta(seconds=5)


def test_an_unknown_kind_says_so(new_ctx, engine, settings) -> None:
    job_id = _enqueue(new_ctx, "rules.nobody")[0]
    assert _run(jobs.claim(engine, "w1"), engine, settings).state == "dead"
    assert _row(new_ctx, job_id).last_error == (
        "PermanentError: no handler for job kind 'rules.nobody'"
    )


def test_async_handlers_share_the_workers_resources(new_ctx, engine, settings) -> None:
    _enqueue(new_ctx, "rules.shared")
    shared: dict = {"given": "pool"}
    asyncio.run(jobs.execute(jobs.claim(engine, "w1"), engine, settings, shared))
    assert shared["seen"] == "pool"


def test_a_claim_takes_the_longest_due_first(new_ctx, engine, settings) -> None:
    now = utcnow()
    with new_ctx() as ctx:
        newer = jobs.enqueue(ctx, "rules.ok", run_at=now - timedelta(minutes=1)).id
        older = jobs.enqueue(ctx, "rules.ok", run_at=now - timedelta(minutes=2)).id
    assert [j.id for j in jobs.claim_many(engine, "w1", 1, now=now)] == [older]
    assert [j.id for j in jobs.claim_many(engine, "w1", 1, now=now)] == [newer]


def test_a_job_done_after_a_failure_forgets_the_failure(new_ctx, engine, settings) -> None:
    job_id = _enqueue(new_ctx, "rules.ok")[0]
    first = jobs.claim(engine, "w1")
    jobs._finish(engine, first, state="queued", last_error="RuntimeError: once", run_at=utcnow())
    assert _row(new_ctx, job_id).last_error == "RuntimeError: once"
    assert _run(jobs.claim(engine, "w1"), engine, settings).state == "done"
    with new_ctx() as ctx:
        assert jobs.stats(ctx).recent_failures == []  # no longer listed as failing
