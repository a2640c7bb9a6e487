"""Who signed a request (federation/signatures.py), rule by rule, without a server:
the per-process key cache, the request target signatures cover, where a key comes
from (cache, store, or a fetch, and when a refresh may fetch), and secure mode.
Written for `make mutation` (docs/quality.md); tests/test_inbox_hostile.py sends the
real thing through the app, tests/test_httpsig.py checks the signatures themselves."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from federation import httpsig, network, remote, signatures
from federation.fetcher import FetchError
from federation.signatures import KeyCache, KeyResolver, request_target

BASE_URL = "https://social.example"
INBOX = "/users/alice/inbox"
ACTOR = "https://remote.example/users/bob"
KEY_ID = ACTOR + "#main-key"
BODY = b'{"type":"Create","actor":"https://remote.example/users/bob"}'
NOW = datetime(2026, 12, 2, 12, 0, 0)
PRIVATE, PUBLIC = httpsig.generate_keypair()
_, OTHER_PUBLIC = httpsig.generate_keypair()


class FakeRequest:
    """What signatures.py reads of a Starlette request."""

    def __init__(
        self,
        *,
        headers: dict[str, str] | None = None,
        scope: dict[str, Any] | None = None,
        path: str = INBOX,
        secure: bool = False,
        method: str = "POST",
    ) -> None:
        self.method = method
        self.headers = headers or {}
        self.scope = scope if scope is not None else {"raw_path": path.encode()}
        self.url = SimpleNamespace(path=path)
        settings = SimpleNamespace(base_url=BASE_URL, secure_mode=secure)
        self.app = SimpleNamespace(state=SimpleNamespace(settings=settings, engine="engine"))


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# --- the key cache ------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(signatures.time, "monotonic", lambda: now[0])
    return now


def test_a_cached_key_lives_sixty_seconds(clock: list[float]) -> None:
    cache = KeyCache()
    assert cache.get(KEY_ID) is None
    cache.put(KEY_ID, ACTOR, PUBLIC)
    clock[0] += 60
    assert cache.get(KEY_ID) == (ACTOR, PUBLIC)
    clock[0] += 0.001
    assert cache.get(KEY_ID) is None
    cache.put(KEY_ID, ACTOR, OTHER_PUBLIC)  # stored again: fresh again, the new key
    assert cache.get(KEY_ID) == (ACTOR, OTHER_PUBLIC)
    cache.drop(KEY_ID)
    assert cache.get(KEY_ID) is None
    cache.drop(KEY_ID)  # dropping what is not there is harmless


def test_the_cache_forgets_the_least_recently_used_key(clock: list[float]) -> None:
    cache = KeyCache()
    cache.SIZE = 2
    cache.put("a", "owner-a", "pem-a")
    cache.put("b", "owner-b", "pem-b")
    assert cache.get("a") == ("owner-a", "pem-a")  # used: now the most recent
    cache.put("c", "owner-c", "pem-c")
    assert list(cache.entries) == ["a", "c"]
    cache.put("a", "owner-a", "pem-a2")  # stored again: the most recent
    cache.put("d", "owner-d", "pem-d")
    assert list(cache.entries) == ["a", "d"]
    assert KeyCache.SECONDS == 60.0 and KeyCache.SIZE == 10_000


def test_one_cache_and_one_network_per_app(monkeypatch: pytest.MonkeyPatch) -> None:
    class Network:
        def __init__(self, engine: Any, settings: Any) -> None:
            self.made_with = (engine, settings)

    monkeypatch.setattr(network, "Network", Network)
    request = FakeRequest()
    cache = signatures.key_cache_of(request)
    assert isinstance(cache, KeyCache) and signatures.key_cache_of(request) is cache
    assert request.app.state.key_cache is cache
    net = signatures.network_of(request)
    assert isinstance(net, Network) and signatures.network_of(request) is net
    assert net.made_with == ("engine", request.app.state.settings)


# --- the request target -------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "target"),
    [
        ({"raw_path": b"/users/alice/inbox"}, "/users/alice/inbox"),
        ({"raw_path": b"/a%20b", "query_string": b"page=2&x=%C3%A9"}, "/a%20b?page=2&x=%C3%A9"),
        ({"raw_path": b"/caf\xe9"}, "/caf\xe9"),  # bytes as sent (latin-1), not decoded
        ({"raw_path": b"/ap/users/alice", "cg.original_path": b"/users/alice"}, "/users/alice"),
        ({"query_string": b""}, "/from/the/url"),  # no raw path: the URL's
        ({"raw_path": b"", "query_string": b"q=1"}, "/from/the/url?q=1"),
    ],
)
def test_the_request_target_is_what_the_client_sent(scope: dict, target: str) -> None:
    assert request_target(FakeRequest(scope=scope, path="/from/the/url")) == target


# --- where a key comes from ---------------------------------------------------------


class Store:
    """The database (remote.stored_key / store_actor) and the network, faked."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.keys: dict[str, Any] = {}
        self.docs: dict[str, Any] = {}
        self.fetched: list[str] = []
        self.stored: list[dict] = []
        self.transactions: list[tuple[Any, Any, bool]] = []
        self.serve_after_store: dict[str, Any] = {}
        monkeypatch.setattr(network, "in_db", self.in_db)
        monkeypatch.setattr(remote, "stored_key", self.stored_key)
        monkeypatch.setattr(remote, "store_actor", self.store_actor)

    async def in_db(self, engine: Any, settings: Any, fn: Any, *, write: bool = True) -> Any:
        self.transactions.append((engine, settings, write))
        assert fn.__code__.co_argcount == 1
        return fn("ctx")

    def stored_key(self, ctx: Any, key_id: str) -> Any:
        assert ctx == "ctx"  # the transaction's context
        return self.keys.get(key_id)

    def store_actor(self, ctx: Any, doc: dict) -> None:
        assert ctx == "ctx"
        self.stored.append(doc)
        self.keys.update(self.serve_after_store)

    async def fetch(self, url: str) -> Any:
        self.fetched.append(url)
        doc = self.docs.get(url)
        if doc is None:
            raise FetchError("http_error", "not found", url, status=404)
        return doc

    def request(self) -> FakeRequest:
        request = FakeRequest()
        request.app.state.network = self  # network_of finds it
        return request


