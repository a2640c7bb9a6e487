"""Member blocks: follows end both ways, nothing from the blocked actor reaches the
member (feeds, threads, follows, reactions, their personal inbox), and nothing of
the member's is delivered to them; their instance is told with a ``Block``."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.errors import Forbidden, Invalid, NotFound
from app.models import Follow, Job, OutboxItem
from app.services import Ctx, accounts, blocks, communities, follows, posts, reactions
from app.services.ranking import feeds
from federation import handlers, remote
from tests.conftest import PASSWORD
from tests.test_federation_handlers import PEER, actor_doc, apply, create
from tests.test_pages import signup, submit


@pytest.fixture
def people(ctx: Ctx):
    ada = accounts.register(ctx, "ada", PASSWORD)
    ben = accounts.register(ctx, "ben", PASSWORD)
    garden = communities.create(ctx, ada, "garden")
    communities.join(ctx, ben, garden)
    return ada, ben, garden


def _deliveries(ctx: Ctx) -> list[dict]:
    jobs = ctx.db.exec(select(Job).where(Job.kind == "ap.deliver")).all()
    return [json.loads(j.payload) for j in jobs]


def test_blocking_ends_follows_both_ways_and_hides_their_posts(ctx: Ctx, people) -> None:
    ada, ben, garden = people
    follows.follow(ctx, ada, ben)
    follows.follow(ctx, ben, ada)
    root = posts.create(ctx, ada, "Who mends the fence?", community="garden")
    reply = posts.create(ctx, ben, "Not me.", in_reply_to=root.id)
    theirs = posts.create(ctx, ben, "Ben's thread", community="garden")
    assert theirs.id in {i.post.id for i in feeds.community(ctx, garden, ada).items}

    blocks.block(ctx, ada, ben)
    assert ctx.db.exec(select(Follow)).all() == []
    assert theirs.id not in {i.post.id for i in feeds.community(ctx, garden, ada).items}
    assert theirs.id not in {i.post.id for i in feeds.home(ctx, ada).items}
    assert posts.thread(ctx, root, viewer=ada)[1] == []
    assert [p.id for p in posts.thread(ctx, root, viewer=ben)[1]] == [reply.id]  # only ada's view
    assert theirs.id in {i.post.id for i in feeds.community(ctx, garden, None).items}
    with pytest.raises(Forbidden):
        follows.follow(ctx, ben, ada)
    with pytest.raises(Forbidden):
        reactions.react(ctx, ben, root.id, "agree")

    blocks.unblock(ctx, ada, ben.uri)
    assert theirs.id in {i.post.id for i in feeds.community(ctx, garden, ada).items}
    assert follows.follow(ctx, ben, ada).state == "accepted"


def test_block_input_is_checked(ctx: Ctx, people) -> None:
    ada, ben, _ = people
    with pytest.raises(Invalid):
        blocks.block(ctx, ada, ada)
    with pytest.raises(NotFound):
        blocks.unblock(ctx, ada, ben.uri)
    first, again = blocks.block(ctx, ada, ben), blocks.block(ctx, ada, ben)
    assert first.id == again.id


def test_a_blocked_remote_actor_gets_nothing_more_and_is_told(ctx: Ctx, people) -> None:
    ada, _, _ = people
    rita = remote.store_actor(ctx, actor_doc("rita"))
    apply(
        ctx,
        {"id": "https://peer.example/f/1", "type": "Follow", "actor": rita.uri, "object": ada.uri},
    )
    posts.create(ctx, ada, "before")
    before = [d for d in _deliveries(ctx) if d["inbox"] == "https://peer.example/inbox"]
    assert before  # a follower's shared inbox gets ada's posts

    blocks.block(ctx, ada, rita)
    block_item = ctx.db.exec(select(OutboxItem).where(OutboxItem.activity_type == "Block")).one()
    assert json.loads(block_item.body)["object"] == rita.uri
    told = [d for d in _deliveries(ctx) if d["outbox_item"] == block_item.id]
    assert [d["inbox"] for d in told] == [f"{rita.uri}/inbox"]  # her own inbox

    queued = len(_deliveries(ctx))
    posts.create(ctx, ada, "after, mentioning @rita@peer.example")
    assert len(_deliveries(ctx)) == queued  # neither as follower nor as mentioned

    with pytest.raises(Forbidden):  # the inbox job records the Follow as ignored
        apply(
            ctx,
            {
                "id": "https://peer.example/f/2",
                "type": "Follow",
                "actor": rita.uri,
                "object": ada.uri,
            },
        )
    assert ctx.db.exec(select(Follow)).all() == []

    blocks.unblock(ctx, ada, rita.uri)
    undo = ctx.db.exec(select(OutboxItem).where(OutboxItem.activity_type == "Undo")).all()
    assert [json.loads(u.body)["object"]["id"] for u in undo] == [block_item.uri]


def test_a_remote_block_ends_follows_quietly(ctx: Ctx, people) -> None:
    ada, _, _ = people
    rita = remote.store_actor(ctx, actor_doc("rita"))
    apply(
        ctx,
        {"id": "https://peer.example/f/1", "type": "Follow", "actor": rita.uri, "object": ada.uri},
    )
    assert follows.between(ctx, rita, ada) is not None
    apply(
        ctx,
        {"id": "https://peer.example/b/1", "type": "Block", "actor": rita.uri, "object": ada.uri},
    )
    assert follows.between(ctx, rita, ada) is None
    assert blocks.listing(ctx, ada) == []  # ada did not block anyone


def test_blocks_through_the_api(api_user) -> None:
    ada, ben = api_user("ada"), api_user("ben")
    r = ada.post("/api/cg/v1/blocks", json={"target": "ben"})
    assert r.status_code == 201, r.text
    assert r.json()["handle"] == "@ben@127.0.0.1:8000"
    listed = ada.get("/api/cg/v1/blocks").json()
    assert [b["target"] for b in listed] == [r.json()["target"]]
    assert ben.post("/api/cg/v1/follows", json={"target": "ada"}).status_code == 403
    assert ada.post("/api/cg/v1/blocks", json={"target": "nobody"}).status_code == 404
    assert ada.post("/api/cg/v1/blocks", json={"target": ""}).status_code in (400, 422)
    assert ada.delete("/api/cg/v1/blocks", params={"target": "ben"}).status_code == 204
    assert ada.delete("/api/cg/v1/blocks", params={"target": "ben"}).status_code == 404
    assert ada.get("/api/cg/v1/blocks").json() == []


def test_blocks_through_the_settings_page(client: TestClient) -> None:
    signup(client, "ada")
    client.cookies.clear()
    signup(client, "ben")
    client.cookies.clear()
    signup(client, "cid")  # whoever signed up last is logged in
    r = submit(client, "/settings", "/settings/blocks", {"target": "ben"})
    assert r.status_code == 303
    page = client.get("/settings").text
    assert "@ben@" in page and "Unblock" in page
    r = submit(client, "/settings", "/settings/blocks", {"target": "nobody-here"})
    assert "nobody-here" in client.get(r.headers["location"]).text  # the reason, shown
    r = submit(
        client,
        "/settings",
        "/settings/blocks/remove",
        {"target": "http://127.0.0.1:8000/users/ben"},
    )
    assert r.status_code == 303
    assert "Nobody." in client.get("/settings").text


def test_a_blocked_member_cannot_reply_to_the_blockers_posts(ctx: Ctx, people) -> None:
    ada, ben, _ = people
    root = posts.create(ctx, ada, "Who mends the fence?", community="garden")
    theirs = posts.create(ctx, ben, "I will.", in_reply_to=root.id)
    blocks.block(ctx, ada, ben)
    with pytest.raises(Forbidden) as refused:
        posts.create(ctx, ben, "Let me in anyway.", in_reply_to=root.id)
    assert refused.value.code == "blocked_by_author"
    assert "blocked you" in refused.value.detail
    assert ctx.db.get(type(root), root.id).reply_count == 1
    # ada may still answer ben, and ben may still reply to his own posts
    posts.create(ctx, ada, "No thanks.", in_reply_to=theirs.id)
    posts.create(ctx, ben, "Fine.", in_reply_to=theirs.id)
    blocks.unblock(ctx, ada, ben.uri)
    assert posts.create(ctx, ben, "Sorry.", in_reply_to=root.id).in_reply_to_id == root.id


def test_replies_to_a_blocker_are_refused_on_pages_and_in_the_api(
    client: TestClient, api_user
) -> None:
    ada, ben = api_user("ada"), api_user("ben")
    root = ada.post("/api/cg/v1/posts", json={"text": "Mine."}).json()["id"]
    assert ada.post("/api/cg/v1/blocks", json={"target": "ben"}).status_code == 201
    r = ben.post("/api/cg/v1/posts", json={"text": "Hi!", "in_reply_to": root})
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "blocked_by_author"
    submit(client, "/login", "/login", {"username": "ben", "password": PASSWORD})
    r = submit(client, f"/posts/{root}", f"/posts/{root}/reply", {"text": "Hi again!"})
    assert r.status_code == 403
    assert "blocked you" in r.text and "Hi again!" in r.text  # the reason, and nothing lost
    assert ada.get(f"/api/cg/v1/posts/{root}/thread").json()["replies"] == []


def test_a_remote_reply_from_a_blocked_actor_is_not_stored(ctx: Ctx, people) -> None:
    ada, _, _ = people
    rita = remote.store_actor(ctx, actor_doc("rita"))
    root = posts.create(ctx, ada, "Who mends the fence?")
    blocks.block(ctx, ada, rita)
    with pytest.raises(handlers.Ignored, match="blocked"):
        apply(ctx, create(7, inReplyTo=root.uri))
    assert posts.find_by_uri(ctx, f"{PEER}/notes/7") is None
    assert ctx.db.get(type(root), root.id).reply_count == 0
    blocks.unblock(ctx, ada, rita.uri)
    apply(ctx, create(8, inReplyTo=root.uri))
    assert posts.find_by_uri(ctx, f"{PEER}/notes/8").in_reply_to_id == root.id
