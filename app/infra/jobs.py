"""The durable job queue: background work stored as rows.

A job is ``queued`` until a worker claims it (``running``), then ``done``, or
back to ``queued`` with a later ``run_at`` after a failure, or ``dead`` once it
has used up its attempts. Because claims are transactional, a worker killed
mid-job leaves a ``running`` row whose lock expires and is claimed again.

On PostgreSQL, claims use ``SELECT … FOR UPDATE SKIP LOCKED`` so any number of
``commonground worker`` processes can share the queue. On SQLite the database
lock serialises claims; a single worker is the documented mode there.

Every claim is an attempt, also one whose worker died: a job that kills its
worker is buried (``dead``, "worker died while running this job") once its
attempts are used up, instead of being taken again forever. Each claim carries a
fresh ``claim_token`` and a completion only counts with the token of the claim
it finishes, so a worker whose claim expired and was taken over cannot mark the
job done or failed. ``@jobs.on_dead(kind)`` hooks run in the transaction that
buries a job of that kind (e.g. its inbox item is marked failed).

Workers poll (``CG_WORKER_POLL_SECONDS``), and are woken sooner: queuing a due
job calls :func:`app.infra.live.wake` in the same transaction, which reaches
every worker when it commits (PostgreSQL ``NOTIFY``; on SQLite, a worker in the
same process). The poll stays as the fallback, so a missed wake-up only delays
a job, never loses it: jobs are rows.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import random
import secrets
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, case, func, insert, update
from sqlalchemy import select as core_select
from sqlmodel import Session, SQLModel, col, select

from app.config import Settings
from app.db import begin_writing, commit_without_waiting_for_disk, rows_changed
from app.infra import live
from app.infra.context import Ctx
from app.models import Job, utcnow

log = logging.getLogger("commonground.jobs")

SyncHandler = Callable[[Ctx, dict], None]
AsyncHandler = Callable[["JobContext", dict], Awaitable[None]]
HANDLERS: dict[str, SyncHandler | AsyncHandler] = {}
PERIODIC: dict[str, timedelta] = {}  # kinds a worker keeps scheduled, and how often
LOCK_TIMEOUT = timedelta(minutes=10)
MAX_ERROR_CHARS = 2000
WORKER_DIED = "worker died while running this job"
CLAIM_AHEAD = 4  # a worker holds up to this many times its concurrency in claimed jobs
CLAIMS_IN_FLIGHT = 2  # on PostgreSQL: the next claim starts before the last returns
BURY_EVERY = 5.0  # seconds between a worker's looks for stale claims to bury

JOBS = cast(Any, Job).__table__  # Core statements: a claim or completion builds no ORM objects


@dataclass(slots=True)
class Claimed:
    """A claimed job as the worker needs it: read from the claiming UPDATE's
    RETURNING, a few plain fields instead of an ORM object per job."""

    id: int
    kind: str
    payload: str
    attempts: int
    max_attempts: int
    claim_token: str | None
    locked_by: str | None
    locked_at: datetime | None
    run_at: datetime
    last_error: str | None
    state: str = "running"


_CLAIMED = (
    JOBS.c.id,
    JOBS.c.kind,
    JOBS.c.payload,
    JOBS.c.attempts,
    JOBS.c.max_attempts,
    JOBS.c.claim_token,
    JOBS.c.locked_by,
    JOBS.c.locked_at,
    JOBS.c.run_at,
    JOBS.c.last_error,
    JOBS.c.state,
)


def _claimed(rows: Any) -> list[Claimed]:
    return [Claimed(*row) for row in rows]


# a row to write with a job's completion: an ORM object, or (table, column values)
DoneRow = SQLModel | tuple[Any, dict[str, Any]]


DeadHook = Callable[[Session, dict, str], None]
DEAD_HOOKS: dict[str, DeadHook] = {}


def on_dead(kind: str) -> Callable[[DeadHook], DeadHook]:
    """Register ``fn(db, payload, error)``, run in the transaction that makes a job
    of ``kind`` dead (however it died: failures, or workers dying with it), so what
    it stood for can end too."""

    def register(fn: DeadHook) -> DeadHook:
        DEAD_HOOKS[kind] = fn
        return fn

    return register


Prefetcher = Callable[[Ctx, dict[str, Any], list[dict]], None]
PREFETCHERS: dict[str, Prefetcher] = {}


def prefetch(kind: str) -> Callable[[Prefetcher], Prefetcher]:
    """Register a loader run once per claimed batch of ``kind`` jobs, before they
    run: it reads what they all need in one transaction and leaves it in the
    worker's ``shared`` dict, so a thousand jobs do not make a thousand lookups."""

    def register(fn: Prefetcher) -> Prefetcher:
        PREFETCHERS[kind] = fn
        return fn

    return register


