"""Two real instances federate: follow a community, read, reply, edit, delete, unfollow.

Each instance is a ``commonground serve --with-worker`` process with its own
database on its own 127.0.0.1 port; one of them runs on PostgreSQL where it is
available (CI requires it).
"""

from __future__ import annotations

import json

import pytest

from tests.peers import Instance, eventually

AS2 = {"Accept": "application/activity+json"}

pytestmark = pytest.mark.slow


def _feed_item(instance: Instance, user: str, uri: str) -> dict | None:
    items = instance.api("GET", "/feed/home", user).json()["items"]
    return next((i for i in items if i["id"] == uri), None)


def _scenario(a: Instance, b: Instance) -> None:
    b.register("bob")
    r = b.api("POST", "/communities", "bob", json={"name": "garden", "title": "Garden"})
    assert r.status_code == 201, r.text
    a.register("alice")

    # A follows a community on B: pending until B's Accept arrives.
    r = a.api("POST", "/follows", "alice", json={"target": f"garden@{b.domain}"})
    assert r.status_code == 202, r.text
    assert r.json() == {"target": f"{b.url}/c/garden", "kind": "community", "state": "pending"}
    eventually(
        lambda: any(
            f["target"] == f"{b.url}/c/garden"
            for f in a.api("GET", "/me/following", "alice").json()
        ),
        what="B to accept A's follow",
    )
    assert b.sql("SELECT count(*) FROM follows WHERE state = 'accepted'") == [(1,)]

    # B posts; A's home feed shows it under its canonical id, with its url.
    r = b.api(
        "POST",
        "/posts",
        "bob",
        json={"text": "Seeds are here, #compost too", "title": "Seed swap", "community": "garden"},
    )
    assert r.status_code == 201, r.text
    original = r.json()
    item = eventually(lambda: _feed_item(a, "alice", original["uri"]), what="the post on A")
    copy = item["post"]
    assert copy["uri"] == original["uri"] and copy["url"] == original["url"]
    assert copy["title"] == "Seed swap" and "Seeds are here" in copy["text"]
    assert copy["author"]["domain"] == b.domain and copy["author"]["username"] == "bob"
    assert copy["community"]["url"] == f"{b.url}/c/garden"

    # A replies; B's thread shows it, attributed to alice@A.
    r = a.api(
        "POST", "/posts", "alice", json={"text": "I'll bring beans", "in_reply_to": copy["id"]}
    )
    assert r.status_code == 201, r.text
    reply_uri = r.json()["uri"]

    def reply_on_b() -> dict | None:
        thread = b.api("GET", f"/posts/{original['id']}/thread").json()
        return next((p for p in thread["replies"] if p["uri"] == reply_uri), None)

    reply = eventually(reply_on_b, what="A's reply on B")
    assert reply["author"]["domain"] == a.domain and "beans" in reply["text"]
    assert b.api("GET", f"/posts/{original['id']}").json()["reply_count"] == 1

    # A stance taken on A counts on B, as the stance (not just a like).
    r = a.api("POST", f"/posts/{copy['id']}/reactions", "alice", json={"kind": "disagree"})
    assert r.status_code == 200, r.text
    eventually(
        lambda: b.api("GET", f"/posts/{original['id']}").json()["reactions"]["disagree"] == 1,
        what="the stance on B",
    )
    r = a.api("POST", f"/posts/{copy['id']}/reactions", "alice", json={"kind": "agree"})
    eventually(
        lambda: (
            b.api("GET", f"/posts/{original['id']}").json()["reactions"]
            == {"like": 0, "agree": 1, "disagree": 0, "pass": 0}
        ),
        what="the changed stance on B",
    )

    # An edit on B propagates to A.
    r = b.api("PATCH", f"/posts/{original['id']}", "bob", json={"text": "Seeds moved to Sunday"})
    assert r.status_code == 200, r.text
    eventually(
        lambda: "Sunday" in a.api("GET", f"/posts/{copy['id']}").json()["text"],
        what="the edit on A",
    )
    assert a.api("GET", f"/posts/{copy['id']}/history").json()[0]["text"].startswith("Seeds are")

    # A delete on B leaves a tombstone on A.
    assert b.api("DELETE", f"/posts/{original['id']}", "bob").status_code == 204
    eventually(
        lambda: a.api("GET", f"/posts/{copy['id']}").json().get("deleted") is True,
        what="the delete on A",
    )

    # Unfollowing stops delivery: B no longer sends garden's posts to A.
    r = a.api("DELETE", "/follows", "alice", params={"target": f"{b.url}/c/garden"})
    assert r.status_code == 204, r.text
    eventually(
        lambda: b.sql("SELECT count(*) FROM follows") == [(0,)], what="B to process the Undo"
    )
    eventually(b.queue_idle, what="B's queue to drain")
    to_a = "SELECT count(*) FROM jobs WHERE kind = 'ap.deliver' AND payload LIKE :p"
    sent_before = b.sql(to_a, p=f"%{a.url}/%")
    r = b.api("POST", "/posts", "bob", json={"text": "After you left", "community": "garden"})
    later = r.json()["uri"]
    eventually(b.queue_idle, what="B's queue to drain")
    assert b.sql(to_a, p=f"%{a.url}/%") == sent_before
    assert a.sql("SELECT count(*) FROM posts WHERE uri = :u", u=later) == [(0,)]
    # ...while it is still in B's public outbox
    with b.http() as http:
        page = http.get("/c/garden/outbox?page=true", headers=AS2).json()
    assert later in json.dumps(page["orderedItems"]), page


