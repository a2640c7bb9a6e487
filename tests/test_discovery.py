"""Discovery and ActivityPub documents: WebFinger, host-meta, NodeInfo, actors,
objects and collections, with content negotiation."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from fastapi.testclient import TestClient

from federation.vocab import AS_PUBLIC

AS2 = {"Accept": "application/activity+json"}
LD = {"Accept": 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'}
DOMAIN = "127.0.0.1:8000"
BASE = f"http://{DOMAIN}"


@pytest.fixture
def world(api_user):
    alice, bob = api_user("alice"), api_user("bob")
    alice.post("/api/cg/v1/communities", {"name": "garden", "charter": "Grow *together*"})
    bob.post("/api/cg/v1/communities/garden/join")
    bob.post("/api/cg/v1/follows", {"target": "alice"})
    root = alice.post(
        "/api/cg/v1/posts", {"text": "Seeds #swap @bob", "community": "garden", "title": "Swap"}
    ).json()
    reply = bob.post("/api/cg/v1/posts", {"text": "yes", "in_reply_to": root["id"]}).json()
    return {"root": root, "reply": reply, "alice": alice}


def test_webfinger_finds_members_and_communities(client: TestClient, world) -> None:
    r = client.get("/.well-known/webfinger", params={"resource": f"acct:alice@{DOMAIN}"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"
    assert r.headers["content-type"].startswith("application/jrd+json")
    self_link = next(x for x in r.json()["links"] if x["rel"] == "self")
    assert self_link == {
        "rel": "self",
        "type": "application/activity+json",
        "href": f"{BASE}/users/alice",
    }
    r = client.get("/.well-known/webfinger", params={"resource": f"acct:garden@{DOMAIN}"})
    assert r.json()["subject"] == f"acct:garden@{DOMAIN}"


@pytest.mark.parametrize(
    ("resource", "status"),
    [
        ("", 400),
        ("alice", 400),
        ("acct:", 400),
        ("acct:alice", 400),
        ("acct:@x", 400),
        ("acct:a@b@c", 400),
        ("mailto:alice@x", 400),
        (f"acct:ghost@{DOMAIN}", 404),
        ("acct:alice@other.example", 404),
        ("https://other.example/users/alice", 404),
    ],
)
def test_webfinger_rejects_bad_resources(client: TestClient, world, resource, status) -> None:
    r = client.get("/.well-known/webfinger", params={"resource": resource})
    assert r.status_code == status and r.json()["error"] in ("invalid_resource", "unknown_resource")


def test_host_meta_points_at_webfinger(client: TestClient) -> None:
    r = client.get("/.well-known/host-meta")
    assert "application/xrd+xml" in r.headers["content-type"]
    assert f'template="{BASE}/.well-known/webfinger?resource={{uri}}"' in r.text


def test_nodeinfo_matches_the_official_schema(client: TestClient, world) -> None:
    links = client.get("/.well-known/nodeinfo").json()["links"]
    assert links[0]["rel"] == "http://nodeinfo.diaspora.software/ns/schema/2.1"
    doc = client.get(links[0]["href"].replace(BASE, "")).json()
    schema = json.loads((Path(__file__).parent / "data/nodeinfo-2.1.schema.json").read_text())
    jsonschema.Draft4Validator(schema).validate(doc)
    assert doc["usage"]["users"]["total"] == 2 and doc["usage"]["localPosts"] == 2


@pytest.mark.parametrize("accept", [AS2, LD])
def test_actor_documents(client: TestClient, world, accept) -> None:
    person = client.get("/users/alice", headers=accept)
    assert person.headers["content-type"] == "application/activity+json"
    p = person.json()
    assert p["type"] == "Person" and p["id"] == f"{BASE}/users/alice"
    assert p["preferredUsername"] == "alice"
    for key in ("inbox", "outbox", "followers", "following"):
        assert p[key] == f"{BASE}/users/alice/{key}"
    assert p["endpoints"]["sharedInbox"] == f"{BASE}/inbox"
    assert (
        p["publicKey"]["owner"] == p["id"] and "BEGIN PUBLIC KEY" in p["publicKey"]["publicKeyPem"]
    )
    assert "https://www.w3.org/ns/activitystreams" in p["@context"]
    # the key is stable across requests (made once, then kept)
    again = client.get("/users/alice", headers=accept).json()
    assert again["publicKey"] == p["publicKey"]
    g = client.get("/c/garden", headers=accept).json()
    assert g["type"] == "Group" and g["preferredUsername"] == "garden"
    assert "<em>together</em>" in g["summary"]


def test_browsers_still_get_html(client: TestClient, world) -> None:
    assert client.get("/c/garden").headers["content-type"].startswith("text/html")
    assert client.get("/users/alice", follow_redirects=False).headers["location"] == "/@alice"


def test_instance_actor(client: TestClient) -> None:
    a = client.get("/actor").json()
    assert a["type"] == "Application" and a["publicKey"]["owner"] == a["id"] == f"{BASE}/actor"


def test_posts_are_notes_and_pages(client: TestClient, world) -> None:
    root, reply = world["root"], world["reply"]
    page = client.get(f"/posts/{root['id']}", headers=AS2).json()
    assert page["type"] == "Page" and page["name"] == "Swap"
    assert page["attributedTo"] == f"{BASE}/users/alice"
    assert page["to"] == [AS_PUBLIC] and f"{BASE}/c/garden" in page["cc"]
    assert page["audience"] == f"{BASE}/c/garden"
    assert {"type": "Hashtag", "href": f"{BASE}/tags/swap", "name": "#swap"} in page["tag"]
    assert {"type": "Mention", "href": f"{BASE}/users/bob", "name": f"@bob@{DOMAIN}"} in page["tag"]
    note = client.get(f"/posts/{reply['id']}", headers=AS2).json()
    assert note["type"] == "Note" and note["inReplyTo"] == root["uri"]
    replies = client.get(f"/posts/{root['id']}/replies").json()
    assert replies["totalItems"] == 1 and page["replies"]["first"] == replies["first"]
    first = client.get(replies["first"].replace(BASE, "")).json()
    assert first["orderedItems"] == [reply["uri"]]


def test_edited_posts_carry_updated_and_deleted_ones_are_tombstones(client, world) -> None:
    alice, root = world["alice"], world["root"]
    alice.patch(f"/api/cg/v1/posts/{root['id']}", {"text": "Seeds, edited"})
    assert "updated" in client.get(f"/posts/{root['id']}", headers=AS2).json()
    alice.delete(f"/api/cg/v1/posts/{root['id']}")
    r = client.get(f"/posts/{root['id']}", headers=AS2)
    assert r.status_code == 410
    assert r.json()["type"] == "Tombstone" and r.json()["formerType"] == "Page"


def test_collections_page_through_followers(client: TestClient, api_user) -> None:
    api_user("star")
    fans = [api_user(f"fan{i}") for i in range(23)]
    for fan in fans:
        fan.post("/api/cg/v1/follows", {"target": "star"})
    top = client.get("/users/star/followers").json()
    assert top["type"] == "OrderedCollection" and top["totalItems"] == 23
    seen, url = [], top["first"]
    while url:
        page = client.get(url.replace(BASE, "")).json()
        assert page["type"] == "OrderedCollectionPage" and page["partOf"] == top["id"]
        seen += page["orderedItems"]
        url = page.get("next")
    assert len(seen) == 23 and len(set(seen)) == 23
    second = client.get(top["first"].replace(BASE, "")).json()["next"]
    assert "prev" in client.get(second.replace(BASE, "")).json()
    following = client.get("/users/fan0/following").json()
    assert following["totalItems"] == 1
