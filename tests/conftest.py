"""Shared fixtures.

Database-backed tests run once per backend: SQLite always, PostgreSQL when
``TEST_DATABASE_URL`` points at a server. Each run creates its own database on
that server and drops it afterwards, so runs never see each other's data.
``REQUIRE_POSTGRES=1`` (set by CI) turns a missing server into a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from app import plugins
from app.config import Settings
from app.db import make_engine, transaction
from app.main import create_app
from app.migrate import upgrade
from app.services import Ctx
from tests.peers import RecordingPeer, serving
from tests.server_process import ROOMY_LIMITS

PASSWORD = "correct horse battery"

plugins.load()  # every test runs with the same listeners as a server (e.g. federation)


# The files that take longest (the sum of their tests' durations in one `make test`
# on this machine, 2026-12-02), longest first. `make test` hands whole files to
# several processes in collection order (--dist loadfile --no-loadscope-reorder:
# xdist would otherwise start the files with the most tests first, and leave a
# one-test file that takes 45 s for the end, while the other processes sit idle).
# Order only.
LONGEST_FIRST = [
    "test_fuzz.py",
    "test_pasture_judge.py",
    "test_delivery_resilience.py",
    "test_federation_e2e.py",
    "test_browser_every_page.py",
    "test_bad_input.py",
    "test_federation_demo.py",
    "test_ratelimits.py",
    "test_inbox_hostile.py",
    "test_packaging.py",
    "test_sandbox_isolation.py",
    "test_make_demo.py",
    "test_browser.py",
    "test_delivery_outcomes.py",
    "test_races.py",
    "test_sandbox_pool.py",
    "test_module_federation.py",
    "test_browser_pages.py",
    "test_serve_process.py",
    "test_algorithm_api.py",
    "test_discovery.py",
    "test_federation_history_e2e.py",
    "test_every_page.py",
    "test_browser_artifact.py",
    "test_artifact_federation.py",
    "test_sandbox_slow.py",
    "test_concurrent_serve.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files stay whole


def _postgres_url_or_skip() -> str:
    url = os.environ.get("TEST_DATABASE_URL", "")
    reason = ""
    if not url:
        reason = "PostgreSQL tests need TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
    else:
        try:
            with psycopg.connect(_libpq(url), connect_timeout=5):
                pass
        except psycopg.Error as exc:
            reason = f"PostgreSQL at TEST_DATABASE_URL is not reachable: {exc}"
    if reason:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    return url


def _libpq(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@contextmanager
def _throwaway_database(prefix: str) -> Iterator[str]:
    """A new database on the TEST_DATABASE_URL server, dropped afterwards."""
    base = _postgres_url_or_skip()
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(_libpq(base), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(base), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The session's PostgreSQL database for in-process tests."""
    with _throwaway_database("cg_test") as url:
        yield url


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """A PostgreSQL database of its own (e.g. for a server process), dropped after."""
    with _throwaway_database("cg_srv") as url:
        yield url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


def _wipe(engine: Engine) -> None:
    """Empty every table and restart the ids, as a new database would have them.

    DELETE, children first, rather than TRUNCATE: on PostgreSQL a TRUNCATE of every
    table takes about half a second (it rewrites each table's files), DELETE of the
    few rows a test made takes milliseconds."""
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with engine.begin() as conn:
        for name in tables:
            conn.execute(text(f"DELETE FROM {name}"))  # noqa: S608 - our table names
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "SELECT setval(c.oid, 1, false) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relkind = 'S' AND n.nspname = current_schema()"
                )
            )


def make_settings(data_dir: Path, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "domain": "127.0.0.1:8000",
        "scheme": "http",
        "secret_key": "test-secret-key",
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
        **{name.removeprefix("CG_").lower(): int(n) for name, n in ROOMY_LIMITS.items()},
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path, database_url: str, engine: Engine) -> Iterator[Settings]:
    yield make_settings(tmp_path, database_url)
    _wipe(engine)


