"""The SSRF-safe fetcher, exercised against real HTTP(S) servers on 127.0.0.x.

Nothing here mocks the network layer, and nothing contacts a non-loopback address:
"public" is simulated with a policy that treats 127.0.0.1 as public, while
127.0.0.2 (also loopback on Linux) plays the private network. Host names other
than ``localhost`` only ever go through an injected resolver.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from federation.fetcher import (
    AS2_ACCEPT,
    Fetcher,
    FetchError,
    SafeNetwork,
    check_jsonld,
    fetch_json,
    fetch_object,
    is_as2_media_type,
    is_public_address,
    make_client,
    normalize_host,
    origin,
    parse_media_type,
    same_origin,
)
from federation.vocab import AS_CONTEXT

AS2 = "application/activity+json"
LD_AS2 = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
# 127.0.0.1 is "the public internet"; everything else keeps the built-in rules.
PUBLIC_ONLY = SafeNetwork(allowed_networks=("127.0.0.1/32",), allow_http=True)
DEV = SafeNetwork(allow_private=True)


# --- a real HTTP server in a thread --------------------------------------------------------


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    client_port: int
    body: bytes = b""


Route = Callable[["Handler"], None]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection pooling is observable
    server: _HTTPServer

    def do_GET(self) -> None:
        self.answer(b"")

    def do_POST(self) -> None:
        # Read the body first, or a kept-alive connection's next request starts inside it.
        self.answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def answer(self, body: bytes) -> None:
        local = self.server.local
        headers = {k.lower(): v for k, v in self.headers.items()}
        local.requests.append(Seen(self.path, headers, self.client_address[1], body))
        route = local.routes.get(self.path)
        try:
            if route is None:
                self.reply(404, "text/plain", b"no such route")
            else:
                route(self)
        except OSError:  # the client gave up (deadline, size cap): expected here
            self.close_connection = True

    def reply(
        self, status: int, ctype: str, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    local: LocalServer


class LocalServer:
    """An http.server on ``host``; records every request it gets, routes by exact path."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None):
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self.release = threading.Event()  # wakes handlers that wait, at teardown
        self.stopped_early = threading.Event()
        self.httpd = _HTTPServer((host, port), Handler)
        self.httpd.local = self
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.host, self.port = host, self.httpd.server_address[1]
        self.scheme = "https" if tls else "http"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str, host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    @property
    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def respond(
    body: Any, ctype: str = AS2, status: int = 200, headers: dict[str, str] | None = None
) -> Route:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return lambda h: h.reply(status, ctype, raw, headers)


def redirect(location: str, status: int = 302) -> Route:
    return lambda h: h.reply(status, "text/plain", b"", {"Location": location})


def publish(server: LocalServer, path: str, ctype: str = AS2, **extra: Any) -> str:
    """Serve a Note at ``path`` whose id is its own URL; return that URL."""
    url = server.url(path)
    doc = {"@context": AS_CONTEXT, "id": url, "type": "Note", **extra}
    server.routes[path] = respond(doc, ctype)
    return url


async def refused(kind: str, awaitable: Any) -> FetchError:
    with pytest.raises(FetchError) as info:
        await awaitable
    assert info.value.kind == kind, str(info.value)
    return info.value


@pytest.fixture
def server() -> Iterator[LocalServer]:
    local = LocalServer()
    yield local
    local.close()


@pytest.fixture
def private_server(server: LocalServer) -> Iterator[LocalServer]:
    """127.0.0.2 on the same port as ``server``: where a rebound name would lead."""
    try:
        local = LocalServer("127.0.0.2", server.port)
    except OSError as exc:
        pytest.skip(f"cannot bind 127.0.0.2:{server.port}: {exc}")
    yield local
    local.close()


@pytest.fixture
async def dev() -> AsyncIterator[Fetcher]:
    async with Fetcher(DEV, timeout=5) as fetcher:
        yield fetcher


@pytest.fixture
async def public() -> AsyncIterator[Fetcher]:
    async with Fetcher(PUBLIC_ONLY, timeout=5) as fetcher:
        yield fetcher