def _by_kind(batch: list[Claimed]) -> dict[str, list[dict]]:
    by_kind: dict[str, list[dict]] = {}
    for job in batch:
        if job.kind in PREFETCHERS:
            by_kind.setdefault(job.kind, []).append(json.loads(job.payload))
    return by_kind


def _prefetch(engine: Engine, settings: Settings, shared: dict, batch: list[Claimed]) -> None:
    """Run the batch's prefetchers, each in a transaction of its own."""
    for kind, payloads in _by_kind(batch).items():
        try:
            with _ctx_transaction(engine, settings) as ctx:
                PREFETCHERS[kind](ctx, shared, payloads)
        except Exception:  # only an optimisation: each job loads its own
            log.exception("prefetch for %s failed", kind)


class _PrefetchFailed(Exception):
    """A prefetcher failed inside the claiming transaction (so it cannot commit)."""


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

    job: Claimed
    engine: Engine
    settings: Settings
    shared: dict[str, Any] = field(default_factory=dict)
    done_rows: list[DoneRow] = field(default_factory=list)

    def on_done(self, row: SQLModel | type[SQLModel], values: dict[str, Any] | None = None) -> None:
        """Insert a row in the transaction that marks this job done (e.g. the log of
        a successful delivery), instead of in a transaction of its own: an ORM
        object, or a model and its column values, a plain INSERT that makes no ORM
        object (for the row every delivery writes; no default is filled in)."""
        if values is None:
            self.done_rows.append(cast(SQLModel, row))
        else:
            self.done_rows.append((cast(Any, row).__table__, values))

    def transaction(self):  # a context manager yielding Ctx
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
    if ctx.settings.worker_wake and run_at is None:  # due now: tell the workers
        live.wake(ctx.db)
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
        held = db.execute(
            core_select(JOBS.c.id, JOBS.c.locked_by).where(
                JOBS.c.state == "running", JOBS.c.locked_by.like(f"{host}:%")
            )
        ).all()
        dead = [
            job_id
            for job_id, who in held
            if who is not None  # the query matched it with LIKE
            and who.rsplit(":", 1)[-1].isdigit()
            and not _alive(int(who.rsplit(":", 1)[-1]))
        ]
        if dead:
            now = utcnow()
            orphans = db.execute(
                core_select(*_CLAIMED).where(JOBS.c.id.in_(dead), JOBS.c.state == "running")
            )
            exhausted = _bury_exhausted(db, _claimed(orphans), now)
            db.execute(
                update(JOBS)
                .where(
                    JOBS.c.id.in_(dead),
                    JOBS.c.id.not_in(exhausted or [0]),
                    JOBS.c.state == "running",
                )
                .values(
                    state="queued",
                    locked_by=None,
                    locked_at=None,
                    claim_token=None,
                    run_at=now,
                    last_error=WORKER_DIED,
                )
            )
            db.commit()
            log.warning("released %d jobs held by workers that died", len(dead))
        return len(dead)


def _bury_exhausted(db: Session, abandoned: list[Claimed], now: datetime) -> list[int]:
    """Of jobs whose worker died holding them, make those whose attempts are used
    up ``dead`` (running their on_dead hooks); the ids of those buried."""
    buried = []
    for job in (job for job in abandoned if job.attempts >= job.max_attempts):
        error = f"{WORKER_DIED} (attempt {job.attempts} of {job.max_attempts})"
        marked = rows_changed(
            db.execute(
                update(JOBS)
                .where(JOBS.c.id == job.id, _holds(job.claim_token))
                .values(
                    state="dead",
                    last_error=error,
                    locked_by=None,
                    locked_at=None,
                    claim_token=None,
                    finished_at=now,
                )
            )
        )
        if marked:
            _run_dead_hook(db, job, error)
            buried.append(job.id)
            log.warning("job %s (%s) buried: %s", job.id, job.kind, error)
    return buried


