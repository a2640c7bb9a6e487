"""New threads in a remote community, with real servers: a member on one instance
starts a thread in a community hosted elsewhere, the Group announces it, and a
member on a third instance sees it. The Group is hosted by one of ours, and by a
small Group written with bovine (https://pypi.org/project/bovine/), an independent
ActivityPub library, that checks signatures and addressing as a peer would."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from bovine.crypto import build_validate_http_signature_raw, generate_rsa_public_private_key
from bovine.crypto.types import CryptographicIdentifier

from tests.peers import Instance, eventually, serving
from tests.server_process import HOST, free_port
from tests.test_bovine_peer import bovine_signed_post

pytestmark = pytest.mark.slow
AS2 = "application/activity+json"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def _home_item(instance: Instance, user: str, uri: str) -> dict | None:
    items = instance.api("GET", "/feed/home", user).json()["items"]
    return next((i["post"] for i in items if i["post"]["uri"] == uri), None)


def _follow(instance: Instance, user: str, target: str, group_uri: str) -> None:
    r = instance.api("POST", "/follows", user, json={"target": target})
    assert r.status_code == 202, r.text
    eventually(
        lambda: any(
            f["target"] == group_uri for f in instance.api("GET", "/me/following", user).json()
        ),
        what=f"the Group to accept {user}'s follow",
    )


def test_a_thread_started_from_another_instance_is_announced_to_a_third() -> None:
    with Instance() as a, Instance() as b, Instance() as c:
        b.register("bob")
        r = b.api("POST", "/communities", "bob", json={"name": "garden", "title": "Garden"})
        assert r.status_code == 201, r.text
        group = f"{b.url}/c/garden"
        a.register("alice")
        c.register("carol")
        _follow(a, "alice", f"garden@{b.domain}", group)
        _follow(c, "carol", f"garden@{b.domain}", group)

        r = a.api(
            "POST",
            "/posts",
            "alice",
            json={"text": "Beans?", "title": "Seed swap", "community": f"garden@{b.domain}"},
        )
        assert r.status_code == 201, r.text
        uri = r.json()["uri"]

        def on_b() -> dict | None:
            items = b.api("GET", "/communities/garden/feed").json()["items"]
            return next((i["post"] for i in items if i["post"]["uri"] == uri), None)

        thread = eventually(on_b, what="the thread in B's community")
        assert thread["title"] == "Seed swap" and thread["author"]["domain"] == a.domain
        seen = eventually(lambda: _home_item(c, "carol", uri), what="the thread on C")
        assert seen["title"] == "Seed swap" and "Beans" in seen["text"]
        assert seen["community"]["url"] == group and seen["author"]["domain"] == a.domain


# --- bovine as the Group's host ---------------------------------------------------------


class BovineGroup(ThreadingHTTPServer):
    """A Group on 127.0.0.1: accepts follows, and announces (signed with bovine) to
    its followers what members send it, once bovine has verified the sender's
    signature and the object is addressed to the Group (FEP-1b12)."""

    daemon_threads = True

    def __init__(self) -> None:
        port = free_port()
        self.base = f"http://{HOST}:{port}"
        self.group = f"{self.base}/c/orchard"
        self.public_pem, self.private_pem = generate_rsa_public_private_key()
        self.followers: list[str] = []  # actor URIs
        self.announced: list[dict] = []
        self.refused: list[str] = []
        self.document = {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": self.group,
            "type": "Group",
            "preferredUsername": "orchard",
            "name": "Orchard",
            "inbox": f"{self.group}/inbox",
            "outbox": f"{self.group}/outbox",
            "followers": f"{self.group}/followers",
            "publicKey": {
                "id": f"{self.group}#main-key",
                "owner": self.group,
                "publicKeyPem": self.public_pem,
            },
        }
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's naming
                path = self.path.split("?")[0]
                doc = {
                    "/c/orchard": host.document,
                    "/c/orchard/outbox": {
                        "@context": "https://www.w3.org/ns/activitystreams",
                        "id": f"{host.group}/outbox",
                        "type": "OrderedCollection",
                        "totalItems": 0,
                        "orderedItems": [],
                    },
                }.get(path)
                body = json.dumps(doc).encode() if doc else b""
                self.send_response(200 if doc else 404)
                self.send_header("Content-Type", AS2)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                url = f"{host.base}{self.path}"
                headers = {k.lower(): v for k, v in self.headers.items()}
                signer = asyncio.run(host.verify(url, headers, body))
                self.send_response(202 if signer else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if signer:
                    host.received(signer, json.loads(body))
                else:
                    host.refused.append(self.path)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__((HOST, port), Handler)

    async def verify(self, url: str, headers: dict, body: bytes) -> str | None:
        """bovine checks the signature, with the key from the signer's actor document."""

        async def key_retriever(key_id: str) -> CryptographicIdentifier:
            doc = httpx.get(key_id, headers={"Accept": AS2}, trust_env=False).json()
            key = doc["publicKey"]
            return CryptographicIdentifier.from_pem(key["publicKeyPem"], key["owner"])

        async def read_body() -> bytes:
            return body

        validate = build_validate_http_signature_raw(key_retriever)
        return await validate("post", url, headers, read_body)

    def send(self, actor_uri: str, activity: dict) -> None:
        """POST ``activity`` to the actor's inbox, signed by the Group with bovine."""
        actor = httpx.get(actor_uri, headers={"Accept": AS2}, trust_env=False).json()
        body = json.dumps(activity).encode()
        headers = bovine_signed_post(
            actor["inbox"], body, f"{self.group}#main-key", self.private_pem
        )
        r = httpx.post(actor["inbox"], content=body, headers=headers, trust_env=False)
        assert r.status_code == 202, r.text

    def received(self, signer: str, activity: dict) -> None:
        if activity.get("actor") != signer:
            self.refused.append(f"{activity.get('type')} not signed by its actor")
            return
        if activity["type"] == "Follow" and activity.get("object") == self.group:
            self.followers.append(signer)
            n = len(self.followers)
            accept = {"id": f"{self.group}/accept/{n}", "type": "Accept", "actor": self.group}
            self.send(signer, {"@context": AS2_CONTEXT, **accept, "object": activity})
        elif activity["type"] == "Create":
            obj = activity["object"]
            if obj.get("audience") != self.group and self.group not in obj.get("cc", []):
                self.refused.append("a Create not addressed to the Group")
                return
            if signer not in self.followers:
                self.refused.append("a Create from someone who does not follow the Group")
                return
            announce = {
                "@context": AS2_CONTEXT,
                "id": f"{self.group}/announce/{len(self.announced)}",
                "type": "Announce",
                "actor": self.group,
                "object": activity,
                "to": [PUBLIC],
                "cc": [f"{self.group}/followers"],
            }
            self.announced.append(announce)
            for follower in self.followers:
                self.send(follower, announce)


