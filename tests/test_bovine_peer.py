"""Interoperability with bovine (https://pypi.org/project/bovine/), an independent
ActivityPub library, as the peer: its signatures against our verifier and inbox,
ours against its verifier, and its WebFinger lookup against our server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aiohttp
import httpx
import pytest
from bovine.clients import lookup_uri_with_webfinger
from bovine.clients.signed_http import SignedHttpClient
from bovine.clients.utils import host_target_from_url
from bovine.crypto import build_validate_http_signature_raw, generate_rsa_public_private_key
from bovine.crypto.http_signature import build_signature
from bovine.crypto.types import CryptographicIdentifier, CryptographicSecret
from bovine.utils import get_gmt_now

from federation.httpsig import SignatureError, generate_keypair, sign_request, verify_request
from tests.peers import Instance, serving
from tests.server_process import HOST, free_port

BODY = b'{"type": "Note", "content": "moo"}'


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


# --- our signatures, bovine's verifier --------------------------------------------------


async def _bovine_accepts(method: str, url: str, headers: dict, body: bytes, public_pem: str):
    async def key_retriever(key_id: str) -> CryptographicIdentifier:
        return CryptographicIdentifier.from_pem(public_pem, "https://us.example/users/alice")

    validate = build_validate_http_signature_raw(key_retriever)

    async def read_body() -> bytes:
        return body

    return await validate(method, url, lower(headers), read_body)


async def test_bovine_verifies_our_signed_post_and_get() -> None:
    private_pem, public_pem = generate_keypair()
    url = "https://them.example/users/bob/inbox"
    key_id = "https://us.example/users/alice#main-key"
    headers = sign_request("POST", url, {}, BODY, key_id, private_pem)
    owner = await _bovine_accepts("post", url, headers, BODY, public_pem)
    assert owner == "https://us.example/users/alice"
    # No query string: bovine 0.5 leaves the query out of (request-target) when it
    # verifies (draft-cavage-12 §2.3 includes it, as we and Mastodon do); see
    # docs/federation.md#interoperability-notes.
    get_url = "https://them.example/users/bob"
    accept = {"Accept": "application/activity+json"}
    headers = {**accept, **sign_request("GET", get_url, accept, None, key_id, private_pem)}
    assert await _bovine_accepts("get", get_url, headers, b"", public_pem) is not None


async def test_bovine_rejects_our_signature_over_a_tampered_body() -> None:
    private_pem, public_pem = generate_keypair()
    url = "https://them.example/inbox"
    headers = sign_request("POST", url, {}, BODY, "https://us.example/actor#main-key", private_pem)
    assert (
        await _bovine_accepts("post", url, headers, BODY.replace(b"moo", b"baa"), public_pem)
        is None
    )


# --- bovine's signatures, our verifier ---------------------------------------------------


def bovine_signed_post(url: str, body: bytes, key_id: str, private_pem: str) -> dict[str, str]:
    """The headers bovine's SignedHttpClient.post sends (same helper calls, no network)."""
    host, target = host_target_from_url(url)
    secret = CryptographicSecret.from_pem(key_id, private_pem)
    from bovine.clients.signed_http import legacy_digest_method

    digest_name, digest = legacy_digest_method(body)
    helper = (
        build_signature(host, "post", target)
        .with_field("date", get_gmt_now())
        .with_field(digest_name, digest)
        .with_field("content-type", "application/activity+json")
    )
    return {**helper.headers, "signature": helper.sign_for_http_draft(secret)}


async def test_our_verifier_accepts_bovine_signatures_and_rejects_tampering() -> None:
    public_pem, private_pem = generate_rsa_public_private_key()
    key_id = "https://them.example/users/bob#main-key"
    url = "https://us.example/users/alice/inbox"
    headers = bovine_signed_post(url, BODY, key_id, private_pem)

    async def resolver(wanted: str, refresh: bool) -> str | None:
        return public_pem if wanted == key_id else None

    verified = await verify_request(
        "POST", "/users/alice/inbox", headers, BODY, key_resolver=resolver,
        base_url="https://us.example",
    )  # fmt: skip
    assert verified.key_id == key_id and "digest" in verified.components
    with pytest.raises(SignatureError):
        await verify_request(
            "POST", "/users/alice/inbox", headers, BODY + b" ", key_resolver=resolver,
            base_url="https://us.example",
        )  # fmt: skip


# --- against a real server ---------------------------------------------------------------


class BovineActorHost(ThreadingHTTPServer):
    """Serves the bovine peer's actor document (our server fetches it to get the key)."""

    daemon_threads = True

    def __init__(self) -> None:
        port = free_port()
        self.base = f"http://{HOST}:{port}"
        self.actor_id = f"{self.base}/actor/moo"
        self.public_pem, self.private_pem = generate_rsa_public_private_key()
        self.document = {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": self.actor_id,
            "type": "Person",
            "preferredUsername": "moo",
            "inbox": f"{self.actor_id}/inbox",
            "outbox": f"{self.actor_id}/outbox",
            "publicKey": {
                "id": f"{self.actor_id}#main-key",
                "owner": self.actor_id,
                "publicKeyPem": self.public_pem,
            },
        }
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's naming
                body = json.dumps(host.document).encode()
                found = self.path.split("#")[0] == "/actor/moo"
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/activity+json")
                self.send_header("Content-Length", str(len(body) if found else 0))
                self.end_headers()
                if found:
                    self.wfile.write(body)

            def do_POST(self) -> None:
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__((HOST, port), Handler)


@pytest.fixture
def bovine_actor() -> Iterator[BovineActorHost]:
    with serving(BovineActorHost()) as server:
        yield server


@pytest.mark.slow
async def test_bovine_finds_our_actors_and_its_signed_follow_is_accepted(
    bovine_actor: BovineActorHost,
) -> None:
    with Instance() as ours:
        ours.register("alice")
        async with aiohttp.ClientSession() as session:
            actor, needs_check = await lookup_uri_with_webfinger(
                session, f"acct:alice@{ours.domain}", domain=ours.url
            )
            assert actor == f"{ours.url}/users/alice" and needs_check is False
            async with session.get(actor, headers={"Accept": "application/activity+json"}) as r:
                doc = await r.json(content_type=None)
            assert doc["publicKey"]["owner"] == actor and doc["type"] == "Person"

            client = SignedHttpClient(
                session, f"{bovine_actor.actor_id}#main-key", bovine_actor.private_pem
            )
            follow = {
                "@context": "https://www.w3.org/ns/activitystreams",
                "id": f"{bovine_actor.base}/activities/follow-1",
                "type": "Follow",
                "actor": bovine_actor.actor_id,
                "object": actor,
            }
            response = await client.post(f"{actor}/inbox", json.dumps(follow))
            assert response.status == 202, await response.text()

        # the same signed headers over a changed body: refused, nothing stored
        inbox = f"{actor}/inbox"
        second = {**follow, "id": f"{bovine_actor.base}/activities/follow-2"}
        body = json.dumps(second).encode()
        headers = bovine_signed_post(
            inbox, body, f"{bovine_actor.actor_id}#main-key", bovine_actor.private_pem
        )
        tampered = body.replace(b"follow-2", b"follow-3")
        r = httpx.post(inbox, content=tampered, headers=headers, trust_env=False)
        assert r.status_code == 401 and r.json()["error"] == "invalid_signature"
        stored = ours.sql("SELECT activity_id FROM inbox_items")
        assert stored == [(follow["id"],)]
