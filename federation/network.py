"""Outbound federation traffic: the one network policy, signed fetches and lookups.

Every GET of a remote document goes through :func:`fetch_document` (SSRF-safe
fetcher, signed by the instance actor so "authorized fetch" peers answer) and
every actor we learn of is stored through :func:`federation.remote.store_actor`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine

from app.config import Settings
from app.db import transaction
from app.services import Ctx
from federation import remote
from federation.actors import instance_actor_uri
from federation.fetcher import (
    Fetcher,
    FetchError,
    SafeClient,
    SafeNetwork,
    fetch_json,
    fetch_object,
    make_client,
)
from federation.httpsig import sign_request
from federation.keys import key_id_for, private_pem
from federation.poster import SafePoster
from federation.signing_pool import SigningPool

T = TypeVar("T")


def policy(settings: Settings) -> SafeNetwork:
    """Private and loopback addresses only when the admin said so (tests, demos)."""
    return SafeNetwork(allow_private=settings.allow_private_addresses)


def client(settings: Settings) -> SafeClient:
    return make_client(policy(settings), timeout=settings.delivery_timeout_seconds)


async def in_db(
    engine: Engine, settings: Settings, fn: Callable[[Ctx], T], *, write: bool = True
) -> T:
    """Run ``fn(ctx)`` in its own transaction, off the event loop."""

    def work() -> T:
        with transaction(engine, write=write) as db:
            return fn(Ctx(db, settings))

    return await asyncio.to_thread(work)


class Network:
    """What one process (a web worker or a job worker) uses to talk to peers:
    a pooled SSRF-safe client for GETs and the instance actor's key to sign them,
    and for deliveries the SSRF-safe poster and a signing pool (both start on
    first use, so a Network made for one request costs nothing for them)."""

    def __init__(self, engine: Engine, settings: Settings, http: SafeClient | None = None) -> None:
        self.engine, self.settings = engine, settings
        self.http = http or client(settings)
        self.fetcher = Fetcher(client=self.http, timeout=settings.delivery_timeout_seconds)
        self.poster = SafePoster(policy(settings), timeout=settings.delivery_timeout_seconds)
        self.signer = SigningPool()
        self._signing: tuple[str, str] | None = None

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.poster.aclose()
        self.signer.close()

    async def _signing_key(self) -> tuple[str, str]:
        if self._signing is None:

            def load(ctx: Ctx) -> tuple[str, str]:
                uri = instance_actor_uri(ctx)
                return key_id_for(uri), private_pem(ctx.db, uri)

            self._signing = await in_db(self.engine, self.settings, load)
        return self._signing

    async def sign_get(self, method: str, url: str, headers: dict[str, str]) -> dict[str, str]:
        key_id, pem = await self._signing_key()
        return {**headers, **sign_request(method, url, headers, None, key_id, pem)}

    async def fetch(self, url: str) -> dict[str, Any]:
        """An AS2 document whose id is the URL fetched (FetchError otherwise)."""
        return await fetch_object(self.fetcher, url, sign=self.sign_get)

    async def fetch_actor(self, uri: str) -> Any:
        """Fetch, validate and store a remote actor; returns its row."""
        doc = await self.fetch(uri)
        return await in_db(self.engine, self.settings, lambda ctx: remote.store_actor(ctx, doc))

    async def webfinger(self, handle: str) -> str:
        """The actor URL ``name@domain`` names, by WebFinger on its domain."""
        name, _, domain = handle.lstrip("@").partition("@")
        if not name or not domain or "/" in domain or "@" in domain:
            raise FetchError("bad_url", f"{handle!r} is not name@domain", handle)
        scheme = "http" if self.settings.allow_private_addresses else "https"
        url = f"{scheme}://{domain}/.well-known/webfinger?resource=acct:{name}@{domain}"
        jrd = await fetch_json(self.fetcher, url)
        for link in jrd.get("links") or []:
            if (
                isinstance(link, dict)
                and link.get("rel") == "self"
                and isinstance(link.get("href"), str)
                and "json" in str(link.get("type", "application/activity+json"))
            ):
                return link["href"]
        raise FetchError("bad_document", "no ActivityPub actor in the WebFinger answer", url)


async def ensure_known(engine: Engine, settings: Settings, target: str) -> None:
    """Make sure a follow target written as ``name@domain`` or an actor URL on
    another instance is stored here, looking it up over the network if needed.
    Local names and actors we already know cost nothing."""
    target = (target or "").strip()
    if target.startswith(("http://", "https://")):
        uri = target
        if uri.startswith(settings.base_url + "/"):
            return
        if await in_db(engine, settings, lambda ctx: remote.known(ctx, uri)) is not None:
            return
        handle = None
    else:
        name, _, domain = target.lstrip("@").partition("@")
        if not domain or domain.lower() == settings.domain:
            return
        handle, uri = f"{name}@{domain.lower()}", None

        def find(ctx: Ctx) -> object:
            from app.services.follows import resolve_target

            try:
                return resolve_target(ctx, handle)
            except Exception:  # unknown: look it up below
                return None

        if await in_db(engine, settings, find) is not None:
            return
    net = Network(engine, settings)
    try:
        if handle is not None:  # a name@domain: find its actor's URL first
            uri = await net.webfinger(handle)
        if uri is not None:  # always, by now
            await net.fetch_actor(uri)
    finally:
        await net.aclose()


async def to_thread(fn: Callable[[], T]) -> T:
    return await asyncio.to_thread(fn)


def shared(job: Any) -> Network:
    """The worker's one Network (pooled connections), made on first use by a job."""
    net = job.shared.get("network")
    if net is None:
        net = Network(job.engine, job.settings)
        job.shared["network"] = net
        job.shared.setdefault("closers", []).append(net.aclose)
    return net
