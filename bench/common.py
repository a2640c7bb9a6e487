"""Shared helpers for the benchmark scripts: machine facts, percentiles,
throw-away databases on SQLite or on a PostgreSQL server, a remote sender."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from federation.httpsig import generate_keypair  # noqa: E402 - after the path is set
from tests.server_process import HOST, free_port  # noqa: E402 - after the path is set


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, {datetime.now(UTC):%Y-%m-%d}"
    )


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def summary(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), pct(values, 95)


@contextlib.contextmanager
def database(kind: str, pg_url: str | None) -> Iterator[str]:
    """A fresh database URL, removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="cg-bench-") as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(pg_url)
    name = f"cg_bench_{secrets.token_hex(4)}"
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class ActorHost(ThreadingHTTPServer):
    """Serves a remote sender's actor document (the inbox fetches its key once)."""

    daemon_threads = True

    def __init__(self) -> None:
        port = free_port()
        self.base = f"http://{HOST}:{port}"
        self.actor = f"{self.base}/users/sender"
        self.private_pem, public_pem = generate_keypair()
        doc = json.dumps(
            {
                "@context": "https://www.w3.org/ns/activitystreams",
                "id": self.actor,
                "type": "Person",
                "preferredUsername": "sender",
                "inbox": f"{self.actor}/inbox",
                "publicKey": {
                    "id": f"{self.actor}#main-key",
                    "owner": self.actor,
                    "publicKeyPem": public_pem,
                },
            }
        ).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's naming
                self.send_response(200)
                self.send_header("Content-Type", "application/activity+json")
                self.send_header("Content-Length", str(len(doc)))
                self.end_headers()
                self.wfile.write(doc)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__((HOST, port), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def create_activity(actor: str, i: int, to: str) -> dict:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor}/activities/{i}",
        "type": "Create",
        "actor": actor,
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "cc": [to],
        "object": {
            "id": f"{actor}/notes/{i}",
            "type": "Note",
            "attributedTo": actor,
            "content": f"<p>note {i} about the river</p>",
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
        },
    }
