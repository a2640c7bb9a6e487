"""The one SSRF-safe way to fetch from (or connect to) other servers.

Every outbound federation GET — key and actor fetches, object fetches,
WebFinger/NodeInfo lookups, media — goes through a :class:`SafeClient` built by
:func:`make_client`, and every delivery POST through
:class:`federation.poster.SafePoster`, which takes its rules from here (the
:class:`SafeNetwork` policy and :func:`allowed_addresses`); so a remote party can
never make this server talk to its own private network.

Layers, from the socket up:

* :class:`SafeNetworkBackend` (an httpcore network backend) resolves every
  host name itself *at connect time*, checks every resolved address against a
  :class:`SafeNetwork` policy and then connects to that exact address. Checking
  the URL's host name up front is not enough: DNS can answer differently
  between the check and the connect (DNS rebinding). TLS SNI, certificate
  verification and the ``Host`` header still use the original name.
* :class:`SafeTransport` puts an ``httpcore.AsyncConnectionPool`` (keep-alive,
  HTTP/1.1 only) on that backend and refuses disallowed schemes and URLs with
  credentials, so even code that calls ``client.post`` directly is protected.
* :class:`Fetcher` adds what a *fetch* needs: manual redirects (each hop
  re-validated), a total deadline, a body size cap and content-type checks.
  :func:`fetch_object` and :func:`fetch_json` are the entry points.

Every refusal or failure is a :class:`FetchError` with a stable ``kind``.
"""

from __future__ import annotations

import functools
import inspect
import ipaddress
import os
import re
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Any, Literal, Self

import anyio
import httpcore
import httpx
import orjson

from app import __version__, safejson
from federation.vocab import AS2_TYPE, AS_CONTEXT, JRD_TYPE, LD_TYPE

__all__ = [
    "AS2_ACCEPT",
    "DEFAULT_TIMEOUT",
    "FORBIDDEN_JSONLD_KEYWORDS",
    "JSON_ACCEPT",
    "MAX_BODY_BYTES",
    "MAX_REDIRECTS",
    "FetchError",
    "FetchErrorKind",
    "plain_reason",
    "Fetched",
    "Fetcher",
    "SafeClient",
    "SafeNetwork",
    "SafeNetworkBackend",
    "SafeTransport",
    "allowed_addresses",
    "check_jsonld",
    "fetch_json",
    "fetch_object",
    "is_as2_media_type",
    "is_public_address",
    "make_client",
    "normalize_host",
    "origin",
    "parse_media_type",
    "read_limited",
    "refuse_address",
    "same_origin",
    "system_resolver",
]

DEFAULT_TIMEOUT = 10.0
MAX_BODY_BYTES = 1_048_576
MAX_REDIRECTS = 2
MAX_JSON_DEPTH = safejson.MAX_JSON_DEPTH
AS2_ACCEPT = f"{AS2_TYPE}, {LD_TYPE}"
JSON_ACCEPT = f"{JRD_TYPE}, application/json"
JSON_MEDIA_TYPES = frozenset({JRD_TYPE, "application/json"})
FORBIDDEN_JSONLD_KEYWORDS = frozenset({"@graph", "@reverse", "@included"})
ALLOW_PRIVATE_ENV = "CG_ALLOW_PRIVATE_ADDRESSES"
DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_TRUTHY = frozenset({"1", "true", "yes", "on"})

FetchErrorKind = Literal[
    "blocked_address",  # a resolved address is not public (SSRF guard)
    "bad_scheme",  # not http(s), or http where only https is allowed
    "bad_url",  # unparsable URL, odd host syntax, or credentials in the URL
    "too_many_redirects",
    "too_large",  # body or declared Content-Length over the cap
    "bad_content_type",
    "bad_encoding",  # compressed body although we asked for identity
    "id_mismatch",  # document id is not the URL it was fetched from
    "jsonld_forbidden",  # @graph / @reverse / @included (or an alias) present
    "too_deep",  # JSON nested deeper than we are willing to inspect
    "http_status",  # non-2xx final status (see ``status``)
    "timeout",
    "invalid_json",  # not JSON, or not a JSON object
    "network",  # DNS failure, refused connection, TLS failure, protocol error
    "bad_document",  # fetched fine, but not the kind of document asked for
]

