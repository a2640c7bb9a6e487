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

import json
import logging
import os
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, update
from sqlmodel import Session, select

from app.config import Settings
from app.models import Job, utcnow
from app.services import Ctx

log = logging.getLogger("commonground.jobs")

Handler = Callable[[Ctx, dict], None]
HANDLERS: dict[str, Handler] = {}
LOCK_TIMEOUT = timedelta(minutes=10)
MAX_ERROR_CHARS = 2000


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that runs jobs of ``kind``."""

    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


class PermanentError(Exception):
    """Raised by a handler when retrying can never help; the job goes straight to dead."""


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


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with full jitter: ~30 s, 1 min, 2 min … capped at 12 h."""
    base = min(30 * 2 ** max(attempts - 1, 0), 12 * 3600)
    return timedelta(seconds=base / 2 + random.uniform(0, base / 2))


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(engine: Engine, who: str, *, now: datetime | None = None) -> Job | None:
    """Atomically take the next due job (or one whose worker died holding it)."""
    now = now or utcnow()
    due = (Job.state == "queued") & (Job.run_at <= now)
    stale = (Job.state == "running") & (Job.locked_at < now - LOCK_TIMEOUT)
    with Session(engine, expire_on_commit=False) as db:
        q = select(Job).where(due | stale).order_by(Job.run_at, Job.id).limit(1)
        if engine.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        job = db.exec(q).first()
        if job is None:
            return None
        # The guarded UPDATE makes the claim safe even without row locks (SQLite).
        claimed = db.execute(
            update(Job)
            .where(Job.id == job.id, Job.state == job.state, Job.attempts == job.attempts)
            .values(state="running", locked_by=who, locked_at=now, attempts=Job.attempts + 1)
        ).rowcount
        db.commit()
        if claimed != 1:
            return None
        db.refresh(job)
        return job


def _finish(engine: Engine, job: Job, **values: object) -> None:
    with Session(engine) as db:
        db.execute(
            update(Job).where(Job.id == job.id, Job.locked_by == job.locked_by).values(**values)
        )
        db.commit()


def run_one(engine: Engine, settings: Settings, who: str) -> Job | None:
    """Claim and run one job. Returns it, or None when nothing is due."""
    job = claim(engine, who)
    if job is None:
        return None
    fn = HANDLERS.get(job.kind)
    try:
        if fn is None:
            raise PermanentError(f"no handler for job kind {job.kind!r}")
        with Session(engine, expire_on_commit=False) as db:
            fn(Ctx(db, settings), json.loads(job.payload))
            db.commit()
    except Exception as exc:  # noqa: BLE001 - any handler failure is recorded on the job
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        dead = isinstance(exc, PermanentError) or job.attempts >= job.max_attempts
        log.warning("job %s (%s) failed, attempt %s: %s", job.id, job.kind, job.attempts, error)
        _finish(
            engine,
            job,
            state="dead" if dead else "queued",
            last_error=error,
            run_at=utcnow() + backoff(job.attempts),
            locked_by=None,
            locked_at=None,
            finished_at=utcnow() if dead else None,
        )
        job.state = "dead" if dead else "queued"
        return job
    _finish(
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


def ensure_scheduled(ctx: Ctx, kind: str, every: timedelta) -> None:
    """Keep one pending run of a periodic job in the queue."""
    pending = ctx.db.exec(
        select(func.count())
        .select_from(Job)
        .where(Job.kind == kind, Job.state.in_(("queued", "running")))
    ).one()
    if not pending:
        enqueue(ctx, kind, {"every_seconds": every.total_seconds()})