def test_following_an_approval_community_waits_for_a_moderator() -> None:
    with Instance() as a, Instance() as b:
        b.register("bob")
        r = b.api(
            "POST", "/communities", "bob", json={"name": "council", "join_policy": "approval"}
        )
        assert r.status_code == 201, r.text
        a.register("alice")
        r = a.api("POST", "/follows", "alice", json={"target": f"council@{b.domain}"})
        assert r.json()["state"] == "pending"
        handle = f"alice@{a.domain}"
        pending = eventually(
            lambda: [
                m
                for m in b.api(
                    "GET", "/communities/council/members", "bob", params={"state": "pending"}
                ).json()
                if m["username"] == f"alice@{a.domain}"
            ],
            what="the join request on B",
        )
        assert len(pending) == 1
        eventually(b.queue_idle, what="B's queue")
        assert a.sql("SELECT state FROM follows") == [("pending",)]  # no Accept yet
        r = b.api("POST", f"/communities/council/members/{handle}/approve", "bob")
        assert r.status_code == 200, r.text
        eventually(lambda: a.sql("SELECT state FROM follows") == [("accepted",)], what="Accept")


def test_two_sqlite_instances_federate() -> None:
    with Instance() as a, Instance() as b:
        _scenario(a, b)


def test_sqlite_and_postgresql_instances_federate(fresh_postgres: str) -> None:
    with Instance() as a, Instance(database_url=fresh_postgres) as b:
        _scenario(a, b)


def test_secure_mode_serves_documents_to_signed_fetches_only() -> None:
    """With CG_SECURE_MODE=1 ("authorized fetch") B answers unsigned GETs of its
    ActivityPub documents with 401, yet A, whose fetches are signed by its instance
    actor, still follows B's community and receives its posts."""
    with Instance() as a, Instance(env={"CG_SECURE_MODE": "1"}) as b:
        b.register("bob")
        b.api("POST", "/communities", "bob", json={"name": "garden"})
        with b.http() as http:
            as2 = {"Accept": "application/activity+json"}
            r = http.get("/c/garden", headers=as2)
            assert r.status_code == 401 and r.json()["error"] == "signature_required"
            assert http.get("/c/garden/outbox", headers=as2).status_code == 401
            assert http.get("/actor", headers=as2).status_code == 200  # keys stay public
            assert http.get("/c/garden").status_code == 200  # the HTML page is public
        a.register("alice")
        r = a.api("POST", "/follows", "alice", json={"target": f"garden@{b.domain}"})
        assert r.status_code == 202, r.text
        eventually(
            lambda: b.sql("SELECT count(*) FROM follows WHERE state = 'accepted'") == [(1,)],
            what="the follow",
        )
        uri = b.api(
            "POST", "/posts", "bob", json={"text": "for signed eyes", "community": "garden"}
        ).json()["uri"]
        eventually(lambda: _feed_item(a, "alice", uri), what="the post on A")
