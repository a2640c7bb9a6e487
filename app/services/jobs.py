"""The durable job queue: background work stored as rows.

A job is ``queued`` until a worker claims it (``running``), then ``done``, or
back to ``queued`` with a later ``run_at`` after a failure, or ``dead`` once it
has used up its attempts. Because claims are transactional, a worker killed
mid-job leaves a ``running`` row whose lock expires and is claimed again.

On PostgreSQL, claims use ``SELECT … FOR UPDATE SKIP LOCKED`` so any number of
``commonground worker`` processes can share the queue. On SQLite the database
lock serialises claims; a single worker is the documented mode there.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, update
from sqlmodel import Session, select

from app.config import Settings
from app.db import begin_writing
from app.models import Job, utcnow
from app.services import Ctx

log = logging.getLogger("commonground.jobs")

SyncHandler = Callable[[Ctx, dict], None]
AsyncHandler = Callable[["JobContext", dict], Awaitable[None]]
HANDLERS: dict[str, SyncHandler | AsyncHandler] = {}
PERIODIC: dict[str, timedelta] = {}  # kinds a worker keeps scheduled, and how often
LOCK_TIMEOUT = timedelta(minutes=10)
MAX_ERROR_CHARS = 2000


def handler(kind: str) -> Callable:
    """Register the function that runs jobs of ``kind``.

    A plain function gets a :class:`Ctx` inside one transaction; an ``async``
    one gets a :class:`JobContext` (for network work such as deliveries) and
    opens its own short transactions with ``job.transaction()``.
    """

    def register(fn: Callable) -> Callable:
        HANDLERS[kind] = fn
        return fn

    return register


class PermanentError(Exception):
    """Raised by a handler when retrying can never help; the job goes straight to dead."""


class RetryAt(Exception):
    """Raised by a handler to be retried at a given time (e.g. a peer's Retry-After).
    ``free`` retries do not count as an attempt (e.g. waiting for a circuit breaker)."""

    def __init__(self, when: datetime, reason: str, *, free: bool = False) -> None:
        super().__init__(reason)
        self.when = when
        self.free = free


@dataclass
class JobContext:
    """What an async handler may use: the job, settings, the database, and
    resources shared by all jobs of one worker (e.g. a pooled HTTP client)."""

    job: Job
    engine: Engine
    settings: Settings
    shared: dict[str, Any] = field(default_factory=dict)

    def transaction(self):  # noqa: ANN201 - a context manager yielding Ctx
        return _ctx_transaction(self.engine, self.settings)

    async def run_db(self, fn: Callable[[Ctx], Any]) -> Any:
        """Run ``fn(ctx)`` in one transaction, off the event loop."""

        def work() -> Any:
            with self.transaction() as ctx:
                return fn(ctx)

        return await asyncio.to_thread(work)


@contextmanager
def _ctx_transaction(engine: Engine, settings: Settings) -> Iterator[Ctx]:
    with Session(engine, expire_on_commit=False) as db:
        try:
            begin_writing(db)
            yield Ctx(db, settings)
            db.commit()
        except BaseException:
            db.rollback()
            raise


def enqueue(
    ctx: Ctx,
    kind: str,
    payload: dict | None = None,
    *,
    run_at: datetime | None = None,
    max_attempts: int = 10,
) -> Job:
    """Add a job in the caller's transaction, so it exists iff the caller's write does."""
    job = Job(
        kind=kind,
        payload=json.dumps(payload or {}),
        run_at=run_at or utcnow(),
        max_attempts=max_attempts,
    )
    ctx.db.add(job)
    ctx.db.flush()
    return job


def backoff(attempts: int, first: float = 30.0) -> timedelta:
    """Exponential backoff with jitter (between half and all of the base delay):
    ~30 s, 1 min, 2 min … capped at 12 h, so sixteen attempts span about two days,
    as Mastodon's delivery retries do."""
    base = min(first * 2 ** max(attempts - 1, 0), 12 * 3600)
    return timedelta(seconds=base / 2 + random.uniform(0, base / 2))


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def release_orphans(engine: Engine) -> int:
    """Put back jobs held by workers on this host that no longer exist (killed with
    SIGKILL, or the machine rebooted), so a restarted worker takes them at once
    instead of after LOCK_TIMEOUT. Workers on other hosts are left to the timeout."""
    host = socket.gethostname()
    with Session(engine) as db:
        begin_writing(db)
        held = db.exec(
            select(Job.id, Job.locked_by).where(
                Job.state == "running", Job.locked_by.like(f"{host}:%")
            )
        ).all()
        dead = [
            job_id
            for job_id, who in held
            if who.rsplit(":", 1)[-1].isdigit() and not _alive(int(who.rsplit(":", 1)[-1]))
        ]
        if dead:
            db.execute(
                update(Job)
                .where(Job.id.in_(dead), Job.state == "running")
                .values(state="queued", locked_by=None, locked_at=None, run_at=utcnow())
            )
            db.commit()
            log.warning("released %d jobs held by workers that died", len(dead))
        return len(dead)


def claim(engine: Engine, who: str, *, now: datetime | None = None) -> Job | None:
    """Atomically take the next due job (or one whose worker died holding it)."""
    taken = claim_many(engine, who, 1, now=now)
    return taken[0] if taken else None


def claim_many(engine: Engine, who: str, limit: int, *, now: datetime | None = None) -> list[Job]:
    """Atomically take up to ``limit`` due jobs in one transaction (a busy worker
    would otherwise spend a round of queries per job just on claiming)."""
    now = now or utcnow()
    due = (Job.state == "queued") & (Job.run_at <= now)
    stale = (Job.state == "running") & (Job.locked_at < now - LOCK_TIMEOUT)
    with Session(engine, expire_on_commit=False) as db:
        begin_writing(db)
        q = select(Job).where(due | stale).order_by(Job.run_at, Job.id).limit(limit)
        if engine.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        candidates = [(j.id, j.state, j.attempts) for j in db.exec(q).all()]
        taken = []
        for job_id, state, attempts in candidates:
            # The guarded UPDATE makes the claim safe even without row locks (SQLite).
            claimed = db.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == state, Job.attempts == attempts)
                .values(state="running", locked_by=who, locked_at=now, attempts=Job.attempts + 1)
            ).rowcount
            if claimed == 1:
                taken.append(job_id)
        db.commit()
        if not taken:
            return []
        db.expire_all()
        return list(db.exec(select(Job).where(Job.id.in_(taken)).order_by(Job.run_at, Job.id)))


