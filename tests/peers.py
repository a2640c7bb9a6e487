"""Peers for tests: real federating instances (``commonground serve --with-worker``
processes on 127.0.0.1 that may reach each other, ``CG_ALLOW_PRIVATE_ADDRESSES=1``),
and :class:`RecordingPeer`, a bare inbox in this process that answers what a test
tells it and keeps what it was sent (the ``peer`` fixture in conftest.py runs one)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import httpx
from sqlalchemy import create_engine, text

from tests.server_process import HOST, ServerProcess, free_port

PASSWORD = "correct horse battery"
T = TypeVar("T")


S = TypeVar("S", bound=ThreadingHTTPServer)


@contextmanager
def serving(server: S) -> Iterator[S]:
    """``server`` answering on 127.0.0.1 from a thread of its own, shut down and
    closed afterwards: the body of every test peer's fixture."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


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
            r = http.post("/api/cg/v1/accounts", json={"username": username, "password": PASSWORD})
            assert r.status_code == 201, r.text
            r = http.post(
                "/api/cg/v1/tokens",
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
            return http.request(method, f"/api/cg/v1{path}", headers=headers, **kw)

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


class RecordingPeer(ThreadingHTTPServer):
    """Inboxes on 127.0.0.1 that answer every POST with ``status`` and ``headers``
    (202 and none unless a test says otherwise), keeping its JSON body in
    ``received`` and the keyId of its signature in ``signed_by``."""

    daemon_threads = True

    def __init__(self) -> None:
        self.status: int = 202
        self.headers: dict[str, str] = {}
        self.received: list[dict] = []
        self.signed_by: list[str] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                peer.received.append(json.loads(body))
                signature = self.headers.get("Signature", "")
                peer.signed_by.append(signature.split('keyId="', 1)[-1].split('"', 1)[0])
                self.send_response(peer.status)
                for name, value in peer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__((HOST, free_port()), Handler)

    def inbox(self, name: str | None = None) -> str:
        """A member's inbox on this peer, or its shared inbox."""
        base = f"http://{HOST}:{self.server_address[1]}"
        return f"{base}/users/{name}/inbox" if name else f"{base}/inbox"

    @property
    def hits(self) -> int:
        return len(self.received)

    def types(self) -> list[str]:
        return [a["type"] for a in self.received]
