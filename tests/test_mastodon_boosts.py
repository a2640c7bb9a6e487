"""Members' boosts in the Mastodon client API (docs/mastodon-api.md, "Boosts"):
reblog, unreblog, reblogged_by, the boost as a status of its own, and boosts by
people followed in home, over app/services/boosts.py."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD


def _post(member, text: str) -> str:
    r = member.post("/api/v1/statuses", json={"status": text})
    assert r.status_code == 200, r.text
    return r.json()["id"]


def _account_id(member) -> str:
    return member.get("/api/v1/accounts/verify_credentials").json()["id"]


def _follow(member, other) -> None:
    r = member.post(f"/api/v1/accounts/{_account_id(other)}/follow")
    assert r.status_code == 200 and r.json()["following"] is True, r.text


def test_reblog_answers_the_boost_and_counts(client: TestClient, api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    sid = _post(alice, "worth a boost")
    r = bob.post(f"/api/v1/statuses/{sid}/reblog")
    assert r.status_code == 200, r.text
    boost = r.json()
    assert boost["id"] != sid and int(boost["id"]) % 4 == 2 and int(boost["id"]) > int(sid)
    assert boost["account"]["username"] == "bob"
    assert boost["reblog"]["id"] == sid
    assert boost["reblog"]["reblogged"] is True and boost["reblog"]["reblogs_count"] == 1
    assert boost["reblogged"] is True and boost["content"] == ""
    # twice is once: the same boost
    assert bob.post(f"/api/v1/statuses/{sid}/reblog").json()["id"] == boost["id"]
    shown = alice.get(f"/api/v1/statuses/{sid}").json()
    assert shown["reblogs_count"] == 1 and shown["reblogged"] is False
    assert bob.get(f"/api/v1/statuses/{sid}").json()["reblogged"] is True
    by = client.get(f"/api/v1/statuses/{sid}/reblogged_by")
    assert by.status_code == 200 and [a["username"] for a in by.json()] == ["bob"]
    # the boost's own id answers the boost; verbs on it act on the post
    got = client.get(f"/api/v1/statuses/{boost['id']}")
    assert got.status_code == 200, got.text
    assert got.json()["id"] == boost["id"] and got.json()["reblog"]["id"] == sid
    assert bob.post(f"/api/v1/statuses/{boost['id']}/favourite").json()["favourites_count"] == 1
    # unreblog answers the post, no longer boosted
    undone = bob.post(f"/api/v1/statuses/{sid}/unreblog")
    assert undone.status_code == 200, undone.text
    assert undone.json()["id"] == sid
    assert undone.json()["reblogged"] is False and undone.json()["reblogs_count"] == 0
    assert client.get(f"/api/v1/statuses/{boost['id']}").status_code == 404
    assert client.get(f"/api/v1/statuses/{sid}/reblogged_by").json() == []


def test_deleting_ones_boost_id_undoes_it_only_for_the_booster(
    client: TestClient, api_user
) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    sid = _post(alice, "boost then undo")
    boost = bob.post(f"/api/v1/statuses/{sid}/reblog").json()
    for who in (alice, api_user("carol")):  # not theirs: the post stays boosted
        r = who.delete(f"/api/v1/statuses/{boost['id']}")
        assert r.status_code == 404 and r.json() == {"error": "Record not found"}
    assert client.get(f"/api/v1/statuses/{sid}").json()["reblogs_count"] == 1
    for method in ("PUT", "GET"):  # a boost has no source to edit
        path = "" if method == "PUT" else "/source"
        r = bob.client.request(
            method, f"/api/v1/statuses/{boost['id']}{path}", json={"status": "x"},
            headers=bob.headers,
        )  # fmt: skip
        assert r.status_code == 404, r.text
    r = bob.delete(f"/api/v1/statuses/{boost['id']}")
    assert r.status_code == 200, r.text
    assert r.json()["id"] == boost["id"] and r.json()["reblog"]["id"] == sid
    assert client.get(f"/api/v1/statuses/{sid}").json()["reblogs_count"] == 0
    assert client.get(f"/api/v1/statuses/{sid}").json()["content"] == "<p>boost then undo</p>"


def test_home_shows_boosts_by_people_followed_in_boost_time_order(
    client: TestClient, api_user
) -> None:
    alice, bob, carol = api_user("alice"), api_user("bob"), api_user("carol")
    _follow(carol, bob)
    old = _post(alice, "an older post of alice")
    mid = _post(bob, "bob's own post")
    boost = bob.post(f"/api/v1/statuses/{old}/reblog").json()
    home = carol.get("/api/v1/timelines/home").json()
    assert [s["id"] for s in home] == [boost["id"], mid]
    top = home[0]
    assert top["account"]["username"] == "bob" and top["reblog"]["id"] == old
    assert top["reblog"]["account"]["username"] == "alice"
    # paging below the boost goes on under it; above it is newer
    r = carol.get("/api/v1/timelines/home", params={"max_id": boost["id"]})
    assert [s["id"] for s in r.json()] == [mid]
    r = carol.get("/api/v1/timelines/home", params={"since_id": mid})
    assert [s["id"] for s in r.json()] == [boost["id"]]
    r = carol.get("/api/v1/timelines/home", params={"min_id": mid})
    assert [s["id"] for s in r.json()] == [boost["id"]]
    r = carol.get("/api/v1/timelines/home", params={"limit": 1})
    assert [s["id"] for s in r.json()] == [boost["id"]]
    assert "max_id=" + boost["id"] in r.headers["Link"]
    # someone not following bob does not see it
    assert api_user("dave").get("/api/v1/timelines/home").json() == []


def test_home_hides_a_boost_of_a_post_already_on_the_page_and_muted_or_blocked_ones(
    client: TestClient, api_user
) -> None:
    alice, bob, carol = api_user("alice"), api_user("bob"), api_user("carol")
    _follow(carol, bob)
    _follow(carol, alice)
    sid = _post(alice, "seen already")
    boost = bob.post(f"/api/v1/statuses/{sid}/reblog").json()
    home = carol.get("/api/v1/timelines/home").json()
    assert [s["id"] for s in home] == [sid]  # the post itself, once
    # a page that starts above the post shows the boost (the post is not on it)
    r = carol.get("/api/v1/timelines/home", params={"since_id": sid})
    assert [s["id"] for s in r.json()] == [boost["id"]]
    dave = api_user("dave")
    _follow(dave, bob)
    assert [s["id"] for s in dave.get("/api/v1/timelines/home").json()] == [boost["id"]]
    # a muted booster, a muted author or a blocked author hides the boost
    assert dave.post(f"/api/v1/accounts/{_account_id(bob)}/mute").status_code == 200
    assert dave.get("/api/v1/timelines/home").json() == []
    assert dave.post(f"/api/v1/accounts/{_account_id(bob)}/unmute").status_code == 200
    assert dave.post(f"/api/v1/accounts/{_account_id(alice)}/mute").status_code == 200
    assert dave.get("/api/v1/timelines/home").json() == []
    assert dave.post(f"/api/v1/accounts/{_account_id(alice)}/unmute").status_code == 200
    assert dave.post(f"/api/v1/accounts/{_account_id(alice)}/block").status_code == 200
    assert dave.get("/api/v1/timelines/home").json() == []
    # a deleted post takes its boosts along
    assert dave.post(f"/api/v1/accounts/{_account_id(alice)}/unblock").status_code == 200
    assert [s["id"] for s in dave.get("/api/v1/timelines/home").json()] == [boost["id"]]
    assert alice.delete(f"/api/v1/statuses/{sid}").status_code == 200
    assert dave.get("/api/v1/timelines/home").json() == []
    assert client.get(f"/api/v1/statuses/{boost['id']}").status_code == 404


def test_reblog_refuses_what_it_cannot_do(client: TestClient, api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    sid = _post(alice, "public only")
    r = bob.post(f"/api/v1/statuses/{sid}/reblog", json={"visibility": "private"})
    assert r.status_code == 422 and "public" in r.json()["error"]
    r = bob.post(f"/api/v1/statuses/{sid}/reblog", json={"visibility": "sideways"})
    assert r.status_code == 422 and "visibility" in r.json()["error"]
    assert client.get(f"/api/v1/statuses/{sid}").json()["reblogs_count"] == 0
    assert (
        bob.post(f"/api/v1/statuses/{sid}/reblog", json={"visibility": "public"}).status_code == 200
    )
    # the author blocked the booster: refused, nothing stored
    carol = api_user("carol")
    assert alice.post(f"/api/v1/accounts/{_account_id(carol)}/block").status_code == 200
    r = carol.post(f"/api/v1/statuses/{sid}/reblog")
    assert r.status_code == 403 and isinstance(r.json()["error"], str)
    assert client.get(f"/api/v1/statuses/{sid}").json()["reblogs_count"] == 1
    # no token, a read-only token
    assert client.post(f"/api/v1/statuses/{sid}/reblog").status_code == 401
    r = client.post(
        "/api/cg/v1/tokens", json={"username": "bob", "password": PASSWORD, "scope": "read"}
    )
    read = {"Authorization": f"Bearer {r.json()['token']}"}
    for verb in ("reblog", "unreblog"):
        r = client.post(f"/api/v1/statuses/{sid}/{verb}", headers=read)
        assert r.status_code == 403 and "error" in r.json(), r.text
    assert client.get(f"/api/v1/statuses/{sid}").json()["reblogs_count"] == 1


@pytest.mark.parametrize("bad", ["abc", "-1", "0", "9" * 25, "12345", "12346", "12347"])
def test_bad_ids_are_not_found(client: TestClient, api_user, bad: str) -> None:
    bob = api_user("bob")
    for method, path in (
        ("POST", "/reblog"), ("POST", "/unreblog"), ("GET", "/reblogged_by"), ("GET", ""),
        ("DELETE", ""),
    ):  # fmt: skip
        r = bob.client.request(method, f"/api/v1/statuses/{bad}{path}", headers=bob.headers)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json() == {"error": "Record not found"}