@pytest.fixture
def ctx(settings: Settings, engine: Engine) -> Iterator[Ctx]:
    """A service context inside one transaction, committed at the end of the test."""
    with transaction(engine) as db:
        yield Ctx(db, settings)


@pytest.fixture
def new_ctx(settings: Settings, engine: Engine):
    """Open a fresh committed transaction: ``with new_ctx() as ctx: ...``."""
    from contextlib import contextmanager

    @contextmanager
    def open_ctx() -> Iterator[Ctx]:
        with transaction(engine) as db:
            yield Ctx(db, settings)

    return open_ctx


_APPS: dict[tuple[Engine, str], FastAPI] = {}


def app_for(settings: Settings, engine: Engine) -> FastAPI:
    """The application for these settings, built once per session and reused.

    Building an app is cheap, but FastAPI prepares every route of an app on its
    first request (about half a second), which per test was a third of the suite's
    time. Settings that differ only in ``data_dir`` (a test's tmp_path, which the
    app never reads) share an app; each run of the app (``with TestClient(app)``)
    starts its lifespan afresh, which drops peer connections and cached keys."""
    key = (engine, settings.model_dump_json(exclude={"data_dir"}))
    app = _APPS.get(key)
    if app is None:
        app = _APPS[key] = create_app(settings, engine)
    app.state.settings = settings
    return app


@pytest.fixture
def app(settings: Settings, engine: Engine) -> FastAPI:
    return app_for(settings, engine)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        yield c


class Api:
    """A thin JSON-API client bound to one member's write token."""

    def __init__(self, client: TestClient, username: str) -> None:
        self.client = client
        self.username = username
        r = client.post("/api/cg/v1/accounts", json={"username": username, "password": PASSWORD})
        assert r.status_code == 201, r.text
        r = client.post(
            "/api/cg/v1/tokens", json={"username": username, "password": PASSWORD, "scope": "write"}
        )
        assert r.status_code == 201, r.text
        self.token = r.json()["token"]
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kw):
        return self.client.get(path, headers=self.headers, **kw)

    def post(self, path: str, json: object = None, **kw):
        return self.client.post(path, json=json, headers=self.headers, **kw)

    def patch(self, path: str, json: object = None, **kw):
        return self.client.patch(path, json=json, headers=self.headers, **kw)

    def put(self, path: str, json: object = None, **kw):
        return self.client.put(path, json=json, headers=self.headers, **kw)

    def delete(self, path: str, **kw):
        return self.client.delete(path, headers=self.headers, **kw)


@pytest.fixture
def api_user(client: TestClient):
    """Make members through the API: ``alice = api_user("alice")``."""
    return lambda username: Api(client, username)


@pytest.fixture(scope="session")
def sandbox_required() -> None:
    """Tests of submitted modules need bubblewrap: skipped with the reason without
    it, a failure under REQUIRE_SANDBOX=1 (set by CI)."""
    from algorithms.sandbox import bubblewrap

    if bubblewrap() is None:
        reason = "bubblewrap (bwrap) is not installed; submitted modules can't run here"
        if os.environ.get("REQUIRE_SANDBOX") == "1":
            pytest.fail(f"REQUIRE_SANDBOX=1 but {reason}")
        pytest.skip(reason)


@pytest.fixture
def peer() -> Iterator[RecordingPeer]:
    """An inbox on 127.0.0.1 (tests/peers.py) for deliveries to land in."""
    with serving(RecordingPeer()) as server:
        yield server


@pytest.fixture
def local_settings(settings: Settings) -> Settings:
    """The test settings, allowed to deliver to 127.0.0.1 (where the peer is)."""
    return settings.model_copy(update={"allow_private_addresses": True})


def judge_missing(reason: str) -> None:
    """An independent implementation the interop judges need is not installed
    (tests/test_pasture_judge.py, tests/test_fedify_judge.py): skip with the reason
    on a developer's machine, fail under REQUIRE_JUDGES=1 (set by CI)."""
    if os.environ.get("REQUIRE_JUDGES") == "1":
        pytest.fail(f"REQUIRE_JUDGES=1 but {reason}")
    pytest.skip(reason)