def _run_dead_hook(db: Session, job: Claimed, error: str) -> None:
    hook = DEAD_HOOKS.get(job.kind)
    if hook is not None:
        hook(db, json.loads(job.payload), error)


def claim(engine: Engine, who: str, *, now: datetime | None = None) -> Claimed | None:
    """Atomically take the next due job (or one whose worker died holding it)."""
    taken = claim_many(engine, who, 1, now=now)
    return taken[0] if taken else None


def claim_many(
    engine: Engine,
    who: str,
    limit: int,
    *,
    now: datetime | None = None,
    bury: bool = True,
    before_commit: Callable[[Session, list[Claimed]], None] | None = None,
) -> list[Claimed]:
    """Atomically take up to ``limit`` due jobs, oldest first, in one statement
    (a busy worker would otherwise spend a round of queries, and an ORM object,
    per job just on claiming): ``UPDATE … WHERE id IN (SELECT …) RETURNING``.

    The rows are held from the SELECT to the UPDATE: on PostgreSQL by ``FOR UPDATE
    SKIP LOCKED`` in the subquery (other workers skip them), on SQLite by the write
    lock that ``begin_writing`` takes first. A stale claim taken over says so in
    ``last_error``; one whose attempts are used up is buried instead (looked for
    unless ``bury`` is false). ``before_commit(db, claimed)`` runs in the claiming
    transaction (the worker's prefetch: two round trips fewer than its own)."""
    now = now or utcnow()
    due = (JOBS.c.state == "queued") & (JOBS.c.run_at <= now)
    stale = (JOBS.c.state == "running") & (JOBS.c.locked_at < now - LOCK_TIMEOUT)
    postgres = engine.dialect.name == "postgresql"
    with Session(engine, expire_on_commit=False) as db:  # what a prefetch loads outlives it
        begin_writing(db)
        commit_without_waiting_for_disk(db)  # a claim lost in a crash is a job run again
        if bury:
            spent = core_select(*_CLAIMED).where(stale, JOBS.c.attempts >= JOBS.c.max_attempts)
            spent = spent.limit(100)
            if postgres:
                spent = spent.with_for_update(skip_locked=True)
            _bury_exhausted(db, _claimed(db.execute(spent)), now)
        ids = core_select(JOBS.c.id).where(due | (stale & (JOBS.c.attempts < JOBS.c.max_attempts)))
        ids = ids.order_by(JOBS.c.run_at, JOBS.c.id).limit(limit)
        if postgres:
            ids = ids.with_for_update(skip_locked=True)
        taken = db.execute(
            update(JOBS)
            .where(JOBS.c.id.in_(ids.scalar_subquery()))
            .values(
                state="running",
                locked_by=who,
                locked_at=now,
                attempts=JOBS.c.attempts + 1,
                claim_token=secrets.token_hex(16),
                # SET sees the row as it was: a running row is a take-over
                last_error=case((JOBS.c.state == "running", WORKER_DIED), else_=JOBS.c.last_error),
            )
            .returning(*_CLAIMED)
        )
        jobs = sorted(_claimed(taken), key=lambda job: (job.run_at, job.id))
        if jobs and before_commit is not None:
            try:
                before_commit(db, jobs)
            except Exception as exc:  # the transaction may be unusable: nothing is claimed
                raise _PrefetchFailed from exc
        db.commit()
        return jobs


def release_unstarted(engine: Engine, claimed: list[Claimed]) -> None:
    """Give back jobs this worker claimed ahead but never started (it is stopping):
    queued again at once, unlocked, and not counted as an attempt."""
    by_claim: dict[str | None, list[int]] = {}
    for job in claimed:
        by_claim.setdefault(job.claim_token, []).append(job.id)
    with Session(engine) as db:
        begin_writing(db)
        for token, ids in by_claim.items():
            db.execute(
                update(JOBS)
                .where(JOBS.c.id.in_(ids), _holds(token))
                .values(
                    state="queued",
                    attempts=JOBS.c.attempts - 1,
                    locked_by=None,
                    locked_at=None,
                    claim_token=None,
                )
            )
        db.commit()


