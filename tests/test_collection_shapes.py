"""Every collection we serve is well formed ActivityStreams, as strict peers
(Fedify, apkit) read it: walked from each collection of a Person and a Group
(and a post's ``replies``), every page is fetched by the URL we gave and checked.
On both databases."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.services import accounts, communities, follows, posts
from federation import remote
from federation.httpsig import generate_keypair
from federation.vocab import PAGE_SIZE
from tests.conftest import PASSWORD

AS2 = {"Accept": "application/activity+json"}
BASE = "http://127.0.0.1:8000"
PEER = "https://peer.example"
_, PUBLIC_PEM = generate_keypair()
MANY = PAGE_SIZE + 3  # two pages and a bit


def remote_person(handle: str) -> dict:
    uri = f"{PEER}/users/{handle}"
    return {
        "id": uri,
        "type": "Person",
        "preferredUsername": handle,
        "inbox": f"{uri}/inbox",
        "publicKey": {"id": f"{uri}#main-key", "owner": uri, "publicKeyPem": PUBLIC_PEM},
    }


def fetch(client: TestClient, url: str) -> dict:
    assert url.startswith(BASE + "/"), url
    r = client.get(url[len(BASE) :], headers=AS2)
    assert r.status_code == 200, (url, r.status_code, r.text)
    return r.json()


def check_page(client: TestClient, url: str, collection: dict) -> dict:
    page = fetch(client, url)
    assert page["type"] in ("OrderedCollectionPage", "CollectionPage"), url
    assert page["id"] == url, "a page's id is the URL it was fetched from"
    assert page["partOf"] == collection["id"], url
    assert "@context" in page
    key = "orderedItems" if page["type"] == "OrderedCollectionPage" else "items"
    assert isinstance(page[key], list), url
    return page


def validate(client: TestClient, url: str, expected_type: str = "OrderedCollection") -> list:
    """Check the collection at ``url`` and every page reachable from it; its items."""
    top = fetch(client, url)
    assert top["type"] == expected_type and top["id"] == url and "@context" in top
    assert isinstance(top["totalItems"], int) and top["totalItems"] >= 0
    assert isinstance(top["first"], str), "first is the URL of a page"
    items: list = []
    pages: list[dict] = []
    next_url: str | None = top["first"]
    while next_url:
        assert next_url not in {p["id"] for p in pages}, "pages loop"
        page = check_page(client, next_url, top)
        pages.append(page)
        items += page["orderedItems"]
        next_url = page.get("next")
    assert len(items) == top["totalItems"], f"{url}: totalItems says {top['totalItems']}"
    assert len(set(map(str, items))) == len(items), "an item on two pages"
    assert "prev" not in pages[0], "the first page has nothing before it"
    for earlier, page in zip(pages, pages[1:], strict=False):  # prev leads back
        if "prev" in page:
            assert check_page(client, page["prev"], top)["orderedItems"] == earlier["orderedItems"]
    return items


def test_every_collection_of_a_person_and_a_group_is_well_formed(
    client: TestClient, new_ctx
) -> None:
    with new_ctx() as ctx:
        alice = accounts.register(ctx, "alice", PASSWORD)
        bob = accounts.register(ctx, "bob", PASSWORD)
        garden = communities.create(ctx, alice, "garden")
        communities.join(ctx, bob, garden)
        fans = [remote.store_actor(ctx, remote_person(f"fan{i}")) for i in range(MANY)]
        for i, fan in enumerate(fans):
            follows.follow(ctx, fan, alice, activity_uri=f"{PEER}/follows/a{i}")
            follows.follow(ctx, fan, garden, activity_uri=f"{PEER}/follows/g{i}")
        follows.follow(ctx, alice, bob)
        follows.accepted(ctx, follows.follow(ctx, alice, fans[0]))
        root = posts.create(ctx, alice, "Seeds to swap", community="garden")
        for n in range(MANY):
            posts.create(ctx, bob if n % 2 else alice, f"reply {n}", in_reply_to=root.id)
        root_id = root.id

    person, group = fetch(client, f"{BASE}/users/alice"), fetch(client, f"{BASE}/c/garden")
    for actor in (person, group):
        for name in ("outbox", "followers", "following"):
            validate(client, actor[name])

    assert len(validate(client, person["followers"])) == MANY
    assert set(validate(client, person["following"])) == {f"{BASE}/users/bob", fans[0].uri}
    assert validate(client, group["following"]) == []  # a Group follows nobody
    assert len(validate(client, group["outbox"])) == 1 + MANY

    note = fetch(client, f"{BASE}/posts/{root_id}")
    replies = note["replies"]
    assert isinstance(replies, dict), "replies is an embedded collection, as Mastodon sends"
    assert replies["type"] == "OrderedCollection" and replies["id"] == f"{note['id']}/replies"
    assert isinstance(replies["first"], str)
    served = fetch(client, replies["id"])
    assert served["first"] == replies["first"]
    assert len(validate(client, replies["id"])) == MANY


def test_a_page_cursor_given_both_ways_is_refused_clearly(client: TestClient, new_ctx) -> None:
    with new_ctx() as ctx:
        accounts.register(ctx, "alice", PASSWORD)
    r = client.get("/users/alice/followers?page=true&before=5&after=2", headers=AS2)
    assert r.status_code == 400, r.text
    assert "before or after" in r.json()["detail"]
