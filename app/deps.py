"""Request-scoped dependencies shared by the JSON API and the web pages."""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, TypeVar

import anyio
from anyio.to_thread import run_sync
from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from app.db import open_session, transaction
from app.services import Ctx

T = TypeVar("T")

READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


SQLITE_SLOTS, SQLITE_WRITERS = 5, 3
POSTGRES_SLOTS, POSTGRES_WRITERS = 4, 4


class DbGate:
    """How many requests of this process may hold a database session at once,
    and who goes next when one finishes.

    Requests wait here, on the event loop, rather than in threadpool threads. So
    the threads never all sit waiting for a connection or for SQLite's write lock
    while the request that holds it needs a thread to finish and commit: the slots
    are fewer than the threads, and the pool has a connection for every slot.

    The slots are few, about two per core: Python runs one thread at a time, and
    a request that makes many database round trips waits for the interpreter
    again after each one. With twenty requests running, each step of a write
    queued twenty deep, and on SQLite held the write lock all that while; with few
    running, each finishes quickly and the rest wait here, where waiting costs
    nothing (bench/load.py: 20/8 against 4/3 doubled SQLite's throughput).

    A waiting write goes before a waiting read. A member who posts is waiting for
    their words to be kept, and a write is a small share of the traffic, so
    serving it first costs the readers little; served in arrival order, writes
    queued behind every read when many members were online (on PostgreSQL, posting
    p99 grew 11x from 5 to 50 clients while reads stayed fast). Writes may hold at
    most ``writers`` of the slots, and a read that waits gets at least every fifth
    slot that frees, so a burst of posts cannot keep readers out.

    How many writers help depends on the database (:meth:`for_database`): SQLite
    writes one at a time, so a third writer in a slot only waits for the lock
    while holding a slot a reader could use; PostgreSQL writes side by side.
    """

    def __init__(self, slots: int, writers: int) -> None:
        self.slots = slots
        self.writers = writers
        self._free = slots
        self._writing = 0
        self._writes_in_a_row = 0  # slots handed to writes since a read last got one
        self._waiting: dict[bool, deque[asyncio.Future[None]]] = {True: deque(), False: deque()}

    # However many writes wait, every fifth slot that frees goes to a waiting read.
    WRITES_IN_A_ROW = 4

    @classmethod
    def for_database(cls, dialect: str) -> DbGate:
        """Sizes measured with bench/load.py on two cores (docs/benchmarks.md)."""
        if dialect == "sqlite":
            return cls(slots=SQLITE_SLOTS, writers=SQLITE_WRITERS)
        return cls(slots=POSTGRES_SLOTS, writers=POSTGRES_WRITERS)

    @asynccontextmanager
    async def slot(self, write: bool) -> AsyncIterator[None]:
        await self._acquire(write)
        try:
            yield
        finally:
            self._release(write)

    def _may_start(self, write: bool) -> bool:
        return self._free > 0 and (not write or self._writing < self.writers)

    def _take(self, write: bool) -> None:
        self._free -= 1
        self._writing += write

    async def _acquire(self, write: bool) -> None:
        # A free slot means nobody who may take it is waiting (_hand_over ran).
        if self._may_start(write):
            self._take(write)
            return
        queue = self._waiting[write]
        waiter = asyncio.get_running_loop().create_future()
        queue.append(waiter)
        try:
            await waiter  # the request that finished took the slot for us (_hand_over)
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._release(write)  # granted just as we were cancelled: pass it on
            elif waiter in queue:
                queue.remove(waiter)
            raise

    def _next_writer_may_start(self) -> bool:
        return bool(self._waiting[True]) and self._writing < self.writers

    def _release(self, write: bool) -> None:
        self._free += 1
        self._writing -= write
        self._hand_over()

    def _hand_over(self) -> None:
        """Give free slots to waiting requests: writes first, within their share,
        but never more than ``WRITES_IN_A_ROW`` of them while a read waits."""
        while self._free > 0:
            reads_waiting = bool(self._waiting[False])
            read_is_due = reads_waiting and self._writes_in_a_row >= self.WRITES_IN_A_ROW
            if self._next_writer_may_start() and not read_is_due:
                queue, write = self._waiting[True], True
            elif reads_waiting:
                queue, write = self._waiting[False], False
            else:
                return
            waiter = queue.popleft()
            if waiter.cancelled():
                continue
            self._writes_in_a_row = self._writes_in_a_row + 1 if write else 0
            self._take(write)
            waiter.set_result(None)


# One gate per event loop (uvicorn has one per worker process; each TestClient
# runs its own).
_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DbGate] = weakref.WeakKeyDictionary()


def _gate(request: HTTPConnection) -> DbGate:
    loop = asyncio.get_running_loop()
    gate = _GATES.get(loop)
    if gate is None:
        dialect = request.app.state.engine.dialect.name
        gate = _GATES[loop] = DbGate.for_database(dialect)
    return gate


async def get_ctx(request: Request) -> AsyncIterator[Ctx]:
    """One transaction per request, committed *before* the response is sent
    (``scope="function"``), so a client never sees success for a lost write.

    GET, HEAD and OPTIONS get a reading transaction (the database refuses writes
    in it); other methods a writing one, which begins at its first statement."""
    write = request.method not in READING_METHODS
    async with _gate(request).slot(write):
        session = open_session(request.app.state.engine, "write" if write else "read")
        try:
            yield Ctx(session, request.app.state.settings)
            await _in_thread(session.commit)
        except BaseException:
            await _in_thread(session.rollback)
            raise
        finally:
            await _in_thread(session.close)


async def _in_thread(fn: Callable[[], object]) -> None:
    """Finish a transaction in a worker thread (commit waits on the disk or the
    network), even if the request is being cancelled: the lock must be let go."""
    with anyio.CancelScope(shield=True):
        await run_sync(fn)


CtxDep = Annotated[Ctx, Depends(get_ctx, scope="function")]


def reading_slot(conn: HTTPConnection) -> AbstractAsyncContextManager[None]:
    """A reading slot of the gate, for a connection that outlives its request (a
    live stream): it takes one only while it reads, never while it waits."""
    return _gate(conn).slot(False)


async def read_apart(conn: HTTPConnection, fn: Callable[[Ctx], T]) -> T:
    """Run ``fn`` in a short reading transaction of its own, holding a slot of the
    gate only meanwhile: for a live stream, or a check that must not open the
    request's transaction early (a remote lookup may have to come first)."""
    engine, settings = conn.app.state.engine, conn.app.state.settings

    def run() -> T:
        with transaction(engine, write=False) as db:
            return fn(Ctx(db, settings))

    async with reading_slot(conn):
        return await run_sync(run)


def client_ip(request: Request) -> str:
    """The client address as uvicorn reports it (with --proxy-headers behind nginx)."""
    return request.client.host if request.client else "unknown"