def key(pem: str = PUBLIC, *, age: timedelta = timedelta(0), ours: bool = False) -> Any:
    return SimpleNamespace(
        owner_uri=ACTOR,
        public_key_pem=pem,
        fetched_at=NOW - age,
        private_key_pem="private" if ours else None,
    )


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Store:
    return Store(monkeypatch)


def test_a_stored_key_is_used_and_cached(store: Store) -> None:
    store.keys[KEY_ID] = key(age=timedelta(days=3))
    request = store.request()
    resolver = KeyResolver(request)
    assert resolver.owner is None
    assert run(resolver(KEY_ID, False)) == PUBLIC
    assert resolver.owner == ACTOR and store.fetched == []
    request_state = request.app.state
    assert store.transactions == [("engine", request_state.settings, False)]  # a read
    assert signatures.key_cache_of(request).get(KEY_ID) == (ACTOR, PUBLIC)
    del store.keys[KEY_ID]
    again = KeyResolver(request)  # the next request of this process: from the cache
    assert run(again(KEY_ID, False)) == PUBLIC and again.owner == ACTOR
    assert len(store.transactions) == 1


@pytest.mark.parametrize(
    ("stored", "fetches"),
    [
        (key(age=timedelta(seconds=1)), True),  # fetched a moment ago, rotated since
        (key(age=timedelta(minutes=1)), True),
        (key(age=timedelta(days=3), ours=True), False),  # our own key is never fetched
        (key(age=timedelta(days=3)), True),
        (None, True),
    ],
)
def test_a_refresh_fetches_the_key_again(store: Store, stored: Any, fetches: bool) -> None:
    if stored is not None:
        store.keys[KEY_ID] = stored
    store.docs[ACTOR] = {"id": ACTOR, "type": "Person"}
    store.serve_after_store = {KEY_ID: key(OTHER_PUBLIC)}
    request = store.request()
    signatures.key_cache_of(request).put(KEY_ID, ACTOR, PUBLIC)
    resolver = KeyResolver(request)
    found = run(resolver(KEY_ID, True))  # a forced refresh skips the cache
    assert found == (OTHER_PUBLIC if fetches else PUBLIC) and resolver.owner == ACTOR
    assert store.fetched == ([ACTOR] if fetches else [])  # the actor: the id without "#…"
    assert store.stored == ([store.docs[ACTOR]] if fetches else [])
    writes = [w for _, _, w in store.transactions]
    assert writes == ([False, True, False] if fetches else [False])
    assert signatures.key_cache_of(request).get(KEY_ID) == (ACTOR, found)


