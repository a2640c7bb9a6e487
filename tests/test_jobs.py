"""The durable job queue: runs, retries with backoff, dead letters, crash recovery."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from app.config import Settings
from app.infra import jobs
from app.models import Job, utcnow

CALLS: list[dict] = []


@jobs.handler("test.record")
def record(ctx, payload: dict) -> None:
    CALLS.append(payload)


@jobs.handler("test.flaky")
def flaky(ctx, payload: dict) -> None:
    raise RuntimeError("peer said no")


@jobs.handler("test.permanent")
def permanent(ctx, payload: dict) -> None:
    raise jobs.PermanentError("this can never work")


@pytest.fixture(autouse=True)
def _clear() -> None:
    CALLS.clear()


def test_a_job_runs_once(new_ctx, engine: Engine, settings: Settings) -> None:
    with new_ctx() as ctx:
        jobs.enqueue(ctx, "test.record", {"n": 1})
    job = jobs.run_one(engine, settings, "w1")
    assert job is not None and job.state == "done" and CALLS == [{"n": 1}]
    assert jobs.run_one(engine, settings, "w1") is None
    with new_ctx() as ctx:
        row = ctx.db.get(Job, job.id)
        assert (row.state, row.attempts, row.locked_by) == ("done", 1, None)


def test_jobs_enqueued_in_a_failed_transaction_never_exist(new_ctx, engine, settings) -> None:
    with pytest.raises(RuntimeError), new_ctx() as ctx:
        jobs.enqueue(ctx, "test.record", {"n": 1})
        raise RuntimeError("the write failed")
    assert jobs.run_one(engine, settings, "w1") is None


def test_failures_back_off_then_go_dead(new_ctx, engine, settings) -> None:
    with new_ctx() as ctx:
        job_id = jobs.enqueue(ctx, "test.flaky", max_attempts=2).id
    first = jobs.run_one(engine, settings, "w1")
    assert first.state == "queued"
    with new_ctx() as ctx:
        row = ctx.db.get(Job, job_id)
        assert row.last_error == "RuntimeError: peer said no"
        assert row.run_at > utcnow() + timedelta(seconds=10)  # backed off
        row.run_at = utcnow()  # time passes
        ctx.db.add(row)
    assert jobs.run_one(engine, settings, "w1").state == "dead"
    with new_ctx() as ctx:
        assert ctx.db.get(Job, job_id).attempts == 2
        stats = jobs.stats(ctx)
        assert stats.by_state == {"dead": 1} and stats.recent_failures[0].id == job_id


def test_permanent_errors_and_unknown_kinds_are_dead_at_once(new_ctx, engine, settings) -> None:
    with new_ctx() as ctx:
        jobs.enqueue(ctx, "test.permanent")
        jobs.enqueue(ctx, "no.such.kind")
    assert jobs.run_one(engine, settings, "w1").state == "dead"
    assert jobs.run_one(engine, settings, "w1").state == "dead"


def test_a_job_held_by_a_dead_worker_is_taken_over(new_ctx, engine, settings) -> None:
    with new_ctx() as ctx:
        job_id = jobs.enqueue(ctx, "test.record", {"n": 7}).id
    claimed = jobs.claim(engine, "crashed-worker")
    assert claimed.id == job_id
    assert jobs.claim(engine, "w2") is None  # lock still fresh
    later = utcnow() + jobs.LOCK_TIMEOUT + timedelta(seconds=1)
    again = jobs.claim(engine, "w2", now=later)
    assert again is not None and again.id == job_id and again.attempts == 2


def test_backoff_grows_and_is_capped() -> None:
    waits = [jobs.backoff(n).total_seconds() for n in range(1, 30)]
    assert 15 <= waits[0] <= 30
    assert waits[5] > waits[0]
    assert max(waits) <= 12 * 3600


def test_maintenance_prunes_and_reschedules(new_ctx, engine, settings) -> None:
    from app.models import RateLimitHit
    from app.services import maintenance

    with new_ctx() as ctx:
        ctx.db.add(RateLimitHit(bucket="old", created_at=utcnow() - timedelta(days=2)))
        ctx.db.add(RateLimitHit(bucket="new"))
        jobs.ensure_scheduled(ctx, "maintenance.prune", maintenance.PRUNE_EVERY)
        jobs.ensure_scheduled(ctx, "maintenance.prune", maintenance.PRUNE_EVERY)  # no duplicate
    assert jobs.run_one(engine, settings, "w1").state == "done"
    with new_ctx() as ctx:
        from sqlmodel import select

        assert [h.bucket for h in ctx.db.exec(select(RateLimitHit))] == ["new"]
        queued = ctx.db.exec(select(Job).where(Job.state == "queued")).all()
        assert len(queued) == 1 and queued[0].run_at > utcnow() + timedelta(minutes=50)


@jobs.handler("test.async")
async def async_record(job, payload: dict) -> None:
    import asyncio

    await asyncio.sleep(0.05)  # overlapping waits: jobs run concurrently
    CALLS.append(payload)


@jobs.handler("test.retry_at")
async def retry_at(job, payload: dict) -> None:
    raise jobs.RetryAt(utcnow() + timedelta(hours=3), "peer asked us to wait")


def test_async_handlers_run_concurrently_in_the_worker_loop(new_ctx, engine, settings) -> None:
    import asyncio

    with new_ctx() as ctx:
        for n in range(12):
            jobs.enqueue(ctx, "test.async", {"n": n})

    async def drive() -> None:
        stop = asyncio.Event()
        worker = asyncio.create_task(jobs.work(engine, settings, stop, concurrency=4))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if len(CALLS) == 12:
                break
        stop.set()
        await worker

    asyncio.run(drive())
    assert sorted(c["n"] for c in CALLS) == list(range(12))
    with new_ctx() as ctx:
        assert jobs.stats(ctx).by_state == {"done": 12}


def test_retry_at_is_honoured(new_ctx, engine, settings) -> None:
    with new_ctx() as ctx:
        job_id = jobs.enqueue(ctx, "test.retry_at").id
    assert jobs.run_one(engine, settings, "w1").state == "queued"
    with new_ctx() as ctx:
        row = ctx.db.get(Job, job_id)
        assert row.run_at > utcnow() + timedelta(hours=2, minutes=59)
        assert "wait" in row.last_error


def test_two_periodic_chains_merge_into_one(new_ctx, engine, settings) -> None:
    """Two workers starting at once may each queue housekeeping; the chains merge."""
    from sqlmodel import select

    with new_ctx() as ctx:
        jobs.enqueue(ctx, "maintenance.prune", {})
        jobs.enqueue(ctx, "maintenance.prune", {})
    assert jobs.run_one(engine, settings, "w1").state == "done"
    assert jobs.run_one(engine, settings, "w2").state == "done"
    with new_ctx() as ctx:
        queued = ctx.db.exec(
            select(Job).where(Job.kind == "maintenance.prune", Job.state == "queued")
        ).all()
    assert len(queued) == 1


BATCHES: list[int] = []


@jobs.handler("test.logged")
async def logged(job, payload: dict) -> None:
    import asyncio

    from app.models import DeliveryAttempt

    await asyncio.sleep(0.01)
    job.on_done(DeliveryAttempt(job_id=job.job.id, inbox="http://x.test/inbox", domain="x.test"))


def test_finished_jobs_are_marked_done_in_batches_with_their_rows(
    new_ctx,
    engine,
    settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A busy worker writes completions (and each job's rows) a batch at a time."""
    import asyncio

    from sqlmodel import func, select

    from app.models import DeliveryAttempt

    real = jobs._finish_many

    def counting(engine_, batch):
        BATCHES.append(len(batch))
        return real(engine_, batch)

    monkeypatch.setattr(jobs, "_finish_many", counting)
    BATCHES.clear()
    with new_ctx() as ctx:
        ids = [jobs.enqueue(ctx, "test.logged").id for _ in range(24)]

    async def drive() -> None:
        stop = asyncio.Event()
        worker = asyncio.create_task(jobs.work(engine, settings, stop, concurrency=8))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if sum(BATCHES) == 24:
                break
        stop.set()
        await worker

    asyncio.run(drive())
    assert sum(BATCHES) == 24 and max(BATCHES) > 1
    with new_ctx() as ctx:
        assert jobs.stats(ctx).by_state == {"done": 24}
        logged_ids = ctx.db.exec(select(DeliveryAttempt.job_id)).all()
        assert sorted(logged_ids) == sorted(ids)
        assert (
            ctx.db.exec(
                select(func.count()).select_from(Job).where(Job.locked_by.is_not(None))
            ).one()
            == 0
        )


