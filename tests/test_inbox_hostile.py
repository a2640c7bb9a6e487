"""The inbox against a hostile sender, end to end through the in-process app.

Everything real: the app from ``create_app``, signatures made and checked with
:mod:`federation.httpsig`, key and activity fetches through the SSRF-safe fetcher
to small HTTP servers on 127.0.0.1 that play the attacker's (and a victim's)
instance. Nothing contacts a non-loopback address.

Every refused request must leave no trace where it matters: no ``inbox_items`` row,
no ``ap.inbox`` job, no post. (Fetching the signer's actor document may store that
actor: that is how keys are learnt, and is not an accepted activity.)
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.config import Settings
from app.db import transaction
from app.infra import jobs
from app.services import Ctx, accounts
from federation.httpsig import (
    content_digest_header,
    digest_header,
    generate_keypair,
    sign_request,
    sign_request_rfc9421,
)
from federation.vocab import AS_CONTEXT, AS_PUBLIC
from tests.conftest import PASSWORD, app_for

AS2 = "application/activity+json"
BASE = "http://127.0.0.1:8000"
MEMBER = "alice"
MEMBER_URI = f"{BASE}/users/{MEMBER}"
INBOX_PATH = f"/users/{MEMBER}/inbox"
INBOX_URL = BASE + INBOX_PATH
TWO_HOURS = 2 * 3600
_ids = itertools.count(1)


# --- the attacker's web server -------------------------------------------------------------


@dataclass
class Doc:
    """What one path of a :class:`DocServer` answers."""

    body: bytes = b""
    status: int = 200
    ctype: str = AS2
    headers: dict[str, str] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        docs = self.server.docs
        docs.seen.append(self.path)
        doc = docs.routes.get(self.path) or Doc(b"not here", 404, "text/plain")
        self.send_response(doc.status)
        self.send_header("Content-Type", doc.ctype)
        self.send_header("Content-Length", str(len(doc.body)))
        for name, value in doc.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(doc.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    docs: DocServer


class DocServer:
    """A threaded HTTP server on 127.0.0.1 (free port) serving configured documents."""

    def __init__(self) -> None:
        self.routes: dict[str, Doc] = {}
        self.seen: list[str] = []
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.docs = self
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def path_of(self, url: str) -> str:
        assert url.startswith(self.base + "/"), url
        return url[len(self.base) :]

    def serve(self, url: str, doc: dict | bytes, **kw: Any) -> None:
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        self.routes[self.path_of(url)] = Doc(body, **kw)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class Peer:
    """A remote actor: its documents live on ``server``, its key pair is ``keys``."""

    def __init__(self, server: DocServer, name: str, keys: tuple[str, str]) -> None:
        self.server, self.name = server, name
        self.private_pem, self.public_pem = keys
        self.uri = f"{server.base}/users/{name}"
        self.key_id = f"{self.uri}#main-key"

    def actor(self, **overrides: Any) -> dict:
        doc = {
            "@context": [AS_CONTEXT, "https://w3id.org/security/v1"],
            "id": self.uri,
            "type": "Person",
            "preferredUsername": self.name,
            "inbox": f"{self.uri}/inbox",
            "publicKey": {"id": self.key_id, "owner": self.uri, "publicKeyPem": self.public_pem},
        }
        doc.update(overrides)
        return doc

    def publish(self, doc: dict | None = None, **kw: Any) -> Peer:
        self.server.serve(self.uri, doc if doc is not None else self.actor(), **kw)
        return self

    def new_id(self, kind: str = "activities") -> str:
        return f"{self.server.base}/{kind}/{next(_ids)}"

    def sign(
        self,
        body: bytes,
        *,
        scheme: str = "cavage",
        now: float | None = None,
        private_pem: str | None = None,
        key_id: str | None = None,
    ) -> dict[str, str]:
        pem, kid = private_pem or self.private_pem, key_id or self.key_id
        if scheme == "cavage":
            return sign_request("POST", INBOX_URL, {}, body, kid, pem, now=now)
        return sign_request_rfc9421("POST", INBOX_URL, {}, body, kid, pem, now=now)


def note(author: str, note_id: str, content: str = "hello from afar") -> dict:
    return {
        "id": note_id,
        "type": "Note",
        "attributedTo": author,
        "content": content,
        "to": [AS_PUBLIC],
    }


def create(peer: Peer, *, actor: str | None = None, host: DocServer | None = None, **kw: Any):
    """A public Create of a Note; ids on ``host`` (the actor's server by default)."""
    actor = actor or peer.uri
    base = (host or peer.server).base
    n = next(_ids)
    return {
        "@context": AS_CONTEXT,
        "id": f"{base}/activities/{n}",
        "type": "Create",
        "actor": actor,
        "object": note(actor, f"{base}/notes/{n}", **kw),
        "to": [AS_PUBLIC],
    }


def dumps(activity: Any) -> bytes:
    return json.dumps(activity).encode()


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys() -> dict[str, tuple[str, str]]:
    return {name: generate_keypair() for name in ("mallory", "stranger", "victim", "victim2")}


@pytest.fixture
def hostile_settings(settings: Settings) -> Settings:
    # ``settings`` wipes every table after the test.
    return settings.model_copy(update={"allow_private_addresses": True})


@pytest.fixture
def member(hostile_settings: Settings, engine: Engine) -> None:
    with transaction(engine) as db:
        accounts.register(Ctx(db, hostile_settings), MEMBER, PASSWORD)


@contextmanager
def _client(app_settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(app_for(app_settings, engine), base_url=BASE) as client:
        yield client


@pytest.fixture
def client(hostile_settings: Settings, engine: Engine, member: None) -> Iterator[TestClient]:
    with _client(hostile_settings, engine) as c:
        yield c


@pytest.fixture
def attacker() -> Iterator[DocServer]:
    server = DocServer()
    yield server
    server.close()


@pytest.fixture
def elsewhere() -> Iterator[DocServer]:
    """A second loopback "instance" (another port): the victim's."""
    server = DocServer()
    yield server
    server.close()


@pytest.fixture
def mallory(attacker: DocServer, keys: dict[str, tuple[str, str]]) -> Peer:
    return Peer(attacker, "mallory", keys["mallory"]).publish()


# --- helpers -------------------------------------------------------------------------------


def stored(engine: Engine) -> dict[str, int]:
    queries = {
        "inbox_items": "SELECT count(*) FROM inbox_items",
        "ap.inbox jobs": "SELECT count(*) FROM jobs WHERE kind = 'ap.inbox'",
        "posts": "SELECT count(*) FROM posts",
    }
    with engine.connect() as conn:
        return {name: conn.execute(text(sql)).scalar_one() for name, sql in queries.items()}


def post(client: TestClient, body: bytes, headers: dict[str, str]):
    return client.post(INBOX_PATH, content=body, headers=headers)


def assert_refused(
    client: TestClient,
    engine: Engine,
    body: bytes,
    headers: dict[str, str],
    status: int,
    code: str | None = None,
):  # the response
    before = stored(engine)
    r = post(client, body, headers)
    assert r.status_code == status, r.text
    if code is not None:
        assert r.json()["error"] == code, r.text
    after = stored(engine)
    assert after == before, after
    assert after["posts"] == 0
    return r


def run_job(engine: Engine, settings: Settings, kind: str) -> None:
    job = jobs.run_one(engine, settings, "test")
    assert job is not None and job.kind == kind, job
    assert job.state == "done", job.last_error


# --- 1-6: signatures that prove nothing ----------------------------------------------------

SignCase = Callable[[Peer, bytes, dict[str, tuple[str, str]]], tuple[bytes, dict[str, str]]]


def _unsigned(p: Peer, body: bytes, keys: dict) -> tuple[bytes, dict[str, str]]:
    return body, {"Content-Type": AS2}


def _other_key(p: Peer, body: bytes, keys: dict) -> tuple[bytes, dict[str, str]]:
    return body, p.sign(body, private_pem=keys["stranger"][0])


def _other_key_rfc9421(p: Peer, body: bytes, keys: dict) -> tuple[bytes, dict[str, str]]:
    return body, p.sign(body, scheme="rfc9421", private_pem=keys["stranger"][0])


def _body_tampered(p: Peer, body: bytes, keys: dict) -> tuple[bytes, dict[str, str]]:
    return body.replace(b"hello", b"HELLO"), p.sign(body)


def _body_and_digest_tampered(p: Peer, body: bytes, keys: dict) -> tuple[bytes, dict[str, str]]:
    tampered = body.replace(b"hello", b"HELLO")
    return tampered, {**p.sign(body), "Digest": digest_header(tampered)}


def _digest_of_other_body(p: Peer, body: bytes, keys: dict) -> tuple[bytes, dict[str, str]]:
    return body, {**p.sign(body), "Digest": digest_header(b'{"other": "body"}')}


def _content_digest_of_other_body(p: Peer, body: bytes, keys: dict) -> tuple[bytes, dict[str, str]]:
    headers = p.sign(body, scheme="rfc9421")
    return body, {**headers, "Content-Digest": content_digest_header(b'{"other": "body"}')}


def _rfc9421_body_and_digest_tampered(
    p: Peer, body: bytes, keys: dict
) -> tuple[bytes, dict[str, str]]:
    tampered = body.replace(b"hello", b"HELLO")
    headers = p.sign(body, scheme="rfc9421")
    return tampered, {**headers, "Content-Digest": content_digest_header(tampered)}


def _date_old(p: Peer, body: bytes, keys: dict) -> tuple[bytes, dict[str, str]]:
    return body, p.sign(body, now=time.time() - TWO_HOURS)


def _created_old(p: Peer, body: bytes, keys: dict) -> tuple[bytes, dict[str, str]]:
    return body, p.sign(body, scheme="rfc9421", now=time.time() - TWO_HOURS)


def _date_future(p: Peer, body: bytes, keys: dict) -> tuple[bytes, dict[str, str]]:
    return body, p.sign(body, now=time.time() + TWO_HOURS)


def _created_future(p: Peer, body: bytes, keys: dict) -> tuple[bytes, dict[str, str]]:
    return body, p.sign(body, scheme="rfc9421", now=time.time() + TWO_HOURS)


BAD_SIGNATURES: list[tuple[SignCase, str]] = [
    (_unsigned, "request is not signed"),
    (_other_key, "does not verify with the sender's key"),
    (_other_key_rfc9421, "does not verify with the sender's key"),
    (_body_tampered, "body does not match the Digest header"),
    (_body_and_digest_tampered, "does not verify with the sender's key"),
    (_digest_of_other_body, "body does not match the Digest header"),
    (_content_digest_of_other_body, "body does not match the Content-Digest header"),
    (_rfc9421_body_and_digest_tampered, "does not verify with the sender's key"),
    (_date_old, "Date header is too old"),
    (_created_old, "signature creation time is too old"),
    (_date_future, "Date header is in the future"),
    (_created_future, "signature creation time is in the future"),
]


@pytest.mark.parametrize(
    ("case", "reason"), BAD_SIGNATURES, ids=[c.__name__.strip("_") for c, _ in BAD_SIGNATURES]
)
def test_bad_signature_is_refused(
    client: TestClient,
    engine: Engine,
    mallory: Peer,
    keys: dict[str, tuple[str, str]],
    case: SignCase,
    reason: str,
) -> None:
    body, headers = case(mallory, dumps(create(mallory)), keys)
    r = assert_refused(client, engine, body, headers, 401, "invalid_signature")
    assert reason in r.json()["detail"]


@pytest.mark.parametrize("scheme", ["cavage", "rfc9421"])
def test_valid_signature_is_accepted(
    client: TestClient, engine: Engine, mallory: Peer, scheme: str
) -> None:
    """The control for the table above: untampered, the same request gets in."""
    body = dumps(create(mallory))
    r = post(client, body, mallory.sign(body, scheme=scheme))
    assert r.status_code == 202, r.text
    assert r.json() == {"status": "accepted"}
    assert stored(engine) == {"inbox_items": 1, "ap.inbox jobs": 1, "posts": 0}


# --- 7: replay -----------------------------------------------------------------------------


def test_replayed_activity_is_stored_once(
    client: TestClient, engine: Engine, mallory: Peer
) -> None:
    body = dumps(create(mallory))
    headers = mallory.sign(body)
    first, second = post(client, body, headers), post(client, body, headers)
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json() == {"status": "accepted"}
    assert second.json() == {"status": "duplicate"}
    assert stored(engine) == {"inbox_items": 1, "ap.inbox jobs": 1, "posts": 0}


# --- 8-9: the signer is not the actor ------------------------------------------------------


@pytest.mark.parametrize("activity_on", ["victim_host", "attacker_host"])
def test_signer_on_another_host_cannot_speak_for_the_actor(
    client: TestClient,
    engine: Engine,
    mallory: Peer,
    elsewhere: DocServer,
    keys: dict[str, tuple[str, str]],
    activity_on: str,
) -> None:
    victim = Peer(elsewhere, "victim", keys["victim"]).publish()
    host = elsewhere if activity_on == "victim_host" else mallory.server
    activity = create(mallory, actor=victim.uri, host=host)
    body = dumps(activity)
    assert_refused(client, engine, body, mallory.sign(body), 401, "signer_not_actor")
    # The origin was asked (and does not have it), or not even asked.
    asked = [elsewhere.path_of(activity["id"])] if activity_on == "victim_host" else []
    assert elsewhere.seen == asked


@pytest.mark.parametrize("origin_has", ["nothing", "another_activity"])
def test_signer_on_the_same_host_needs_the_origin_to_confirm(
    client: TestClient,
    engine: Engine,
    mallory: Peer,
    keys: dict[str, tuple[str, str]],
    origin_has: str,
) -> None:
    victim = Peer(mallory.server, "victim2", keys["victim2"]).publish()
    activity = create(mallory, actor=victim.uri)
    if origin_has == "another_activity":
        other = {**activity, "type": "Like", "object": f"{BASE}/posts/1"}
        mallory.server.serve(activity["id"], other)
    body = dumps(activity)
    assert_refused(client, engine, body, mallory.sign(body), 401, "signer_not_actor")
    assert mallory.server.path_of(activity["id"]) in mallory.server.seen


def test_relayed_activity_is_taken_from_its_origin(
    client: TestClient, engine: Engine, mallory: Peer, keys: dict[str, tuple[str, str]]
) -> None:
    """The control for 8-9: when the origin does confirm, its copy (not the relayed
    body) is what gets stored."""
    victim = Peer(mallory.server, "victim2", keys["victim2"]).publish()
    genuine = create(mallory, actor=victim.uri, content="the genuine text")
    mallory.server.serve(genuine["id"], genuine)
    forged = {**genuine, "object": {**genuine["object"], "content": "forged text"}}
    body = dumps(forged)
    r = post(client, body, mallory.sign(body))
    assert r.status_code == 202, r.text
    assert stored(engine) == {"inbox_items": 1, "ap.inbox jobs": 1, "posts": 0}
    with engine.connect() as conn:
        kept = json.loads(conn.execute(text("SELECT body FROM inbox_items")).scalar_one())
    assert kept["object"]["content"] == "the genuine text"


# --- 10: objects on a foreign host ---------------------------------------------------------


def _foreign_embedded(a: dict) -> dict:
    return {**a, "object": {**a["object"], "id": "http://127.0.0.1:1/notes/1"}}


def _foreign_link(a: dict) -> dict:
    return {**a, "object": "http://127.0.0.1:1/notes/1"}


def _object_without_id(a: dict) -> dict:
    return {**a, "object": {k: v for k, v in a["object"].items() if k != "id"}}


def _foreign_activity_id(a: dict) -> dict:
    return {**a, "id": "http://127.0.0.1:1/activities/1"}


@pytest.mark.parametrize(
    "forge",
    [_foreign_embedded, _foreign_link, _object_without_id, _foreign_activity_id],
    ids=lambda f: f.__name__.strip("_"),
)
def test_objects_must_be_on_the_actors_host(
    client: TestClient, engine: Engine, mallory: Peer, forge: Callable[[dict], dict]
) -> None:
    body = dumps(forge(create(mallory)))
    assert_refused(client, engine, body, mallory.sign(body), 403, "foreign_origin")


# --- 11-12: actor documents that do not hold up --------------------------------------------


def _as_html(p: Peer) -> None:
    p.publish(ctype="text/html; charset=utf-8")


def _as_plain_json(p: Peer) -> None:
    p.publish(ctype="application/json")


def _id_differs(p: Peer) -> None:
    p.publish(p.actor(id=f"{p.server.base}/users/someone-else"))


def _owner_differs(p: Peer) -> None:
    key = {"id": p.key_id, "owner": f"{p.server.base}/users/x", "publicKeyPem": p.public_pem}
    p.publish(p.actor(publicKey=key))


def _gone(p: Peer) -> None:
    p.publish(status=410)


def _with_graph(p: Peer) -> None:
    p.publish(p.actor(**{"@graph": [{"id": p.uri}]}))


def _redirect_to_another_actor(p: Peer) -> None:
    """The keyId's actor redirects to a valid actor that does not hold that key."""
    other = Peer(p.server, "decoy", (p.private_pem, p.public_pem)).publish()
    p.server.routes[p.server.path_of(p.uri)] = Doc(status=302, headers={"Location": other.uri})


ACTOR_DOC_CASES = [
    _as_html,
    _as_plain_json,
    _id_differs,
    _owner_differs,
    _gone,
    _with_graph,
    _redirect_to_another_actor,
]


@pytest.mark.parametrize("serve", ACTOR_DOC_CASES, ids=lambda f: f.__name__.strip("_"))
def test_unusable_actor_document_means_no_key(
    client: TestClient, engine: Engine, mallory: Peer, serve: Callable[[Peer], None]
) -> None:
    serve(mallory)
    body = dumps(create(mallory))
    assert_refused(client, engine, body, mallory.sign(body), 401, "invalid_signature")
    assert mallory.server.path_of(mallory.uri) in mallory.server.seen


def test_key_document_owned_by_an_actor_elsewhere(
    client: TestClient,
    engine: Engine,
    mallory: Peer,
    elsewhere: DocServer,
    keys: dict[str, tuple[str, str]],
) -> None:
    """A standalone key whose ``owner`` is a victim on another host: the victim's real
    document does not list that key, so it is not the victim's."""
    victim = Peer(elsewhere, "victim", keys["victim"]).publish()
    key_url = f"{mallory.server.base}/keys/1"
    key_doc = {
        "id": key_url,
        "type": "Key",
        "owner": victim.uri,
        "publicKeyPem": mallory.public_pem,
    }
    mallory.server.serve(key_url, key_doc)
    activity = create(mallory, actor=victim.uri, host=elsewhere)
    body = dumps(activity)
    assert_refused(
        client, engine, body, mallory.sign(body, key_id=key_url), 401, "invalid_signature"
    )


# --- 13, 14, 16: bodies refused before anything else ---------------------------------------


def _graph(a: dict) -> dict:
    return {**a, "@graph": [{"id": a["id"], "type": "Delete"}]}


def _reverse(a: dict) -> dict:
    return {**a, "@reverse": {"attributedTo": {"id": MEMBER_URI}}}


def _included(a: dict) -> dict:
    return {**a, "@included": [{"id": a["object"]["id"], "type": "Note"}]}


def _nested_graph(a: dict) -> dict:
    return {**a, "object": {**a["object"], "@graph": []}}


def _aliased_graph(a: dict) -> dict:
    return {**a, "@context": [AS_CONTEXT, {"nodes": "@graph"}], "nodes": []}


@pytest.mark.parametrize(
    "forge",
    [_graph, _reverse, _included, _nested_graph, _aliased_graph],
    ids=lambda f: f.__name__.strip("_"),
)
def test_jsonld_smuggling_is_refused(
    client: TestClient, engine: Engine, mallory: Peer, forge: Callable[[dict], dict]
) -> None:
    body = dumps(forge(create(mallory)))
    assert_refused(client, engine, body, mallory.sign(body), 400, "invalid_activity")
    assert mallory.server.seen == []  # refused before any key fetch


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_one_megabyte_is_refused(
    client: TestClient, engine: Engine, mallory: Peer, chunked: bool
) -> None:
    activity = create(mallory, content="x" * 1_100_000)
    body = dumps(activity)
    assert len(body) > 1_048_576
    headers = mallory.sign(body)
    before = stored(engine)
    if chunked:
        r = client.post(INBOX_PATH, content=iter([body[:500_000], body[500_000:]]), headers=headers)
    else:
        r = post(client, body, headers)
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "payload_too_large"
    assert stored(engine) == before
    assert mallory.server.seen == []


def _without(name: str) -> Callable[[dict], bytes]:
    return lambda a: dumps({k: v for k, v in a.items() if k != name})


def _with(**fields: Any) -> Callable[[dict], bytes]:
    return lambda a: dumps({**a, **fields})


BAD_BODIES: list[tuple[str, Callable[[dict], bytes], str]] = [
    ("malformed", lambda a: dumps(a)[:-5], "invalid_json"),
    ("not_utf8", lambda a: b'{"id": "\xff\xfe"}', "invalid_json"),
    ("array", lambda a: dumps([a]), "invalid_activity"),
    ("string", lambda a: dumps("Create"), "invalid_activity"),
    ("missing_id", _without("id"), "invalid_activity"),
    ("non_http_id", _with(id="urn:uuid:1"), "invalid_activity"),
    ("missing_type", _without("type"), "invalid_activity"),
    # A list of types is valid JSON-LD (["Create"] is accepted: see
    # test_a_type_list_is_accepted_and_processed below and test_list_values_e2e.py);
    # what is refused is a type that is no name at all.
    ("numeric_type", _with(type=7), "invalid_activity"),
    ("empty_type_list", _with(type=[]), "invalid_activity"),
    ("type_list_with_a_number", _with(type=["Create", 7]), "invalid_activity"),
    (
        "two_actors",
        lambda a: dumps({**a, "actor": [a["actor"], a["actor"] + "x"]}),
        "invalid_activity",
    ),
    (
        "two_objects",
        lambda a: dumps({**a, "object": [a["object"], a["object"]]}),
        "invalid_activity",
    ),
    ("missing_actor", _without("actor"), "invalid_activity"),
    ("non_http_actor", _with(actor="acct:mallory@127.0.0.1"), "invalid_activity"),
    ("numeric_actor", _with(actor=7), "invalid_activity"),
]


@pytest.mark.parametrize(
    ("build", "code"), [c[1:] for c in BAD_BODIES], ids=[c[0] for c in BAD_BODIES]
)
def test_malformed_activity_is_refused(
    client: TestClient,
    engine: Engine,
    mallory: Peer,
    build: Callable[[dict], bytes],
    code: str,
) -> None:
    body = build(create(mallory))
    assert_refused(client, engine, body, mallory.sign(body), 400, code)
    assert mallory.server.seen == []


@pytest.mark.parametrize("types", [["Create"], ["Create", "https://vocab.example/ns#Extra"]])
def test_a_type_list_is_accepted_and_processed(
    client: TestClient, hostile_settings: Settings, engine: Engine, mallory: Peer, types: list
) -> None:
    """Once refused as malformed (``list_type``); a list holding one type we handle
    is that type, as ActivityStreams means it."""
    body = dumps({**create(mallory), "type": types})
    r = post(client, body, mallory.sign(body))
    assert r.status_code == 202, r.text
    assert r.json() == {"status": "accepted"}
    run_job(engine, hostile_settings, "ap.inbox")
    assert stored(engine) == {"inbox_items": 1, "ap.inbox jobs": 1, "posts": 1}
    with engine.connect() as conn:
        row = conn.execute(text("SELECT activity_type, state FROM inbox_items")).one()
    assert tuple(row) == ("Create", "done")


# --- 15: a key that lives on a private address ---------------------------------------------


def test_key_on_a_private_address_is_not_fetched(
    settings: Settings, engine: Engine, mallory: Peer
) -> None:
    """With the production policy the signer's key on 127.0.0.1 is never fetched, so
    even a perfect signature proves nothing. (A public host redirecting to a private
    one is tests/test_fetcher.py::test_redirect_to_private_address_is_refused.)"""
    strict = settings.model_copy(update={"allow_private_addresses": False})
    with transaction(engine) as db:
        accounts.register(Ctx(db, strict), MEMBER, PASSWORD)
    with _client(strict, engine) as client:
        body = dumps(create(mallory))
        assert_refused(client, engine, body, mallory.sign(body), 401, "invalid_signature")
    assert mallory.server.seen == []


# --- 17: hostile HTML ----------------------------------------------------------------------


def test_hostile_html_is_sanitised_when_stored(
    client: TestClient, hostile_settings: Settings, engine: Engine, mallory: Peer
) -> None:
    content = (
        "<p>Harmless words</p><script>alert(1)</script>"
        '<p onclick="alert(2)">clickable text</p>'
        '<a href="javascript:alert(3)">a link</a>'
        '<a href="JaVaScRiPt:alert(4)">another link</a>'
    )
    body = dumps(create(mallory, content=content))
    r = post(client, body, mallory.sign(body))
    assert r.status_code == 202, r.text
    run_job(engine, hostile_settings, "ap.inbox")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT html FROM posts")).all()
    assert len(rows) == 1
    html = rows[0][0]
    lowered = html.lower()
    for bad in ("<script", "alert(1)", "onclick", "javascript:"):
        assert bad not in lowered, html
    for kept in ("Harmless words", "clickable text", "a link", "another link"):
        assert kept in html, html


# --- 18: Delete / Update from an actor we never heard of -----------------------------------


@pytest.mark.parametrize("kind", ["Delete", "Update"])
def test_delete_or_update_from_unknown_actor_is_ignored_unverified(
    client: TestClient, engine: Engine, mallory: Peer, kind: str
) -> None:
    """Documented short-cut: nothing of theirs is stored, so nothing can change;
    answered 202 without even looking at the (here absent) signature."""
    activity = {**create(mallory), "type": kind}
    if kind == "Delete":
        activity["object"] = activity["object"]["id"]
    before = stored(engine)
    r = post(client, dumps(activity), {"Content-Type": AS2})
    assert r.status_code == 202, r.text
    assert r.json() == {"status": "ignored"}
    assert stored(engine) == before
    assert mallory.server.seen == []


def test_delete_from_a_known_actor_must_be_signed(
    client: TestClient, engine: Engine, mallory: Peer
) -> None:
    """The contrast to the short-cut: once the actor is known, no signature, no Delete."""
    follow = {"id": mallory.new_id(), "type": "Follow", "actor": mallory.uri, "object": MEMBER_URI}
    body = dumps(follow)
    assert post(client, body, mallory.sign(body)).status_code == 202  # mallory is now known
    delete = {"id": mallory.new_id(), "type": "Delete", "actor": mallory.uri, "object": mallory.uri}
    assert_refused(client, engine, dumps(delete), {"Content-Type": AS2}, 401, "invalid_signature")


# --- positive control: a Follow is accepted and answered -----------------------------------


def test_signed_follow_is_accepted_and_answered(
    client: TestClient, hostile_settings: Settings, engine: Engine, mallory: Peer
) -> None:
    follow = {
        "@context": AS_CONTEXT,
        "id": mallory.new_id(),
        "type": "Follow",
        "actor": mallory.uri,
        "object": MEMBER_URI,
    }
    body = dumps(follow)
    r = post(client, body, mallory.sign(body))
    assert r.status_code == 202, r.text
    assert r.json() == {"status": "accepted"}
    run_job(engine, hostile_settings, "ap.inbox")
    with engine.connect() as conn:
        follows = conn.execute(
            text(
                "SELECT f.state, f.activity_uri FROM follows f "
                "JOIN accounts a ON a.id = f.follower_id "
                "JOIN accounts t ON t.id = f.target_account_id "
                "WHERE a.uri = :follower AND t.uri = :target"
            ),
            {"follower": mallory.uri, "target": MEMBER_URI},
        ).all()
        deliveries = conn.execute(
            text("SELECT payload FROM jobs WHERE kind = 'ap.deliver' AND state = 'queued'")
        ).all()
        state = conn.execute(text("SELECT state FROM inbox_items")).scalar_one()
    assert [tuple(row) for row in follows] == [("accepted", follow["id"])]
    assert [json.loads(row[0])["inbox"] for row in deliveries] == [f"{mallory.uri}/inbox"]
    assert state == "done"


# --- authorship: a Create cannot put words in another actor's mouth -----------------------


@pytest.mark.parametrize("shape", ["string", "object", "list"])
def test_create_attributed_to_someone_else_on_the_same_host(
    client: TestClient,
    hostile_settings: Settings,
    engine: Engine,
    mallory: Peer,
    keys: dict[str, tuple[str, str]],
    shape: str,
) -> None:
    victim = Peer(mallory.server, "victim2", keys["victim2"]).publish()
    activity = create(mallory, content="words the victim never wrote")
    author = {"string": victim.uri, "object": {"id": victim.uri}, "list": [victim.uri]}[shape]
    activity["object"]["attributedTo"] = author
    body = dumps(activity)
    r = post(client, body, mallory.sign(body))
    assert r.status_code == 202, r.text  # the edge only checks hosts; the handler decides
    run_job(engine, hostile_settings, "ap.inbox")
    with engine.connect() as conn:
        state = conn.execute(text("SELECT state FROM inbox_items")).scalar_one()
        authors = conn.execute(
            text("SELECT a.uri FROM posts p JOIN accounts a ON a.id = p.author_id")
        ).all()
    assert (state, authors) == ("ignored", [])


# --- the fast path: a key used a moment ago is cached per process --------------------------


def test_a_known_peers_next_activity_needs_no_key_lookup(
    client: TestClient, engine: Engine, mallory: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from federation import remote

    lookups: list[str] = []
    real = remote.stored_key
    monkeypatch.setattr(
        remote, "stored_key", lambda ctx, key_id: lookups.append(key_id) or real(ctx, key_id)
    )
    for _ in range(3):
        body = dumps(create(mallory))
        r = post(client, body, mallory.sign(body))
        assert (r.status_code, r.json()) == (202, {"status": "accepted"})
    assert set(lookups) == {mallory.key_id}
    first_request_lookups = len(lookups)
    body = dumps(create(mallory))
    assert post(client, body, mallory.sign(body)).status_code == 202
    assert len(lookups) == first_request_lookups  # the fourth came from the cache
    assert stored(engine)["inbox_items"] == 4


@pytest.mark.parametrize("case", [_other_key, _body_tampered, _digest_of_other_body, _date_old])
def test_with_the_key_cached_bad_signatures_are_still_refused(
    client: TestClient,
    engine: Engine,
    mallory: Peer,
    keys: dict[str, tuple[str, str]],
    case: SignCase,
) -> None:
    body = dumps(create(mallory))
    assert post(client, body, mallory.sign(body)).status_code == 202  # the key is now cached
    bad_body, headers = case(mallory, dumps(create(mallory)), keys)
    assert_refused(client, engine, bad_body, headers, 401, "invalid_signature")


@pytest.mark.parametrize(
    "forge",
    [_foreign_embedded, _foreign_link, _object_without_id, _foreign_activity_id],
    ids=lambda f: f.__name__.strip("_"),
)
def test_with_the_key_cached_objects_must_still_be_on_the_actors_host(
    client: TestClient, engine: Engine, mallory: Peer, forge: Callable[[dict], dict]
) -> None:
    body = dumps(create(mallory))
    assert post(client, body, mallory.sign(body)).status_code == 202  # the key is now cached
    body = dumps(forge(create(mallory)))
    assert_refused(client, engine, body, mallory.sign(body), 403, "foreign_origin")


def test_with_the_key_cached_a_newly_blocked_domain_is_refused(
    client: TestClient, engine: Engine, mallory: Peer
) -> None:
    from app.models import PeerDomain
    from federation.remote import authority_of

    body = dumps(create(mallory))
    assert post(client, body, mallory.sign(body)).status_code == 202  # the key is now cached
    with transaction(engine) as db:
        db.add(PeerDomain(domain=authority_of(mallory.uri), blocked=True))
    body = dumps(create(mallory))
    assert_refused(client, engine, body, mallory.sign(body), 403, "domain_blocked")


def test_in_secure_mode_a_blocked_domain_gets_no_documents(
    hostile_settings: Settings, engine: Engine, member: None, mallory: Peer
) -> None:
    """Authorized fetch: a signed GET is served until the signer's domain is blocked
    (the same block the inbox honours, read through ``peers.is_blocked``)."""
    from app.models import PeerDomain
    from federation.remote import authority_of

    def fetch(c: TestClient) -> Any:
        url = f"{BASE}/ap/users/{MEMBER}"
        headers = sign_request("GET", url, {}, None, mallory.key_id, mallory.private_pem)
        return c.get(url, headers={**headers, "Accept": "application/activity+json"})

    secure = hostile_settings.model_copy(update={"secure_mode": True})
    with _client(secure, engine) as c:
        assert fetch(c).status_code == 200
        with transaction(engine) as db:
            db.add(PeerDomain(domain=authority_of(mallory.uri), blocked=True))
        refused = fetch(c)
    assert refused.status_code == 401 and refused.json()["error"] == "domain_blocked"


def test_a_member_who_blocked_the_sender_refuses_its_activities(
    client: TestClient, engine: Engine, hostile_settings: Settings, mallory: Peer
) -> None:
    from app.services import blocks
    from federation import remote

    body = dumps(create(mallory))
    assert post(client, body, mallory.sign(body)).status_code == 202  # mallory is known now
    with transaction(engine) as db:
        ctx = Ctx(db, hostile_settings)
        alice = accounts.find_local(ctx, MEMBER)
        blocks.block(ctx, alice, remote.known(ctx, mallory.uri))
    body = dumps(create(mallory))
    assert_refused(client, engine, body, mallory.sign(body), 403, "blocked")


# --- a rotated key: refetched once (at most once a minute per actor) ---------------------


def test_a_key_rotated_just_after_we_fetched_it_is_accepted(
    client: TestClient,
    engine: Engine,
    mallory: Peer,
    keys: dict[str, tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The peer changes its key seconds after we fetched (and cached) the old one:
    its next activity, signed with the new key, gets in, at the cost of one fetch;
    bad signatures naming its key cost no more fetches until a minute has passed."""
    from federation import signatures

    def actor_fetches() -> int:
        return mallory.server.seen.count(mallory.server.path_of(mallory.uri))

    body = dumps(create(mallory))
    assert post(client, body, mallory.sign(body)).status_code == 202  # old key fetched, cached
    assert actor_fetches() == 1
    rotated = Peer(mallory.server, "mallory", generate_keypair()).publish()
    body = dumps(create(rotated))
    r = post(client, body, rotated.sign(body))
    assert (r.status_code, r.json()) == (202, {"status": "accepted"}), r.text
    assert actor_fetches() == 2
    body = dumps(create(rotated))
    assert post(client, body, rotated.sign(body)).status_code == 202  # the new key is cached
    assert actor_fetches() == 2

    for _ in range(3):  # forged with another key: refused, and the peer is not asked again
        body = dumps(create(rotated))
        headers = rotated.sign(body, private_pem=keys["stranger"][0])
        assert_refused(client, engine, body, headers, 401, "invalid_signature")
    assert actor_fetches() == 2
    monkeypatch.setattr(signatures.KeyRefreshes, "SECONDS", 0.0)  # a minute later
    body = dumps(create(rotated))
    headers = rotated.sign(body, private_pem=keys["stranger"][0])
    assert_refused(client, engine, body, headers, 401, "invalid_signature")
    assert actor_fetches() == 3


# --- boosts by people: an Announce of a post (not a Group's relay) ------------------------


def _member_post(engine: Engine, settings: Settings) -> str:
    from app.services import posts

    with transaction(engine) as db:
        ctx = Ctx(db, settings)
        alice = accounts.find_local(ctx, MEMBER)
        assert alice is not None
        return posts.create(ctx, alice, "boost me").uri


def _boosts(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT a.uri, b.uri FROM boosts b JOIN accounts a ON a.id = b.account_id")
        ).all()
    return [tuple(r) for r in rows]


def _inbox_states(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT state FROM inbox_items ORDER BY id"))]


def _announce(peer: Peer, obj: str) -> dict:
    return {
        "@context": AS_CONTEXT,
        "id": peer.new_id(),
        "type": "Announce",
        "actor": peer.uri,
        "object": obj,
        "to": [AS_PUBLIC],
    }


def _deliver(client: TestClient, settings: Settings, engine: Engine, peer: Peer, act: dict):
    body = dumps(act)
    r = post(client, body, peer.sign(body))
    assert r.status_code == 202 and r.json() == {"status": "accepted"}, r.text
    run_job(engine, settings, "ap.inbox")


def test_a_persons_announce_of_our_post_is_a_boost_only_they_undo(
    client: TestClient,
    hostile_settings: Settings,
    engine: Engine,
    attacker: DocServer,
    mallory: Peer,
    keys: dict[str, tuple[str, str]],
) -> None:
    post_uri = _member_post(engine, hostile_settings)
    boost = _announce(mallory, post_uri)
    _deliver(client, hostile_settings, engine, mallory, boost)
    assert _boosts(engine) == [(mallory.uri, boost["id"])]
    # someone else on the same host undoes it: nothing changes
    stranger = Peer(attacker, "stranger", keys["stranger"]).publish()
    undo = {"id": stranger.new_id(), "type": "Undo", "actor": stranger.uri, "object": boost["id"]}
    _deliver(client, hostile_settings, engine, stranger, undo)
    assert _boosts(engine) == [(mallory.uri, boost["id"])]
    assert _inbox_states(engine)[-1] == "ignored"
    # the booster undoes it
    undo = {"id": mallory.new_id(), "type": "Undo", "actor": mallory.uri, "object": boost}
    _deliver(client, hostile_settings, engine, mallory, undo)
    assert _boosts(engine) == []
    # and a Delete of the actor takes its boosts along
    _deliver(client, hostile_settings, engine, mallory, _announce(mallory, post_uri))
    assert len(_boosts(engine)) == 1
    gone = {"id": mallory.new_id(), "type": "Delete", "actor": mallory.uri, "object": mallory.uri}
    _deliver(client, hostile_settings, engine, mallory, gone)
    assert _boosts(engine) == []


def test_a_persons_announce_of_an_unfetchable_object_is_ignored(
    client: TestClient, hostile_settings: Settings, engine: Engine, mallory: Peer
) -> None:
    missing = f"{mallory.server.base}/notes/nowhere"  # 404 on the attacker's server
    _deliver(client, hostile_settings, engine, mallory, _announce(mallory, missing))
    assert _boosts(engine) == [] and _inbox_states(engine) == ["ignored"]
    assert stored(engine)["posts"] == 0  # nothing fetched and stored
    # an Announce whose id claims to be ours is not recorded either
    post_uri = _member_post(engine, hostile_settings)
    forged = {**_announce(mallory, post_uri), "id": f"{BASE}/activities/{'0' * 32}"}
    body = dumps(forged)
    r = post(client, body, mallory.sign(body))
    if r.status_code == 202 and r.json() == {"status": "accepted"}:
        run_job(engine, hostile_settings, "ap.inbox")
    assert _boosts(engine) == []
