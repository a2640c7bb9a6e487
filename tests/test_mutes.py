"""Mutes: a member, a remote domain, a thread or a hashtag leaves the muter's feeds,
notifications and search, for the muter only, until it expires or is undone;
nothing federates. Through the service, the API and the settings and profile pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.errors import Invalid, NotFound
from app.models import Job, Mute, OutboxItem, utcnow
from app.services import Ctx, accounts, communities, follows, mutes, notifications, posts
from app.services.ranking import feeds
from federation import remote
from tests.conftest import PASSWORD
from tests.test_federation_handlers import actor_doc
from tests.test_pages import signup, submit


@pytest.fixture
def people(ctx: Ctx):
    ada = accounts.register(ctx, "ada", PASSWORD)
    ben = accounts.register(ctx, "ben", PASSWORD)
    cid = accounts.register(ctx, "cid", PASSWORD)
    garden = communities.create(ctx, ada, "garden")
    for member in (ben, cid):
        communities.join(ctx, member, garden)
    follows.follow(ctx, ada, ben)
    follows.follow(ctx, cid, ben)
    return ada, ben, cid, garden


def _home(ctx: Ctx, who) -> list[int]:
    return [i.post.id for i in feeds.home(ctx, who).items]


def test_a_muted_member_leaves_the_muters_feeds_only(ctx: Ctx, people) -> None:
    ada, ben, cid, garden = people
    post = posts.create(ctx, ben, "Greenhouse news", community="garden")
    assert post.id in _home(ctx, ada)
    mutes.mute(ctx, ada, mutes.parse(ctx, "@ben"))
    assert post.id not in _home(ctx, ada)
    assert post.id not in [i.post.id for i in feeds.community(ctx, garden, ada).items]
    assert post.id in _home(ctx, cid)  # cid did not mute him
    assert follows.between(ctx, ada, ben) is not None  # softer than a block: the follow stays
    mutes.unmute(ctx, ada, mutes.parse(ctx, "ben"))
    assert post.id in _home(ctx, ada)


def test_threads_tags_and_remote_domains_can_be_muted(ctx: Ctx, people) -> None:
    ada, ben, _, garden = people
    rita = remote.store_actor(ctx, actor_doc("rita"))
    communities.join(ctx, rita, garden)
    root = posts.create(ctx, ben, "Thread about slugs", community="garden")
    reply = posts.create(ctx, ada, "Beer traps work", in_reply_to=root.id)
    tagged = posts.create(ctx, ben, "Frost tonight #weather", community="garden")
    theirs = posts.store_remote(
        ctx,
        uri="https://peer.example/notes/1",
        author=rita,
        html="<p>From afar</p>",
        community=garden,
    )
    everything = {root.id, tagged.id, theirs.id}
    community_feed = lambda: {i.post.id for i in feeds.community(ctx, garden, ada).items}  # noqa: E731
    assert everything <= community_feed()

    mutes.mute(ctx, ada, mutes.parse(ctx, f"thread:{reply.id}"))  # any post names its thread
    mutes.mute(ctx, ada, mutes.parse(ctx, "tag:#Weather"))
    mutes.mute(ctx, ada, mutes.parse(ctx, "domain:Peer.Example"))
    assert community_feed().isdisjoint(everything)
    assert {(m.kind, m.target) for m, _ in mutes.listing(ctx, ada)} == {
        ("thread", str(root.id)),
        ("tag", "weather"),
        ("domain", "peer.example"),
    }
    assert {text for _, text in mutes.listing(ctx, ada)} == {
        f"thread:{root.id}",
        "tag:weather",
        "domain:peer.example",
    }


def test_a_mute_for_a_while_expires_by_itself(ctx: Ctx, people) -> None:
    ada, ben, _, _ = people
    post = posts.create(ctx, ben, "Market day", community="garden")
    row = mutes.mute(ctx, ada, mutes.parse(ctx, "ben"), duration_seconds=3600)
    assert row.expires_at is not None and row.expires_at > utcnow() + timedelta(minutes=59)
    assert post.id not in _home(ctx, ada)
    row.expires_at = utcnow() - timedelta(seconds=1)  # as if the hour had passed
    ctx.db.add(row)
    ctx.db.flush()
    assert post.id in _home(ctx, ada)
    assert mutes.listing(ctx, ada) == []
    mutes.prune_expired(ctx)
    assert ctx.db.exec(select(Mute)).all() == []


def test_a_muted_actor_notifies_nobody_who_muted_them(ctx: Ctx, people) -> None:
    ada, ben, cid, _ = people
    mutes.mute(ctx, ada, mutes.parse(ctx, "ben"))
    posts.create(ctx, ben, "Hello @ada and @cid", community="garden")
    assert notifications.listing(ctx, ada)[0] == []
    assert [n.note.kind for n in notifications.listing(ctx, cid)[0]] == ["mention"]


def test_a_muted_thread_notifies_the_muter_no_more(ctx: Ctx, people) -> None:
    ada, ben, cid, _ = people
    root = posts.create(ctx, ada, "Who has a ladder?", community="garden")
    other = posts.create(ctx, ada, "And a rake?", community="garden")
    mutes.mute(ctx, ada, mutes.parse(ctx, f"thread:{root.id}"))
    first = posts.create(ctx, ben, "I do", in_reply_to=root.id)
    posts.create(ctx, cid, "@ada me too", in_reply_to=first.id)  # deeper, and a mention
    posts.create(ctx, ben, "Here", in_reply_to=other.id)
    notes = [n.note for n in notifications.listing(ctx, ada)[0]]
    assert [(n.kind, n.post_id) for n in notes] == [("reply", other.id)]
    bens = [n.note.kind for n in notifications.listing(ctx, ben)[0]]
    assert bens.count("reply") == 1  # cid's reply to him: ben muted nothing


def test_muting_federates_nothing(ctx: Ctx, people) -> None:
    ada, _, _, _ = people
    rita = remote.store_actor(ctx, actor_doc("rita"))
    before = len(ctx.db.exec(select(Job)).all()), len(ctx.db.exec(select(OutboxItem)).all())
    mutes.mute(ctx, ada, mutes.parse(ctx, "rita@peer.example"))
    mutes.mute(ctx, ada, mutes.parse(ctx, "domain:peer.example"))
    mutes.unmute(ctx, ada, mutes.parse(ctx, rita.uri))
    after = len(ctx.db.exec(select(Job)).all()), len(ctx.db.exec(select(OutboxItem)).all())
    assert after == before


def test_mute_input_is_checked(ctx: Ctx, people) -> None:
    ada, _, _, garden = people
    for bad in ("", "domain:", "domain:not a domain", "domain:127.0.0.1:8000", "tag:###", "garden"):
        with pytest.raises(Invalid):
            mutes.mute(ctx, ada, mutes.parse(ctx, bad))
    for missing in ("thread:999", "thread:abc", "nobody", "nobody@peer.example"):
        with pytest.raises(NotFound):
            mutes.parse(ctx, missing)
    with pytest.raises(Invalid):
        mutes.mute(ctx, ada, mutes.parse(ctx, "ada"))
    for seconds in (0, -5, 10**10):
        with pytest.raises(Invalid):
            mutes.mute(ctx, ada, mutes.parse(ctx, "ben"), duration_seconds=seconds)
    with pytest.raises(NotFound):
        mutes.unmute(ctx, ada, mutes.parse(ctx, "cid"))
    first = mutes.mute(ctx, ada, mutes.parse(ctx, "ben"))
    assert mutes.mute(ctx, ada, mutes.parse(ctx, "@ben")).id == first.id  # twice is harmless
    assert garden.name == "garden"  # a community is not a member: refused above


def test_mutes_through_the_api(api_user) -> None:
    ada, ben = api_user("ada"), api_user("ben")
    r = ada.post("/api/cg/v1/mutes", json={"target": "@ben", "duration_seconds": 600})
    assert r.status_code == 201, r.text
    assert r.json()["target"] == "ben@127.0.0.1:8000" and r.json()["expires_at"]
    assert ada.post("/api/cg/v1/mutes", json={"target": "tag:compost"}).status_code == 201
    listed = ada.get("/api/cg/v1/mutes").json()
    assert sorted(m["target"] for m in listed) == ["ben@127.0.0.1:8000", "tag:compost"]
    assert ben.get("/api/cg/v1/mutes").json() == []
    assert ada.post("/api/cg/v1/mutes", json={"target": "nobody"}).status_code == 404
    assert ada.post("/api/cg/v1/mutes", json={"target": ""}).status_code in (400, 422)
    r = ada.post("/api/cg/v1/mutes", json={"target": "ben", "duration_seconds": -1})
    assert r.status_code == 422
    assert ada.post("/api/cg/v1/mutes", json={"target": "thread:x"}).status_code == 404
    assert ada.delete("/api/cg/v1/mutes", params={"target": "ben"}).status_code == 204
    assert ada.delete("/api/cg/v1/mutes", params={"target": "ben"}).status_code == 404
    assert [m["target"] for m in ada.get("/api/cg/v1/mutes").json()] == ["tag:compost"]


def test_mutes_through_the_pages(client: TestClient) -> None:
    signup(client, "ben")
    client.cookies.clear()
    signup(client, "ada")  # whoever signed up last is logged in
    profile = client.get("/@ben").text
    assert 'action="/settings/mutes"' in profile  # a mute button next to block
    r = submit(client, "/@ben", "/settings/mutes", {"target": "ben@127.0.0.1:8000"})
    assert r.status_code == 303
    page = client.get("/settings").text
    assert "ben@127.0.0.1:8000" in page and "Unmute" in page
    r = submit(client, "/settings", "/settings/mutes", {"target": "domain:bad domain"})
    assert "not a domain" in client.get(r.headers["location"]).text  # the reason, shown
    r = submit(client, "/settings", "/settings/mutes/remove", {"target": "ben@127.0.0.1:8000"})
    assert r.status_code == 303
    page = client.get("/settings").text
    assert 'action="/settings/mutes/remove"' not in page and "Nothing." in page
