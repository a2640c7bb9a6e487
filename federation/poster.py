"""The SSRF-safe client deliveries POST with: aiohttp, under the fetcher's rules.

Deliveries are the one outbound path whose *throughput* matters: a post to a
popular account is one signed POST per follower inbox. httpx over httpcore
spends several times more CPU per request than aiohttp (see docs/benchmarks.md),
so deliveries go through :class:`SafePoster` while GETs (few, latency-bound,
with redirects and document checks) stay on :mod:`federation.fetcher`.

Both obey the same rules from the same place: :class:`SafeNetwork` judges the
URL (``check_url``) and every address; :func:`allowed_addresses` resolves a name
and refuses it if *any* answer is private, at connect time and again for every
new connection (no DNS cache, so rebinding cannot slip in); and the socket
factory checks the exact address each socket connects to, which also covers IP
literals that no resolver sees. TLS verifies the certificate against, and sends
SNI for, the URL's host name. Redirects are never followed (a moved inbox is a
failed delivery), cookies are never kept, the answer is not decompressed and at
most ``max_answer_bytes`` of it are read, and ``timeout`` bounds the whole
exchange. Every refusal or failure is a :class:`FetchError`.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from app import __version__
from federation.fetcher import (
    DEFAULT_TIMEOUT,
    FetchError,
    Resolver,
    SafeNetwork,
    allowed_addresses,
    refuse_address,
    system_resolver,
)

__all__ = ["MAX_ANSWER_BYTES", "Posted", "PolicyResolver", "SafePoster"]

MAX_ANSWER_BYTES = 65_536  # a delivery's answer body is read (to keep the connection) but unused
_CHUNK = 16_384
AddrInfo = tuple[int, int, int, str, tuple]


@dataclass(frozen=True)
class Posted:
    """A peer's answer to a POST: only its status and headers matter to a delivery."""

    status: int
    headers: Mapping[str, str]


class PolicyResolver(AbstractResolver):
    """aiohttp's resolver hook, answering only with addresses the policy allows."""

    def __init__(self, policy: SafeNetwork, resolve: Resolver | None = None) -> None:
        self.policy = policy
        self._resolve = resolve or system_resolver

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await allowed_addresses(self.policy, self._resolve, host, port)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


class SafePoster:
    """POSTs to peers over one pooled aiohttp session (made on first use, in the
    running loop); share one per process and close it with :meth:`aclose`."""

    def __init__(
        self,
        policy: SafeNetwork,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_connections: int = 100,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        ssl_context: ssl.SSLContext | None = None,
        resolver: Resolver | None = None,
        user_agent: str | None = None,
    ) -> None:
        self.policy = policy
        self.timeout = timeout
        self.max_answer_bytes = max_answer_bytes
        self._max_connections = max_connections
        self._ssl: ssl.SSLContext | bool = ssl_context or True  # True: aiohttp's verifying default
        self._resolver = resolver
        self._user_agent = user_agent or f"Commonground/{__version__}"
        self._session: aiohttp.ClientSession | None = None

    def _socket(self, addr_info: AddrInfo) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        refuse_address(self.policy, sockaddr[0])
        return socket.socket(family=family, type=type_, proto=proto)

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=0,
                use_dns_cache=False,  # every new connection resolves, and is checked, again
                resolver=PolicyResolver(self.policy, self._resolver),
                ssl=self._ssl,
                socket_factory=self._socket,
                keepalive_timeout=30.0,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                trust_env=False,
                headers={"User-Agent": self._user_agent, "Accept-Encoding": "identity"},
            )
        return self._session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Posted:
        """POST ``body`` to ``url``; the answer's status and headers, or ``FetchError``.

        ``url`` must be what was signed: it is sent as given (``encoded``), not
        re-quoted. A 3xx is returned as it is, never followed.
        """
        self.policy.check_url(url)
        session = self._session_now()
        try:
            target = yarl.URL(url, encoded=True)
            async with session.post(
                target, data=body, headers=dict(headers), allow_redirects=False
            ) as response:
                await self._drain(response)
                return Posted(response.status, response.headers)
        except FetchError as exc:
            exc.url = exc.url or url
            raise
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise FetchError("timeout", f"no answer within {self.timeout:g}s", url) from exc
        except aiohttp.InvalidURL as exc:
            raise FetchError("bad_url", str(exc), url) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise FetchError("network", f"{type(exc).__name__}: {exc}", url) from exc

    async def _drain(self, response: aiohttp.ClientResponse) -> None:
        """Read the answer so its connection can be reused, but never more than the
        cap: past it (declared or actual) the connection is dropped instead."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_answer_bytes:
            response.close()
            return
        total = 0
        while chunk := await response.content.read(_CHUNK):
            total += len(chunk)
            if total > self.max_answer_bytes:
                response.close()
                return

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