def _finish(engine: Engine, job: Job, **values: object) -> None:
    with Session(engine) as db:
        db.execute(
            update(Job).where(Job.id == job.id, Job.locked_by == job.locked_by).values(**values)
        )
        db.commit()


async def execute(job: Job, engine: Engine, settings: Settings, shared: dict) -> Job:
    """Run a claimed job and record the outcome on its row."""
    fn = HANDLERS.get(job.kind)
    try:
        if fn is None:
            raise PermanentError(f"no handler for job kind {job.kind!r}")
        payload = json.loads(job.payload)
        if inspect.iscoroutinefunction(fn):
            await fn(JobContext(job, engine, settings, shared), payload)
        else:

            def run_sync() -> None:
                with _ctx_transaction(engine, settings) as ctx:
                    fn(ctx, payload)

            await asyncio.to_thread(run_sync)
    except Exception as exc:  # noqa: BLE001 - any handler failure is recorded on the job
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        free = isinstance(exc, RetryAt) and exc.free
        dead = isinstance(exc, PermanentError) or (job.attempts >= job.max_attempts and not free)
        delay = backoff(job.attempts, settings.retry_base_seconds)
        when = exc.when if isinstance(exc, RetryAt) else utcnow() + delay
        log.warning("job %s (%s) failed, attempt %s: %s", job.id, job.kind, job.attempts, error)
        state = "dead" if dead else "queued"
        extra = {"attempts": Job.attempts - 1} if free else {}
        await asyncio.to_thread(
            _finish,
            engine,
            job,
            **extra,
            state=state,
            last_error=error,
            run_at=when,
            locked_by=None,
            locked_at=None,
            finished_at=utcnow() if dead else None,
        )
        job.state = state
        return job
    await asyncio.to_thread(
        _finish,
        engine,
        job,
        state="done",
        finished_at=utcnow(),
        locked_by=None,
        locked_at=None,
        last_error=None,
    )
    job.state = "done"
    return job