def test_a_completion_lost_with_its_worker_runs_the_job_again(new_ctx, engine, settings) -> None:
    """Done-marks wait in memory for their batch; if the worker dies first, the job
    is still ``running`` under a dead worker's name, is released and runs again,
    and the rows it meant to write with its completion were never half-written."""
    import socket

    from sqlmodel import select

    from app.models import DeliveryAttempt

    with new_ctx() as ctx:
        job_id = jobs.enqueue(ctx, "test.record", {"n": 7}).id
    dead_worker = f"{socket.gethostname()}:999999999"  # no such process
    (job,) = jobs.claim_many(engine, dead_worker, 10)
    pending = jobs.Completions(engine)
    pending.add(job, [DeliveryAttempt(job_id=job.id, inbox="http://x.test/i", domain="x.test")])
    del pending  # the worker died before the batch was written

    assert jobs.release_orphans(engine) == 1
    with new_ctx() as ctx:
        row = ctx.db.get(Job, job_id)
        assert (row.state, row.locked_by) == ("queued", None)
        assert ctx.db.exec(select(DeliveryAttempt)).all() == []
    again = jobs.run_one(engine, settings, "w2")
    assert again.id == job_id and again.state == "done" and CALLS == [{"n": 7}]


def _stale_later(times: int = 1) -> object:
    """A moment at which a claim taken now has been stale ``times`` times over."""
    return utcnow() + times * (jobs.LOCK_TIMEOUT + timedelta(seconds=1))