def static_resolver(answers: dict[str, list[str]]) -> Callable[[str, int], Any]:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "not in the test resolver")
        return answers[host]

    return resolve


# --- good fetches --------------------------------------------------------------------------


async def test_fetches_as2_object_when_private_addresses_allowed(
    server: LocalServer, dev: Fetcher
) -> None:
    url = publish(server, "/notes/1", content="hello")
    doc = await fetch_object(dev, url)
    assert doc["content"] == "hello" and doc["id"] == url
    sent = server.requests[0].headers
    assert sent["accept"] == AS2_ACCEPT
    assert sent["accept-encoding"] == "identity"
    assert sent["user-agent"].startswith("Commonground/")
    assert sent["host"] == f"127.0.0.1:{server.port}"


@pytest.mark.parametrize(
    "ctype",
    [AS2, f"{AS2}; charset=utf-8", LD_AS2, 'Application/LD+JSON;Profile="x ' + AS_CONTEXT + '"'],
)
async def test_accepts_as2_content_types(server: LocalServer, dev: Fetcher, ctype: str) -> None:
    url = publish(server, "/n", ctype=ctype)
    assert (await fetch_object(dev, url))["id"] == url


async def test_connections_are_pooled(server: LocalServer, dev: Fetcher) -> None:
    first, second = publish(server, "/a"), publish(server, "/b")
    await fetch_object(dev, first)
    await fetch_object(dev, second)
    assert len({seen.client_port for seen in server.requests}) == 1


async def test_fetch_object_accepts_a_client_from_make_client(server: LocalServer) -> None:
    url = publish(server, "/n")
    async with make_client(DEV, timeout=5) as client:
        assert (await fetch_object(client, url))["id"] == url


async def test_plain_httpx_client_is_refused() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(TypeError, match="make_client"):
            await fetch_object(client, "https://example.com/x")  # type: ignore[arg-type]


async def test_fetch_json_for_webfinger_and_nodeinfo(server: LocalServer, dev: Fetcher) -> None:
    server.routes["/wf"] = respond({"subject": "acct:a@x"}, "application/jrd+json")
    server.routes["/ni"] = respond({"version": "2.1"}, "application/json; profile=nodeinfo")
    assert await fetch_json(dev, server.url("/wf")) == {"subject": "acct:a@x"}
    assert await fetch_json(dev, server.url("/ni")) == {"version": "2.1"}
    server.routes["/html"] = respond(b"<html></html>", "text/html")
    await refused("bad_content_type", fetch_json(dev, server.url("/html")))
    server.routes["/list"] = respond([1, 2], "application/json")
    await refused("invalid_json", fetch_json(dev, server.url("/list")))


# --- address policy on real connections ----------------------------------------------------


async def test_private_address_refused_before_any_request(server: LocalServer) -> None:
    url = publish(server, "/n")
    async with Fetcher(SafeNetwork(allow_http=True), timeout=5) as strict:
        error = await refused("blocked_address", fetch_object(strict, url))
    assert server.requests == []
    assert error.url == url and not error.retryable


async def test_plain_http_refused_by_default(server: LocalServer) -> None:
    url = publish(server, "/n")
    async with Fetcher(SafeNetwork(), timeout=5) as strict:
        await refused("bad_scheme", fetch_object(strict, url))
    assert server.requests == []


async def test_hostname_resolving_to_loopback_refused_at_connect_time(server: LocalServer) -> None:
    url = f"http://localhost:{server.port}/n"
    policy = SafeNetwork(allow_http=True)
    policy.check_url(url)  # nothing about the *name* is wrong; only its address is
    async with Fetcher(policy, timeout=5) as strict:
        await refused("blocked_address", fetch_object(strict, url))
    assert server.requests == []


async def test_any_private_answer_refuses_the_name(server: LocalServer) -> None:
    resolver = static_resolver({"mixed.test": ["127.0.0.1", "127.0.0.2"]})
    async with make_client(PUBLIC_ONLY, timeout=5, resolver=resolver) as client:
        await refused("blocked_address", fetch_object(client, f"http://mixed.test:{server.port}/n"))
    assert server.requests == []