_UNUSABLE = "That server answered, but not with anything we can use here."
PLAIN_REASONS: dict[str, str] = {
    "network": "We couldn't reach that server. Check the address, or try again later.",
    "timeout": "That server took too long to answer. Try again later.",
    "blocked_address": "That address is on a private network, which this server never contacts.",
    "bad_scheme": "That address must start with https://.",
    "bad_url": "That isn't an address we can look up: write name@example.org or an https:// link.",
}


class FetchError(Exception):
    """Why a remote request was refused or failed.

    ``kind`` is a stable machine-readable reason (see :data:`FetchErrorKind`) so
    callers can log, count and decide (retry, give up, block) without parsing text.
    """

    def __init__(
        self, kind: FetchErrorKind, message: str, url: str = "", *, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.kind: FetchErrorKind = kind
        self.message = message
        self.url = url
        self.status = status

    def __str__(self) -> str:
        where = f" ({self.url})" if self.url else ""
        return f"{self.kind}: {self.message}{where}"

    @property
    def retryable(self) -> bool:
        """Might the same request succeed later? Policy refusals never will."""
        if self.kind in ("timeout", "network"):
            return True
        return (
            self.kind == "http_status"
            and self.status is not None
            and (self.status >= 500 or self.status == 429)
        )


def plain_reason(exc: FetchError) -> str:
    """What a person is told when a remote request failed (the kind, in words,
    without exception names or errno codes; the technical text is for logs)."""
    if exc.kind == "http_status" and exc.status in (404, 410):
        return "That server has nothing at that address (no such account or community)."
    if exc.kind == "http_status" and exc.status is not None and exc.status >= 500:
        return "That server had a problem answering. Try again later."
    return PLAIN_REASONS.get(exc.kind, _UNUSABLE)


# --- addresses ---------------------------------------------------------------------------

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Our own tables (from the IANA special-purpose registries) rather than only the
# stdlib's is_global, whose answers have changed between Python patch releases.
_BLOCKED_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches localhost on Linux
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, incl. cloud metadata 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. broadcast
    )
)
_BLOCKED_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/8",  # unspecified, loopback, IPv4-compatible (mapped is unwrapped first)
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments, incl. Teredo
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4: embeds arbitrary IPv4 addresses, deprecated (RFC 7526)
        "3fff::/20",  # documentation
        "5f00::/16",  # SRv6 SIDs
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _as_ip(value: IPAddress | str) -> IPAddress:
    return value if isinstance(value, IPAddress) else ipaddress.ip_address(value)


def is_public_address(value: IPAddress | str) -> bool:
    """Is this a globally routable unicast address, the only kind a peer may make us contact?

    IPv4-mapped (``::ffff:a.b.c.d``) and well-known-prefix NAT64 addresses are judged
    by the IPv4 address they carry, since that is what the packets reach.
    Raises ``ValueError`` for something that is not an IP address.
    """
    ip = _as_ip(value)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        if ip.ipv4_mapped is not None:
            return is_public_address(ip.ipv4_mapped)
        if ip in _NAT64:
            return is_public_address(ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF))
        if any(ip in net for net in _BLOCKED_V6):
            return False
    elif any(ip in net for net in _BLOCKED_V4):
        return False
    flagged = (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
    )
    return ip.is_global and not flagged