def test_a_job_that_keeps_killing_its_worker_ends_dead_after_max_attempts(
    new_ctx,
    engine,
    settings,
    client,
) -> None:
    """Each claim of a job whose worker dies is an attempt: once they are used up
    the stale claim is not taken again but buried, with an error an admin can read."""
    from tests.conftest import PASSWORD
    from tests.test_pages import submit

    with new_ctx() as ctx:
        job_id = jobs.enqueue(ctx, "test.record", {"n": 1}, max_attempts=3).id
    claims = []
    for round_ in range(6):  # every claimer dies holding the job
        taken = jobs.claim(engine, f"doomed-{round_}", now=_stale_later(round_))
        claims.append(taken.attempts if taken else None)
    assert claims == [1, 2, 3, None, None, None]
    with new_ctx() as ctx:
        row = ctx.db.get(Job, job_id)
        assert (row.state, row.attempts, row.locked_by) == ("dead", 3, None)
        assert "worker died while running this job" in row.last_error
        assert row.finished_at is not None
        from app.services import accounts

        accounts.register(ctx, "root", PASSWORD, is_admin=True)
    submit(client, "/login", "/login", {"username": "root", "password": PASSWORD})
    page = client.get("/admin").text
    assert "worker died while running this job" in page and "dead" in page
    assert CALLS == []


def test_a_job_whose_dead_worker_is_released_at_its_last_attempt_ends_dead(
    new_ctx,
    engine,
    settings,
) -> None:
    import socket

    with new_ctx() as ctx:
        job_id = jobs.enqueue(ctx, "test.record", {"n": 1}, max_attempts=2).id
    dead_worker = f"{socket.gethostname()}:999999999"  # no such process
    for _ in range(2):
        assert jobs.claim(engine, dead_worker) is not None
        assert jobs.release_orphans(engine) == 1
    with new_ctx() as ctx:
        row = ctx.db.get(Job, job_id)
        assert (row.state, row.attempts) == ("dead", 2)
        assert "worker died while running this job" in row.last_error
    assert jobs.claim(engine, "w2") is None and CALLS == []


def test_a_worker_whose_claim_was_taken_over_cannot_finish_the_job(
    new_ctx,
    engine,
    settings,
) -> None:
    """Completions are fenced by the claim, not by the worker's name: the same
    worker (or a restarted one with the same host and PID) reclaiming a stale job
    holds a new claim, and what it did under the old one no longer counts."""
    import asyncio

    with new_ctx() as ctx:
        done_id = jobs.enqueue(ctx, "test.record", {"n": 1}).id
        failed_id = jobs.enqueue(ctx, "test.flaky").id
    old = {j.id: j for j in jobs.claim_many(engine, "w1", 2)}
    new = {j.id: j for j in jobs.claim_many(engine, "w1", 2, now=_stale_later())}
    assert set(old) == set(new) == {done_id, failed_id}
    for job in old.values():  # the first claims end late: neither may count
        asyncio.run(jobs.execute(job, engine, settings, {}))
    with new_ctx() as ctx:
        for job_id in (done_id, failed_id):
            row = ctx.db.get(Job, job_id)
            assert (row.state, row.attempts, row.locked_by) == ("running", 2, "w1")
    asyncio.run(jobs.execute(new[done_id], engine, settings, {}))
    asyncio.run(jobs.execute(new[failed_id], engine, settings, {}))
    with new_ctx() as ctx:
        assert ctx.db.get(Job, done_id).state == "done"
        row = ctx.db.get(Job, failed_id)
        assert (row.state, row.attempts, row.last_error) == (
            "queued",
            2,
            "RuntimeError: peer said no",
        )