def test_a_refresh_fetches_at_most_once_a_minute_per_actor(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.keys[KEY_ID] = key(age=timedelta(days=3))
    store.docs[ACTOR] = {"id": ACTOR, "type": "Person"}
    request = store.request()
    clock = [1000.0]
    monkeypatch.setattr(signatures.time, "monotonic", lambda: clock[0])
    for _ in range(3):
        assert run(KeyResolver(request)(KEY_ID, True)) == PUBLIC
    assert store.fetched == [ACTOR]  # the second and third: the stored key, no fetch
    clock[0] += signatures.KeyRefreshes.SECONDS
    run(KeyResolver(request)(KEY_ID, True))
    assert store.fetched == [ACTOR, ACTOR]


def test_a_key_fetched_by_this_request_is_not_fetched_again(store: Store) -> None:
    store.docs[ACTOR] = {"id": ACTOR, "type": "Person"}
    store.serve_after_store = {KEY_ID: key()}
    resolver = KeyResolver(store.request())
    assert run(resolver(KEY_ID, False)) == PUBLIC  # unknown: fetched
    assert run(resolver(KEY_ID, True)) == PUBLIC  # the refresh after a failed check
    assert store.fetched == [ACTOR]


def test_a_key_document_leads_to_its_owner(store: Store) -> None:
    store.docs[KEY_ID.split("#")[0]] = {"id": KEY_ID, "type": "Key", "owner": ACTOR + "/x"}
    store.docs[ACTOR + "/x"] = {"id": ACTOR + "/x", "type": "Service"}
    store.serve_after_store = {KEY_ID: key()}
    assert run(KeyResolver(store.request())(KEY_ID, False)) == PUBLIC
    assert store.fetched == [ACTOR, ACTOR + "/x"]
    assert store.stored == [store.docs[ACTOR + "/x"]]


@pytest.mark.parametrize(
    "doc",
    [
        {"id": ACTOR, "type": "Person", "owner": "https://remote.example/other"},  # an actor
        {"id": ACTOR, "type": "Key"},  # a key without an owner: stored as it is (refused)
        {"id": ACTOR, "type": "Key", "owner": {"id": "https://remote.example/other"}},
    ],
)
def test_only_a_non_actor_with_an_owner_url_is_followed(store: Store, doc: dict) -> None:
    store.docs[ACTOR] = doc
    assert run(KeyResolver(store.request())(KEY_ID, False)) is None  # nothing was stored
    assert store.fetched == [ACTOR] and store.stored == [doc]


def test_an_unresolvable_key_is_none_and_not_cached(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    request = store.request()
    resolver = KeyResolver(request)
    with caplog.at_level(logging.INFO, logger="commonground.signatures"):
        assert run(resolver(KEY_ID, False)) is None  # the fetch fails
    assert caplog.messages == [f"could not resolve key {KEY_ID}: http_error: not found ({ACTOR})"]
    assert resolver.owner is None and store.stored == []
    store.docs[ACTOR] = {"id": ACTOR, "type": "Person"}

    def refuse(ctx: Any, doc: dict) -> None:
        raise remote.InvalidActor("not an actor we store")

    remote.store_actor = refuse  # type: ignore[assignment]  # undone by monkeypatch
    assert run(KeyResolver(request)(KEY_ID, False)) is None
    assert signatures.key_cache_of(request).entries == {}


def test_a_refresh_drops_the_cached_key_even_when_it_finds_none(store: Store) -> None:
    request = store.request()
    cache = signatures.key_cache_of(request)
    cache.put(KEY_ID, ACTOR, PUBLIC)
    assert run(KeyResolver(request)(KEY_ID, True)) is None  # the actor is gone
    assert cache.get(KEY_ID) is None  # the next request does not trust the stale key


def test_a_key_id_is_fetched_without_its_fragment(store: Store) -> None:
    key_id = ACTOR + "#keys#2"
    store.docs[ACTOR] = {"id": ACTOR, "type": "Person"}
    store.serve_after_store = {key_id: key()}
    assert run(KeyResolver(store.request())(key_id, False)) == PUBLIC
    assert store.fetched == [ACTOR]


def test_a_key_without_an_owner_is_not_cached(store: Store) -> None:
    request = store.request()
    resolver = KeyResolver(request)

    async def no_owner(key_id: str, refresh: bool) -> str:
        return PUBLIC

    resolver._resolve = no_owner  # type: ignore[method-assign]
    assert run(resolver(KEY_ID, False)) == PUBLIC
    assert signatures.key_cache_of(request).entries == {}


# --- verifying ----------------------------------------------------------------------


def signed(body: bytes = BODY) -> dict[str, str]:
    return httpsig.sign_request("POST", BASE_URL + INBOX, {}, body, KEY_ID, PRIVATE)


def test_verify_names_the_keys_owner(store: Store) -> None:
    store.keys[KEY_ID] = key()
    request = store.request()
    request.headers = signed()
    verified, signer = run(signatures.verify(request, BODY))
    assert signer == ACTOR and verified.key_id == KEY_ID and verified.scheme == "cavage"
    with pytest.raises(httpsig.SignatureError):
        run(signatures.verify(request, BODY + b" "))  # the digest no longer matches


def test_a_signature_for_another_host_is_refused(store: Store) -> None:
    """The cavage Host check needs this server's base URL: both paths pass it."""
    store.keys[KEY_ID] = key()
    request = store.request()
    request.headers = httpsig.sign_request(
        "POST", "https://elsewhere.example" + INBOX, {}, BODY, KEY_ID, PRIVATE
    )
    with pytest.raises(httpsig.SignatureError, match="Host"):
        run(signatures.verify(request, BODY))
    signatures.key_cache_of(request).put(KEY_ID, ACTOR, PUBLIC)
    assert run(signatures.verify_cached(request, BODY)) is None


def test_a_verified_key_without_an_owner_is_refused(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def ownerless(self: KeyResolver, key_id: str, refresh: bool) -> str:
        return PUBLIC

    monkeypatch.setattr(KeyResolver, "_resolve", ownerless)
    request = store.request()
    request.headers = signed()
    with pytest.raises(httpsig.SignatureError) as caught:
        run(signatures.verify(request, BODY))
    assert caught.value.reason == "the key has no owner"


def test_verify_cached_uses_the_cache_alone(store: Store) -> None:
    request = store.request()
    request.headers = signed()
    assert run(signatures.verify_cached(request, BODY)) is None  # not cached
    assert store.transactions == [] and store.fetched == []
    cache = signatures.key_cache_of(request)
    cache.put(KEY_ID, ACTOR, PUBLIC)
    verified, signer = run(signatures.verify_cached(request, BODY))
    assert signer == ACTOR and verified.key_id == KEY_ID
    cache.put(KEY_ID, ACTOR, OTHER_PUBLIC)  # a stale key: the full path decides
    assert run(signatures.verify_cached(request, BODY)) is None
    assert store.transactions == []
    request.headers = {}
    assert run(signatures.verify_cached(request, BODY)) is None  # unsigned


# --- secure mode --------------------------------------------------------------------


def test_secure_mode_serves_signed_fetches_of_unblocked_domains(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked: list[str] = []
    monkeypatch.setattr(
        signatures.peers, "is_blocked", lambda ctx, domain: ctx == "ctx" and domain in blocked
    )
    store.keys[KEY_ID] = key()
    request = store.request()
    assert run(signatures.require_signed_fetch(request)) is None  # not in secure mode
    assert store.transactions == []
    request.app.state.settings.secure_mode = True
    request.method = "GET"
    request.scope = {"raw_path": INBOX.encode()}
    with pytest.raises(signatures.Unsigned) as caught:
        run(signatures.require_signed_fetch(request))
    assert (caught.value.status, caught.value.code) == (401, "signature_required")
    assert caught.value.detail == (
        "This instance serves ActivityPub documents to signed requests only: request is not signed"
    )
    request.headers = httpsig.sign_request("GET", BASE_URL + INBOX, {}, None, KEY_ID, PRIVATE)
    assert run(signatures.require_signed_fetch(request)) is None
    blocked.append("remote.example")
    with pytest.raises(signatures.Unsigned) as caught:
        run(signatures.require_signed_fetch(request))
    assert (caught.value.code, caught.value.detail) == (
        "domain_blocked",
        "This instance does not serve your domain.",
    )


# --- httpsig: the checks verify_request makes (federation/httpsig.py) ---------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_key_checks_only_its_own_kind_of_signature() -> None:
    """An Ed25519 signature never passes as an RSA one, whatever the algorithm claims."""
    ed = ed25519.Ed25519PrivateKey.generate()
    signature = ed.sign(b"data")
    public = ed.public_key()
    assert httpsig.verify_bytes(public, b"data", signature, "ed25519")
    for algorithm in ("rsa-v1_5-sha256", "rsa-pss-sha512", "hmac-sha256"):
        assert not httpsig.verify_bytes(public, b"data", signature, algorithm)
    rsa_public = httpsig.load_public_key(PUBLIC)
    assert not httpsig.verify_bytes(rsa_public, b"data", signature, "ed25519")


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        (1000 - 300, None),  # exactly the allowed skew, either way
        (1000 + 300, None),
        (1000 - 301, "Date is too old"),
        (1000 + 301, "Date is in the future"),
    ],
)
def test_the_allowed_clock_skew_is_inclusive(when: float, reason: str | None) -> None:
    if reason is None:
        httpsig._check_time(when, 1000, 300, "Date")
    else:
        with pytest.raises(httpsig.SignatureError) as caught:
            httpsig._check_time(when, 1000, 300, "Date")
        assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("social.example", True),
        ("Social.Example:443", True),  # the default port of the base URL's scheme
        ("social.example:80", False),
        ("other.example", False),
    ],
)
def test_the_host_header_names_this_server(host: str, ok: bool) -> None:
    if ok:
        httpsig._check_host({"host": [host]}, BASE_URL)
    else:
        with pytest.raises(httpsig.SignatureError, match="is not this server"):
            httpsig._check_host({"host": [host]}, BASE_URL)


