"""What our ActivityPub documents serve about posts, and what we keep of remote
ones: a deleted post is served nowhere (its history included), outboxes list every
public post whether or not anyone followed, and inbound content warnings,
attachments and polls are stored and shown. On both databases."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlmodel import select

from app.models import OutboxItem, Post, PostRevision
from app.services import accounts, communities, follows
from federation import handlers, remote
from federation.httpsig import generate_keypair
from federation.vocab import AS_PUBLIC
from tests.conftest import PASSWORD

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
    api_user,
    new_ctx,
) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    alice.post("/api/cg/v1/communities", {"name": "garden"})
    bob.post("/api/cg/v1/communities/garden/join")
    with new_ctx() as ctx:  # a remote follower, so the community announces too
        rita = remote.store_actor(ctx, actor_doc("rita"))
        follows.follow(ctx, rita, communities.get(ctx, "garden"), activity_uri=f"{PEER}/f/1")
        follows.follow(ctx, rita, accounts.get_local(ctx, "alice"), activity_uri=f"{PEER}/f/2")
    post = alice.post(
        "/api/cg/v1/posts",
        {"text": "first-secret plan", "title": "first-secret title", "community": "garden"},
    ).json()
    pid = post["id"]
    assert alice.patch(f"/api/cg/v1/posts/{pid}", {"text": "second-secret plan"}).status_code == 200
    reply = bob.post("/api/cg/v1/posts", {"text": "a reply that stays", "in_reply_to": pid}).json()
    assert alice.delete(f"/api/cg/v1/posts/{pid}").status_code == 204

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
    for p in (f"/api/cg/v1/posts/{pid}", f"/api/cg/v1/posts/{pid}/history"):
        served[p] = client.get(p)
    served["thread"] = client.get(f"/api/cg/v1/posts/{reply['id']}/thread")
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
    api_user,
) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    alice.post("/api/cg/v1/communities", {"name": "garden"})
    bob.post("/api/cg/v1/communities/garden/join")
    threads = [
        alice.post(
            "/api/cg/v1/posts", {"text": f"thread {i}", "title": f"T{i}", "community": "garden"}
        ).json()
        for i in range(21)
    ]
    reply = bob.post(
        "/api/cg/v1/posts", {"text": "a reply", "in_reply_to": threads[0]["id"]}
    ).json()
    alone = alice.post("/api/cg/v1/posts", {"text": "outside any community"}).json()

    art = alice.post(
        "/api/cg/v1/artifacts", {"community": "garden", "kind": "solution", "title": "Rain gardens"}
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


def test_a_post_nobody_elsewhere_hears_of_stores_no_activity(
    client: TestClient, api_user, new_ctx
) -> None:
    """Activities are stored to be delivered: with no remote audience nothing is
    built or kept (the outbox is made from the posts), with one it is."""
    alice, bob = api_user("alice"), api_user("bob")
    alice.post("/api/cg/v1/communities", {"name": "garden"})
    bob.post("/api/cg/v1/communities/garden/join")
    first = alice.post("/api/cg/v1/posts", {"text": "quiet", "community": "garden"}).json()
    pid = first["id"]
    bob.post("/api/cg/v1/posts", {"text": "a quiet reply", "in_reply_to": pid})
    alice.patch(f"/api/cg/v1/posts/{pid}", {"text": "quieter"})
    with new_ctx() as ctx:
        assert ctx.db.exec(select(OutboxItem)).all() == []
        rita = remote.store_actor(ctx, actor_doc("rita"))
        follows.follow(ctx, rita, accounts.get_local(ctx, "bob"), activity_uri=f"{PEER}/f/1")
    bob.post("/api/cg/v1/posts", {"text": "heard", "in_reply_to": pid})
    with new_ctx() as ctx:
        kept = ctx.db.exec(select(OutboxItem).where(OutboxItem.activity_type != "Accept")).all()
    assert [(i.activity_type, i.actor_uri) for i in kept] == [("Create", f"{BASE}/users/bob")]
    assert walk(client, "/users/alice/outbox")[0]["totalItems"] == 1


def test_a_bad_outbox_page_cursor_is_refused_clearly(client: TestClient, api_user) -> None:
    api_user("alice")
    for cursor in ("abc", "12.x3", "1" * 30 + ".p1", "5"):
        r = client.get(f"/users/alice/outbox?page=true&before={cursor}", headers=AS2)
        assert r.status_code == 422 and "before" in r.text, cursor


# --- 20: inbound content warnings, attachments and polls ---------------------


def note(n: int, **extra: object) -> dict:
    return {
        "id": f"{PEER}/notes/{n}",
        "type": "Note",
        "attributedTo": f"{PEER}/users/rita",
        "content": f"<p>note {n} #mystery</p>",
        "tag": [{"type": "Hashtag", "name": "#mystery", "href": f"{PEER}/tags/mystery"}],
        "to": [AS_PUBLIC],
        **extra,
    }


def receive(new_ctx, obj: dict, kind: str = "Create") -> None:
    with new_ctx() as ctx:
        if remote.known(ctx, f"{PEER}/users/rita") is None:
            remote.store_actor(ctx, actor_doc("rita"))
        activity = {
            "id": f"{obj['id']}/{kind.lower()}/{len(str(obj))}",
            "type": kind,
            "actor": f"{PEER}/users/rita",
            "object": obj,
        }
        handlers.process(ctx, activity, handlers.Budget())


def stored(new_ctx, uri: str) -> Post:
    with new_ctx() as ctx:
        post = ctx.db.exec(select(Post).where(Post.uri == uri)).one()
        ctx.db.expunge(post)
        return post


def log_in(client: TestClient, username: str) -> None:
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post(
        "/login",
        data={"csrf_token": token, "username": username, "password": PASSWORD},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def pages_showing(client: TestClient, post: Post) -> dict[str, str]:
    """Every kind of page a remote post appears on: feeds (home, tag) and its thread."""
    return {
        "home": client.get("/").text,
        "tag": client.get("/tags/mystery").text,
        "thread": client.get(f"/posts/{post.id}").text,
    }


def test_a_remote_content_warning_is_kept_and_the_body_is_shown_behind_it(
    client: TestClient,
    api_user,
    new_ctx,
) -> None:
    api_user("alice")
    receive(new_ctx, note(1, summary="Spoilers: the <b>finale</b>", sensitive=True))
    with new_ctx() as ctx:  # alice follows rita, so the post is in her home feed
        rita = remote.known(ctx, f"{PEER}/users/rita")
        follows.accepted(ctx, follows.follow(ctx, accounts.get_local(ctx, "alice"), rita))
    post = stored(new_ctx, f"{PEER}/notes/1")
    assert post.content_warning == "Spoilers: the finale"
    api = client.get(f"/api/cg/v1/posts/{post.id}").json()
    assert api["content_warning"] == "Spoilers: the finale" and "note 1" in api["html"]
    log_in(client, "alice")
    warning = re.compile(
        r'<details class="content-warning">\s*<summary>Spoilers: the finale</summary>'
        r"(?:(?!</details>).)*note 1(?:(?!</details>).)*</details>",
        re.S,
    )
    for where, html in pages_showing(client, post).items():
        assert warning.search(html), f"no warning on the {where} page"
        assert html.count("note 1") == 1, f"the body is also outside the warning ({where})"


def test_a_sensitive_post_without_a_summary_still_gets_a_warning(new_ctx) -> None:
    receive(new_ctx, note(2, sensitive=True))
    receive(new_ctx, note(3, summary=""))
    assert stored(new_ctx, f"{PEER}/notes/2").content_warning == "Sensitive content"
    assert stored(new_ctx, f"{PEER}/notes/3").content_warning is None


def test_remote_attachments_are_kept_as_links_with_their_alt_text(
    client: TestClient,
    new_ctx,
) -> None:
    kite = {
        "type": "Document",
        "mediaType": "image/png",
        "url": f"{PEER}/media/kite.png",
        "name": "A red <b>kite</b>",
    }
    hostile = [
        {"type": "Document", "mediaType": "image/png", "url": "javascript:alert(1)"},
        {"type": "Document", "mediaType": "text/html", "url": "data:text/html,<script>"},
        {"type": "Document", "url": "ftp://peer.example/x"},
        {"type": "Document", "url": f"{PEER}/" + "x" * 3000},
        "not an object",
        {"type": "Document", "url": {"type": "Link", "href": f"{PEER}/media/linked.png"}},
        {
            "type": "Image",
            "mediaType": "image/jpeg",
            "url": f"{PEER}/media/long.jpg",
            "name": "n" * 5000,
        },
    ]
    many = [{"type": "Document", "url": f"{PEER}/media/{i}.png"} for i in range(40)]
    receive(new_ctx, note(4, attachment=[kite, *hostile, *many]))
    post = stored(new_ctx, f"{PEER}/notes/4")
    api = client.get(f"/api/cg/v1/posts/{post.id}").json()
    kept = api["attachments"]
    assert kept[0] == {
        "url": f"{PEER}/media/kite.png",
        "media_type": "image/png",
        "name": "A red kite",
        "sensitive": False,  # the Note is not marked sensitive
    }
    assert kept[1]["url"] == f"{PEER}/media/linked.png"
    assert len(kept[2]["name"]) <= 1500
    assert len(kept) <= 8
    assert all(k["url"].startswith("https://") and len(k["url"]) <= 2048 for k in kept)
    html = client.get(f"/posts/{post.id}").text
    assert f'href="{PEER}/media/kite.png"' in html and ">A red kite<" in html
    assert "javascript:" not in html and "data:text" not in html and "<b>kite" not in html
    receive(new_ctx, note(5, attachment=kite))  # a single object, not a list
    assert client.get(f"/api/cg/v1/posts/{stored(new_ctx, f'{PEER}/notes/5').id}").json()[
        "attachments"
    ] == [kept[0]]


def _question(n: int, tea: int, coffee: int, **extra: object) -> dict:
    return note(
        n,
        type="Question",
        content="<p>Tea or coffee? #mystery</p>",
        endTime="2030-01-01T12:00:00Z",
        oneOf=[
            {"type": "Note", "name": "Tea", "replies": {"type": "Collection", "totalItems": tea}},
            {"type": "Note", "name": "Coffee", "replies": {"totalItems": coffee}},
        ],
        **extra,
    )


def test_a_remote_poll_shows_its_options_and_counts_read_only(
    client: TestClient,
    new_ctx,
) -> None:
    receive(new_ctx, _question(6, tea=3, coffee=5))
    post = stored(new_ctx, f"{PEER}/notes/6")
    poll = client.get(f"/api/cg/v1/posts/{post.id}").json()["poll"]
    assert datetime.fromisoformat(poll.pop("end_time")) == datetime(2030, 1, 1, 12, tzinfo=UTC)
    assert poll == {
        "multiple": False,
        "options": [{"name": "Tea", "votes": 3}, {"name": "Coffee", "votes": 5}],
    }
    html = client.get(f"/posts/{post.id}").text
    block = re.search(r'<div class="poll">.*?</div>', html, re.S).group(0)
    assert "Tea" in block and "3 votes" in block and "Coffee" in block and "5 votes" in block
    assert "<input" not in block and "<form" not in block

    receive(new_ctx, _question(6, tea=4, coffee=5, updated="2029-01-01T00:00:00Z"), kind="Update")
    poll = client.get(f"/api/cg/v1/posts/{post.id}").json()["poll"]
    assert poll["options"][0] == {"name": "Tea", "votes": 4}
    assert client.get(f"/api/cg/v1/posts/{post.id}/history").json() == []  # a count is no edit

    many = note(
        7,
        type="Question",
        anyOf=[
            {"type": "Note", "name": f"option {i}", "replies": {"totalItems": -1}}
            for i in range(50)
        ],
    )
    receive(new_ctx, many)
    poll = client.get(f"/api/cg/v1/posts/{stored(new_ctx, f'{PEER}/notes/7').id}").json()["poll"]
    assert poll["multiple"] is True and len(poll["options"]) <= 20
    assert all(o["votes"] == 0 for o in poll["options"]) and poll["end_time"] is None


def test_our_own_notes_carry_a_warning_only_when_written_and_no_attachments_or_poll(
    client: TestClient,
    api_user,
) -> None:
    alice = api_user("alice")
    post = alice.post("/api/cg/v1/posts", {"text": "plain"}).json()
    assert (post["content_warning"], post["attachments"], post["poll"]) == (None, [], None)
    doc = client.get(f"/posts/{post['id']}", headers=AS2).json()
    assert not {"summary", "sensitive", "attachment", "oneOf", "anyOf"} & set(doc)
    warned = alice.post("/api/cg/v1/posts", {"text": "boo", "summary": "Scary"}).json()
    doc = client.get(f"/posts/{warned['id']}", headers=AS2).json()
    assert (doc["summary"], doc["sensitive"]) == ("Scary", True)
    assert not {"attachment", "oneOf", "anyOf"} & set(doc)
