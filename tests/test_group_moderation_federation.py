"""Group moderation over ActivityPub (FEP-1b12, issue 13): a community's moderator
removing a post, or banning a member, is announced by its Group; a Group we follow
that does so is applied here and shows in our copy of that community's log. A
Group moderates only its own threads (refused otherwise).

The first tests apply activities in-process; the last runs two real instances."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.models import CommunityBan, ModerationAction
from app.services import Ctx, accounts, communities, modlog, posts
from app.services.moderation import Scope
from federation import handlers, remote
from tests.conftest import PASSWORD
from tests.peers import Instance, eventually
from tests.test_federation_handlers import PEER, actor_doc, apply, create

GROUP = f"{PEER}/c/garden"


@pytest.fixture
def garden(ctx: Ctx):
    """rita on peer.example posts in its Group garden, which we know."""
    group = remote.store_actor(ctx, actor_doc("garden", kind="Group"))
    remote.store_actor(ctx, actor_doc("rita"))
    return group


def _delete(n: int, obj: str) -> dict:
    return {"id": f"{GROUP}#delete-{n}", "type": "Delete", "actor": GROUP, "object": obj}


def test_a_groups_delete_of_a_post_in_its_thread_is_applied_and_logged(ctx: Ctx, garden) -> None:
    apply(ctx, create(1, audience=GROUP))
    post = posts.find_by_uri(ctx, f"{PEER}/notes/1")
    assert post.community_id == garden.id
    apply(ctx, _delete(1, post.uri))
    assert posts.get(ctx, post.id).is_deleted
    (logged,) = ctx.db.exec(select(ModerationAction)).all()
    assert (logged.origin_domain, logged.actor_role, logged.action) == (
        "peer.example",
        "remote moderator",
        "remove",
    )
    assert logged.community_id == garden.id
    entries, _ = modlog.listing(ctx, Scope(garden), None)
    assert [e.actor for e in entries] == ["a moderator at peer.example"]
    apply(ctx, _delete(2, post.uri))  # the same again: one entry
    assert len(ctx.db.exec(select(ModerationAction)).all()) == 1


def test_the_groups_reason_and_rule_are_logged_here_as_plain_text(ctx: Ctx, garden) -> None:
    """The Group says why (``summary``) and under which rule (our ``rule`` term): our
    copy of its log shows both, as text, however the peer marked them up."""
    apply(ctx, create(3, audience=GROUP))
    post = posts.find_by_uri(ctx, f"{PEER}/notes/3")
    grounds = {"summary": "<b>Selling</b> pills", "rule": "<i>No spam.</i>" + "!" * 600}
    apply(ctx, {**_delete(4, post.uri), **grounds})
    block = {"id": f"{GROUP}#ban-2", "type": "Block", "actor": GROUP, "target": GROUP}
    bob = remote.store_actor(ctx, actor_doc("bob"))
    apply(ctx, {**block, "object": bob.uri, "summary": "Again", "rule": "No spam."})
    removal, ban = ctx.db.exec(select(ModerationAction).order_by(ModerationAction.id)).all()
    assert (removal.reason, removal.rule_text[:9]) == ("Selling pills", "No spam.!")
    assert len(removal.rule_text) == 500
    assert (ban.reason, ban.rule_text) == ("Again", "No spam.")


def test_a_group_cannot_delete_a_post_outside_its_threads(ctx: Ctx, garden) -> None:
    apply(ctx, create(2))  # rita's own post, in no community
    alice = accounts.register(ctx, "alice", PASSWORD)
    mine = posts.create(ctx, alice, "my own words")
    for post in (posts.find_by_uri(ctx, f"{PEER}/notes/2"), mine):
        with pytest.raises(handlers.Ignored, match="its own threads"):
            apply(ctx, _delete(3, post.uri))
        assert not posts.get(ctx, post.id).is_deleted
    assert ctx.db.exec(select(ModerationAction)).all() == []


def test_a_groups_block_bans_a_member_from_it_and_its_undo_lifts_it(ctx: Ctx, garden) -> None:
    alice = accounts.register(ctx, "alice", PASSWORD)
    block = {
        "id": f"{GROUP}#ban-1",
        "type": "Block",
        "actor": GROUP,
        "object": alice.uri,
        "target": GROUP,
    }
    with pytest.raises(handlers.Ignored, match="only from itself"):
        apply(ctx, {**block, "target": f"{PEER}/c/elsewhere"})
    apply(ctx, block)
    assert communities.is_banned(ctx, alice, garden)
    apply(ctx, {"id": f"{GROUP}#undo-1", "type": "Undo", "actor": GROUP, "object": block})
    assert not communities.is_banned(ctx, alice, garden)
    assert ctx.db.exec(select(CommunityBan)).all() == []
    actions = [
        a.action for a in ctx.db.exec(select(ModerationAction).order_by(ModerationAction.id))
    ]
    assert actions == ["ban", "unban"]


@pytest.mark.slow
def test_two_sqlite_instances_a_groups_removal_and_ban_reach_the_members_instance() -> None:
    with Instance() as a, Instance() as b:
        _scenario(a, b)


@pytest.mark.slow
def test_a_postgresql_group_and_a_sqlite_member_instance(fresh_postgres: str) -> None:
    with Instance() as a, Instance(database_url=fresh_postgres) as b:
        _scenario(a, b)


def _scenario(a: Instance, b: Instance) -> None:
    """B hosts garden; alice of A posts in it; B's moderator removes the post and
    bans, then unbans, alice: A applies each and shows it in its copy of the log."""
    b.register("bob")
    assert b.api("POST", "/communities", "bob", json={"name": "garden"}).status_code == 201
    rules = b.api("PUT", "/communities/garden/rules", "bob", json={"rules": ["On topic."]})
    rule = rules.json()["items"][0]["id"]
    a.register("alice")
    r = a.api("POST", "/follows", "alice", json={"target": f"garden@{b.domain}"})
    assert r.status_code == 202, r.text
    eventually(
        lambda: b.sql("SELECT count(*) FROM follows WHERE state = 'accepted'") == [(1,)],
        what="B to accept A's follow",
    )
    eventually(
        lambda: a.sql("SELECT state FROM follows") == [("accepted",)], what="the Accept on A"
    )
    r = a.api(
        "POST",
        "/posts",
        "alice",
        json={"text": "Cheap pills here", "title": "Pills", "community": f"garden@{b.domain}"},
    )
    assert r.status_code == 201, r.text
    uri, on_a = r.json()["uri"], r.json()["id"]
    on_b = eventually(lambda: b.sql("SELECT id FROM posts WHERE uri = :u", u=uri), what="B")
    body = {
        "target": {"type": "post", "id": on_b[0][0]},
        "action": "remove",
        "rule": rule,
        "reason": "Spam.",
    }
    r = b.api("POST", "/moderation/actions", "bob", json=body)
    assert r.status_code == 201, r.text
    eventually(
        lambda: a.api("GET", f"/posts/{on_a}").json().get("deleted") is True,
        what="the removal on A",
    )
    handle = f"garden@{b.domain}"
    log = eventually(
        lambda: a.api("GET", f"/communities/{handle}/modlog").json()["items"], what="A's log"
    )
    assert log[0]["action"] == "remove" and log[0]["actor"] == f"a moderator at {b.domain}"
    assert "pills" not in str(log).lower()
    page = a.http().get(f"/c/{handle}/modlog")
    assert page.status_code == 200 and "remove" in page.text

    alice_on_b = b.sql("SELECT id FROM accounts WHERE username = 'alice'")[0][0]
    body = {
        "target": {"type": "account", "id": alice_on_b},
        "action": "ban",
        "rule": rule,
        "reason": "Spam, again.",
        "scope": "community:garden",
    }
    r = b.api("POST", "/moderation/actions", "bob", json=body)
    assert r.status_code == 201, r.text
    eventually(lambda: a.sql("SELECT count(*) FROM community_bans") == [(1,)], what="the ban on A")
    r = a.api("POST", "/posts", "alice", json={"text": "hi", "community": handle})
    assert r.status_code == 403, r.text  # banned: no longer a member there
    body.update(action="unban", reason="Served.")
    assert b.api("POST", "/moderation/actions", "bob", json=body).status_code == 201
    eventually(
        lambda: a.sql("SELECT count(*) FROM community_bans") == [(0,)], what="the unban on A"
    )
    actions = [i["action"] for i in a.api("GET", f"/communities/{handle}/modlog").json()["items"]]
    assert actions == ["unban", "ban", "remove"]
