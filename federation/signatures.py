"""Verifying HTTP signatures on requests to us: one dependency for every route.

The inbox (every POST) and, in secure mode, ActivityPub GETs use :func:`verify`,
which resolves the ``keyId`` to a stored key or fetches the key's actor through
the SSRF-safe fetcher, and says who signed.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any

from fastapi import Request

from app.errors import DomainError
from app.services import peers
from federation import network, remote
from federation.fetcher import FetchError
from federation.httpsig import SignatureError, Verified, verify_request

log = logging.getLogger("commonground.signatures")


def in_db(request: Request, fn: Any, *, write: bool = False) -> Any:
    state = request.app.state
    return network.in_db(state.engine, state.settings, fn, write=write)


def network_of(request: Request) -> network.Network:
    net = getattr(request.app.state, "network", None)
    if net is None:
        net = network.Network(request.app.state.engine, request.app.state.settings)
        request.app.state.network = net
    return net


class KeyCache:
    """Recently used remote keys, per process: ``key_id -> (owner, PEM)``.

    A busy peer signs every delivery with the same key; reading it from the
    database each time would cost a transaction per request. Entries live for
    ``SECONDS`` (a key rotated through an actor ``Update`` is picked up by then),
    and a signature that fails with a cached key is retried with the stored or
    freshly fetched one, so a stale entry never refuses a good request."""

    SECONDS = 60.0
    SIZE = 10_000

    def __init__(self) -> None:
        self.entries: OrderedDict[str, tuple[float, str, str]] = OrderedDict()

    def get(self, key_id: str) -> tuple[str, str] | None:
        entry = self.entries.get(key_id)
        if entry is None or time.monotonic() - entry[0] > self.SECONDS:
            return None
        self.entries.move_to_end(key_id)
        return entry[1], entry[2]

    def put(self, key_id: str, owner: str, pem: str) -> None:
        self.entries[key_id] = (time.monotonic(), owner, pem)
        self.entries.move_to_end(key_id)
        while len(self.entries) > self.SIZE:
            self.entries.popitem(last=False)

    def drop(self, key_id: str) -> None:
        self.entries.pop(key_id, None)


def key_cache_of(request: Request) -> KeyCache:
    cache = getattr(request.app.state, "key_cache", None)
    if cache is None:
        cache = request.app.state.key_cache = KeyCache()
    return cache


class KeyRefreshes:
    """When this process last fetched an actor's key again because a signature
    did not verify with the key we had: at most once per ``SECONDS`` per actor, so
    a rotated key is picked up at once, while bad signatures naming someone's key
    cannot make us hammer their server."""

    SECONDS = 60.0
    SIZE = 10_000

    def __init__(self) -> None:
        self.last: OrderedDict[str, float] = OrderedDict()

    def allow(self, actor: str) -> bool:
        """May ``actor``'s key be fetched again now? (Counts the refresh if so.)"""
        now = time.monotonic()
        last = self.last.get(actor)
        if last is not None and now - last < self.SECONDS:
            return False
        self.last[actor] = now
        self.last.move_to_end(actor)
        while len(self.last) > self.SIZE:
            self.last.popitem(last=False)
        return True


def key_refreshes_of(request: Request) -> KeyRefreshes:
    refreshes = getattr(request.app.state, "key_refreshes", None)
    if refreshes is None:
        refreshes = request.app.state.key_refreshes = KeyRefreshes()
    return refreshes


