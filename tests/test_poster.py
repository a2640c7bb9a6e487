"""The delivery client (federation/poster.py) under the fetcher's rules, against
real HTTP(S) servers on 127.0.0.x, exactly as tests/test_fetcher.py checks the
fetcher: 127.0.0.1 plays "the public internet" through the policy, 127.0.0.2 the
private network, and names other than ``localhost`` only go through an injected
resolver. Nothing is mocked and nothing leaves loopback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from federation.fetcher import SafeNetwork
from federation.poster import SafePoster
from tests.test_fetcher import (
    DEV,
    PUBLIC_ONLY,
    Handler,
    LocalServer,
    make_tls,
    private_server,
    redirect,
    refused,
    respond,
    server,
    static_resolver,
)

__all__ = ["private_server", "server"]  # fixtures, used by name
BODY = b'{"type": "Create"}'
HEADERS = {"Content-Type": "application/activity+json"}


@pytest.fixture
async def dev() -> AsyncIterator[SafePoster]:
    poster = SafePoster(DEV, timeout=5)
    yield poster
    await poster.aclose()


async def test_posts_body_and_headers_and_returns_the_answer(
    server: LocalServer, dev: SafePoster
) -> None:
    server.routes["/inbox"] = respond(b"", "text/plain", 202, {"Retry-After": "7"})
    answer = await dev.post(server.url("/inbox"), BODY, {**HEADERS, "Signature": "sig"})
    assert answer.status == 202
    assert answer.headers["retry-after"] == "7"
    seen = server.requests[0]
    assert seen.path == "/inbox" and seen.body == BODY
    assert seen.headers["signature"] == "sig"
    assert seen.headers["content-type"] == "application/activity+json"
    assert seen.headers["content-length"] == str(len(BODY))
    assert seen.headers["accept-encoding"] == "identity"
    assert seen.headers["user-agent"].startswith("Commonground/")


async def test_the_url_is_sent_as_signed(server: LocalServer, dev: SafePoster) -> None:
    """The signature covers the request target: it must not be re-quoted."""
    path = "/users/a%2Fb/inbox?x=%41"
    server.routes[path] = respond(b"", "text/plain", 202)
    assert (await dev.post(server.url(path), BODY, HEADERS)).status == 202
    assert server.paths == [path]


async def test_connections_are_pooled(server: LocalServer, dev: SafePoster) -> None:
    server.routes["/inbox"] = respond(b"ok", "text/plain", 202)
    for _ in range(3):
        await dev.post(server.url("/inbox"), BODY, HEADERS)
    assert len({seen.client_port for seen in server.requests}) == 1


async def test_no_cookies_are_kept(server: LocalServer, dev: SafePoster) -> None:
    server.routes["/inbox"] = respond(b"", "text/plain", 202, {"Set-Cookie": "track=1; Path=/"})
    await dev.post(server.url("/inbox"), BODY, HEADERS)
    await dev.post(server.url("/inbox"), BODY, HEADERS)
    assert "cookie" not in server.requests[1].headers


async def test_redirects_are_not_followed(server: LocalServer, dev: SafePoster) -> None:
    server.routes["/inbox"] = redirect(server.url("/elsewhere"), 307)
    answer = await dev.post(server.url("/inbox"), BODY, HEADERS)
    assert answer.status == 307
    assert server.paths == ["/inbox"]


# --- address policy on real connections ----------------------------------------------------


async def test_private_address_refused_before_any_request(server: LocalServer) -> None:
    poster = SafePoster(SafeNetwork(allow_http=True), timeout=5)
    try:
        error = await refused("blocked_address", poster.post(server.url("/inbox"), BODY, HEADERS))
    finally:
        await poster.aclose()
    assert server.requests == []
    assert error.url == server.url("/inbox") and not error.retryable


async def test_plain_http_refused_by_default(server: LocalServer) -> None:
    poster = SafePoster(SafeNetwork(), timeout=5)
    try:
        await refused("bad_scheme", poster.post(server.url("/inbox"), BODY, HEADERS))
        await refused("bad_url", poster.post("https://u:p@example.org/inbox", BODY, HEADERS))
    finally:
        await poster.aclose()
    assert server.requests == []


async def test_hostname_resolving_to_loopback_refused_at_connect_time(server: LocalServer) -> None:
    url = f"http://localhost:{server.port}/inbox"
    policy = SafeNetwork(allow_http=True)
    policy.check_url(url)  # nothing about the *name* is wrong; only its address is
    poster = SafePoster(policy, timeout=5)
    try:
        error = await refused("blocked_address", poster.post(url, BODY, HEADERS))
    finally:
        await poster.aclose()
    assert server.requests == [] and error.url == url


async def test_any_private_answer_refuses_the_name(server: LocalServer) -> None:
    resolver = static_resolver({"mixed.test": ["127.0.0.1", "127.0.0.2"]})
    poster = SafePoster(PUBLIC_ONLY, timeout=5, resolver=resolver)
    try:
        url = f"http://mixed.test:{server.port}/inbox"
        await refused("blocked_address", poster.post(url, BODY, HEADERS))
    finally:
        await poster.aclose()
    assert server.requests == []


async def test_dns_rebinding_is_caught_on_the_next_connection(
    server: LocalServer, private_server: LocalServer
) -> None:
    answers = iter([["127.0.0.1"], ["127.0.0.2"]])

    async def rebinding(host: str, port: int) -> list[str]:
        assert host == "rebind.test"
        return next(answers)

    url = f"http://rebind.test:{server.port}/inbox"
    # Connection: close forces a new connection, hence a new resolution, per POST.
    for local in (server, private_server):
        local.routes["/inbox"] = respond(b"", "text/plain", 202, {"Connection": "close"})
    poster = SafePoster(PUBLIC_ONLY, timeout=5, resolver=rebinding)
    try:
        assert (await poster.post(url, BODY, HEADERS)).status == 202
        await refused("blocked_address", poster.post(url, BODY, HEADERS))
    finally:
        await poster.aclose()
    assert server.paths == ["/inbox"]
    assert private_server.requests == []


async def test_unresolvable_name_is_a_network_error() -> None:
    poster = SafePoster(PUBLIC_ONLY, timeout=5, resolver=static_resolver({}))
    try:
        error = await refused("network", poster.post("http://nowhere.test/inbox", BODY, HEADERS))
    finally:
        await poster.aclose()
    assert error.retryable


async def test_refused_connection_is_a_network_error(dev: SafePoster) -> None:
    closed = LocalServer()
    url = closed.url("/inbox")
    closed.close()
    error = await refused("network", dev.post(url, BODY, HEADERS))
    assert error.retryable


# --- limits --------------------------------------------------------------------------------


async def test_answer_body_is_read_only_up_to_the_cap(server: LocalServer) -> None:
    def endless(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        chunk = b" " * 65536
        try:
            for _ in range(1024):  # 64 MiB, far beyond any socket buffer
                h.wfile.write(chunk)
        except OSError:
            h.server.local.stopped_early.set()

    server.routes["/inbox"] = endless
    poster = SafePoster(DEV, timeout=5, max_answer_bytes=1000)
    try:
        assert (await poster.post(server.url("/inbox"), BODY, HEADERS)).status == 200
    finally:
        await poster.aclose()
    assert await asyncio.to_thread(server.stopped_early.wait, 10), "client kept reading"


async def test_declared_answer_over_the_cap_is_not_waited_for(
    server: LocalServer, dev: SafePoster
) -> None:
    def promise_2mb(h: Handler) -> None:
        h.send_response(202)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", "2000000")
        h.end_headers()
        h.server.local.release.wait(10)  # never sends the body

    server.routes["/inbox"] = promise_2mb
    started = time.monotonic()
    assert (await dev.post(server.url("/inbox"), BODY, HEADERS)).status == 202
    assert time.monotonic() - started < 2


async def test_timeout_when_server_never_answers(server: LocalServer) -> None:
    server.routes["/inbox"] = lambda h: h.server.local.release.wait(10)
    poster = SafePoster(DEV, timeout=0.5)
    try:
        started = time.monotonic()
        error = await refused("timeout", poster.post(server.url("/inbox"), BODY, HEADERS))
    finally:
        await poster.aclose()
    assert time.monotonic() - started < 3
    assert error.retryable


async def test_total_deadline_beats_a_slow_drip(server: LocalServer) -> None:
    """Each read is quick, so only the per-request deadline can stop this."""

    def drip(h: Handler) -> None:
        h.send_response(202)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", "1000")
        h.end_headers()
        for _ in range(1000):
            if h.server.local.release.wait(0.1):
                return
            h.wfile.write(b" ")

    server.routes["/inbox"] = drip
    poster = SafePoster(DEV, timeout=1.0)
    try:
        started = time.monotonic()
        await refused("timeout", poster.post(server.url("/inbox"), BODY, HEADERS))
    finally:
        await poster.aclose()
    assert time.monotonic() - started < 3


# --- TLS keeps the real host name ----------------------------------------------------------


async def test_tls_uses_the_original_host_name(tmp_path: Path) -> None:
    server_ctx, client_ctx = make_tls(tmp_path, "good.test")
    sni: list[str | None] = []
    server_ctx.sni_callback = lambda _sock, name, _ctx: sni.append(name)
    local = LocalServer(tls=server_ctx)
    resolver = static_resolver({"good.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    policy = SafeNetwork(allowed_networks=("127.0.0.1/32",))  # https only
    poster = SafePoster(policy, timeout=5, ssl_context=client_ctx, resolver=resolver)
    try:
        local.routes["/inbox"] = respond(b"", "text/plain", 202)
        answer = await poster.post(local.url("/inbox", host="good.test"), BODY, HEADERS)
        assert answer.status == 202
        assert sni == ["good.test"]
        assert local.requests[0].headers["host"] == f"good.test:{local.port}"
        # Same address, other name: the certificate is checked against the name.
        await refused("network", poster.post(local.url("/inbox", host="other.test"), BODY, HEADERS))
        assert len(local.requests) == 1
    finally:
        await poster.aclose()
        local.close()
