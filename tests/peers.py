"""Real federating instances for tests: ``commonground serve --with-worker``
processes on 127.0.0.1 that may reach each other (``CG_ALLOW_PRIVATE_ADDRESSES=1``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from sqlalchemy import create_engine, text

from tests.server_process import ServerProcess

PASSWORD = "correct horse battery"
T = TypeVar("T")


def eventually(check: Callable[[], T], *, timeout: float = 45.0, what: str = "") -> T:
    """Poll until ``check()`` returns something truthy (federation is asynchronous).
    The timeout only bounds a hang; nothing is asserted about how long it took."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what or check.__name__}; last saw {last!r}")


class Instance(ServerProcess):
    """A federating server with its worker, plus API helpers."""

    def __init__(self, *, database_url: str | None = None, **kw: Any) -> None:
        env = {"CG_ALLOW_PRIVATE_ADDRESSES": "1", **kw.pop("env", {})}
        kw.setdefault("with_worker", True)
        super().__init__(env=env, database_url=database_url, **kw)
        self.database_url = database_url
        self.tokens: dict[str, str] = {}

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.port}"

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=20, trust_env=False)

    def register(self, username: str) -> dict[str, str]:
        with self.http() as http:
            r = http.post("/api/v1/accounts", json={"username": username, "password": PASSWORD})
            assert r.status_code == 201, r.text
            r = http.post(
                "/api/v1/tokens",
                json={"username": username, "password": PASSWORD, "scope": "write"},
            )
            assert r.status_code == 201, r.text
            self.tokens[username] = r.json()["token"]
        return self.auth(username)

    def auth(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def api(self, method: str, path: str, user: str | None = None, **kw: Any) -> httpx.Response:
        headers = {**kw.pop("headers", {}), **(self.auth(user) if user else {})}
        with self.http() as http:
            return http.request(method, f"/api/v1{path}", headers=headers, **kw)

    def sql(self, query: str, **params: Any) -> list[tuple]:
        """Read this instance's database directly (to observe queues and stored rows)."""
        url = self.database_url or f"sqlite:///{self.data_dir / 'commonground.db'}"
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(query), params)]
        finally:
            engine.dispose()

    def queue_idle(self) -> bool:
        """No delivery or inbox job is waiting or running."""
        rows = self.sql(
            "SELECT count(*) FROM jobs WHERE kind IN ('ap.deliver', 'ap.inbox', 'ap.backfill') "
            "AND state IN ('queued', 'running')"
        )
        return rows[0][0] == 0
