"""Database engine and transactions.

One engine per process. SQLite runs in WAL mode with a busy timeout so the web
server and a worker can share the file; PostgreSQL is used as-is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        # We issue BEGIN ourselves (pysqlite's own handling is off) so SAVEPOINTs
        # behave, and BEGIN IMMEDIATE for transactions that will write: a deferred
        # transaction that reads and then writes fails at once with "database is
        # locked" if another process committed in between (busy_timeout cannot help).
        event.listen(
            engine,
            "begin",
            lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE" if _IMMEDIATE.get() else "BEGIN"),
        )
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


_IMMEDIATE: ContextVar[bool] = ContextVar("sqlite_begin_immediate", default=False)


def begin_writing(session: Session) -> None:
    """Start the session's transaction now, taking SQLite's write lock up front
    (waiting up to busy_timeout for it) so that writing later cannot fail.
    On PostgreSQL it simply begins."""
    token = _IMMEDIATE.set(True)
    try:
        session.connection()
    finally:
        _IMMEDIATE.reset(token)


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DBAPI types
    dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" event issue BEGIN
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


@contextmanager
def transaction(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error.

    Every write in Commonground goes through one of these, so a failure never
    leaves partial rows behind. ``write=False`` is for work that only reads (e.g.
    looking up a key): on SQLite it then runs beside writers instead of waiting.
    """
    with Session(engine, expire_on_commit=False) as session:
        try:
            if write:
                begin_writing(session)
            else:
                session.info["read_only"] = True  # see federation.keys.local_key
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