def test_a_batched_completion_of_a_taken_over_claim_is_ignored(
    new_ctx,
    engine,
    settings,
) -> None:
    with new_ctx() as ctx:
        job_id = jobs.enqueue(ctx, "test.record", {"n": 1}).id
    (old,) = jobs.claim_many(engine, "w1", 1)
    (new,) = jobs.claim_many(engine, "w1", 1, now=_stale_later())
    jobs._finish_many(engine, [(old, [])])
    with new_ctx() as ctx:
        assert ctx.db.get(Job, job_id).state == "running"
    jobs._finish_many(engine, [(new, [])])
    with new_ctx() as ctx:
        assert ctx.db.get(Job, job_id).state == "done"


EXCLUSIVE: dict[str, object] = {}


@jobs.handler("test.exclusive")
async def exclusive(job, payload: dict) -> None:
    """Records every run, and any moment the same job runs twice at once."""
    import asyncio

    guard, running, runs, overlaps, workers = (
        EXCLUSIVE[k] for k in ("guard", "running", "runs", "overlaps", "workers")
    )
    n = payload["n"]
    with guard:
        if n in running:
            overlaps.append(n)
        running.add(n)
        runs.append(n)
        workers.add(job.job.locked_by)
    await asyncio.sleep(0.002)
    with guard:
        running.discard(n)


def test_two_workers_share_one_queue_without_running_a_job_twice_or_losing_one(
    new_ctx,
    engine,
    settings,
) -> None:
    """Two worker loops (threads, own connections) drain one queue at once: on
    PostgreSQL they claim side by side (SKIP LOCKED), on SQLite one at a time."""
    import asyncio
    import threading

    from sqlmodel import select

    EXCLUSIVE.update(guard=threading.Lock(), running=set(), runs=[], overlaps=[], workers=set())
    total = 200
    with new_ctx() as ctx:
        for n in range(total):
            jobs.enqueue(ctx, "test.exclusive", {"n": n})
    finished = threading.Event()
    barrier = threading.Barrier(2)

    def worker(name: str) -> None:
        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.create_task(jobs.work(engine, settings, stop, concurrency=8, who=name))
            while not finished.is_set():
                await asyncio.sleep(0.05)
            stop.set()
            await loop

        barrier.wait()
        asyncio.run(main())

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    try:
        for _ in range(1200):
            with new_ctx() as ctx:
                states = ctx.db.exec(select(Job.state, Job.locked_by)).all()
            if all(state == "done" for state, _ in states):
                break
            threading.Event().wait(0.1)
    finally:
        finished.set()
        for t in threads:
            t.join(timeout=60)
    assert EXCLUSIVE["overlaps"] == []
    assert sorted(EXCLUSIVE["runs"]) == list(range(total))  # each once, none lost
    assert EXCLUSIVE["workers"] == {"w0", "w1"}  # both took part
    with new_ctx() as ctx:
        rows = ctx.db.exec(select(Job.state, Job.attempts)).all()
        assert set(rows) == {("done", 1)}


def test_an_inbox_item_whose_job_dies_ends_failed_for_admins_to_see(
    new_ctx,
    engine,
    settings,
    client,
) -> None:
    """When an ``ap.inbox`` job is buried, its item leaves ``queued`` for good:
    ``failed``, with the reason, whether the job failed or its worker died."""
    import asyncio

    from app.models import InboxItem
    from app.services import accounts
    from tests.conftest import PASSWORD
    from tests.test_pages import submit

    with new_ctx() as ctx:
        items = []
        for n, body in enumerate(["{}", "{not json"]):
            item = InboxItem(
                activity_id=f"https://peer.test/a/{n}",
                activity_type="Create",
                actor_uri="https://peer.test/u/x",
                body=body,
            )
            ctx.db.add(item)
            ctx.db.flush()
            items.append(item.id)
        killer = jobs.enqueue(ctx, "ap.inbox", {"item": items[0]}, max_attempts=1).id
    assert jobs.claim(engine, "doomed").id == killer  # its worker dies with it
    with new_ctx() as ctx:
        jobs.enqueue(ctx, "ap.inbox", {"item": items[1]}, max_attempts=1)
    broken_job = jobs.claim(engine, "w2", now=_stale_later())  # also buries the killer
    assert asyncio.run(jobs.execute(broken_job, engine, settings, {})).state == "dead"
    with new_ctx() as ctx:
        died, broken = (ctx.db.get(InboxItem, i) for i in items)
        assert died.state == "failed" and "worker died while running this job" in died.error
        assert broken.state == "failed" and "JSONDecodeError" in broken.error
        assert died.processed_at is not None and broken.processed_at is not None
        accounts.register(ctx, "root", PASSWORD, is_admin=True)
    submit(client, "/login", "/login", {"username": "root", "password": PASSWORD})
    page = client.get("/admin").text
    assert "failed <strong>2</strong>" in page
