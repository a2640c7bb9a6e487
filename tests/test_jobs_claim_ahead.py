"""A busy worker claims ahead and completes in batches (app/infra/jobs.py): the
next batch is claimed while one runs, never more run at once than the worker's
concurrency, what it claimed but never started goes back unspent when it stops,
and a batch's completion writes nothing for jobs whose claim was lost."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from sqlmodel import col, func, select

from app.config import Settings
from app.infra import jobs
from app.models import DeliveryAttempt, Job

SEEN: dict[str, object] = {}


@jobs.handler("ahead.watch")
async def _watch(job: jobs.JobContext, payload: dict) -> None:
    """Records how many handlers run at once and how many claimed rows wait unstarted."""
    started: set[int] = SEEN["started"]  # type: ignore[assignment]
    in_flight: list[int] = SEEN["in_flight"]  # type: ignore[assignment]
    started.add(job.job.id)
    in_flight[0] += 1
    SEEN["most_at_once"] = max(SEEN["most_at_once"], in_flight[0])  # type: ignore[type-var]
    await asyncio.sleep(0.02)  # the rest of its batch has started by now

    def waiting(ctx) -> int:
        held = ctx.db.exec(
            select(col(Job.id)).where(col(Job.state) == "running", col(Job.locked_by) == "w1")
        ).all()
        return len(set(held) - started)

    SEEN["most_waiting"] = max(SEEN["most_waiting"], await job.run_db(waiting))  # type: ignore[type-var]
    in_flight[0] -= 1
    stop: asyncio.Event | None = SEEN.get("stop_after_first")  # type: ignore[assignment]
    if stop is not None:
        stop.set()


def _reset(**extra: object) -> None:
    SEEN.clear()
    SEEN.update(started=set(), in_flight=[0], most_at_once=0, most_waiting=0, **extra)


def _drain(engine: Engine, settings: Settings, total: int, concurrency: int) -> None:
    async def drive() -> None:
        stop = asyncio.Event()
        worker = asyncio.create_task(
            jobs.work(engine, settings, stop, concurrency=concurrency, who="w1")
        )
        for _ in range(400):
            await asyncio.sleep(0.05)
            if len(SEEN["started"]) == total:  # type: ignore[arg-type]
                break
        stop.set()
        await worker

    asyncio.run(drive())


def test_the_next_batch_is_claimed_while_one_runs_but_no_more_run_at_once(
    new_ctx, engine: Engine, settings: Settings
) -> None:
    _reset()
    with new_ctx() as ctx:
        for n in range(24):
            jobs.enqueue(ctx, "ahead.watch", {"n": n})
    _drain(engine, settings, 24, concurrency=2)
    assert SEEN["most_at_once"] == 2
    # claimed ahead, waiting for a free slot: more than a refill of the free slots
    assert SEEN["most_waiting"] > 2  # type: ignore[operator]
    with new_ctx() as ctx:
        rows = ctx.db.exec(select(Job.state, Job.attempts, Job.locked_by)).all()
    assert set(rows) == {("done", 1, None)}


def test_a_stopped_worker_puts_back_what_it_claimed_but_never_started(
    new_ctx, engine: Engine, settings: Settings
) -> None:
    """Unstarted claims are not attempts: they go back queued, unlocked, unspent."""

    async def drive() -> None:
        stop = asyncio.Event()
        _reset(stop_after_first=stop)
        await jobs.work(engine, settings, stop, concurrency=1, who="w1")

    with new_ctx() as ctx:
        ids = [jobs.enqueue(ctx, "ahead.watch", {"n": n}).id for n in range(10)]
    asyncio.run(drive())
    started: set[int] = SEEN["started"]  # type: ignore[assignment]
    assert 1 <= len(started) < 10
    with new_ctx() as ctx:
        rows = {j.id: j for j in ctx.db.exec(select(Job)).all()}
    for job_id in ids:
        row = rows[job_id]
        if job_id in started:
            assert (row.state, row.attempts) == ("done", 1)
        else:
            assert (row.state, row.attempts, row.locked_by, row.locked_at, row.claim_token) == (
                "queued",
                0,
                None,
                None,
                None,
            )


def _stale_later():
    from datetime import timedelta

    from app.models import utcnow

    return utcnow() + jobs.LOCK_TIMEOUT + timedelta(seconds=1)


@jobs.handler("ahead.noop")
def _noop(ctx, payload: dict) -> None:
    pass


def test_a_completion_under_a_lost_claim_writes_none_of_its_rows(
    new_ctx, engine: Engine, settings: Settings
) -> None:
    """The rows a job asked to write with its end (its delivery log) belong to the
    claim that ran it: if that claim was taken over, neither the done-mark nor they
    are written, and jobs of the same batch still holding their claim are unaffected."""
    with new_ctx() as ctx:
        lost_id = jobs.enqueue(ctx, "ahead.noop").id
    (old,) = jobs.claim_many(engine, "w1", 1)
    (new,) = jobs.claim_many(engine, "w2", 1, now=_stale_later())
    with new_ctx() as ctx:
        kept_id = jobs.enqueue(ctx, "ahead.noop").id
    (kept,) = jobs.claim_many(engine, "w1", 1)

    def attempt(job_id: int) -> DeliveryAttempt:
        return DeliveryAttempt(job_id=job_id, inbox="http://x.test/i", domain="x.test")

    jobs._finish_many(engine, [(old, [attempt(lost_id)]), (kept, [attempt(kept_id)])])
    with new_ctx() as ctx:
        assert ctx.db.exec(select(DeliveryAttempt.job_id)).all() == [kept_id]
        assert ctx.db.get(Job, lost_id).state == "running"
        assert ctx.db.get(Job, kept_id).state == "done"
    jobs._finish_many(engine, [(new, [attempt(lost_id)])])
    with new_ctx() as ctx:
        assert ctx.db.get(Job, lost_id).state == "done"
        logged = ctx.db.exec(select(func.count()).select_from(DeliveryAttempt)).one()
        assert logged == 2


def test_a_stopping_worker_writes_completions_that_came_during_its_last_flush(
    new_ctx, engine: Engine, monkeypatch
) -> None:
    """Jobs that end while a batch is being written are written next, also when the
    worker is stopping; only a failed write leaves them for a restart."""
    import time

    with new_ctx() as ctx:
        ids = [jobs.enqueue(ctx, "ahead.noop").id for _ in range(2)]
    first, second = jobs.claim_many(engine, "w1", 2)
    real = jobs._finish_many

    def slow(engine_, batch):
        time.sleep(0.2)  # the second job ends meanwhile
        return real(engine_, batch)

    monkeypatch.setattr(jobs, "_finish_many", slow)

    async def drive() -> None:
        stop = asyncio.Event()
        pending = jobs.Completions(engine)
        flusher = asyncio.create_task(pending.run(stop))
        pending.add(first, [])
        await asyncio.sleep(0.1)  # its batch is being written
        pending.add(second, [])
        stop.set()
        await flusher

    asyncio.run(drive())
    with new_ctx() as ctx:
        assert [ctx.db.get(Job, job_id).state for job_id in ids] == ["done", "done"]


RAN: list[int] = []


@jobs.prefetch("ahead.prefetched")
def _broken_prefetch(ctx, shared: dict, payloads: list[dict]) -> None:
    ctx.db.exec(select(func.count()).select_from(Job))
    raise RuntimeError("the prefetch is broken")


@jobs.handler("ahead.prefetched")
async def _prefetched(job: jobs.JobContext, payload: dict) -> None:
    RAN.append(payload["n"])


def test_a_prefetch_failing_inside_the_claim_does_not_stop_the_jobs(
    new_ctx, engine: Engine, settings: Settings
) -> None:
    """The prefetch runs in the claiming transaction; if it fails, that claim is
    undone and the jobs are claimed again without it (they load their own)."""
    RAN.clear()
    with new_ctx() as ctx:
        for n in range(5):
            jobs.enqueue(ctx, "ahead.prefetched", {"n": n})

    async def drive() -> None:
        stop = asyncio.Event()
        worker = asyncio.create_task(jobs.work(engine, settings, stop, concurrency=2, who="w1"))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if len(RAN) == 5:
                break
        stop.set()
        await worker

    asyncio.run(drive())
    assert sorted(RAN) == list(range(5))
    with new_ctx() as ctx:
        rows = ctx.db.exec(select(Job.state, Job.attempts)).all()
    assert set(rows) == {("done", 1)}
