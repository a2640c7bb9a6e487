"""A profile lists who follows the member and whom (and which communities) they
follow, local and remote alike, newest first and paginated, on its page and in
the API; suspended accounts are left out, as everywhere."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.services import accounts, communities, follows
from federation import remote
from tests.conftest import PASSWORD
from tests.test_federation_handlers import actor_doc


def _world(new_ctx) -> None:
    with new_ctx() as ctx:
        alice = accounts.register(ctx, "alice", PASSWORD)
        for name in ("bob", "carol", "dan"):
            follows.accepted(
                ctx, follows.follow(ctx, accounts.register(ctx, name, PASSWORD), alice)
            )
        rita = remote.store_actor(ctx, actor_doc("rita"))
        follows.accepted(
            ctx, follows.follow(ctx, rita, alice, activity_uri="https://peer.example/f")
        )
        follows.accepted(ctx, follows.follow(ctx, alice, accounts.get_local(ctx, "bob")))
        follows.accepted(ctx, follows.follow(ctx, alice, rita))
        garden = communities.create(ctx, accounts.get_local(ctx, "carol"), "garden")
        follows.follow(ctx, alice, garden)
        accounts.set_active(ctx, accounts.get_local(ctx, "dan"), False)  # suspended


def test_followers_and_following_are_listed_newest_first_in_pages(
    client: TestClient, new_ctx
) -> None:
    _world(new_ctx)
    first = client.get("/api/cg/v1/accounts/alice/followers", params={"limit": 2}).json()
    assert [a["handle"] for a in first["items"]] == ["rita@peer.example", "carol"]
    rest = client.get(
        "/api/cg/v1/accounts/alice/followers", params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [a["handle"] for a in rest["items"]] == ["bob"] and rest["next_cursor"] is None
    following = client.get("/api/cg/v1/accounts/alice/following").json()
    assert [(a["kind"], a["handle"]) for a in following["items"]] == [
        ("community", "garden"),
        ("account", "rita@peer.example"),
        ("account", "bob"),
    ]
    assert following["items"][1]["uri"] == "https://peer.example/users/rita"
    bob = client.get("/api/cg/v1/accounts/bob/following").json()
    assert bob["next_cursor"] is None
    assert [(a["kind"], a["handle"], a["url"]) for a in bob["items"]] == [
        ("account", "alice", "http://127.0.0.1:8000/@alice")
    ]


def test_the_profile_links_to_its_lists_and_they_page(client: TestClient, new_ctx) -> None:
    _world(new_ctx)
    profile = client.get("/@alice").text
    assert 'href="/@alice/followers"' in profile and 'href="/@alice/following"' in profile
    page = client.get("/@alice/followers?limit=2").text
    assert "rita@peer.example" in page and 'href="/@carol"' in page
    assert 'href="/@bob"' not in page
    older = page[page.index('rel="next"') - 200 : page.index('rel="next"')]
    cursor = older.split("cursor=")[1].split('"')[0].split("&")[0]
    page = client.get(f"/@alice/followers?limit=2&cursor={cursor}").text
    assert 'href="/@bob"' in page and 'href="/@dan"' not in page
    assert 'href="/c/garden"' in client.get("/@alice/following").text


def test_a_bad_cursor_or_an_unknown_member_is_a_clear_error(client: TestClient, new_ctx) -> None:
    _world(new_ctx)
    r = client.get("/api/cg/v1/accounts/alice/followers", params={"cursor": "x!"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_cursor"
    r = client.get("/api/cg/v1/accounts/nobody/following")
    assert r.status_code == 404
    assert client.get("/@alice/following?cursor=zz").status_code == 400
