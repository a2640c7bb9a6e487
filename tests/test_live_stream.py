"""Live updates over Server-Sent Events from a real ``commonground serve``.

On PostgreSQL with two web workers, a notification written by one worker reaches
streams held by both (LISTEN/NOTIFY); on SQLite (one worker) the fan-out is in
process. A stream on the home feed also hears of new threads there.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.server_process import ServerProcess

WORKER = re.compile(r"^: worker (\d+)")


@dataclass
class Stream:
    """One SSE connection read in a thread: its worker's pid, and its events."""

    url: str
    headers: dict
    pid: int | None = None
    events: queue.Queue = field(default_factory=queue.Queue)
    started: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        try:
            self._read()
        except httpx.RemoteProtocolError:  # the server stopped and cut the stream
            self.events.put(("cut", {}))

    def _read(self) -> None:
        timeout = httpx.Timeout(5, read=60)
        with (
            httpx.Client(trust_env=False, timeout=timeout) as http,
            http.stream("GET", self.url, headers=self.headers) as r,
        ):
            assert r.status_code == 200, r.read()
            assert r.headers["content-type"].startswith("text/event-stream")
            name = None
            for line in r.iter_lines():
                if self.stop.is_set():
                    return
                if m := WORKER.match(line):
                    self.pid = int(m.group(1))
                elif line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: ") and name:
                    self.events.put((name, json.loads(line.removeprefix("data: "))))
                    if name == "notification" and not self.started.is_set():
                        self.started.set()  # the first event: the stream is live

    def next(self, name: str, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                got, data = self.events.get(timeout=left)
            except queue.Empty:
                break
            if got == name:
                return data
        raise AssertionError(f"no {name!r} event within {timeout}s")


def _member(http: httpx.Client, name: str) -> dict:
    http.post(
        "/api/cg/v1/accounts", json={"username": name, "password": PASSWORD}
    ).raise_for_status()
    r = http.post(
        "/api/cg/v1/tokens", json={"username": name, "password": PASSWORD, "scope": "write"}
    )
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _open(server: ServerProcess, headers: dict, path: str) -> Stream:
    stream = Stream(f"{server.url}{path}", headers)
    threading.Thread(target=stream.run, daemon=True).start()
    assert stream.started.wait(15), "the stream did not start"
    return stream


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_notification_reaches_connected_streams_on_every_worker(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("fresh_postgres") if backend == "postgresql" else None
    workers = 2 if backend == "postgresql" else 1
    env = {"CG_WEB_WORKERS": str(workers)}
    with (
        ServerProcess(database_url=url, env=env, startup_timeout=90) as server,
        httpx.Client(base_url=server.url, trust_env=False, timeout=30) as http,
    ):
        ada, ben = _member(http, "ada"), _member(http, "ben")
        http.post("/api/cg/v1/follows", json={"target": "ben"}, headers=ada).raise_for_status()
        streams: list[Stream] = []
        for _ in range(24):  # until streams are held by every worker
            streams.append(_open(server, ada, "/api/cg/v1/stream?feed=home"))
            if len({s.pid for s in streams}) == workers:
                break
        assert len({s.pid for s in streams}) == workers, "streams never reached both workers"
        try:
            for s in streams:
                assert s.next("notification") == {"unread": 0}  # the count at connect
            r = http.post("/api/cg/v1/posts", json={"text": "Hello @ada"}, headers=ben)
            r.raise_for_status()
            post_id = r.json()["id"]
            for s in streams:  # whichever worker took the post, every stream hears
                assert s.next("notification") == {"unread": 1}, s.pid
                assert s.next("feed.new") == {"post": post_id}, s.pid
            first = http.get("/api/cg/v1/notifications", headers=ada).json()["items"][0]
            http.post(
                "/api/cg/v1/notifications/read", json={"ids": [first["id"]]}, headers=ada
            ).raise_for_status()
            for s in streams:
                assert s.next("notification") == {"unread": 0}, s.pid
        finally:
            for s in streams:
                s.stop.set()


def test_the_stream_needs_a_member_and_a_known_feed(client, api_user) -> None:
    assert client.get("/api/cg/v1/stream").status_code == 401
    ada = api_user("ada")
    r = ada.get("/api/cg/v1/stream", params={"feed": "everything"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_feed"
    r = ada.get("/api/cg/v1/stream", params={"feed": "community:nowhere"})
    assert r.status_code == 404


def test_a_stream_ends_after_its_longest_life_and_says_when_to_come_back(
    client, api_user, settings
) -> None:
    """A stream is not held forever: after ``stream_max_seconds`` the server ends it
    (the client's EventSource reconnects after ``retry``), so a revoked token stops
    hearing within that time, and streams rebalance across workers."""
    settings.stream_max_seconds = 0.5
    ada = api_user("ada")
    answer: list[httpx.Response] = []
    reader = threading.Thread(
        target=lambda: answer.append(ada.get("/api/cg/v1/stream")), daemon=True
    )
    reader.start()
    reader.join(20)
    assert answer, "the stream was still open after 20 s"
    body = answer[0].text
    assert answer[0].status_code == 200 and "retry: 5000" in body
    assert "event: notification" in body  # what a stream says first is still said