async def test_dns_rebinding_is_caught_on_the_next_connection(
    server: LocalServer, private_server: LocalServer
) -> None:
    answers = iter([["127.0.0.1"], ["127.0.0.2"]])

    async def rebinding(host: str, port: int) -> list[str]:
        assert host == "rebind.test"
        return next(answers)

    url = f"http://rebind.test:{server.port}/n"
    doc = {"id": url, "type": "Note"}
    # Connection: close forces a new connection, hence a new resolution, per fetch.
    for local in (server, private_server):
        local.routes["/n"] = respond(doc, headers={"Connection": "close"})
    async with make_client(PUBLIC_ONLY, timeout=5, resolver=rebinding) as client:
        assert (await fetch_object(client, url))["id"] == url
        await refused("blocked_address", fetch_object(client, url))
    assert server.paths == ["/n"]
    assert private_server.requests == []


async def test_unresolvable_name_is_a_network_error(server: LocalServer) -> None:
    async with make_client(PUBLIC_ONLY, timeout=5, resolver=static_resolver({})) as client:
        error = await refused("network", fetch_object(client, "http://nowhere.test/n"))
    assert error.retryable


async def test_direct_client_use_is_protected_too(server: LocalServer) -> None:
    """Delivery code POSTs with the client itself; the same checks apply."""
    async with make_client(SafeNetwork(allow_http=True), timeout=5) as client:
        error = await refused("blocked_address", client.post(server.url("/inbox"), content=b"{}"))
        assert error.url == server.url("/inbox")
    async with make_client(SafeNetwork(), timeout=5) as client:
        await refused("bad_scheme", client.post(server.url("/inbox"), content=b"{}"))
    assert server.requests == []


async def test_no_cookies_are_kept(server: LocalServer, dev: Fetcher) -> None:
    first = server.url("/a")
    server.routes["/a"] = respond({"id": first}, headers={"Set-Cookie": "track=1; Path=/"})
    second = publish(server, "/b")
    await fetch_object(dev, first)
    await fetch_object(dev, second)
    assert "cookie" not in server.requests[1].headers


# --- redirects -----------------------------------------------------------------------------


async def test_two_redirects_are_followed(server: LocalServer, dev: Fetcher) -> None:
    final = publish(server, "/final")
    server.routes["/r1"] = redirect(server.url("/r2"), 301)
    server.routes["/r2"] = redirect("/final", 308)  # relative Location
    assert (await fetch_object(dev, server.url("/r1")))["id"] == final
    assert server.paths == ["/r1", "/r2", "/final"]


async def test_three_redirects_are_refused(server: LocalServer, dev: Fetcher) -> None:
    publish(server, "/final")
    server.routes["/r1"] = redirect("/r2")
    server.routes["/r2"] = redirect("/r3")
    server.routes["/r3"] = redirect("/final")
    await refused("too_many_redirects", fetch_object(dev, server.url("/r1")))
    assert "/final" not in server.paths


async def test_redirect_to_private_address_is_refused(
    server: LocalServer, private_server: LocalServer, public: Fetcher
) -> None:
    target = publish(private_server, "/secret")
    server.routes["/r"] = redirect(target)
    await refused("blocked_address", fetch_object(public, server.url("/r")))
    assert private_server.requests == []
    # ...while the "public" host itself is fine under the same policy.
    assert await fetch_object(public, publish(server, "/ok"))


@pytest.mark.parametrize(
    ("location", "kind"),
    [
        ("file:///etc/passwd", "bad_scheme"),
        ("gopher://127.0.0.1:70/", "bad_scheme"),
        ("http://user@127.0.0.1/", "bad_url"),
        ("http://127.1/", "bad_url"),
    ],
)
async def test_redirect_target_is_revalidated(
    server: LocalServer, dev: Fetcher, location: str, kind: str
) -> None:
    server.routes["/r"] = redirect(location)
    await refused(kind, fetch_object(dev, server.url("/r")))
    assert server.paths == ["/r"]


async def test_https_to_http_redirect_refused_when_http_not_allowed(server: LocalServer) -> None:
    """Here the first hop is refused too; the point is the scheme rule has no exceptions."""
    async with Fetcher(SafeNetwork(allowed_networks=("127.0.0.1/32",)), timeout=5) as https_only:
        await refused("bad_scheme", fetch_object(https_only, server.url("/n")))


