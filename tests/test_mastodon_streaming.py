"""The Mastodon streaming API (docs/mastodon-api.md, "Streaming"): Server-Sent
Events and a WebSocket, on the same live fan-out as the native stream
(app/infra/live.py: PostgreSQL LISTEN/NOTIFY, in process on SQLite).

The real-server tests drive a ``commonground serve`` process with Mastodon.py's
``stream_user`` and with the ``websockets`` library; every wait has a timeout, so a
stream that never delivers fails the test instead of hanging it."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

from app.infra import live
from tests.conftest import PASSWORD
from tests.server_process import ServerProcess

mastodon = pytest.importorskip("mastodon")  # Mastodon.py, in the dev extras
websockets_sync = pytest.importorskip("websockets.sync.client")
ws_errors = pytest.importorskip("websockets.exceptions")
WAIT = 20.0  # seconds any one event may take to arrive


# --- in process ---------------------------------------------------------------


def test_health_answers_ok_in_plain_text(client: TestClient) -> None:
    r = client.get("/api/v1/streaming/health")
    assert r.status_code == 200 and r.text == "OK"
    assert r.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/streaming/user",
        "/api/v1/streaming/user/notification",
        "/api/v1/streaming/public",
        "/api/v1/streaming/public/local",
        "/api/v1/streaming/hashtag?tag=garden",
    ],
)
def test_every_stream_needs_a_token(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 401 and r.json() == {"error": "The access token is invalid"}
    r = client.get(path, headers={"Authorization": "Bearer cg_nonsense"})
    assert r.status_code == 401 and r.json() == {"error": "The access token is invalid"}
    joiner = "&" if "?" in path else "?"
    r = client.get(f"{path}{joiner}access_token=cg_nonsense")
    assert r.status_code == 401 and r.json() == {"error": "The access token is invalid"}


def test_a_hashtag_stream_needs_a_tag_and_a_stream_must_exist(client: TestClient, api_user) -> None:
    ada = api_user("ada")
    for path in ("/api/v1/streaming/hashtag", "/api/v1/streaming/hashtag/local?tag=%23"):
        r = ada.get(path)
        assert r.status_code == 400 and set(r.json()) == {"error"}, path
        assert "tag" in r.json()["error"]
    r = ada.get("/api/v1/streaming", params={"stream": "everything"})
    assert r.status_code == 400 and "everything" in r.json()["error"]
    r = ada.get("/api/v1/streaming/nowhere")
    assert r.status_code == 404 and r.json() == {"error": "Record not found"}


def _wait_for_subscribers(count: int) -> None:
    deadline = time.monotonic() + WAIT
    while len(live.BROKER._subscribers) < count:
        assert time.monotonic() < deadline, "the stream never subscribed"
        time.sleep(0.02)


def _sse_events(body: str) -> list[tuple[str, str]]:
    out = []
    for block in body.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        if "event" in lines:
            out.append((lines["event"], lines["data"]))
    return out


def test_a_stream_ends_after_its_longest_life_with_what_happened_meanwhile(
    client: TestClient, api_user, settings
) -> None:
    """In process (on SQLite and PostgreSQL alike): a public stream hears a new
    post as its viewer sees it, but not one by an author the viewer muted or
    blocked; and ends after ``stream_max_seconds``."""
    settings.stream_max_seconds = 3
    ada, ben, cyd, dee = (api_user(n) for n in ("ada", "ben", "cyd", "dee"))
    cyd_id = cyd.get("/api/v1/accounts/verify_credentials").json()["id"]
    dee_id = dee.get("/api/v1/accounts/verify_credentials").json()["id"]
    assert ada.post(f"/api/v1/accounts/{cyd_id}/mute").status_code == 200
    assert ada.post(f"/api/v1/accounts/{dee_id}/block").status_code == 200
    before = len(live.BROKER._subscribers)
    answer: list[httpx.Response] = []
    reader = threading.Thread(
        target=lambda: answer.append(ada.get("/api/v1/streaming/public")), daemon=True
    )
    reader.start()
    _wait_for_subscribers(before + 1)
    cyd.post("/api/v1/statuses", json={"status": "muted words"})
    dee.post("/api/v1/statuses", json={"status": "blocking words"})
    liked = ben.post("/api/v1/statuses", json={"status": "hello #garden"}).json()
    reader.join(WAIT)
    assert answer, "the stream outlived stream_max_seconds"
    r = answer[0]
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.text.startswith(":)")
    events = _sse_events(r.text)
    assert [e for e, _ in events] == ["update"], events
    shown = json.loads(events[0][1])
    assert shown["id"] == liked["id"] and shown["account"]["username"] == "ben"
    assert shown["tags"] == [{"name": "garden", "url": "http://127.0.0.1:8000/tags/garden"}]


def _denial(client: TestClient, path: str, subprotocols: list[str] | None = None) -> Any:
    """The HTTP answer a WebSocket was refused with, before the upgrade."""
    try:
        with client.websocket_connect(path, subprotocols=subprotocols):
            pass
    except WebSocketDenialResponse as denied:
        return denied
    raise AssertionError(f"{path} was accepted")


def test_the_notification_stream_hears_notifications_alone(
    client: TestClient, api_user, settings
) -> None:
    """``user:notification`` sends the Notification as the REST API shows it, and
    no posts; a notification that becomes read sends nothing."""
    settings.stream_max_seconds = 3
    ada, ben = api_user("ada"), api_user("ben")
    ben_id = ben.get("/api/v1/accounts/verify_credentials").json()["id"]
    assert ada.post(f"/api/v1/accounts/{ben_id}/follow").status_code == 200
    before = len(live.BROKER._subscribers)
    answer: list[httpx.Response] = []
    reader = threading.Thread(
        target=lambda: answer.append(ada.get("/api/v1/streaming/user/notification")),
        daemon=True,
    )
    reader.start()
    _wait_for_subscribers(before + 1)
    ben.post("/api/v1/statuses", json={"status": "no mention here"})
    made = ben.post("/api/v1/statuses", json={"status": "hello @ada"}).json()
    listed = ada.get("/api/v1/notifications").json()
    ada.post("/api/cg/v1/notifications/read", json={"ids": [int(listed[0]["id"])]})
    reader.join(WAIT)
    assert answer, "the stream outlived stream_max_seconds"
    events = _sse_events(answer[0].text)
    assert [e for e, _ in events] == ["notification"], events
    note = json.loads(events[0][1])
    assert note == listed[0]
    assert note["type"] == "mention" and note["status"]["id"] == made["id"]


def test_websocket_refuses_bad_tokens_and_answers_bad_messages(
    client: TestClient, api_user
) -> None:
    denied = _denial(client, "/api/v1/streaming?stream=user")
    assert denied.status_code == 401
    assert denied.json() == {"error": "The access token is invalid"}
    assert _denial(client, "/api/v1/streaming", ["cg_nonsense"]).status_code == 401
    ada = api_user("ada")
    denied = _denial(client, f"/api/v1/streaming?stream=nowhere&access_token={ada.token}")
    assert denied.status_code == 400 and "nowhere" in denied.json()["error"]
    with client.websocket_connect("/api/v1/streaming", subprotocols=[ada.token]) as ws:
        assert ws.accepted_subprotocol == ada.token
        for bad in (
            "not json",
            "[1, 2]",
            json.dumps({"type": "dance", "stream": "user"}),
            json.dumps({"type": "subscribe", "stream": "nowhere"}),
            json.dumps({"type": "subscribe", "stream": "hashtag"}),
            json.dumps({"type": "subscribe", "stream": "hashtag", "tag": 5}),
            "x" * 20_000,
        ):
            ws.send_text(bad)
            answer = ws.receive_json()
            assert set(answer) == {"error"} and isinstance(answer["error"], str), bad
        ws.send_text(json.dumps({"type": "subscribe", "stream": "public"}))
        ws.send_text("still here?")
        assert set(ws.receive_json()) == {"error"}  # the socket stayed up


# --- against a real server ----------------------------------------------------


def _member(server: ServerProcess, username: str) -> tuple[str, int]:
    """A member's write token, and that token's id (to revoke it)."""
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        r = http.post("/api/cg/v1/accounts", json={"username": username, "password": PASSWORD})
        assert r.status_code == 201, r.text
        return _token(server, username)


def _token(server: ServerProcess, username: str) -> tuple[str, int]:
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        r = http.post(
            "/api/cg/v1/tokens",
            json={"username": username, "password": PASSWORD, "scope": "write"},
        )
        assert r.status_code == 201, r.text
        return r.json()["token"], r.json()["id"]


def _server(backend: str, request: pytest.FixtureRequest) -> ServerProcess:
    """SQLite (one worker), or PostgreSQL with two workers: a stream held by one
    worker hears what the other wrote only through LISTEN/NOTIFY."""
    if backend == "postgresql":
        url = request.getfixturevalue("fresh_postgres")
        return ServerProcess(database_url=url, env={"CG_WEB_WORKERS": "2"}, startup_timeout=90)
    return ServerProcess()


class Listener(mastodon.StreamListener):
    """What a Mastodon.py stream heard, in order, for the test to wait on."""

    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.live = threading.Event()

    def handle_heartbeat(self) -> None:
        self.live.set()  # the server's first comment: the stream is listening

    def on_update(self, status: Any) -> None:
        self.events.put(("update", status))

    def on_delete(self, status_id: Any) -> None:
        self.events.put(("delete", status_id))

    def on_status_update(self, status: Any) -> None:
        self.events.put(("status.update", status))

    def on_notification(self, notification: Any) -> None:
        self.events.put(("notification", notification))

    def next(self) -> tuple[str, Any]:
        try:
            return self.events.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError(f"nothing heard within {WAIT}s") from None


@contextlib.contextmanager
def _streaming(api: Any, listener: Listener) -> Iterator[None]:
    handle = api.stream_user(listener, run_async=True, reconnect_async=False, timeout=60)
    try:
        assert listener.live.wait(WAIT), "the stream did not start"
        yield
    finally:
        handle.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_mastodon_py_stream_user_hears_posts_edits_and_deletes(
    backend: str, request: pytest.FixtureRequest
) -> None:
    with _server(backend, request) as server:
        tokens = {name: _member(server, name)[0] for name in ("ada", "ben", "cyd")}
        apis = {
            name: mastodon.Mastodon(access_token=token, api_base_url=server.url)
            for name, token in tokens.items()
        }
        ada, ben, cyd = apis["ada"], apis["ben"], apis["cyd"]
        host = server.url.removeprefix("http://")
        assert ada.instance_v1()["urls"]["streaming_api"] == f"ws://{host}"
        v2 = httpx.get(f"{server.url}/api/v2/instance", timeout=30).json()
        assert v2["configuration"]["urls"]["streaming"] == f"ws://{host}"
        ben_id = ben.me()["id"]
        cyd_id = cyd.me()["id"]
        ada.account_follow(ben_id)
        ada.account_follow(cyd_id)
        ada.account_mute(cyd_id)

        listener = Listener()
        with _streaming(ada, listener):
            cyd.status_post("muted: never shown to ada")
            made = ben.status_post("the garden gate is open")
            name, status = listener.next()
            assert name == "update" and status["id"] == made["id"]  # not cyd's, before it
            assert status["account"]["acct"] == "ben"
            assert status["content"] == made["content"]

            edited = ben.status_update(made["id"], "the garden gate is shut")
            name, status = listener.next()
            assert name == "status.update" and status["id"] == made["id"]
            assert "shut" in status["content"] and status["edited_at"] is not None
            assert status["content"] == edited["content"]

            ben.status_delete(made["id"])
            name, status_id = listener.next()
            assert name == "delete" and str(status_id) == str(made["id"])

            own = ada.status_post("and my own words")
            name, status = listener.next()
            assert name == "update" and status["id"] == own["id"]

            mention = ben.status_post("@ada the gate again")
            heard = dict([listener.next(), listener.next()])
            assert set(heard) == {"notification", "update"}
            assert heard["update"]["id"] == mention["id"]
            note = heard["notification"]
            assert note["type"] == "mention" and note["status"]["id"] == mention["id"]
            assert note["account"]["acct"] == "ben"
            assert note["id"] == ada.notifications()[0]["id"]
            assert listener.events.empty()


def _ws_url(server: ServerProcess, query: str = "") -> str:
    return server.url.replace("http://", "ws://", 1) + "/api/v1/streaming" + query


def _receive(ws: Any) -> dict:
    return json.loads(ws.recv(timeout=WAIT))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_websocket_streams_with_the_token_as_subprotocol_and_subscribes_to_a_hashtag(
    backend: str, request: pytest.FixtureRequest
) -> None:
    with _server(backend, request) as server:
        ada_token, ada_token_id = _member(server, "ada")
        ben_token, _ = _member(server, "ben")
        ben = mastodon.Mastodon(access_token=ben_token, api_base_url=server.url)

        with pytest.raises(ws_errors.InvalidStatus) as refused:
            websockets_sync.connect(_ws_url(server, "?stream=public"), subprotocols=["cg_bad"])
        assert refused.value.response.status_code == 401
        r = httpx.get(f"{server.url}/api/v1/streaming/user", params={"access_token": "cg_x"})
        assert r.status_code == 401 and r.json() == {"error": "The access token is invalid"}

        with websockets_sync.connect(
            _ws_url(server, "?stream=public"), subprotocols=[ada_token], open_timeout=WAIT
        ) as ws:
            assert ws.subprotocol == ada_token  # echoed back, as Mastodon does
            first = ben.status_post("hello everyone")
            got = _receive(ws)
            assert got["stream"] == ["public"] and got["event"] == "update"
            assert json.loads(got["payload"])["id"] == first["id"]

            ws.send(json.dumps({"type": "subscribe", "stream": "hashtag", "tag": "Garden"}))
            ws.send("sync")  # answered in order: once it is, the subscription holds
            assert set(_receive(ws)) == {"error"}
            tagged = ben.status_post("seeds for the #garden")
            heard = {tuple(m["stream"]): m for m in (_receive(ws), _receive(ws))}
            assert set(heard) == {("public",), ("hashtag", "garden")}
            for m in heard.values():
                assert m["event"] == "update" and json.loads(m["payload"])["id"] == tagged["id"]

            ws.send(json.dumps({"type": "unsubscribe", "stream": "hashtag", "tag": "garden"}))
            ws.send("sync")
            assert set(_receive(ws)) == {"error"}
            again = ben.status_post("more #garden news")
            got = _receive(ws)
            assert got["stream"] == ["public"] and json.loads(got["payload"])["id"] == again["id"]
            marker = ben.status_post("a marker")
            got = _receive(ws)  # had the hashtag been heard, it would come before this
            assert got["stream"] == ["public"] and json.loads(got["payload"])["id"] == marker["id"]

            other_token, _ = _token(server, "ada")
            httpx.delete(
                f"{server.url}/api/cg/v1/me/tokens/{ada_token_id}",
                headers={"Authorization": f"Bearer {other_token}"},
                timeout=30,
            ).raise_for_status()
            ben.status_post("after the token was revoked")
            with pytest.raises(ws_errors.ConnectionClosed) as closed:
                _receive(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


@pytest.mark.slow
def test_a_revoked_token_ends_an_sse_stream_and_shutdown_ends_every_stream() -> None:
    with ServerProcess() as server:
        ada_token, ada_token_id = _member(server, "ada")
        ben_token, _ = _member(server, "ben")
        ben = {"Authorization": f"Bearer {ben_token}"}
        timeout = httpx.Timeout(10, read=WAIT)
        with (
            httpx.Client(base_url=server.url, timeout=timeout, trust_env=False) as http,
            http.stream(
                "GET", "/api/v1/streaming/public", headers={"Authorization": f"Bearer {ada_token}"}
            ) as r,
        ):
            assert r.status_code == 200
            lines = r.iter_lines()
            assert next(lines) == ":)"
            other_token, _ = _token(server, "ada")
            http.delete(
                f"/api/cg/v1/me/tokens/{ada_token_id}",
                headers={"Authorization": f"Bearer {other_token}"},
            ).raise_for_status()
            http.post("/api/v1/statuses", json={"status": "anyone?"}, headers=ben)
            rest = list(lines)  # ends: the token is no longer valid
            assert not any(line.startswith("event: update") for line in rest), rest

        with contextlib.ExitStack() as open_streams:
            held = open_streams.enter_context(
                websockets_sync.connect(
                    _ws_url(server, f"?stream=public&access_token={ben_token}"),
                    open_timeout=WAIT,
                )
            )
            sse = open_streams.enter_context(
                httpx.Client(base_url=server.url, timeout=timeout, trust_env=False)
            )
            response = open_streams.enter_context(
                sse.stream("GET", "/api/v1/streaming/user", headers=ben)
            )
            assert response.status_code == 200
            started = time.monotonic()
            server.stop()
            assert time.monotonic() - started < 12, "shutdown waited for the streams"
            with pytest.raises(ws_errors.ConnectionClosed):
                held.recv(timeout=WAIT)
            with contextlib.suppress(httpx.HTTPError):
                list(response.iter_lines())  # ends, rather than waiting for more


@pytest.mark.slow
def test_a_client_that_vanishes_mid_stream_leaves_no_error_behind() -> None:
    """A phone that loses its network drops the socket without a closing frame; the
    next event finds it gone. The server lets it go quietly (no traceback, no 500
    in its log) and keeps serving the others."""
    with ServerProcess() as server:
        ada_token, _ = _member(server, "ada")
        ben_token, _ = _member(server, "ben")
        ben = mastodon.Mastodon(access_token=ben_token, api_base_url=server.url)
        with websockets_sync.connect(
            _ws_url(server, "?stream=public"), subprotocols=[ada_token], open_timeout=WAIT
        ) as gone:
            ben.status_post("the first one arrives")
            assert _receive(gone)["event"] == "update"
            gone.socket.shutdown(socket.SHUT_RDWR)  # no closing handshake: the line just ends
            gone.socket.close()
        with websockets_sync.connect(
            _ws_url(server, "?stream=public"), subprotocols=[ben_token], open_timeout=WAIT
        ) as staying:
            for i in range(3):  # events the vanished client's task tries to send
                ben.status_post(f"anyone there? {i}")
                assert _receive(staying)["event"] == "update"
        time.sleep(0.5)
        assert "Traceback" not in server.output(), server.output()[-3000:]