def _networks(values: Iterable[IPNetwork | str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(v) for v in values)


@dataclass(frozen=True)
class SafeNetwork:
    """Which URLs and addresses outbound federation traffic may reach.

    The default refuses every non-public address and plain http. ``allow_private``
    (``CG_ALLOW_PRIVATE_ADDRESSES=1``) lifts the address check and allows http, for
    tests and local demos only. ``allowed_networks`` are treated as public even though
    a built-in rule blocks them (tests, or a peer deliberately on a private network);
    ``denied_networks`` are refused even with ``allow_private``.
    """

    allow_private: bool = False
    allow_http: bool | None = None  # None: follow allow_private
    allowed_networks: tuple[IPNetwork, ...] = field(default=())
    denied_networks: tuple[IPNetwork, ...] = field(default=())

    def __post_init__(self) -> None:
        # Accept strings so config and tests can say ("127.0.0.1/32",).
        object.__setattr__(self, "allowed_networks", _networks(self.allowed_networks))
        object.__setattr__(self, "denied_networks", _networks(self.denied_networks))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> SafeNetwork:
        """The policy ``CG_ALLOW_PRIVATE_ADDRESSES`` asks for (default: strict)."""
        env = os.environ if environ is None else environ
        allow = env.get(ALLOW_PRIVATE_ENV, "").strip().lower() in _TRUTHY
        return cls(**{"allow_private": allow, **overrides})

    @property
    def http_allowed(self) -> bool:
        return self.allow_private if self.allow_http is None else self.allow_http

    def address_allowed(self, value: IPAddress | str) -> bool:
        """May we open a connection to this resolved address?"""
        try:
            ip = _as_ip(value)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # so v4 allow/deny lists also cover the mapped form
        if any(ip in net for net in self.denied_networks):
            return False
        if self.allow_private or any(ip in net for net in self.allowed_networks):
            return True
        return is_public_address(ip)

    def check_url(self, url: str | httpx.URL) -> httpx.URL:
        """The parsed URL if its scheme and host syntax are acceptable, else ``FetchError``.

        This cannot judge the address; that happens when connecting.
        """
        if isinstance(url, str):
            return _checked_url(self, url)
        return self._check(url)

    def _check(self, url: str | httpx.URL) -> httpx.URL:
        parsed = _parse_url(url)
        normalize_host(parsed)  # scheme is http(s), host well-formed, no credentials
        if parsed.scheme == "http" and not self.http_allowed:
            raise FetchError("bad_scheme", "plain http is not allowed; use https", str(url))
        return parsed


@functools.lru_cache(maxsize=4096)
def _checked_url(policy: SafeNetwork, url: str) -> httpx.URL:
    """The same inboxes are checked over and over (every delivery to them), and
    parsing a URL costs more than the rest of a delivery's bookkeeping; a refusal
    raises, so only accepted URLs are kept."""
    return policy._check(url)


# --- host normalisation ------------------------------------------------------------------

_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


def _parse_url(url: str | httpx.URL) -> httpx.URL:
    if isinstance(url, httpx.URL):
        return url
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise FetchError("bad_url", f"unparsable URL: {exc}", str(url)) from exc


def _canonical_host(raw: str, url: str) -> str:
    if not raw:
        raise FetchError("bad_url", "URL has no host", url)
    if ":" in raw:  # httpx hands IPv6 literals over without brackets
        try:
            ip6 = ipaddress.IPv6Address(raw)
        except ValueError as exc:
            raise FetchError("bad_url", f"bad IPv6 literal {raw!r}", url) from exc
        if ip6.scope_id:
            raise FetchError("bad_url", "IPv6 zone identifiers are not allowed", url)
        return f"[{ip6.compressed}]"
    host = raw.lower().removesuffix(".")
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        # Resolvers read "127.1", "0x7f.1" or "2130706433" as IPv4; only the
        # canonical dotted quad is allowed so one address has one spelling.
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError as exc:
            raise FetchError("bad_url", f"ambiguous numeric host {raw!r}", url) from exc
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise FetchError("bad_url", f"invalid host name {raw!r}", url)
    return host


def normalize_host(url: str | httpx.URL) -> str:
    """The URL's host as one canonical string: ``host`` or ``host:port``.

    Lower-cased, IDNA (punycode) encoded, one trailing dot removed, the scheme's
    default port dropped, IPv6 in compressed ``[...]`` form. Two URLs reach the same
    origin iff these strings (plus scheme) are equal, so comparisons can be exact.
    URLs with credentials (``https://evil@good.example``) are refused outright:
    federation URLs never carry them, and they exist mostly to fool parsers.
    Parsing is httpx's — the same parser that decides where a request really goes.
    """
    parsed = _parse_url(url)
    text = str(url)
    if parsed.scheme not in DEFAULT_PORTS:
        raise FetchError("bad_scheme", f"scheme {parsed.scheme!r} is not http(s)", text)
    if parsed.userinfo:
        raise FetchError("bad_url", "credentials in URLs are not allowed", text)
    try:
        raw = parsed.raw_host.decode("ascii")
    except UnicodeDecodeError as exc:
        raise FetchError("bad_url", "host is not ASCII after IDNA encoding", text) from exc
    host = _canonical_host(raw, text)
    port = parsed.port
    if port is not None and not 0 < port <= 65535:
        raise FetchError("bad_url", f"port {port} out of range", text)
    if port is None or port == DEFAULT_PORTS[parsed.scheme]:
        return host
    return f"{host}:{port}"


def origin(url: str | httpx.URL) -> str:
    """``scheme://host[:port]`` in canonical form (see :func:`normalize_host`)."""
    return f"{_parse_url(url).scheme}://{normalize_host(url)}"


def same_origin(a: str | httpx.URL, b: str | httpx.URL) -> bool:
    """Do both URLs belong to the same origin? Anything unparsable or odd is ``False``."""
    try:
        return origin(a) == origin(b)
    except FetchError:
        return False


# --- connect-time address checks ---------------------------------------------------------

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver returns for ``host``, in its order, deduplicated."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for *_, sockaddr in infos:
        if sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    return addresses


async def allowed_addresses(
    policy: SafeNetwork, resolve: Resolver, host: str, port: int
) -> list[str]:
    """Resolve ``host`` and return its addresses, only if the policy allows every one.

    The one rule both safe clients (this module's httpx client and
    :mod:`federation.poster`) connect by. If *any* resolved address is refused, the
    name is refused: a name that mixes public and private answers is broken or
    hostile, and picking "the good one" would leave room for rebinding tricks.
    Resolution failures stay ``OSError`` so each client reports them its own way.
    """
    addresses = await resolve(host, port)
    if not addresses:
        raise OSError(f"{host} has no addresses")
    for address in addresses:
        if not policy.address_allowed(address):
            raise FetchError(
                "blocked_address", f"{host} resolves to {address}, which is not public"
            )
    return addresses


def refuse_address(policy: SafeNetwork, address: str) -> None:
    """``FetchError`` unless a socket may be opened to this exact address (also for
    IP literals, which no resolver sees)."""
    if not policy.address_allowed(address):
        raise FetchError("blocked_address", f"{address} is not public")


class SafeNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks (:func:`allowed_addresses`) and connects in one step, so the
    address checked is the one used."""

    def __init__(
        self,
        policy: SafeNetwork,
        *,
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self._resolve = resolver or system_resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                return await self._connect(host, port, local_address, socket_options)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc

    async def _connect(
        self,
        host: str,
        port: int,
        local_address: str | None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await allowed_addresses(self.policy, self._resolve, host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        options = list(socket_options or ())
        for address in addresses[:-1]:
            try:
                return await self._inner.connect_tcp(
                    address, port, local_address=local_address, socket_options=options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                continue  # try the next address; only the last failure is reported
        return await self._inner.connect_tcp(
            addresses[-1], port, local_address=local_address, socket_options=options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not reachable from federation code")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# --- transport and client ----------------------------------------------------------------

# Most specific first: the transport must look like httpx's own to callers.
_HTTPCORE_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for source, target in _HTTPCORE_ERRORS:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        if hasattr(self._stream, "aclose"):
            with _httpx_errors():
                await self._stream.aclose()


class SafeTransport(httpx.AsyncBaseTransport):
    """httpx transport on a pooled httpcore connection pool over :class:`SafeNetworkBackend`."""

    def __init__(
        self,
        policy: SafeNetwork,
        *,
        limits: httpx.Limits | None = None,
        ssl_context: ssl.SSLContext | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        limits = limits or httpx.Limits(
            max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0
        )
        self.policy = policy
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=SafeNetworkBackend(policy, resolver=resolver),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.policy.check_url(request.url)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            with _httpx_errors():
                response = await self._pool.handle_async_request(core_request)
        except FetchError as exc:
            exc.url = exc.url or url  # the backend knows the host, not the URL
            raise
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


class SafeClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` whose every connection obeys ``policy``.

    No redirects by default, no proxies or netrc from the environment, no cookie jar
    (a peer must not be able to plant state that is replayed to it later), and
    ``Accept-Encoding: identity`` so body limits count real bytes.
    """

    def __init__(
        self,
        policy: SafeNetwork,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        limits: httpx.Limits | None = None,
        ssl_context: ssl.SSLContext | None = None,
        resolver: Resolver | None = None,
        user_agent: str | None = None,
    ) -> None:
        self.policy = policy
        super().__init__(
            transport=SafeTransport(
                policy, limits=limits, ssl_context=ssl_context, resolver=resolver
            ),
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            max_redirects=MAX_REDIRECTS,
            trust_env=False,
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            headers={
                "User-Agent": user_agent or f"Commonground/{__version__}",
                "Accept-Encoding": "identity",
            },
        )


def make_client(
    policy: SafeNetwork | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    limits: httpx.Limits | None = None,
    ssl_context: ssl.SSLContext | None = None,
    resolver: Resolver | None = None,
    user_agent: str | None = None,
) -> SafeClient:
    """A pooled client for all outbound federation traffic; share one per process.

    ``timeout`` bounds each connect/read/write; :class:`Fetcher` adds a total deadline.
    ``resolver`` and ``ssl_context`` exist for tests and unusual deployments.
    """
    return SafeClient(
        policy or SafeNetwork.from_env(),
        timeout=timeout,
        limits=limits,
        ssl_context=ssl_context,
        resolver=resolver,
        user_agent=user_agent,
    )


# --- fetching ------------------------------------------------------------------------------

# sign(method, url, headers) -> headers to send (sync or async). ``url`` is exactly the
# URL requested for that hop; httpx adds ``Host`` from it, so a signer signing "host"
# should derive it from ``url`` too.
SignHook = Callable[[str, str, dict[str, str]], Mapping[str, str] | Awaitable[Mapping[str, str]]]


@contextmanager
def _fetch_errors(url: str) -> Iterator[None]:
    """httpx's exceptions as FetchError, so callers handle one type."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise FetchError("timeout", f"timed out: {exc}", url) from exc
    except httpx.TransportError as exc:
        raise FetchError("network", f"{type(exc).__name__}: {exc}", url) from exc
    except httpx.InvalidURL as exc:
        raise FetchError("bad_url", str(exc), url) from exc


async def read_limited(
    response: httpx.Response, max_bytes: int = MAX_BODY_BYTES, *, url: str = ""
) -> bytes:
    """The body of a streamed response, refusing (and stopping) as soon as it exceeds the cap.

    Compressed bodies are refused: a few kilobytes of gzip can inflate to gigabytes,
    and our clients ask for ``identity`` anyway.
    """
    url = url or str(response.url)
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError("too_large", f"Content-Length {declared} > {max_bytes}", url)
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise FetchError("bad_encoding", f"unrequested Content-Encoding {encoding!r}", url)
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_raw():
        total += len(chunk)
        if total > max_bytes:
            raise FetchError("too_large", f"body exceeds {max_bytes} bytes", url)
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class Fetched:
    """A successful fetch. ``url`` is the final URL after redirects, as a string."""

    url: str
    status: int
    headers: httpx.Headers
    body: bytes


def _redirect_target(base: httpx.URL, location: str, url: str) -> str:
    """Where a Location points. Absolute values are kept verbatim (see fetch_object)."""
    try:
        parsed = httpx.URL(location)
    except (httpx.InvalidURL, ValueError) as exc:
        raise FetchError("bad_url", f"unparsable Location {location!r}", url) from exc
    return location if parsed.is_absolute_url else str(base.join(location))


class Fetcher:
    """GETs with every protection a fetch needs, on a shared :class:`SafeClient`.

    Pass a client to share its connection pool (it is not closed here); without one
    the fetcher makes and owns a client for ``policy``.
    """

    def __init__(
        self,
        policy: SafeNetwork | None = None,
        *,
        client: SafeClient | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = MAX_BODY_BYTES,
        max_redirects: int = MAX_REDIRECTS,
    ) -> None:
        if client is not None and policy is not None and client.policy != policy:
            raise ValueError("policy differs from the client's; pass one or the other")
        self._owns_client = client is None
        self.client = client or make_client(policy, timeout=timeout)
        self.policy = self.client.policy
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def get(
        self,
        url: str,
        *,
        accept: str,
        sign: SignHook | None = None,
        content_type: Callable[[str], bool] | None = None,
    ) -> Fetched:
        """GET ``url``, following at most ``max_redirects`` re-validated redirects.

        The whole exchange, redirects and body included, must finish within
        ``timeout``. ``content_type`` (if given) vets the final Content-Type before
        the body is read. ``sign`` is called for every hop with the URL actually sent.
        """
        current = url
        try:
            with anyio.fail_after(self.timeout):
                for hop in range(self.max_redirects + 1):
                    target = self.policy.check_url(current)
                    with _fetch_errors(current):
                        response = await self._send(target, accept, sign)
                    try:
                        if response.status_code in _REDIRECT_STATUSES:
                            current = self._next_hop(response, target, current, hop)
                            continue
                        return await self._finish(response, current, content_type)
                    finally:
                        await response.aclose()
        except TimeoutError as exc:
            raise FetchError("timeout", f"no response within {self.timeout:g}s", current) from exc
        raise AssertionError("unreachable: the last hop returns or raises")  # pragma: no cover

    async def _send(self, target: httpx.URL, accept: str, sign: SignHook | None) -> httpx.Response:
        headers = {"Accept": accept, "Accept-Encoding": "identity"}
        if sign is not None:
            signed = sign("GET", str(target), dict(headers))
            headers = dict(await signed if inspect.isawaitable(signed) else signed)
        request = self.client.build_request("GET", target, headers=headers)
        return await self.client.send(request, stream=True, follow_redirects=False)

    def _next_hop(self, response: httpx.Response, target: httpx.URL, url: str, hop: int) -> str:
        location = response.headers.get("location", "")
        if not location:
            raise FetchError(
                "http_status", "redirect without Location", url, status=response.status_code
            )
        if hop >= self.max_redirects:
            raise FetchError("too_many_redirects", f"more than {self.max_redirects}", url)
        return _redirect_target(target, location, url)

    async def _finish(
        self, response: httpx.Response, url: str, content_type: Callable[[str], bool] | None
    ) -> Fetched:
        status = response.status_code
        if not 200 <= status < 300:
            raise FetchError("http_status", f"HTTP {status}", url, status=status)
        ctype = response.headers.get("content-type", "")
        if content_type is not None and not content_type(ctype):
            raise FetchError("bad_content_type", f"unacceptable Content-Type {ctype!r}", url)
        with _fetch_errors(url):
            body = await read_limited(response, self.max_bytes, url=url)
        return Fetched(url=url, status=status, headers=response.headers, body=body)


# --- documents -----------------------------------------------------------------------------

_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM = re.compile(rf';\s*({_TCHARS})\s*=\s*({_TCHARS}|"(?:[^"\\]|\\.)*")')


def parse_media_type(value: str) -> tuple[str, dict[str, str]]:
    """``("type/subtype", {param: value})`` from a Content-Type, lower-casing names."""
    head, sep, rest = value.partition(";")
    params: dict[str, str] = {}
    for match in _PARAM.finditer(sep + rest):
        raw = match[2]
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params.setdefault(match[1].lower(), raw)
    return head.strip().lower(), params


def is_as2_media_type(value: str) -> bool:
    """``application/activity+json``, or ``application/ld+json`` with the AS2 profile."""
    mtype, params = parse_media_type(value)
    if mtype == AS2_TYPE:
        return True
    return mtype == "application/ld+json" and AS_CONTEXT in params.get("profile", "").split()


def _is_json_media_type(value: str) -> bool:
    return parse_media_type(value)[0] in JSON_MEDIA_TYPES


def _parse_object(fetched: Fetched) -> dict[str, Any]:
    try:
        doc = orjson.loads(fetched.body)  # rejects NaN, bad UTF-8 and >1024-deep nesting
    except orjson.JSONDecodeError as exc:
        raise FetchError("invalid_json", f"not JSON: {exc}", fetched.url) from exc
    if not isinstance(doc, dict):
        raise FetchError("invalid_json", f"JSON {type(doc).__name__}, not an object", fetched.url)
    return doc


def check_jsonld(doc: Any, *, url: str = "", max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse ``@graph``, ``@reverse`` and ``@included`` anywhere, and aliases for them.

    These let one document smuggle extra nodes, or statements about other nodes,
    past code that reads it as a single plain object. Aliases are only looked for in
    inline ``@context`` values (a ``Mention`` may well be named "@graph"); remote
    contexts are never dereferenced. Iterative with a depth bound, so hostile
    nesting cannot exhaust the stack.
    """
    stack: list[tuple[Any, int, bool]] = [(doc, 0, False)]
    while stack:
        node, depth, in_context = stack.pop()
        if depth > max_depth:
            raise FetchError("too_deep", f"JSON nested deeper than {max_depth}", url)
        if isinstance(node, dict):
            for key, value in node.items():
                if key in FORBIDDEN_JSONLD_KEYWORDS:
                    raise FetchError("jsonld_forbidden", f"{key} is not accepted", url)
                stack.append((value, depth + 1, in_context or key == "@context"))
        elif isinstance(node, list):
            stack.extend((item, depth + 1, in_context) for item in node)
        elif in_context and node in FORBIDDEN_JSONLD_KEYWORDS:
            raise FetchError("jsonld_forbidden", f"@context aliases {node}", url)


def _fetcher_for(source: Fetcher | SafeClient) -> Fetcher:
    if isinstance(source, Fetcher):
        return source
    if isinstance(source, SafeClient):
        return Fetcher(client=source)
    raise TypeError(
        f"need a Fetcher or a client from make_client(), not {type(source).__name__}: "
        "other clients skip the address checks"
    )


async def fetch_object(
    client_or_fetcher: Fetcher | SafeClient, url: str, *, sign: SignHook | None = None
) -> dict[str, Any]:
    """Fetch an ActivityPub document and return it only if it is what it claims to be.

    Requires a 2xx AS2 response holding a JSON object without forbidden JSON-LD
    keywords, whose ``id`` is *exactly* the final URL string after redirects. Nothing
    is normalised on either side: the final URL is ``url`` as given, or an absolute
    ``Location`` verbatim (a relative one is resolved by httpx), and ``id`` is
    compared character for character. Strip fragments such as ``#main-key``
    before fetching; a fragment can never match.
    """
    fetcher = _fetcher_for(client_or_fetcher)
    fetched = await fetcher.get(url, accept=AS2_ACCEPT, sign=sign, content_type=is_as2_media_type)
    doc = _parse_object(fetched)
    check_jsonld(doc, url=fetched.url)
    doc_id = doc.get("id")
    if not isinstance(doc_id, str) or doc_id != fetched.url:
        raise FetchError("id_mismatch", f"id {doc_id!r} is not the fetched URL", fetched.url)
    if "@id" in doc and doc["@id"] != fetched.url:
        raise FetchError("id_mismatch", "@id differs from the fetched URL", fetched.url)
    return doc


async def fetch_json(
    client_or_fetcher: Fetcher | SafeClient,
    url: str,
    *,
    accept: str = JSON_ACCEPT,
    sign: SignHook | None = None,
) -> dict[str, Any]:
    """Fetch a plain JSON object (WebFinger JRD, NodeInfo) with the same network protections.

    Content-Type must be ``application/jrd+json`` or ``application/json``.
    """
    fetcher = _fetcher_for(client_or_fetcher)
    fetched = await fetcher.get(url, accept=accept, sign=sign, content_type=_is_json_media_type)
    return _parse_object(fetched)