async def test_redirect_without_location(server: LocalServer, dev: Fetcher) -> None:
    server.routes["/r"] = respond(b"", "text/plain", status=302)
    error = await refused("http_status", fetch_object(dev, server.url("/r")))
    assert error.status == 302


# --- sign hook -----------------------------------------------------------------------------


async def test_sign_hook_signs_every_hop(server: LocalServer, dev: Fetcher) -> None:
    final = publish(server, "/final")
    server.routes["/r"] = redirect("/final")
    calls: list[tuple[str, str, dict[str, str]]] = []

    def sign(method: str, url: str, headers: dict[str, str]) -> dict[str, str]:
        calls.append((method, url, headers))
        return {**headers, "Signature": f"sig {url}"}

    await fetch_object(dev, server.url("/r"), sign=sign)
    assert [(m, u) for m, u, _ in calls] == [("GET", server.url("/r")), ("GET", final)]
    assert calls[0][2]["Accept"] == AS2_ACCEPT
    assert [s.headers["signature"] for s in server.requests] == [
        f"sig {server.url('/r')}",
        f"sig {final}",
    ]


async def test_async_sign_hook(server: LocalServer, dev: Fetcher) -> None:
    url = publish(server, "/n")

    async def sign(method: str, url: str, headers: dict[str, str]) -> dict[str, str]:
        await asyncio.sleep(0)
        return {**headers, "Signature": "async"}

    await fetch_object(dev, url, sign=sign)
    assert server.requests[0].headers["signature"] == "async"


# --- what comes back -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "ctype",
    [
        "text/html",
        "application/json",
        "application/ld+json",
        'application/ld+json; profile="https://example.com/not-as2"',
        "",
    ],
)
async def test_wrong_content_type(server: LocalServer, dev: Fetcher, ctype: str) -> None:
    url = publish(server, "/n", ctype=ctype)
    await refused("bad_content_type", fetch_object(dev, url))


async def test_id_mismatch(server: LocalServer, dev: Fetcher) -> None:
    url = server.url("/n")
    for doc in (
        {"id": server.url("/other")},
        {"id": url + "/"},
        {"id": url.replace("/n", "/N")},
        {"type": "Note"},
        {"id": [url]},
        {"id": url, "@id": server.url("/other")},
    ):
        server.routes["/n"] = respond(doc)
        await refused("id_mismatch", fetch_object(dev, url))


async def test_id_must_be_the_final_url_after_redirect(server: LocalServer, dev: Fetcher) -> None:
    old, new = server.url("/old"), server.url("/new")
    server.routes["/old"] = redirect(new)
    server.routes["/new"] = respond({"id": old, "type": "Note"})
    await refused("id_mismatch", fetch_object(dev, old))
    server.routes["/new"] = respond({"id": new, "type": "Note"})
    assert (await fetch_object(dev, old))["id"] == new


@pytest.mark.parametrize(
    "extra",
    [
        {"@graph": [{"id": "https://victim.example/users/admin"}]},
        {"object": {"type": "Note", "@graph": []}},
        {"tag": [{"type": "Mention"}, {"@reverse": {"as:attributedTo": {}}}]},
        {"@included": [{"id": "https://victim.example/x"}]},
        {"@context": [AS_CONTEXT, {"g": "@graph"}]},
        {"@context": {"r": {"@reverse": "as:actor"}}},
    ],
)
async def test_forbidden_jsonld(server: LocalServer, dev: Fetcher, extra: dict[str, Any]) -> None:
    url = server.url("/n")
    server.routes["/n"] = respond({"id": url, "type": "Note", **extra})
    await refused("jsonld_forbidden", fetch_object(dev, url))


async def test_invalid_json(server: LocalServer, dev: Fetcher) -> None:
    server.routes["/n"] = respond(b'{"id": "x", ', AS2)
    await refused("invalid_json", fetch_object(dev, server.url("/n")))


@pytest.mark.parametrize("body", [b"[]", b'"a string"', b"1", b"null", b"NaN", b"\xff\xfe"])
async def test_non_object_json(server: LocalServer, dev: Fetcher, body: bytes) -> None:
    server.routes["/n"] = respond(body, AS2)
    await refused("invalid_json", fetch_object(dev, server.url("/n")))


