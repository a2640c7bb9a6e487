"""Request-scoped dependencies shared by the JSON API and the web pages."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated

import anyio
from anyio.to_thread import run_sync
from fastapi import Depends, Request

from app.db import open_session
from app.services import Ctx

READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class DbGate:
    """How many requests of this process may hold a database session at once.

    Requests wait here, on the event loop, rather than in threadpool threads. So
    the threads never all sit waiting for a connection or for SQLite's write lock
    while the request that holds it needs a thread to finish and commit: the slots
    are fewer than the threads, and the pool has a connection for every slot.
    Writers have their own, smaller share, so a burst of posts cannot keep readers
    out (on SQLite, writers then queue for the one write lock in app.db).

    The shares are small, about two requests per core each: Python runs one
    thread at a time, and a request that makes many database round trips (a post:
    its token, the rate limit, the rows it writes) waits for the interpreter again
    after each one. With twenty requests running, a write queued twenty deep at
    every step, and on SQLite held the write lock all that while; with few
    running, each finishes quickly and the rest wait here, where waiting costs
    nothing (bench/load.py: 20/8 against 4/3 doubled SQLite's throughput).
    """

    READERS = 4
    WRITERS = 3

    def __init__(self) -> None:
        self._readers = asyncio.Semaphore(self.READERS)
        self._writers = asyncio.Semaphore(self.WRITERS)

    @asynccontextmanager
    async def slot(self, write: bool) -> AsyncIterator[None]:
        async with self._writers if write else self._readers:
            yield


# One gate per event loop (uvicorn has one per worker process; each TestClient
# runs its own).
_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DbGate] = weakref.WeakKeyDictionary()


def _gate() -> DbGate:
    loop = asyncio.get_running_loop()
    gate = _GATES.get(loop)
    if gate is None:
        gate = _GATES[loop] = DbGate()
    return gate


async def get_ctx(request: Request) -> AsyncIterator[Ctx]:
    """One transaction per request, committed *before* the response is sent
    (``scope="function"``), so a client never sees success for a lost write.

    GET, HEAD and OPTIONS get a reading transaction (the database refuses writes
    in it); other methods a writing one, which begins at its first statement."""
    write = request.method not in READING_METHODS
    async with _gate().slot(write):
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


def client_ip(request: Request) -> str:
    """The client address as uvicorn reports it (with --proxy-headers behind nginx)."""
    return request.client.host if request.client else "unknown"