SHA256 = _b64(hashlib.sha256(BODY).digest())
SHA512 = _b64(hashlib.sha512(BODY).digest())


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (f"SHA-256={SHA256}", None),
        (f"SHA-256={SHA256},SHA-512={SHA512}", None),  # every offered value, no spaces
        (f"MD5=abc,SHA-256={SHA256}", None),  # unknown algorithms are skipped, not the end
        (f"SHA-256={SHA256},SHA-512={SHA256}", "body does not match the Digest header"),
        ("MD5=abc", "Digest header has no SHA-256 or SHA-512 value"),
    ],
)
def test_every_digest_offered_must_match(value: str, reason: str | None) -> None:
    if reason is None:
        httpsig._check_digest(value, BODY)
    else:
        with pytest.raises(httpsig.SignatureError) as caught:
            httpsig._check_digest(value, BODY)
        assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (f"sha-256=:{SHA256}:", None),
        (f"md5=:AAAA:, sha-512=:{SHA512}:", None),
        (f"sha-512=:{SHA256}:", "body does not match the Content-Digest header"),
        ("md5=:AAAA:", "Content-Digest header has no sha-256 or sha-512 value"),
    ],
)
def test_every_content_digest_member_must_match(value: str, reason: str | None) -> None:
    if reason is None:
        httpsig._check_content_digest(value, BODY)
    else:
        with pytest.raises(httpsig.SignatureError) as caught:
            httpsig._check_content_digest(value, BODY)
        assert caught.value.reason == reason