class Completions:
    """Successful jobs of one worker, marked done in batches.

    A busy worker would otherwise spend a transaction per job just on saying it
    finished. Until the batch is written the rows stay ``running`` under this
    worker's name; if the worker dies first, ``release_orphans`` (or the lock
    timeout) runs them again, the at-least-once delivery every job already
    allows for (e.g. peers deduplicate activities by id)."""

    MAX_BATCH = 100
    MAX_WAIT = 0.02  # seconds a finished job may wait for its batch

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pending: list[tuple[Claimed, list[DoneRow]]] = []
        self.wake = asyncio.Event()

    def add(self, job: Claimed, rows: list[DoneRow]) -> None:
        self.pending.append((job, rows))
        self.wake.set()

    async def flush(self) -> bool:
        """Write what is pending; False if the database refused (they stay pending)."""
        batch, self.pending = self.pending, []
        if not batch:
            return True
        try:
            await asyncio.to_thread(_finish_many, self.engine, batch)
        except Exception:  # put them back; the next flush tries again
            log.exception("could not mark %d jobs done", len(batch))
            self.pending[:0] = batch
            await asyncio.sleep(1)
            return False
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Flush whenever a batch is full or its first job waited MAX_WAIT."""
        while True:
            if not self.pending:
                if stop.is_set():
                    return
                self.wake.clear()
                waiter = asyncio.create_task(self.wake.wait())
                stopper = asyncio.create_task(stop.wait())
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
                continue
            if len(self.pending) < self.MAX_BATCH and not stop.is_set():
                await asyncio.sleep(self.MAX_WAIT)
            written = await self.flush()
            if stop.is_set() and self.pending and not written:
                return  # the database is away: these run again after a restart


def _finish_many(engine: Engine, batch: list[tuple[Claimed, list[DoneRow]]]) -> None:
    """Mark a batch done, one UPDATE per claim in it, and write the rows of the
    jobs whose claim still held (one INSERT per table): a job taken over meanwhile
    runs again under its new claim, which writes its own."""
    by_claim: dict[str | None, list[int]] = {}
    for job, _ in batch:
        by_claim.setdefault(job.claim_token, []).append(job.id)
    now = utcnow()
    with Session(engine) as db:
        begin_writing(db)
        commit_without_waiting_for_disk(db)  # a done-mark lost in a crash: run again
        held: set[int] = set()
        for token, ids in by_claim.items():
            marked = db.execute(
                update(JOBS)
                .where(JOBS.c.id.in_(ids), _holds(token))
                .values(
                    state="done",
                    finished_at=now,
                    locked_by=None,
                    locked_at=None,
                    claim_token=None,
                    last_error=None,
                )
                .returning(JOBS.c.id)
            )
            held.update(marked.scalars())
        if len(held) != len(batch):
            log.warning("%d finished jobs had been taken over meanwhile", len(batch) - len(held))
        inserts: dict[tuple[Any, tuple[str, ...]], list[dict[str, Any]]] = {}
        for job, rows in batch:
            if job.id not in held:
                continue
            for row in rows:
                if isinstance(row, SQLModel):
                    db.add(row)
                else:
                    table, values = row
                    inserts.setdefault((table, tuple(values)), []).append(values)
        for (table, _), values_list in inserts.items():
            db.execute(insert(table), values_list)
        db.commit()


def _holds(token: str | None):  # a SQL condition
    """The fence of every completion: the job is still under this very claim."""
    return (JOBS.c.state == "running") & (JOBS.c.claim_token == token)


def _finish(engine: Engine, job: Claimed, **values: object) -> bool:
    """Record a failed attempt's outcome, if ``job``'s claim still holds the row;
    a job made dead here runs its on_dead hook in the same transaction."""
    with Session(engine) as db:
        begin_writing(db)
        fenced = update(JOBS).where(JOBS.c.id == job.id, _holds(job.claim_token))
        if not rows_changed(db.execute(fenced.values(claim_token=None, **values))):
            db.rollback()
            log.warning("job %s was taken over meanwhile; its outcome is dropped", job.id)
            return False
        if values.get("state") == "dead":
            _run_dead_hook(db, job, str(values.get("last_error") or ""))
        db.commit()
        return True


async def execute(job: Claimed, engine: Engine, settings: Settings, shared: dict) -> Claimed:
    """Run a claimed job and record the outcome on its row."""
    fn = HANDLERS.get(job.kind)
    try:
        if fn is None:
            raise PermanentError(f"no handler for job kind {job.kind!r}")
        payload = json.loads(job.payload)
        if inspect.iscoroutinefunction(fn):  # what tells the two kinds of handler apart
            job_ctx = JobContext(job, engine, settings, shared)
            await cast(AsyncHandler, fn)(job_ctx, payload)
            rows = job_ctx.done_rows
        else:
            sync_fn = cast(SyncHandler, fn)

            def run_sync() -> None:
                with _ctx_transaction(engine, settings) as ctx:
                    sync_fn(ctx, payload)

            await asyncio.to_thread(run_sync)
            rows = []
    except Exception as exc:  # any handler failure is recorded on the job
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        free = isinstance(exc, RetryAt) and exc.free
        dead = isinstance(exc, PermanentError) or (job.attempts >= job.max_attempts and not free)
        delay = backoff(job.attempts, settings.retry_base_seconds)
        when = exc.when if isinstance(exc, RetryAt) else utcnow() + delay
        log.warning("job %s (%s) failed, attempt %s: %s", job.id, job.kind, job.attempts, error)
        state = "dead" if dead else "queued"
        extra = {"attempts": JOBS.c.attempts - 1} if free else {}
        recorded = await asyncio.to_thread(
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
        if recorded:
            job.state = state
        return job
    completions: Completions | None = shared.get("completions")
    if completions is not None:
        completions.add(job, rows)
    else:
        await asyncio.to_thread(_finish_many, engine, [(job, rows)])
    job.state = "done"
    return job


def run_one(engine: Engine, settings: Settings, who: str) -> Claimed | None:
    """Claim and run one job (synchronously; used by tests and tools)."""
    job = claim(engine, who)
    if job is None:
        return None
    return asyncio.run(execute(job, engine, settings, {}))


def _claim_batch(
    engine: Engine, settings: Settings, shared: dict, who: str, limit: int
) -> list[Claimed]:
    """Claim up to ``limit`` jobs and prefetch for them in the same transaction, in
    one trip off the loop. Stale claims at their last attempt are looked for every
    ``BURY_EVERY`` seconds (they need ``LOCK_TIMEOUT`` to appear), not per claim."""
    now = time.monotonic()
    bury = now - shared.get("bury_checked", -BURY_EVERY) >= BURY_EVERY
    if bury:
        shared["bury_checked"] = now

    def prefetch(db: Session, batch: list[Claimed]) -> None:
        ctx = Ctx(db, settings)
        for kind, payloads in _by_kind(batch).items():
            PREFETCHERS[kind](ctx, shared, payloads)

    try:
        return claim_many(engine, who, limit, bury=bury, before_commit=prefetch)
    except _PrefetchFailed:  # claim without it; each prefetcher then on its own
        log.exception("prefetch in the claiming transaction failed")
        batch = claim_many(engine, who, limit, bury=bury)
        _prefetch(engine, settings, shared, batch)
        return batch


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
    connections through ``shared``; database work runs in threads. The worker
    holds up to ``CLAIM_AHEAD`` times ``concurrency`` claimed jobs and claims the
    next batch (with its prefetch) while the last one runs, so a free slot never
    waits for a claim. What it claimed but did not start when it stops goes back.
    """
    who = who or worker_id()
    await asyncio.to_thread(release_orphans, engine)
    woken = await _wake_ups(engine, settings)
    completions = Completions(engine)
    shared: dict[str, Any] = {"completions": completions}
    loop = asyncio.get_running_loop()
    window = concurrency * CLAIM_AHEAD
    running: set[asyncio.Task] = set()
    ready: deque[Claimed] = deque()  # claimed, waiting for a free slot
    chunk = max(window // 2, 1)  # what one claim asks for
    # SQLite claims one after another anyway (its write lock)
    in_flight = CLAIMS_IN_FLIGHT if engine.dialect.name == "postgresql" else 1
    claims: dict[asyncio.Task[list[Claimed]], int] = {}  # in flight → how many asked
    nudge = asyncio.Event()  # something changed: a job ended, a claim came back, a wake-up
    state = {"idle": False}  # the last claim found nothing due: wait for news first
    poll: asyncio.TimerHandle | None = None

    def news(_: object = None) -> None:
        state["idle"] = False
        nudge.set()

    def ended(task: asyncio.Task) -> None:
        running.discard(task)
        news()

    listeners = [asyncio.create_task(_then(stop.wait(), nudge.set))]
    if woken is not None:
        listeners.append(asyncio.create_task(_forward(woken, news)))
    finished = asyncio.Event()
    flusher = asyncio.create_task(completions.run(finished))
    try:
        while not stop.is_set():
            nudge.clear()
            for claim_task in [t for t in claims if t.done()]:
                del claims[claim_task]
                try:
                    batch = claim_task.result()
                except Exception:  # a database hiccup must not kill the worker
                    log.exception("could not claim jobs")
                    batch = []
                ready.extend(batch)
                if not batch:
                    state["idle"] = True
                    if poll is not None:
                        poll.cancel()
                    poll = loop.call_later(settings.worker_poll_seconds, news)
            while ready and len(running) < concurrency:
                task = asyncio.create_task(execute(ready.popleft(), engine, settings, shared))
                running.add(task)
                task.add_done_callback(ended)
            # Claims overlap (SKIP LOCKED keeps them apart), so a claim's round trips
            # are hidden behind the one before it, not added to the jobs' time.
            while (
                not state["idle"]
                and len(claims) < in_flight
                and len(ready) + len(running) + sum(claims.values()) + chunk <= window
            ):
                claim_task = asyncio.create_task(
                    asyncio.to_thread(_claim_batch, engine, settings, shared, who, chunk)
                )
                claim_task.add_done_callback(news)
                claims[claim_task] = chunk
            await nudge.wait()
    finally:
        if poll is not None:
            poll.cancel()
        for listener in listeners:
            listener.cancel()
        if woken is not None:
            live.JOBS.unsubscribe(woken)
            await live.stop_listening(engine.url.render_as_string(hide_password=False))
        for claim_task in claims:
            with suppress(Exception):  # only given back: a failed claim took nothing
                ready.extend(await claim_task)
        if ready:
            try:
                await asyncio.to_thread(release_unstarted, engine, list(ready))
            except Exception:  # left running under this worker: released when it is gone
                log.exception("could not give back %d claimed jobs", len(ready))
        if running:  # finish what was started; the rows would be retried otherwise
            await asyncio.gather(*running, return_exceptions=True)
        finished.set()
        await flusher
        for closer in shared.get("closers", []):
            await closer()


async def _then(awaitable: Awaitable[Any], fn: Callable[[], None]) -> None:
    await awaitable
    fn()


async def _forward(woken: live.Subscriber, news: Callable[[], None]) -> None:
    """Turn wake-ups into news for the worker loop; one claim answers all so far."""
    while True:
        await woken.queue.get()
        while not woken.queue.empty():
            woken.queue.get_nowait()
        news()


async def _wake_ups(engine: Engine, settings: Settings) -> live.Subscriber | None:
    """This worker's subscription to "a job is waiting" (None if switched off):
    on PostgreSQL through this loop's LISTEN connection, which is listening
    before the worker first waits, so no wake-up after that is missed."""
    if not settings.worker_wake:
        return None
    woken = live.JOBS.subscribe()
    await live.ensure_listening(engine.url.render_as_string(hide_password=False))
    return woken


@dataclass
class QueueStats:
    by_state: dict[str, int]
    recent_failures: list[Job]


def stats(ctx: Ctx, *, failures: int = 20) -> QueueStats:
    rows = ctx.db.exec(select(col(Job.state), func.count()).group_by(col(Job.state))).all()
    failed = ctx.db.exec(
        select(Job)
        .where(col(Job.last_error).is_not(None))
        .order_by(col(Job.id).desc())
        .limit(failures)
    ).all()
    return QueueStats({state: n for state, n in rows}, list(failed))


def reschedule(ctx: Ctx, kind: str, payload: dict, run_at: datetime) -> None:
    """Queue the next run of a periodic job unless another run is already queued:
    if two workers started a chain each, the chains merge back into one."""
    others = ctx.db.exec(
        select(func.count())
        .select_from(Job)
        .where(col(Job.kind) == kind, col(Job.state) == "queued")
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
        .where(col(Job.kind) == kind, col(Job.state).in_(("queued", "running")))
    ).one()
    if not pending:
        enqueue(ctx, kind, {"every_seconds": every.total_seconds()})