def run_one(engine: Engine, settings: Settings, who: str) -> Job | None:
    """Claim and run one job (synchronously; used by tests and tools)."""
    job = claim(engine, who)
    if job is None:
        return None
    return asyncio.run(execute(job, engine, settings, {}))


async def work(
    engine: Engine,
    settings: Settings,
    stop: asyncio.Event,
    *,
    concurrency: int = 8,
    who: str | None = None,
) -> None:
    """The worker loop: keep up to ``concurrency`` jobs running until ``stop``.

    Network-bound jobs (deliveries) overlap on one event loop and share pooled
    connections through ``shared``; database work runs in threads.
    """
    who = who or worker_id()
    await asyncio.to_thread(release_orphans, engine)
    shared: dict[str, Any] = {}
    running: set[asyncio.Task] = set()
    try:
        while not stop.is_set():
            claimed = False
            if len(running) < concurrency:
                try:
                    batch = await asyncio.to_thread(
                        claim_many, engine, who, concurrency - len(running)
                    )
                except Exception:  # noqa: BLE001 - a database hiccup must not kill the worker
                    log.exception("could not claim jobs")
                    batch = []
                for job in batch:
                    claimed = True
                    task = asyncio.create_task(execute(job, engine, settings, shared))
                    running.add(task)
                    task.add_done_callback(running.discard)
            if not claimed:
                waiters = [asyncio.create_task(stop.wait())]
                if running:
                    waiters.append(asyncio.create_task(_first(running)))
                done, pending = await asyncio.wait(
                    waiters,
                    timeout=settings.worker_poll_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for w in pending:
                    w.cancel()
    finally:
        if running:  # finish what was started; the rows would be retried otherwise
            await asyncio.gather(*running, return_exceptions=True)
        for closer in shared.get("closers", []):
            await closer()


async def _first(tasks: set[asyncio.Task]) -> None:
    await asyncio.wait(set(tasks), return_when=asyncio.FIRST_COMPLETED)


@dataclass
class QueueStats:
    by_state: dict[str, int]
    recent_failures: list[Job]


def stats(ctx: Ctx, *, failures: int = 20) -> QueueStats:
    rows = ctx.db.exec(select(Job.state, func.count()).group_by(Job.state)).all()
    failed = ctx.db.exec(
        select(Job).where(Job.last_error.is_not(None)).order_by(Job.id.desc()).limit(failures)
    ).all()
    return QueueStats({state: n for state, n in rows}, list(failed))


def reschedule(ctx: Ctx, kind: str, payload: dict, run_at: datetime) -> None:
    """Queue the next run of a periodic job unless another run is already queued:
    if two workers started a chain each, the chains merge back into one."""
    others = ctx.db.exec(
        select(func.count()).select_from(Job).where(Job.kind == kind, Job.state == "queued")
    ).one()
    if not others:
        enqueue(ctx, kind, payload, run_at=run_at)


def periodic(kind: str, every: timedelta) -> None:
    """Declare a job kind that every worker keeps scheduled (see ensure_scheduled)."""
    PERIODIC[kind] = every


def ensure_scheduled(ctx: Ctx, kind: str, every: timedelta) -> None:
    """Keep one pending run of a periodic job in the queue."""
    pending = ctx.db.exec(
        select(func.count())
        .select_from(Job)
        .where(Job.kind == kind, Job.state.in_(("queued", "running")))
    ).one()
    if not pending:
        enqueue(ctx, kind, {"every_seconds": every.total_seconds()})
