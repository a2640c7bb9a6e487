"""Live updates: what just happened, for the browsers connected by Server-Sent Events.

A write *publishes* a small message (a member's new unread count, a new post) in
its transaction; subscribers see it only once that transaction commits, and
never if it rolls back. Across web workers the fan-out is PostgreSQL's
``LISTEN/NOTIFY`` (``pg_notify`` is delivered at commit; each worker process
keeps one listening connection and hands every message to its subscribers). On
SQLite there is one web process, so the messages go to this process's
subscribers straight after the commit. No new server either way.

The same plumbing wakes the job worker: :func:`wake` on the ``cg_jobs`` channel
(``app/infra/jobs.py`` calls it when it queues a job that is due), whose
subscribers are this process's workers. Across processes that needs PostgreSQL;
on SQLite only a worker in the same process (``serve --with-worker``) hears it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

log = logging.getLogger("commonground.live")
CHANNEL = "cg_live"
JOBS_CHANNEL = "cg_jobs"  # "a job is waiting": wakes the workers
MAX_PAYLOAD = 7000  # PostgreSQL refuses NOTIFY payloads of 8000 bytes or more
QUEUE_SIZE = 256


@dataclass(eq=False)
class Subscriber:
    """One connected stream: its queue lives on the loop that reads it."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[dict] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))

    def _put(self, message: dict) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # a stuck client misses updates
            self.queue.put_nowait(message)


class Broker:
    """This process's subscribers."""

    def __init__(self) -> None:
        self._subscribers: set[Subscriber] = set()
        self._lock = threading.Lock()

    def subscribe(self) -> Subscriber:
        sub = Subscriber(asyncio.get_running_loop())
        with self._lock:
            self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    def dispatch(self, message: dict) -> None:
        """Hand a message to every subscriber, from any thread."""
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            with contextlib.suppress(RuntimeError):  # its loop has closed
                sub.loop.call_soon_threadsafe(sub._put, message)


BROKER = Broker()  # the browsers' streams
JOBS = Broker()  # this process's job workers
BROKERS = {CHANNEL: BROKER, JOBS_CHANNEL: JOBS}


def publish(db: Session, message: dict, *, channel: str = CHANNEL) -> None:
    """Send ``message`` to every subscriber of ``channel`` (in every process on
    PostgreSQL) when ``db`` commits."""
    payload = json.dumps(message, separators=(",", ":"))
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("live messages are small; split this one")
    _hook(db)
    if db.get_bind().dialect.name == "postgresql":
        db.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload}
        )
        return
    db.info.setdefault("live_pending", []).append((channel, message))


def wake(db: Session, channel: str = JOBS_CHANNEL) -> None:
    """Tell ``channel``'s subscribers that something is waiting, once per
    transaction however often it is called (a post queues a delivery per inbox)."""
    woken: set[str] = db.info.setdefault("live_woken", set())
    if channel not in woken:
        woken.add(channel)
        publish(db, {"e": "wake"}, channel=channel)


def _hook(db: Session) -> None:
    if not db.info.get("live_hooked"):  # once per session; it goes with the session
        db.info["live_hooked"] = True
        event.listen(db, "after_commit", _after_commit)
        event.listen(db, "after_rollback", _after_rollback)


def _after_commit(db: Session) -> None:
    db.info.pop("live_woken", None)
    for channel, message in db.info.pop("live_pending", None) or []:
        BROKERS[channel].dispatch(message)


def _after_rollback(db: Session) -> None:
    db.info.pop("live_woken", None)
    db.info.pop("live_pending", None)


# --- PostgreSQL: one listening connection per web worker ----------------------

_Key = tuple[asyncio.AbstractEventLoop, str]
_listeners: dict[_Key, tuple[asyncio.Task, asyncio.Event]] = {}


async def ensure_listening(database_url: str, *, wait: float = 5.0) -> None:
    """Start this loop's LISTEN task for this database once (PostgreSQL only), and
    wait until it listens, so a stream that has started misses nothing published
    after. A process serves one database; tests run several in one loop."""
    if make_url(database_url).get_backend_name() != "postgresql":
        return
    loop = asyncio.get_running_loop()
    key = (loop, database_url)
    found = _listeners.get(key)
    if found is None or found[0].done():
        ready = asyncio.Event()
        found = _listeners[key] = (loop.create_task(_listen(database_url, ready)), ready)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(found[1].wait(), wait)


async def stop_listening(database_url: str) -> None:
    """End this loop's LISTEN task for this database: its app or worker is
    stopping. A stream that starts later begins a new one (:func:`ensure_listening`)."""
    found = _listeners.pop((asyncio.get_running_loop(), database_url), None)
    if found is None:
        return
    found[0].cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await found[0]


def _libpq(database_url: str) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def _listen(database_url: str, ready: asyncio.Event) -> None:
    import psycopg

    delay = 0.5
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                _libpq(database_url), autocommit=True
            ) as conn:
                for channel in BROKERS:
                    await conn.execute(f"LISTEN {channel}")
                ready.set()
                delay = 0.5
                async for note in conn.notifies():
                    try:
                        BROKERS[note.channel].dispatch(json.loads(note.payload))
                    except (ValueError, KeyError):
                        log.warning("ignored a malformed live message")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database restarted, the network blinked
            log.warning("live updates: listening failed (%s); retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
