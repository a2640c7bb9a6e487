"""Unlisted posts (Mastodon's ``visibility: unlisted``): on the author's profile, in
threads, followers' homes and by link, never in the public or hashtag timelines
(docs/mastodon-api.md, "Statuses"; docs/federation.md, "Unlisted posts")."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from app.errors import Invalid
from app.models import Post
from app.services import Ctx, accounts, posts, search
from app.services.ranking import feeds
from app.services.ranking.types import Sources
from federation import handlers, objects, remote
from federation.vocab import AS_PUBLIC
from tests.conftest import PASSWORD
from tests.test_federation_handlers import PEER, actor_doc, apply, create


def _count(new_ctx) -> int:
    with new_ctx() as ctx:
        return ctx.db.exec(select(func.count()).select_from(Post)).one()


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [s["id"] for s in response.json()]


def test_an_unlisted_status_stays_off_public_and_tag_timelines(
    client: TestClient, api_user
) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    alice_id = alice.get("/api/v1/accounts/verify_credentials").json()["id"]
    assert bob.post(f"/api/v1/accounts/{alice_id}/follow").status_code == 200
    shown = alice.post("/api/v1/statuses", json={"status": "open #bees", "visibility": "public"})
    r = alice.post("/api/v1/statuses", json={"status": "quiet #bees", "visibility": "unlisted"})
    assert r.status_code == 200, r.text
    quiet = r.json()
    assert quiet["visibility"] == "unlisted" and shown.json()["visibility"] == "public"
    sid, open_id = quiet["id"], shown.json()["id"]

    assert _ids(client.get("/api/v1/timelines/public")) == [open_id]
    assert _ids(client.get("/api/v1/timelines/public", params={"local": "1"})) == [open_id]
    assert _ids(client.get("/api/v1/timelines/tag/bees")) == [open_id]
    native = client.get("/api/cg/v1/feed/tags/bees").json()
    assert [i["post"]["text"] for i in native["items"]] == ["open #bees"]
    assert client.get("/tags/bees").text.count("quiet #bees") == 0

    assert _ids(client.get(f"/api/v1/accounts/{alice_id}/statuses")) == [sid, open_id]
    got = client.get(f"/api/v1/statuses/{sid}")
    assert got.status_code == 200 and got.json()["visibility"] == "unlisted"
    assert _ids(bob.get("/api/v1/timelines/home")) == [sid, open_id]
    reply = bob.post("/api/v1/statuses", json={"status": "a reply", "in_reply_to_id": sid})
    assert reply.status_code == 200 and reply.json()["visibility"] == "public"
    context = client.get(f"/api/v1/statuses/{sid}/context").json()
    assert [s["id"] for s in context["descendants"]] == [reply.json()["id"]]


def test_the_native_api_posts_unlisted_too(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    r = alice.post("/api/cg/v1/posts", json={"text": "quiet #moths", "visibility": "unlisted"})
    assert r.status_code == 201, r.text
    assert r.json()["visibility"] == "unlisted"
    assert client.get("/api/cg/v1/feed/tags/moths").json()["items"] == []
    r = alice.post("/api/cg/v1/posts", json={"text": "loud", "visibility": "sideways"})
    assert r.status_code == 422 and "visibility" in r.text


@pytest.mark.parametrize(
    ("visibility", "code"),
    [("private", 422), ("direct", 422), ("secret", 422), ("", 422), ("UNLISTED", 422)],
)
def test_other_visibilities_are_refused_and_nothing_is_stored(
    client: TestClient, api_user, new_ctx, visibility: str, code: int
) -> None:
    alice = api_user("alice")
    before = _count(new_ctx)
    r = alice.post("/api/v1/statuses", json={"status": "hi", "visibility": visibility})
    assert r.status_code == code, r.text
    assert set(r.json()) == {"error"} and "visibility" in r.json()["error"]
    assert _count(new_ctx) == before


def test_an_unlisted_status_into_a_community_is_refused(
    client: TestClient, api_user, new_ctx
) -> None:
    alice = api_user("alice")
    body = {"name": "garden", "title": "The Garden", "description": "Beds"}
    assert alice.post("/api/cg/v1/communities", json=body).status_code == 201
    before = _count(new_ctx)
    r = alice.post("/api/v1/statuses", json={"status": "@garden Hi", "visibility": "unlisted"})
    assert r.status_code == 422, r.text
    assert "communit" in r.json()["error"] and set(r.json()) == {"error"}
    r = alice.post(
        "/api/cg/v1/posts", json={"text": "x", "community": "garden", "visibility": "unlisted"}
    )
    assert r.status_code == 422, r.text
    assert _count(new_ctx) == before
    r = alice.post("/api/v1/statuses", json={"status": "@garden Hi"})
    assert r.status_code == 200 and r.json()["visibility"] == "public"


def test_the_service_refuses_unknown_visibilities(ctx: Ctx) -> None:
    alice = accounts.register(ctx, "alice", PASSWORD)
    with pytest.raises(Invalid, match="visibility"):
        posts.create(ctx, alice, "hi", visibility="private")
    assert posts.create(ctx, alice, "hi").visibility == "public"


def test_search_shows_an_unlisted_post_to_its_author_only(ctx: Ctx) -> None:
    alice = accounts.register(ctx, "alice", PASSWORD)
    bob = accounts.register(ctx, "bob", PASSWORD)
    posts.create(ctx, alice, "the hidden marigold", visibility="unlisted")
    ctx.db.flush()

    def found(viewer) -> list[str]:
        page = search.search(ctx, viewer, "marigold", type="posts")
        return [p.text for p in page.items]

    assert found(alice) == ["the hidden marigold"]
    assert found(bob) == [] and found(None) == []


def test_an_unlisted_note_is_addressed_to_followers_with_public_in_cc(ctx: Ctx) -> None:
    alice = accounts.register(ctx, "alice", PASSWORD)
    quiet = posts.create(ctx, alice, "quiet", visibility="unlisted")
    loud = posts.create(ctx, alice, "loud")
    followers = f"{alice.uri}/followers"
    doc = objects.note(ctx, quiet)
    assert doc["to"] == [followers] and doc["cc"] == [AS_PUBLIC]
    activity = objects.create_activity(ctx, quiet)
    assert activity["to"] == [followers] and activity["cc"] == [AS_PUBLIC]
    doc = objects.note(ctx, loud)
    assert doc["to"] == [AS_PUBLIC] and doc["cc"] == [followers]
    assert objects.create_activity(ctx, loud)["to"] == [AS_PUBLIC]


def test_a_remote_post_with_public_only_in_cc_is_stored_unlisted(ctx: Ctx) -> None:
    rita = remote.store_actor(ctx, actor_doc("rita"))
    followers = f"{PEER}/users/rita/followers"
    apply(ctx, create(1, tag=[{"type": "Hashtag", "name": "#bees"}]))
    apply(
        ctx, create(2, to=[followers], cc=[AS_PUBLIC], tag=[{"type": "Hashtag", "name": "#bees"}])
    )
    apply(ctx, create(3, to=[followers, AS_PUBLIC], cc=[]))
    public, quiet, also_public = (posts.find_by_uri(ctx, f"{PEER}/notes/{n}") for n in (1, 2, 3))
    assert public is not None and quiet is not None and also_public is not None
    assert (public.visibility, quiet.visibility, also_public.visibility) == (
        "public", "unlisted", "public",
    )  # fmt: skip
    with pytest.raises(handlers.Ignored, match="public"):
        apply(ctx, create(4, to=[followers], cc=[]))
    everyone = feeds.in_time_order(ctx, Sources(everyone=True, top_level_only=True), None)
    assert quiet.id not in {p.id for p in everyone} and public.id in {p.id for p in everyone}
    tagged = feeds.in_time_order(ctx, Sources(tag="bees"), None)
    assert [p.id for p in tagged] == [public.id]
    profile = feeds.in_time_order(ctx, Sources(author_ids=[rita.id]), None)
    assert quiet.id in {p.id for p in profile}
    # an edit does not change who it was addressed to
    apply(ctx, {**create(2, to=[AS_PUBLIC], content="<p>edited</p>"), "type": "Update"})
    assert posts.find_by_uri(ctx, f"{PEER}/notes/2").visibility == "unlisted"