def test_a_covered_digest_must_be_there() -> None:
    with pytest.raises(httpsig.SignatureError) as caught:
        httpsig._check_body("POST", {}, BODY, {"digest"}, ("digest",))
    assert caught.value.reason == "covered header 'digest' is missing"
    with pytest.raises(httpsig.SignatureError) as caught:
        httpsig._parse_http_date(None)
    assert caught.value.reason == "covered header 'date' is missing"


def test_a_date_without_a_zone_is_utc_wherever_the_server_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert httpsig._parse_http_date(["Sun, 06 Nov 1994 08:49:37 -0000"]) == 784111777
        assert httpsig._parse_http_date(["Sun, 06 Nov 1994 08:49:37 GMT"]) == 784111777
    finally:
        monkeypatch.undo()
        time.tzset()


def test_refusals_say_why() -> None:
    with pytest.raises(httpsig.SignatureError) as caught:
        run(httpsig._resolve(_answer("not a key"), KEY_ID, False))
    assert caught.value.reason == f"the key for {KEY_ID!r} is not a usable public key"
    headers = signed()
    wrong = _answer(OTHER_PUBLIC)
    with pytest.raises(httpsig.SignatureError) as caught:
        run(httpsig.verify_request("POST", INBOX, headers, BODY, key_resolver=wrong))
    assert caught.value.reason == "signature does not verify with the sender's key"
    ed = _answer(ed25519.Ed25519PrivateKey.generate().public_key())
    with pytest.raises(httpsig.SignatureError) as caught:
        run(httpsig.verify_request("POST", INBOX, headers, BODY, key_resolver=ed))
    assert caught.value.reason == "the sender's key does not fit the signature algorithm"
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    curve = _answer(ec_key)
    with pytest.raises(httpsig.SignatureError) as caught:
        run(httpsig.verify_request("POST", INBOX, headers, BODY, key_resolver=curve))
    assert caught.value.reason == f"unsupported key type {type(ec_key).__name__}"  # its class