@pytest.mark.parametrize(("status", "retryable"), [(404, False), (410, False), (500, True)])
async def test_http_error_status(
    server: LocalServer, dev: Fetcher, status: int, retryable: bool
) -> None:
    server.routes["/n"] = respond({"error": "x"}, status=status)
    error = await refused("http_status", fetch_object(dev, server.url("/n")))
    assert error.status == status and error.retryable is retryable


async def test_compressed_body_refused(server: LocalServer, dev: Fetcher) -> None:
    server.routes["/n"] = respond(b"\x1f\x8b...", headers={"Content-Encoding": "gzip"})
    await refused("bad_encoding", fetch_object(dev, server.url("/n")))


# --- limits --------------------------------------------------------------------------------


async def test_body_limit_boundary(server: LocalServer) -> None:
    url = server.url("/n")
    limit = 2000

    def padded(size: int) -> bytes:
        base = json.dumps({"id": url, "content": ""}).encode()
        return json.dumps({"id": url, "content": "x" * (size - len(base))}).encode()

    async with Fetcher(DEV, timeout=5, max_bytes=limit) as small:
        server.routes["/n"] = respond(padded(limit))
        assert await fetch_object(small, url)
        server.routes["/n"] = respond(padded(limit + 1))
        await refused("too_large", fetch_object(small, url))


