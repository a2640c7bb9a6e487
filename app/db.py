"""Database engine and transactions.

One engine per process. SQLite runs in WAL mode so readers never wait for the
writer; PostgreSQL is used as-is. Every transaction is either *reading* or
*writing*, and the database itself enforces the difference:

- a reading transaction is ``BEGIN`` + ``PRAGMA query_only`` on SQLite and
  ``SET TRANSACTION READ ONLY`` on PostgreSQL, so a GET that tries to write fails
  loudly in tests instead of quietly taking SQLite's one write lock;
- a writing transaction on SQLite takes the write lock with ``BEGIN IMMEDIATE``
  (a deferred transaction that reads and then writes fails at once with
  "database is locked" if another connection committed in between), after first
  taking this process's writer lock for that database file. So threads of one
  process queue for the lock in order, and wake the moment it is free, instead of
  sleeping in SQLite's busy handler; other processes (a worker, more web workers)
  still meet at SQLite's own lock, within ``busy_timeout``.

A writing transaction on SQLite takes the write lock at its first *write*
(INSERT, UPDATE, DELETE, SAVEPOINT…), not at its first statement: what a request
reads before it decides to write (its token, the thread it answers) is read
outside any transaction, as PostgreSQL's READ COMMITTED reads it, so the one
write lock is held only for the writing itself. A read-decide-write that needs
its reads to stay true takes the lock first with ``lock_row`` or
``begin_writing``, on both databases. Work done before the first write (hashing a
password, fetching a remote document, rendering markdown) holds no lock.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from sqlalchemy import Connection, CursorResult, Engine, Result, event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

from app.config import missing_database_driver
from app.errors import DomainError

Mode = Literal["read", "write"]
T = TypeVar("T")
BUSY_SECONDS = 30.0  # how long a writer waits for the lock before giving up
_MODE_OPTION = "cg_mode"


class DatabaseBusy(DomainError):
    """The write lock stayed taken for longer than anyone should wait."""

    status = 503
    code = "busy"
    retry_after = 5


class MissingDatabaseDriver(RuntimeError):
    """The URL's database needs a driver this install lacks (see the message for the extra)."""


def make_engine(url: str) -> Engine:
    problem = missing_database_driver(url)
    if problem:
        raise MissingDatabaseDriver(problem)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # Enough connections for every request slot (app.deps.DbGate) plus a few
        # short side transactions; readers never wait for each other in WAL mode.
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": BUSY_SECONDS},
            pool_size=32,
            max_overflow=8,
        )
        lock = _writer_lock(parsed.database or ":memory:")
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", lambda conn: _sqlite_begin(conn, lock))
        event.listen(engine, "before_cursor_execute", _sqlite_before_execute)
        event.listen(engine, "commit", _release_writer)
        event.listen(engine, "rollback", _release_writer)
        return engine
    engine = create_engine(url, pool_pre_ping=True, pool_size=12, max_overflow=28)
    event.listen(engine, "begin", _postgres_begin)
    return engine