def test_an_ed25519_signature_by_another_key_says_so() -> None:
    signer = ed25519.Ed25519PrivateKey.generate()
    headers = httpsig.sign_request_rfc9421("POST", BASE_URL + INBOX, {}, BODY, KEY_ID, signer)
    other = _answer(ed25519.Ed25519PrivateKey.generate().public_key())
    with pytest.raises(httpsig.SignatureError) as caught:
        run(
            httpsig.verify_request(
                "POST", INBOX, headers, BODY, key_resolver=other, base_url=BASE_URL
            )
        )
    assert caught.value.reason == "signature does not verify with the sender's key"
    mine = _answer(signer.public_key())
    found = run(
        httpsig.verify_request("POST", INBOX, headers, BODY, key_resolver=mine, base_url=BASE_URL)
    )
    assert found.algorithm == "ed25519"


def test_a_request_signed_now_verifies_on_the_clock() -> None:
    """Without ``now`` the check uses the real time: a fresh signature passes."""
    found = run(httpsig.verify_request("POST", INBOX, signed(), BODY, key_resolver=_answer(PUBLIC)))
    assert found.key_id == KEY_ID


def _answer(value: object) -> Any:
    async def resolver(key_id: str, refresh: bool) -> object:
        return value

    return resolver


# --- httpsig: reading the Signature headers (_prepare_cavage, _prepare_rfc9421) ------

T0 = 1_000_000


def _cavage(params: str, **headers: str) -> Any:
    received = {"host": ["social.example"], **{k: [v] for k, v in headers.items()}}
    received["signature"] = [params]
    return httpsig._prepare_cavage("GET", INBOX, received, b"", BASE_URL, T0, 300)


def _cavage_reason(params: str, **headers: str) -> str:
    with pytest.raises(httpsig.SignatureError) as caught:
        _cavage(params, **headers)
    return caught.value.reason


SIG = 'keyId="k",signature="AAAA"'


def test_cavage_parameters_unescape_and_refuse_garbage() -> None:
    params = httpsig._parse_cavage_params(r'keyId="a\"b\\c",algorithm="hs2019"')
    assert params == {"keyId": 'a"b\\c', "algorithm": "hs2019"}
    for garbage in ("", "keyId", ",,"):
        with pytest.raises(httpsig.SignatureError) as caught:
            httpsig._parse_cavage_params(garbage)
        assert caught.value.reason == "malformed Signature header"


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ('keyId="k"', "Signature header needs keyId and signature"),
        (SIG, "signature must cover (request-target)"),  # the default alone never suffices
        (f'{SIG},algorithm="rsa-sha256"', "signature must cover (request-target)"),
        (f'{SIG},headers=""', "Signature header covers no headers"),
        (
            f'{SIG},algorithm="rsa-sha256",headers="(request-target) host date (expires)",'
            f"expires={T0 + 60}",
            "(created) and (expires) are not allowed with rsa-sha256",
        ),
        (
            f'{SIG},algorithm="hs2019",headers="(request-target) host (created)"',
            "created parameter is not an integer",
        ),
        (
            f'{SIG},headers="(request-target) host (created)",created={T0},expires=soon',
            "expires parameter is not a timestamp",
        ),
        (
            f'{SIG},headers="(request-target) host (created)",created={T0},expires={T0 - 1}',
            "signature has expired",
        ),
    ],
)
def test_cavage_refusals(params: str, reason: str) -> None:
    assert _cavage_reason(params) == reason