class KeyResolver:
    """Finds the public key a signature names: from the process's short-lived
    cache, the database, else by fetching the key's actor (through the SSRF-safe
    fetcher) and storing it. Remembers the key's owner, who is the signer. A forced
    refresh (the signature did not verify with the key we had) fetches the key
    again, unless this request just fetched it or :class:`KeyRefreshes` says the
    actor's key was fetched again less than a minute ago."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.owner: str | None = None
        self.fetched = False  # this request fetched the key: a refresh would not help

    async def __call__(self, key_id: str, refresh: bool) -> str | None:
        cache = key_cache_of(self.request)
        if refresh:
            cache.drop(key_id)
        elif (cached := cache.get(key_id)) is not None:
            self.owner = cached[0]
            return cached[1]
        pem = await self._resolve(key_id, refresh)
        if pem is not None and self.owner is not None:
            cache.put(key_id, self.owner, pem)
        return pem

    async def _resolve(self, key_id: str, refresh: bool) -> str | None:
        stored = await in_db(self.request, lambda ctx: remote.stored_key(ctx, key_id))
        if stored is not None and (
            not refresh
            or stored.private_key_pem  # our own: never fetched
            or self.fetched
            or not key_refreshes_of(self.request).allow(stored.owner_uri)
        ):
            self.owner = stored.owner_uri
            return stored.public_key_pem
        url = key_id.split("#", 1)[0]
        self.fetched = True
        try:
            doc = await network_of(self.request).fetch(url)
            if remote.actor_kind(doc) is None and isinstance(doc.get("owner"), str):
                doc = await network_of(self.request).fetch(doc["owner"])
            await in_db(self.request, lambda ctx: remote.store_actor(ctx, doc), write=True)
        except (FetchError, remote.InvalidActor) as exc:
            log.info("could not resolve key %s: %s", key_id, exc)
            return None
        stored = await in_db(self.request, lambda ctx: remote.stored_key(ctx, key_id))
        if stored is None:
            return None
        self.owner = stored.owner_uri
        return stored.public_key_pem


def request_target(request: Request) -> str:
    """The request target exactly as the client sent it (before content negotiation
    routed it to an ``/ap/`` twin), as signatures cover it."""
    raw = request.scope.get("cg.original_path") or request.scope.get("raw_path")
    path = raw.decode("latin-1") if raw else request.url.path
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


async def verify(request: Request, body: bytes | None) -> tuple[Verified, str]:
    """The verified signature and the signer's actor id, or SignatureError."""
    resolver = KeyResolver(request)
    verified = await verify_request(
        request.method,
        request_target(request),
        list(request.headers.items()),
        body,
        key_resolver=resolver,
        base_url=request.app.state.settings.base_url,
    )
    if resolver.owner is None:  # pragma: no cover - a key always comes with its owner
        raise SignatureError("the key has no owner")
    return verified, resolver.owner


class _NotCached(Exception):
    pass


async def verify_cached(request: Request, body: bytes | None) -> tuple[Verified, str] | None:
    """Verify with a key already in the process's cache, touching neither the
    database nor the network; None if the key is not cached or the check fails
    (the caller then takes the full path, which decides and explains)."""
    cache = key_cache_of(request)
    owner: str | None = None

    async def cached_only(key_id: str, refresh: bool) -> str:
        nonlocal owner
        hit = None if refresh else cache.get(key_id)
        if hit is None:
            raise _NotCached
        owner = hit[0]
        return hit[1]

    try:
        verified = await verify_request(
            request.method,
            request_target(request),
            list(request.headers.items()),
            body,
            key_resolver=cached_only,
            base_url=request.app.state.settings.base_url,
        )
    except (_NotCached, SignatureError):
        return None
    assert owner is not None  # set by the resolver before any signature verifies
    return verified, owner


class Unsigned(DomainError):
    status = 401


async def require_signed_fetch(request: Request) -> None:
    """Secure mode ("authorized fetch"): ActivityPub documents only for signed GETs,
    so an admin can tell who reads, and refuse blocked domains."""
    if not request.app.state.settings.secure_mode:
        return
    try:
        _, signer = await verify(request, None)
    except SignatureError as exc:
        raise Unsigned(
            f"This instance serves ActivityPub documents to signed requests only: {exc.reason}",
            code="signature_required",
        ) from exc
    domain = remote.authority_of(signer)
    if await in_db(request, lambda ctx: peers.is_blocked(ctx, domain)):
        raise Unsigned("This instance does not serve your domain.", code="domain_blocked")