# One writer lock per database file, shared by every engine of this process on
# that file (a web worker running its job worker in-process has two engines).
_WRITER_LOCKS: dict[str, threading.Lock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()


def _writer_lock(database: str) -> threading.Lock:
    key = str(Path(database).resolve()) if database != ":memory:" else database
    with _WRITER_LOCKS_GUARD:
        return _WRITER_LOCKS.setdefault(key, threading.Lock())


# Set by begin_writing for the one call that begins a transaction eagerly.
_EAGER_WRITE: ContextVar[bool] = ContextVar("begin_writing", default=False)


def _mode_of(conn: Connection) -> Mode | None:
    if _EAGER_WRITE.get():
        return "write"
    return conn.get_execution_options().get(_MODE_OPTION)


def _sqlite_begin(conn: Connection, lock: threading.Lock) -> None:
    mode = _mode_of(conn)
    conn.info.pop("cg_deferred_writer", None)
    if mode == "write":
        conn.exec_driver_sql("PRAGMA query_only = 0")
        conn.info["cg_deferred_writer"] = lock  # BEGIN IMMEDIATE at the first write
        if _EAGER_WRITE.get():
            _start_writing(conn)
        return
    conn.exec_driver_sql(f"PRAGMA query_only = {1 if mode == 'read' else 0}")
    conn.exec_driver_sql("BEGIN")


# Statements that only read: anything else begins a deferred writing transaction,
# and so does a read that asks to hold rows (``with_for_update``: SQLite's SQL has
# no FOR UPDATE, the write lock is how it holds them).
_READING_STATEMENTS = ("SELECT", "PRAGMA")


def _sqlite_before_execute(
    conn: Connection,
    cursor: object,
    statement: str,
    parameters: object,
    context: object,
    *_: object,  # executemany
) -> None:
    if "cg_deferred_writer" not in conn.info:
        return
    compiled = getattr(context, "compiled", None)
    holds_rows = getattr(getattr(compiled, "statement", None), "_for_update_arg", None)
    if holds_rows is not None or not statement.lstrip().upper().startswith(_READING_STATEMENTS):
        _start_writing(conn)


def _start_writing(conn: Connection) -> None:
    """Take this process's writer lock, then SQLite's (``BEGIN IMMEDIATE``).

    Released by _release_writer when the transaction commits or rolls back (the
    lock may be released by another thread: a request's transaction begins in one
    threadpool thread and commits in another)."""
    lock = conn.info.pop("cg_deferred_writer", None)
    if lock is None:
        return
    if not lock.acquire(timeout=BUSY_SECONDS):
        raise DatabaseBusy("The instance is very busy right now; try again in a moment.")
    conn.info["cg_writer_lock"] = lock
    try:
        dbapi = conn.connection.dbapi_connection
        if dbapi is None:  # only after the connection was invalidated
            raise RuntimeError("the database connection is closed")
        dbapi.execute("BEGIN IMMEDIATE")
    except BaseException:
        _release_writer(conn)
        raise


def _release_writer(conn: Connection) -> None:
    conn.info.pop("cg_deferred_writer", None)
    lock = conn.info.pop("cg_writer_lock", None)
    if lock is not None:
        lock.release()


def _postgres_begin(conn: Connection) -> None:
    if _mode_of(conn) == "read":
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # DBAPI types
    dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" event issue BEGIN
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={int(BUSY_SECONDS * 1000)}")
    cur.close()


def open_session(engine: Engine, mode: Mode) -> Session:
    """A session whose transaction begins lazily, at its first statement, in
    ``mode``. The caller commits or rolls back and closes it."""
    session = Session(engine.execution_options(**{_MODE_OPTION: mode}), expire_on_commit=False)
    session.info["read_only"] = mode == "read"
    return session


def begin_writing(session: Session) -> None:
    """Start the session's transaction now, as a writing one (on SQLite: take
    the write lock, waiting for it if need be), so writing later cannot fail and
    what it reads from now on stays true until it commits."""
    token = _EAGER_WRITE.set(True)
    try:
        conn = session.connection()
    finally:
        _EAGER_WRITE.reset(token)
    if "cg_deferred_writer" in conn.info:  # began earlier, deferred: take the lock now
        _start_writing(conn)


@contextmanager
def transaction(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error.

    Every write in Commonground goes through one of these, so a failure never
    leaves partial rows behind. ``write=False`` is for work that only reads (e.g.
    looking up a key): it runs beside writers instead of waiting, and cannot write.
    """
    with open_session(engine, "write" if write else "read") as session:
        try:
            if write:
                begin_writing(session)
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def side_transaction(session: Session) -> Iterator[Session]:
    """A short writing transaction of its own, for the rare write a *reading*
    request must make (an actor's first key, a built-in module's first row).

    Committed at the end; then the reading session ends its snapshot too (it has
    nothing to write), so its next statement sees what was just written."""
    if not session.info.get("read_only"):
        raise RuntimeError("side_transaction is for reading sessions; write in your own")
    with transaction(_engine_of(session)) as own:
        yield own
    session.commit()


@contextmanager
def unlocked(session: Session) -> Iterator[None]:
    """Run slow work (hashing a password, running a module) without holding the
    write lock: what ``session``'s transaction wrote so far is committed here, the
    block may read (in a reading transaction), and writing resumes afterwards in
    a new transaction. Use it where the work before the block may stand alone."""
    writing = not session.info.get("read_only")
    session.commit()
    if not writing:
        yield
        return
    bind = _engine_of(session)
    session.bind = bind.execution_options(**{_MODE_OPTION: "read"})
    session.info["read_only"] = True
    try:
        yield
    finally:
        session.commit()  # end the reading transaction (nothing to write)
        session.bind = bind
        session.info["read_only"] = False


def _engine_of(session: Session) -> Engine:
    """The engine the session runs on: every session here is opened on one
    (``open_session``), never on a bare connection."""
    bind = session.bind
    if not isinstance(bind, Engine):
        raise TypeError(f"expected a session bound to an Engine, got {bind!r}")
    return bind


class MissingRow(LookupError):
    """A row that must exist (the target of a foreign key, a row just read) is gone."""


def get_or_raise(session: Session, model: type[T], key: object) -> T:
    """``session.get`` for a row the schema guarantees (a foreign key's target):
    a clear error naming the row, instead of ``None`` failing later."""
    row = session.get(model, key)
    if row is None:
        raise MissingRow(f"{model.__name__} {key!r} is not in the database")
    return row


def rows_changed(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed. ``Session.execute`` is typed to
    return a ``Result``; for those statements it is a ``CursorResult``, which counts."""
    return cast(CursorResult[Any], result).rowcount or 0


def hold(session: Session, *keys: str) -> None:
    """Hold ``keys`` until the transaction ends: any other transaction that holds
    one of them waits for this one. For a read-decide-write about rows that may not
    exist yet, which no row lock can hold (a member's reaction to a post; the hits
    of a rate-limit bucket). PostgreSQL: transaction-level advisory locks, taken in
    one order so that two holders never deadlock; SQLite: its write lock, taken now,
    which holds every key at once (a request's writes otherwise take it only at
    their first write, after what they read)."""
    if session.get_bind().dialect.name != "postgresql":
        begin_writing(session)
        return
    for key in sorted({_advisory_key(key) for key in keys}):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def commit_without_waiting_for_disk(session: Session) -> None:
    """Let this transaction's commit return before the disk has it, for
    bookkeeping a crash may lose without losing anything a member wrote (the hits
    of a rate limit). PostgreSQL: ``synchronous_commit`` off for this transaction
    only (a crash can lose its last fraction of a second, never corrupt it);
    SQLite in WAL mode with ``synchronous=NORMAL`` already commits so."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def _advisory_key(key: str) -> int:
    """A stable signed 64-bit number for ``pg_advisory_xact_lock``."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), signed=True)


def lock_row(session: Session, model: type[T], key: object, *, shared: bool = False) -> T | None:
    """The row with primary key ``key`` read again and held until the transaction
    ends, for a read-decide-write: PostgreSQL holds it (``FOR UPDATE``, or ``FOR
    SHARE`` when ``shared``); on SQLite the writing transaction takes the write lock
    now, which serialises writers. The session's copy is refreshed from the database."""
    return session.get(model, key, with_for_update={"read": shared}, populate_existing=True)