def test_cavage_created_and_expiry() -> None:
    covered = f'{SIG},headers="(request-target) host (created) date"'
    date = httpsig.http_date(T0 - 10)
    pending = _cavage(f"{covered},created={T0}", date=date)
    assert pending.created == T0  # the created parameter, not the Date
    assert _cavage(f'{SIG},headers="(request-target) host date"', date=date).created == T0 - 10
    at_the_edge = f"{covered},created={T0},expires={T0}"
    assert _cavage(at_the_edge, date=date).created == T0  # expiring now is not expired
    with pytest.raises(httpsig.SignatureError) as caught:
        httpsig._prepare_cavage(
            "GET",
            INBOX,
            {"signature": [f'{SIG},headers="(request-target) host date"']},
            b"",
            BASE_URL,
            T0,
            300,
        )
    assert caught.value.reason == "covered header 'host' is missing"


def _rfc9421(inputs: str, signature: str = "sig1=:AAAA:") -> Any:
    received = {"signature-input": [inputs], "signature": [signature]}
    return httpsig._prepare_rfc9421("GET", INBOX, received, b"", BASE_URL, T0, 300)


COVERED = '("@method" "@target-uri")'


@pytest.mark.parametrize(
    ("inputs", "signature", "reason"),
    [
        (
            f'sig1={COVERED};created={T0};keyid="k"',
            "sig1=:AAAA:, sig2=:AAAA:",
            "exactly one RFC 9421 signature is accepted",
        ),
        (f"sig1={COVERED};created={T0};keyid=5", "sig1=:AAAA:", "signature has no keyid"),
        (f'sig1={COVERED};created={T0};keyid=""', "sig1=:AAAA:", "signature has no keyid"),
        (
            f'sig1={COVERED};created={T0};keyid="k";expires="x"',
            "sig1=:AAAA:",
            "expires parameter is not an integer",
        ),
        (
            f'sig1={COVERED};created={T0};keyid="k";expires={T0 - 1}',
            "sig1=:AAAA:",
            "signature has expired",
        ),
        (
            f'sig1=("@method" x);created={T0};keyid="k"',
            "sig1=:AAAA:",
            "a covered component is not a quoted string",
        ),
        (f'sig1=1;created={T0};keyid="k"', "sig1=:AAAA:", "malformed Signature-Input header"),
        (f'sig1={COVERED};created={T0};keyid="k"', "sig1=1", "malformed Signature header"),
        (f'sig1={COVERED};created={T0};keyid="k"', "sig1=(", "malformed Signature header"),
    ],
)
def test_rfc9421_refusals(inputs: str, signature: str, reason: str) -> None:
    with pytest.raises(httpsig.SignatureError) as caught:
        _rfc9421(inputs, signature)
    assert caught.value.reason == reason


def test_rfc9421_components_and_expiry() -> None:
    inputs = (
        f'sig1=("@method" "@target-uri" "@query-param";name="page");created={T0};keyid="k";'
        f"expires={T0}"
    )
    received = {"signature-input": [inputs], "signature": ["sig1=:AAAA:"]}
    target = INBOX + "?page=2"
    pending = httpsig._prepare_rfc9421("GET", target, received, b"", BASE_URL, T0, 300)
    assert pending.components == ("@method", "@target-uri", '"@query-param";name="page"')
    assert pending.key_id == "k" and pending.label == "sig1"  # expiring now: not expired
    with pytest.raises(httpsig.SignatureError) as caught:
        httpsig._prepare_rfc9421(
            "GET", target, {"signature-input": [inputs]}, b"", BASE_URL, T0, 300
        )
    assert caught.value.reason == "Signature-Input without a Signature header"


def test_cavage_signed_text_must_be_latin_1_and_the_signature_base64() -> None:
    covered = f'keyId="k",headers="(request-target) host (created)",created={T0},signature="AAAA"'
    received = {"host": ["social.example"], "signature": [covered]}
    with pytest.raises(httpsig.SignatureError) as caught:
        httpsig._prepare_cavage("GET", "/caf\u20ac", received, b"", BASE_URL, T0, 300)
    assert caught.value.reason == "signed headers are not Latin-1"
    received["signature"] = [covered.replace("AAAA", "not base64!")]
    with pytest.raises(httpsig.SignatureError) as caught:
        httpsig._prepare_cavage("GET", INBOX, received, b"", BASE_URL, T0, 300)
    assert caught.value.reason == "signature is not valid base64"