AS2_CONTEXT = "https://www.w3.org/ns/activitystreams"


@pytest.fixture
def bovine_group() -> Iterator[BovineGroup]:
    with serving(BovineGroup()) as server:
        yield server


def test_a_thread_in_a_bovine_hosted_group_reaches_another_member(
    bovine_group: BovineGroup,
) -> None:
    group = bovine_group.group
    with Instance() as a, Instance() as c:
        a.register("alice")
        c.register("carol")
        _follow(a, "alice", group, group)
        _follow(c, "carol", group, group)
        handle = f"orchard@{HOST}:{bovine_group.server_address[1]}"
        r = a.api(
            "POST",
            "/posts",
            "alice",
            json={"text": "Pruning on Saturday", "title": "Pruning", "community": handle},
        )
        assert r.status_code == 201, r.text
        uri = r.json()["uri"]
        seen = eventually(lambda: _home_item(c, "carol", uri), what="the thread on C")
        assert seen["title"] == "Pruning" and "Saturday" in seen["text"]
        assert seen["community"]["url"] == group and seen["author"]["domain"] == a.domain
        (announce,) = bovine_group.announced
        page = announce["object"]["object"]
        assert page["type"] == "Page" and page["audience"] == group and page["id"] == uri
        # an untitled post to the Group is a Note, addressed to it the same way
        r = a.api("POST", "/posts", "alice", json={"text": "Ladders?", "community": handle})
        note_uri = r.json()["uri"]
        eventually(lambda: _home_item(c, "carol", note_uri), what="the Note on C")
        assert bovine_group.announced[1]["object"]["object"]["type"] == "Note"
        assert bovine_group.refused == []
