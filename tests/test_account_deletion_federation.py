"""A deleted account's actor Delete, sent and received.

Sent: when a member's deletion is carried out, a ``Delete`` whose actor and object
are the member's actor reaches every server that knew it (a second real instance
here), signed with the key kept for this, and that server drops the member's posts
and follows. Received: a remote actor's self-Delete tombstones its posts here and
ends its follows and memberships (checked in-process, on both databases)."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from app.models import Follow, Membership, Post
from app.services import Ctx, accounts, communities, follows
from federation import remote
from tests.peers import Instance, eventually
from tests.test_federation_handlers import PEER, actor_doc, apply, create

AS2 = {"Accept": "application/activity+json"}


def test_a_remote_actors_self_delete_drops_its_posts_follows_and_memberships(ctx: Ctx) -> None:
    rita = remote.store_actor(ctx, actor_doc("rita"))
    ada = accounts.register(ctx, "ada", "correct horse battery")
    garden = communities.create(ctx, ada, "garden")
    communities.join(ctx, rita, garden)
    follows.follow(ctx, ada, rita)
    follows.follow(ctx, rita, ada)
    apply(ctx, create(1))
    apply(ctx, create(2))
    apply(ctx, {"id": f"{PEER}/d/r", "type": "Delete", "actor": rita.uri, "object": rita.uri})
    kept = ctx.db.exec(select(Post).where(col(Post.author_id) == rita.id)).all()
    assert len(kept) == 2 and all(p.is_deleted and p.text == "" for p in kept)
    ties = col(Follow.follower_id) == rita.id, col(Follow.target_account_id) == rita.id
    assert [ctx.db.exec(select(Follow).where(t)).all() for t in ties] == [[], []]
    assert ctx.db.exec(select(Membership).where(col(Membership.account_id) == rita.id)).all() == []
    assert remote.known(ctx, rita.uri).is_active is False


def _scenario(a: Instance, b: Instance) -> None:
    a.register("alice")
    b.register("bob")
    r = b.api("POST", "/follows", "bob", json={"target": f"alice@{a.domain}"})
    assert r.status_code == 202, r.text
    eventually(
        lambda: b.sql("SELECT state FROM follows") == [("accepted",)], what="A to accept the follow"
    )
    uri = a.api("POST", "/posts", "alice", json={"text": "soon gone"}).json()["uri"]
    eventually(lambda: b.sql("SELECT count(*) FROM posts WHERE uri = :u", u=uri) == [(1,)])

    r = a.api("DELETE", "/me", "alice", json={"password": "correct horse battery"})
    assert r.status_code == 202, r.text
    sent = eventually(
        lambda: a.sql(
            "SELECT body FROM outbox_items WHERE activity_type = 'Delete'"
            " AND object_uri = actor_uri"
        ),
        what="the actor's Delete on A",
    )
    assert len(sent) == 1
    with a.http() as http:
        gone = http.get("/users/alice", headers=AS2)
    assert gone.status_code == 410 and gone.json()["type"] == "Tombstone"
    alice_on_b = f"{a.url}/users/alice"
    eventually(
        lambda: (
            b.sql("SELECT is_active FROM accounts WHERE uri = :u", u=alice_on_b)
            in ([(False,)], [(0,)])
        ),
        what="B to drop alice",
    )
    rows = b.sql("SELECT deleted_at FROM posts WHERE uri = :u", u=uri)
    assert rows and rows[0][0] is not None
    assert b.sql("SELECT count(*) FROM follows") == [(0,)]


@pytest.mark.slow
def test_the_actor_delete_reaches_a_second_instance(fresh_postgres: str) -> None:
    grace = {"CG_DELETION_GRACE_HOURS": "0"}
    with Instance(env=grace) as a, Instance(database_url=fresh_postgres) as b:
        _scenario(a, b)
