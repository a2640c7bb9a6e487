"""What our ActivityPub documents serve about posts, and what we keep of remote
ones: a deleted post is served nowhere (its history included), and outboxes list
every public post whether or not anyone followed. On both databases."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import select

from app.models import OutboxItem, PostRevision
from app.services import accounts, communities, follows
from federation import remote
from federation.httpsig import generate_keypair

AS2 = {"Accept": "application/activity+json"}
BASE = "http://127.0.0.1:8000"
PEER = "https://peer.example"
_, PUBLIC_PEM = generate_keypair()


def actor_doc(handle: str) -> dict:
    uri = f"{PEER}/users/{handle}"
    return {
        "id": uri,
        "type": "Person",
        "preferredUsername": handle,
        "inbox": f"{uri}/inbox",
        "outbox": f"{uri}/outbox",
        "endpoints": {"sharedInbox": f"{PEER}/inbox"},
        "publicKey": {"id": f"{uri}#main-key", "owner": uri, "publicKeyPem": PUBLIC_PEM},
    }


def local_path(url: str) -> str:
    assert url.startswith(BASE), url
    return url[len(BASE) :]


def walk(client: TestClient, collection_path: str) -> tuple[dict, list[dict]]:
    """A collection and every item of its pages, checking each page is well formed."""
    top = client.get(collection_path, headers=AS2).json()
    assert top["type"] == "OrderedCollection" and top["id"] == BASE + collection_path
    items, url, seen_pages = [], top["first"], set()
    while url:
        assert url not in seen_pages, "pages loop"
        seen_pages.add(url)
        page = client.get(local_path(url), headers=AS2).json()
        assert page["type"] == "OrderedCollectionPage"
        assert page["id"] == url and page["partOf"] == top["id"]
        items += page["orderedItems"]
        url = page.get("next")
    return top, items


def carried_id(activity: dict) -> str:
    """The id of the post an outbox item carries (through an Announce's Create)."""
    obj = activity["object"]
    while isinstance(obj, dict) and "object" in obj:
        obj = obj["object"]
    return obj if isinstance(obj, str) else obj["id"]


# --- 6: a deleted post is served nowhere -------------------------------------

SECRETS = ("first-secret", "second-secret")


def test_a_deleted_post_and_its_history_are_served_nowhere(
    client: TestClient,
    api_user,  # noqa: ANN001
    new_ctx,  # noqa: ANN001
) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    alice.post("/api/v1/communities", {"name": "garden"})
    bob.post("/api/v1/communities/garden/join")
    with new_ctx() as ctx:  # a remote follower, so the community announces too
        rita = remote.store_actor(ctx, actor_doc("rita"))
        follows.follow(ctx, rita, communities.get(ctx, "garden"), activity_uri=f"{PEER}/f/1")
        follows.follow(ctx, rita, accounts.get_local(ctx, "alice"), activity_uri=f"{PEER}/f/2")
    post = alice.post(
        "/api/v1/posts",
        {"text": "first-secret plan", "title": "first-secret title", "community": "garden"},
    ).json()
    pid = post["id"]
    assert alice.patch(f"/api/v1/posts/{pid}", {"text": "second-secret plan"}).status_code == 200
    reply = bob.post("/api/v1/posts", {"text": "a reply that stays", "in_reply_to": pid}).json()
    assert alice.delete(f"/api/v1/posts/{pid}").status_code == 204

    with new_ctx() as ctx:
        stored = [(i.uri, i.activity_type, i.body) for i in ctx.db.exec(select(OutboxItem))]
    carrying = [(uri, kind) for uri, kind, body in stored if "first-secret" in body]
    assert carrying, "the activities sent before the deletion carry the text"
    second = [(uri, kind) for uri, kind, body in stored if "second-secret" in body]
    assert {kind for _, kind in second} >= {"Update", "Announce"}

    paths = [local_path(uri) for uri, _, _ in stored if uri.startswith(BASE)]
    paths += [f"/posts/{pid}", f"/posts/{pid}/activity", f"/posts/{pid}/announce"]
    paths += [f"/posts/{pid}/replies", f"/posts/{reply['id']}"]
    for collection in ("/users/alice/outbox", "/c/garden/outbox"):
        top, items = walk(client, collection)
        assert post["uri"] not in {carried_id(i) for i in items}, collection
        paths += [collection]
    served = {p: client.get(p, headers=AS2) for p in paths}
    for p in (f"/api/v1/posts/{pid}", f"/api/v1/posts/{pid}/history"):
        served[p] = client.get(p)
    served["thread"] = client.get(f"/api/v1/posts/{reply['id']}/thread")
    for p in (f"/posts/{pid}", f"/posts/{pid}/history", "/@alice", "/c/garden"):
        served["html " + p] = client.get(p)
    for p, r in served.items():
        assert r.status_code < 500, p
        assert not any(s in r.text for s in SECRETS), f"{p} still serves the deleted post"

    for uri, kind in carrying + second:
        r = served[local_path(uri)]
        assert r.status_code == 410, (uri, kind)
        assert r.json()["type"] == "Tombstone" and r.json()["formerType"] == kind
    assert served[f"/posts/{pid}/activity"].status_code == 410
    assert served[f"/posts/{pid}/announce"].status_code == 410
    assert served[f"/posts/{reply['id']}"].json()["type"] == "Note"  # the reply stays
    with new_ctx() as ctx:
        assert ctx.db.exec(select(PostRevision).where(PostRevision.post_id == pid)).all() == []


# --- 19: outboxes derived from the posts -------------------------------------


def test_outboxes_list_every_public_post_whether_or_not_anyone_followed(
    client: TestClient,
    api_user,  # noqa: ANN001
) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    alice.post("/api/v1/communities", {"name": "garden"})
    bob.post("/api/v1/communities/garden/join")
    threads = [
        alice.post(
            "/api/v1/posts", {"text": f"thread {i}", "title": f"T{i}", "community": "garden"}
        ).json()
        for i in range(21)
    ]
    reply = bob.post("/api/v1/posts", {"text": "a reply", "in_reply_to": threads[0]["id"]}).json()
    alone = alice.post("/api/v1/posts", {"text": "outside any community"}).json()

    art = alice.post(
        "/api/v1/artifacts", {"community": "garden", "kind": "solution", "title": "Rain gardens"}
    ).json()

    group, items = walk(client, "/c/garden/outbox")
    assert group["totalItems"] == 23 and len(items) == 23
    assert len({i["id"] for i in items}) == 23
    assert all(i["actor"] == f"{BASE}/c/garden" for i in items)
    made, items = items[0], items[1:]  # the artifact, written last, comes first
    assert made["type"] == "Create" and made["object"]["id"] == art["uri"]
    assert made["object"]["artifactKind"] == "solution"
    assert client.get(local_path(made["id"]), headers=AS2).json()["id"] == made["id"]
    assert all(i["type"] == "Announce" for i in items)
    assert all(i["object"]["type"] == "Create" for i in items)
    assert [i["object"]["object"]["id"] for i in items] == [reply["uri"]] + [
        t["uri"] for t in reversed(threads)
    ]
    newest = items[0]
    assert newest["object"]["actor"] == f"{BASE}/users/bob"
    assert newest["object"]["object"]["inReplyTo"] == threads[0]["uri"]
    # the ids are stable and can be fetched: each answers the same activity
    for item in (newest, items[-1]):
        fetched = client.get(local_path(item["id"]), headers=AS2).json()
        assert fetched["id"] == item["id"] and fetched["object"]["id"] == item["object"]["id"]
        create = client.get(local_path(item["object"]["id"]), headers=AS2).json()
        assert (
            create["type"] == "Create" and create["object"]["id"] == item["object"]["object"]["id"]
        )

    person, created = walk(client, "/users/alice/outbox")
    assert person["totalItems"] == 22
    assert all(c["type"] == "Create" and c["actor"] == f"{BASE}/users/alice" for c in created)
    assert created[0]["object"]["id"] == alone["uri"]
    assert {c["object"]["id"] for c in created} == {t["uri"] for t in threads} | {alone["uri"]}
    assert walk(client, "/users/bob/outbox")[0]["totalItems"] == 1


def test_a_bad_outbox_page_cursor_is_refused_clearly(client: TestClient, api_user) -> None:  # noqa: ANN001
    api_user("alice")
    for cursor in ("abc", "12.x3", "1" * 30 + ".p1", "5"):
        r = client.get(f"/users/alice/outbox?page=true&before={cursor}", headers=AS2)
        assert r.status_code == 422 and "before" in r.text, cursor
