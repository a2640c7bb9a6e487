"""Delivery: POST one outbox item to one inbox, signed, with retries and a
per-domain circuit breaker.

Every attempt is recorded in ``delivery_attempts``. Answers decide what
happens next, all in one pure function, :func:`outcome`: 2xx done; 429/503 with
``Retry-After`` retried then; other 4xx (but 408 and 429) are permanent; anything
else backs off exponentially (see :func:`app.infra.jobs.backoff`). Only
network errors and 5xx count towards the breaker: after ``BREAKER_THRESHOLD`` in
a row a domain's breaker opens for 2, 4, 8 … minutes (at most a day), its
deliveries wait without spending attempts, and any other answer closes it.

What is sent is what is true when it is sent: an activity carrying a copy of a
post that has since been deleted, or whose author was suspended, is dropped
(:func:`federation.objects.withheld`; a deleted post's ``Delete`` has its own
jobs). That state is read in the transaction that prepares a delivery, or for a
whole claimed batch by the prefetch, and a cached item is trusted for at most
``DeliveryCache.STATE_SECONDS``.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from app.infra import jobs
from app.models import DeliveryAttempt, OutboxItem, PeerDomain, utcnow
from app.services import Ctx
from federation import network, objects, remote
from federation.fetcher import FetchError
from federation.keys import key_id_for, private_pem

log = logging.getLogger(__name__)
BREAKER_THRESHOLD = 5
SUCCESS_NOTE = timedelta(minutes=1)  # how fresh "last success" is kept on a healthy peer
BREAKER_MAX = timedelta(days=1)
MAX_RETRY_AFTER = timedelta(days=1)


def breaker_delay(failures: int, first: float = 120.0) -> timedelta:
    """2, 4, 8 … minutes (``first`` seconds, doubling) once the threshold is reached,
    capped at a day."""
    step = min(max(failures - BREAKER_THRESHOLD, 0), 30)
    return min(timedelta(seconds=first * 2**step), BREAKER_MAX)


def retry_after(value: str | None, now: datetime) -> datetime | None:
    """A Retry-After header (seconds or an HTTP date) as a time, capped at a day."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # HTTP's delay-seconds: ASCII digits only
        digits = value.lstrip("0") or "0"
        # More than a day's worth of digits is capped below; never int() a huge string.
        seconds = int(digits) if len(digits) <= 6 else MAX_RETRY_AFTER.total_seconds() + 1
        when = now + timedelta(seconds=seconds)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None or when.tzinfo is None:
            return None
    return min(max(when, now), now + MAX_RETRY_AFTER)


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt's answer means.

    ``action``: ``done``; ``retry`` (with backoff); ``retry_at`` (at ``when``, the
    peer's Retry-After); ``permanent`` (retrying cannot help: the job is dead).
    ``breaker_failure``: the peer looks down (a network error or a 5xx), which
    counts towards its breaker; any other answer shows it is up and closes it."""

    action: str
    breaker_failure: bool
    when: datetime | None = None


def outcome(
    status: int | None, network_error: bool, headers: Mapping[str, str], now: datetime
) -> Outcome:
    """The one place that turns an answer (status, or a network error, and its
    headers) into what happens next; see the module docstring for the rules."""
    if network_error or status is None:
        return Outcome("retry", breaker_failure=True)
    down = status >= 500
    if 200 <= status < 300:
        return Outcome("done", breaker_failure=False)
    if 400 <= status < 500 and status not in (408, 429):
        return Outcome("permanent", breaker_failure=False)
    if status in (429, 503):
        value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        if (when := retry_after(value, now)) is not None:
            return Outcome("retry_at", breaker_failure=down, when=when)
    return Outcome("retry", breaker_failure=down)


def peer_domain(ctx: Ctx, domain: str, *, lock: bool = False) -> PeerDomain:
    """The domain's row, created race-safely (several workers meet new peers at once);
    ``lock`` holds it (on PostgreSQL) so concurrent breaker updates do not get lost."""
    q = select(PeerDomain).where(col(PeerDomain.domain) == domain)
    if lock:
        q = q.with_for_update()
    peer = ctx.db.exec(q).first()
    if peer is not None:
        return peer
    try:
        with ctx.db.begin_nested():
            ctx.db.add(PeerDomain(domain=domain))
    except IntegrityError:
        pass  # another worker made it first
    return ctx.db.exec(q).one()


@dataclass(frozen=True)
class Prepared:
    """What signing and sending one delivery needs; ``withheld``: the post it
    carries may no longer leave (deleted, or its author suspended), so nothing is sent."""

    body: bytes
    key_id: str
    private_pem: str
    withheld: bool = False


class DeliveryCache:
    """Per worker: outbox items, signing keys and peer states, so a delivery to a
    healthy peer needs no transaction of its own. An item's body never changes, but
    whether it may still be sent does, so that and peer states are kept only
    briefly: a deletion, suspension, breaker or block is seen within seconds."""

    ITEMS = 1024
    KEY_SECONDS = 300.0
    PEER_SECONDS = 2.0
    STATE_SECONDS = 2.0

    def __init__(self) -> None:
        # item id → (body, actor uri, when its state was read, withheld, what it carries)
        self.items: OrderedDict[int, tuple[bytes, str, float, bool, list[str]]] = OrderedDict()
        self.keys: dict[str, tuple[float, str, str]] = {}
        self.peers: dict[str, tuple[float, PeerDomain]] = {}

    def prepared(self, item_id: int, domain: str) -> tuple[Prepared, PeerDomain] | None:
        now = time.monotonic()
        item, peer = self.items.get(item_id), self.peers.get(domain)
        if item is None or peer is None or now - peer[0] > self.PEER_SECONDS:
            return None
        if now - item[2] > self.STATE_SECONDS:
            return None
        key = self.keys.get(item[1])
        if key is None or now - key[0] > self.KEY_SECONDS:
            return None
        self.items.move_to_end(item_id)
        return Prepared(item[0], key[1], key[2], item[3]), peer[1]

    def remember(
        self,
        item_id: int,
        actor_uri: str,
        prepared: Prepared,
        peer: PeerDomain,
        carried: list[str] | None = None,
        *,
        key_read: bool = True,
    ) -> None:
        """Keep an item just read; ``key_read``: its key was read with it (not
        taken from this cache, whose age for it then stands)."""
        now = time.monotonic()
        if carried is None:
            carried = objects.carried_uris(json.loads(prepared.body))
        self.items[item_id] = (prepared.body, actor_uri, now, prepared.withheld, carried)
        while len(self.items) > self.ITEMS:
            self.items.popitem(last=False)
        if key_read or actor_uri not in self.keys:
            self.keys[actor_uri] = (now, prepared.key_id, prepared.private_pem)
        self.remember_peer(peer)

    def key_of(self, actor_uri: str) -> str | None:
        """A signing key read recently enough to use without reading it again."""
        key = self.keys.get(actor_uri)
        if key is None or time.monotonic() - key[0] > self.KEY_SECONDS / 2:
            return None
        return key[2]

    def recheck(self, item_id: int, withheld: bool) -> None:
        """The item's state, just read again (for a claimed batch)."""
        item = self.items.get(item_id)
        if item is not None:
            self.items[item_id] = (item[0], item[1], time.monotonic(), withheld, item[4])

    def remember_peer(self, peer: PeerDomain) -> None:
        self.peers[peer.domain] = (time.monotonic(), peer)


def _cache(shared: dict) -> DeliveryCache:
    cache = shared.get("delivery_cache")
    if cache is None:
        cache = shared["delivery_cache"] = DeliveryCache()
    return cache


@jobs.prefetch("ap.deliver")
def _prefetch(ctx: Ctx, shared: dict, payloads: list[dict]) -> None:
    """Load the outbox items, keys and peer states of a claimed batch at once, and
    read again whether the items already cached may still be sent. Plain columns,
    not ORM objects, and each body parsed once, when first loaded: this runs for
    every claimed batch of deliveries."""
    cache = _cache(shared)
    batch = {p["outbox_item"] for p in payloads}
    cached = batch & set(cache.items)
    if cached:
        chains = {item_id: cache.items[item_id][4] for item_id in cached}
        withheld = objects.withheld_among(ctx, chains)
        for item_id in cached:
            cache.recheck(item_id, item_id in withheld)
    wanted = batch - cached
    if not wanted:
        return
    items = {
        item_id: (body, actor_uri, objects.carried_uris(orjson.loads(body)))
        for item_id, body, actor_uri in ctx.db.exec(
            select(col(OutboxItem.id), col(OutboxItem.body), col(OutboxItem.actor_uri)).where(
                col(OutboxItem.id).in_(wanted)
            )
        ).all()
    }
    held = objects.withheld_among(ctx, {i: item[2] for i, item in items.items()})
    domains = {remote.authority_of(p["inbox"]) for p in payloads}
    peers = {
        peer.domain: peer
        for peer in ctx.db.exec(select(PeerDomain).where(col(PeerDomain.domain).in_(domains))).all()
    }
    for domain in domains - set(peers):
        peers[domain] = peer_domain(ctx, domain)
    keys: dict[str, tuple[str, bool]] = {}  # actor → (key, read now)
    for p in payloads:
        item_id = p["outbox_item"]
        if item_id not in items:
            continue  # gone (the job itself finds out and says so), or cached
        body, actor_uri, carried = items[item_id]
        if actor_uri not in keys:
            known = cache.key_of(actor_uri)
            keys[actor_uri] = (known, False) if known else (private_pem(ctx.db, actor_uri), True)
        pem, read = keys[actor_uri]
        prepared = Prepared(body.encode(), key_id_for(actor_uri), pem, item_id in held)
        peer = peers[remote.authority_of(p["inbox"])]
        cache.remember(item_id, actor_uri, prepared, peer, carried, key_read=read)


def _withheld(ctx: Ctx, activity: dict) -> bool:
    return objects.withheld_post_in(ctx, activity) is not None


def _prepare(
    ctx: Ctx, item_id: int, inbox: str, cache: DeliveryCache
) -> tuple[Prepared, PeerDomain]:
    item = ctx.db.get(OutboxItem, item_id)
    if item is None:
        raise jobs.PermanentError("the outbox item is gone")
    peer = peer_domain(ctx, remote.authority_of(inbox))
    prepared = Prepared(
        item.body.encode(),
        key_id_for(item.actor_uri),
        private_pem(ctx.db, item.actor_uri),
        _withheld(ctx, json.loads(item.body)),
    )
    cache.remember(item_id, item.actor_uri, prepared, peer)
    return prepared, peer


def attempt_row(
    job_id: int | None, inbox: str, status: int | None, error: str | None
) -> DeliveryAttempt:
    return DeliveryAttempt(**attempt_values(job_id, inbox, status, error, utcnow()))


def attempt_values(
    job_id: int | None, inbox: str, status: int | None, error: str | None, when: datetime
) -> dict[str, Any]:
    """A ``delivery_attempts`` row's columns (all of them but the id)."""
    return {
        "job_id": job_id,
        "inbox": inbox,
        "domain": remote.authority_of(inbox),
        "status_code": status,
        "error": error[:2000] if error else None,
        "attempted_at": when,
    }


def steady(peer: PeerDomain, result: Outcome, now: datetime) -> bool:
    """A success on a healthy peer that succeeded recently changes nothing in its
    breaker, so the peer's row is left alone (no lock queue per domain)."""
    healthy = not peer.consecutive_failures and peer.open_until is None
    fresh = peer.last_success_at is not None and peer.last_success_at > now - SUCCESS_NOTE
    return result.action == "done" and healthy and fresh


def record(
    ctx: Ctx,
    job_id: int | None,
    inbox: str,
    status: int | None,
    error: str | None,
    result: Outcome,
) -> PeerDomain:
    """Log the attempt and move the domain's breaker."""
    domain = remote.authority_of(inbox)
    now = utcnow()
    ctx.db.add(attempt_row(job_id, inbox, status, error))
    peer = peer_domain(ctx, domain)
    if steady(peer, result, now):
        return peer
    peer = peer_domain(ctx, domain, lock=True)
    if not result.breaker_failure:  # the server answered: it is up
        peer.consecutive_failures, peer.open_until = 0, None
        if result.action == "done":
            peer.last_success_at = now
    else:
        peer.consecutive_failures += 1
        peer.last_failure_at = now
        if peer.consecutive_failures >= BREAKER_THRESHOLD:
            peer.open_until = now + breaker_delay(
                peer.consecutive_failures, ctx.settings.breaker_base_seconds
            )
    ctx.db.add(peer)
    return peer


@jobs.handler("ap.deliver")
async def deliver(job: jobs.JobContext, payload: dict) -> None:
    inbox, item_id = payload["inbox"], payload["outbox_item"]
    cache = _cache(job.shared)
    ready = cache.prepared(item_id, remote.authority_of(inbox))
    if ready is None:
        ready = await job.run_db(lambda ctx: _prepare(ctx, item_id, inbox, cache))
    prepared, peer = ready  # (astuple would deep-copy the body and the key)
    body, key_id, pem, withheld = (
        prepared.body,
        prepared.key_id,
        prepared.private_pem,
        prepared.withheld,
    )
    if withheld:
        log.info("not sending outbox item %s: the post it carries is withheld", item_id)
        return  # done: what it carried may no longer leave
    now = utcnow()
    if peer.blocked:
        raise jobs.PermanentError(f"{peer.domain} is blocked")
    if peer.open_until is not None and peer.open_until > now:
        raise jobs.RetryAt(peer.open_until, f"circuit open for {peer.domain}", free=True)
    net = network.shared(job)
    status: int | None = None
    error: str | None = None
    answer_headers: Mapping[str, str] = {}
    try:
        url = str(net.poster.policy.check_url(inbox))  # what is signed is what is sent
        headers = {"Content-Type": "application/activity+json"}
        headers.update(await net.signer.sign_request("POST", url, headers, body, key_id, pem))
        answer = await net.poster.post(url, body, headers)
        status, answer_headers = answer.status, answer.headers
        if status >= 300:
            error = f"HTTP {status}"
    except (TimeoutError, FetchError, OSError) as exc:
        status, error = None, f"{type(exc).__name__}: {exc}"
    now = utcnow()
    result = outcome(status, status is None, answer_headers, now)
    if steady(peer, result, now):
        # logged with the job's end, as a plain row (no ORM object per delivery)
        job.on_done(DeliveryAttempt, attempt_values(job.job.id, inbox, status, None, now))
        return
    cache.remember_peer(
        await job.run_db(lambda ctx: record(ctx, job.job.id, inbox, status, error, result))
    )
    if result.action == "done":
        return
    if result.action == "permanent":
        raise jobs.PermanentError(error)
    if result.action == "retry_at" and result.when is not None:  # outcome() sets when
        raise jobs.RetryAt(result.when, error or f"HTTP {status}")
    raise RuntimeError(error)