async def test_declared_content_length_over_limit_refused_up_front(
    server: LocalServer, dev: Fetcher
) -> None:
    def promise_2mb(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", AS2)
        h.send_header("Content-Length", "2000000")
        h.end_headers()
        h.server.local.release.wait(10)  # never sends the body

    server.routes["/n"] = promise_2mb
    started = time.monotonic()
    await refused("too_large", fetch_object(dev, server.url("/n")))
    assert time.monotonic() - started < 2


async def test_endless_body_without_length_is_cut_off(server: LocalServer, dev: Fetcher) -> None:
    def endless(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", AS2)
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        chunk = b" " * 65536
        try:
            for _ in range(1024):  # 64 MiB, far beyond any socket buffer
                h.wfile.write(chunk)
        except OSError:
            h.server.local.stopped_early.set()

    server.routes["/n"] = endless
    await refused("too_large", fetch_object(dev, server.url("/n")))
    assert await asyncio.to_thread(server.stopped_early.wait, 10), "client kept reading"


async def test_timeout_when_server_never_answers(server: LocalServer) -> None:
    server.routes["/n"] = lambda h: h.server.local.release.wait(10)
    async with Fetcher(DEV, timeout=0.5) as quick:
        started = time.monotonic()
        error = await refused("timeout", fetch_object(quick, server.url("/n")))
    assert time.monotonic() - started < 3
    assert error.retryable


async def test_total_deadline_beats_a_slow_drip(server: LocalServer) -> None:
    """Each read is quick, so only the per-fetch deadline can stop this."""

    def drip(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", AS2)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        for _ in range(1000):
            if h.server.local.release.wait(0.1):
                return
            h.wfile.write(b" ")

    server.routes["/n"] = drip
    async with Fetcher(DEV, timeout=1.0) as quick:
        started = time.monotonic()
        await refused("timeout", fetch_object(quick, server.url("/n")))
    assert time.monotonic() - started < 3


# --- TLS keeps the real host name ----------------------------------------------------------


def make_tls(tmp_path: Path, hostname: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throwaway CA and a certificate for ``hostname``: (server context, client context)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fetcher test CA")])
    usage = dict.fromkeys(
        (
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **usage),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (tmp_path / "cert.pem").write_bytes(leaf.public_bytes(pem))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    client_ctx = ssl.create_default_context(cadata=ca.public_bytes(pem).decode())
    return server_ctx, client_ctx


async def test_tls_uses_the_original_host_name(tmp_path: Path) -> None:
    server_ctx, client_ctx = make_tls(tmp_path, "good.test")
    sni: list[str | None] = []
    server_ctx.sni_callback = lambda _sock, name, _ctx: sni.append(name)
    local = LocalServer(tls=server_ctx)
    try:
        url = local.url("/n", host="good.test")
        local.routes["/n"] = respond({"id": url, "type": "Note"})
        resolver = static_resolver({"good.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
        policy = SafeNetwork(allowed_networks=("127.0.0.1/32",))  # https only
        async with make_client(policy, timeout=5, ssl_context=client_ctx, resolver=resolver) as c:
            assert (await fetch_object(c, url))["id"] == url
            assert sni == ["good.test"]
            assert local.requests[0].headers["host"] == f"good.test:{local.port}"
            # Same address, other name: the certificate is checked against the name.
            await refused("network", fetch_object(c, local.url("/n", host="other.test")))
    finally:
        local.close()


# --- pure policy checks (no sockets) -------------------------------------------------------

BLOCKED = [
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "127.0.0.1",
    "127.0.0.2",
    "169.254.169.254",
    "100.64.0.1",
    "100.127.255.254",
    "0.0.0.0",  # noqa: S104 - an address under test, not a bind
    "0.1.2.3",
    "192.0.0.1",
    "192.0.2.1",
    "198.18.0.1",
    "198.51.100.1",
    "203.0.113.1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "fe80::1",
    "fe80::1%eth0",
    "fd00::1",
    "fc00::1",
    "fec0::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::1",
    "2001:db8::1",
    "2001::1",
    "2002:7f00:1::1",
    "100::1",
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
]


@pytest.mark.parametrize("address", BLOCKED)
def test_non_public_addresses_are_blocked(address: str) -> None:
    assert not is_public_address(address)
    assert not SafeNetwork().address_allowed(address)
    assert SafeNetwork(allow_private=True).address_allowed(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public_address(address)
    assert SafeNetwork().address_allowed(address)


def test_policy_lists() -> None:
    policy = SafeNetwork(allowed_networks=("127.0.0.1/32",), denied_networks=("8.8.8.0/24",))
    assert policy.address_allowed("127.0.0.1")
    assert policy.address_allowed("::ffff:127.0.0.1")  # mapped form of an allowed address
    assert not policy.address_allowed("127.0.0.2")
    assert not policy.address_allowed("8.8.8.8")
    assert not policy.address_allowed("::ffff:8.8.8.8")
    assert not policy.address_allowed("not an address")
    denied = SafeNetwork(allow_private=True, denied_networks=("169.254.0.0/16",))
    assert denied.address_allowed("10.0.0.1")
    assert not denied.address_allowed("169.254.169.254")


def test_policy_from_env() -> None:
    assert SafeNetwork.from_env({}) == SafeNetwork()
    dev = SafeNetwork.from_env({"CG_ALLOW_PRIVATE_ADDRESSES": "1"})
    assert dev.allow_private and dev.http_allowed
    assert not SafeNetwork.from_env({"CG_ALLOW_PRIVATE_ADDRESSES": "0"}).allow_private
    assert not SafeNetwork().http_allowed
    assert SafeNetwork(allow_http=True).http_allowed
    assert not SafeNetwork(allow_private=True, allow_http=False).http_allowed


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("ftp://example.com/", "bad_scheme"),
        ("file:///etc/passwd", "bad_scheme"),
        ("javascript:alert(1)", "bad_scheme"),
        ("http://example.com/", "bad_scheme"),
        ("https://user:pw@example.com/", "bad_url"),
        ("https:///path", "bad_url"),
        ("https://example.com\t/", "bad_url"),
    ],
)
def test_check_url_refusals(url: str, kind: str) -> None:
    with pytest.raises(FetchError) as info:
        SafeNetwork().check_url(url)
    assert info.value.kind == kind


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("HTTPS://Example.COM/x", "example.com"),
        ("https://example.com./x", "example.com"),
        ("https://example.com:443/", "example.com"),
        ("https://example.com.:443/", "example.com"),
        ("https://example.com:0443/", "example.com"),
        ("http://example.com:80/", "example.com"),
        ("https://example.com:80/", "example.com:80"),
        ("http://example.com:443/", "example.com:443"),
        ("https://example.com:8443/", "example.com:8443"),
        ("https://Bücher.example/", "xn--bcher-kva.example"),
        ("https://XN--BCHER-KVA.example/", "xn--bcher-kva.example"),
        ("https://[::FFFF:127.0.0.1]:443/", "[::ffff:7f00:1]"),
        ("https://[2001:DB8:0:0::1]:8443/", "[2001:db8::1]:8443"),
        ("http://127.0.0.1:8000/", "127.0.0.1:8000"),
        ("https://under_score.example/", "under_score.example"),
    ],
)
def test_normalize_host(url: str, host: str) -> None:
    assert normalize_host(url) == host


@pytest.mark.parametrize(
    "url",
    [
        "https://evil@good.example/",
        "https://good.example@evil.example/",
        "https://good.example\\@evil.example/",
        "https://:@good.example/",
        "https://127.1/",
        "http://2130706433/",
        "http://0x7f.0.0.1/",
        "http://127.000.000.001/",
        "https://1.2.3.4.5/",
        "https://%67ood.example/",
        "https://example.com../",
        "https://-bad.example/",
        "https://a..b.example/",
        "https://good.example:99999/",
        "https://[fe80::1%25eth0]/",
        "https://ＥＸＡＭＰＬＥ.com/",
        "https:///x",
        "ftp://good.example/",
    ],
)
def test_normalize_host_refuses_tricky_urls(url: str) -> None:
    with pytest.raises(FetchError):
        normalize_host(url)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://Good.Example/a", "https://good.example./b?c#d"),
        ("https://good.example:443/", "https://good.example/"),
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
    ],
)
def test_same_origin(a: str, b: str) -> None:
    assert same_origin(a, b)
    assert origin(a) == origin(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://evil@good.example/", "https://good.example/"),
        ("https://good.example@evil.example/", "https://good.example/"),
        ("https://good.example\\@evil.example/", "https://good.example/"),
        ("http://good.example/", "https://good.example/"),
        ("https://good.example:8443/", "https://good.example/"),
        ("https://good.example.evil.example/", "https://good.example/"),
        ("https://evilgood.example/", "https://good.example/"),
        ("not a url", "not a url"),
        ("https://127.1/", "https://127.0.0.1/"),
    ],
)
def test_not_same_origin(a: str, b: str) -> None:
    assert not same_origin(a, b)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (AS2, True),
        ("Application/Activity+JSON; charset=utf-8", True),
        (LD_AS2, True),
        (f'application/ld+json;profile="{AS_CONTEXT} https://w3id.org/security/v1"', True),
        (f"application/ld+json; profile={AS_CONTEXT}", False),  # unquoted: "/" is no token
        ("application/ld+json", False),
        (f'application/ld+json; profile="{AS_CONTEXT}x"', False),
        (f'application/json; profile="{AS_CONTEXT}"', False),
        ("text/html; activitystreams", False),
        ("", False),
    ],
)
def test_is_as2_media_type(value: str, expected: bool) -> None:
    assert is_as2_media_type(value) is expected


def test_parse_media_type() -> None:
    assert parse_media_type('Text/HTML; Charset="utf-8" ; q=1') == (
        "text/html",
        {"charset": "utf-8", "q": "1"},
    )
    assert parse_media_type('a/b; p="x\\"y;z"') == ("a/b", {"p": 'x"y;z'})


def test_check_jsonld_allows_keyword_lookalikes_outside_context() -> None:
    check_jsonld({"tag": [{"type": "Mention", "name": "@graph"}], "content": "@reverse"})
    check_jsonld({"@context": [AS_CONTEXT, {"graph": "as:graph"}]})


def test_check_jsonld_depth_is_bounded() -> None:
    deep: Any = {}
    node = deep
    for _ in range(100):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(FetchError) as info:
        check_jsonld(deep)
    assert info.value.kind == "too_deep"
    check_jsonld(deep, max_depth=200)


def test_fetch_error_text() -> None:
    error = FetchError("too_large", "body exceeds 10 bytes", "https://a.example/x")
    assert str(error) == "too_large: body exceeds 10 bytes (https://a.example/x)"
    assert not error.retryable
    assert FetchError("http_status", "HTTP 429", status=429).retryable
