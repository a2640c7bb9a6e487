"""Bookmarks and pinned statuses in the Mastodon client API (docs/mastodon-api.md,
"Bookmarks and pins"), over app/services/bookmarks.py and app/services/pins.py,
which the native API (/api/cg/v1) shares."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD


def _post(member, text: str) -> str:
    r = member.post("/api/v1/statuses", json={"status": text})
    assert r.status_code == 200, r.text
    return r.json()["id"]


def test_bookmarks_are_private_paged_and_undone(client: TestClient, api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    made = [_post(alice, f"note {i}") for i in range(3)]
    for sid in made:
        r = bob.post(f"/api/v1/statuses/{sid}/bookmark")
        assert r.status_code == 200, r.text
        assert r.json()["bookmarked"] is True
    # twice is once
    assert bob.post(f"/api/v1/statuses/{made[0]}/bookmark").json()["bookmarked"] is True
    assert bob.get(f"/api/v1/statuses/{made[0]}").json()["bookmarked"] is True
    assert alice.get(f"/api/v1/statuses/{made[0]}").json()["bookmarked"] is False
    assert alice.get("/api/v1/bookmarks").json() == []

    # newest bookmark first, two a page, the Link header pages on
    first = bob.get("/api/v1/bookmarks", params={"limit": 2})
    assert first.status_code == 200
    assert [s["id"] for s in first.json()] == [made[2], made[1]]
    assert all(s["bookmarked"] for s in first.json())
    next_url = first.headers["Link"].split(";")[0].strip("<>")
    assert next_url.startswith("http://127.0.0.1:8000/api/v1/bookmarks?")
    rest = client.get(next_url, headers=bob.headers)
    assert [s["id"] for s in rest.json()] == [made[0]]

    undone = bob.post(f"/api/v1/statuses/{made[1]}/unbookmark")
    assert undone.status_code == 200 and undone.json()["bookmarked"] is False
    assert [s["id"] for s in bob.get("/api/v1/bookmarks").json()] == [made[2], made[0]]
    # a deleted post leaves the bookmarks
    assert alice.delete(f"/api/v1/statuses/{made[2]}").status_code == 200
    assert [s["id"] for s in bob.get("/api/v1/bookmarks").json()] == [made[0]]
    # the native API sees the same bookmarks
    native = bob.get("/api/cg/v1/bookmarks")
    assert native.status_code == 200, native.text
    assert [p["text"] for p in native.json()["items"]] == ["note 0"]


def test_favourites_list_the_likes_latest_like_first(client: TestClient, api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    made = [_post(alice, f"likeable {i}") for i in range(3)]
    for sid in (made[1], made[0], made[2]):
        assert bob.post(f"/api/v1/statuses/{sid}/favourite").status_code == 200
    first = bob.get("/api/v1/favourites", params={"limit": 2})
    assert [s["id"] for s in first.json()] == [made[2], made[0]]
    assert all(s["favourited"] for s in first.json())
    rest = client.get(first.headers["Link"].split(";")[0].strip("<>"), headers=bob.headers)
    assert [s["id"] for s in rest.json()] == [made[1]]
    assert bob.post(f"/api/v1/statuses/{made[0]}/unfavourite").status_code == 200
    assert [s["id"] for s in bob.get("/api/v1/favourites").json()] == [made[2], made[1]]
    assert alice.get("/api/v1/favourites").json() == []
    assert client.get("/api/v1/favourites").status_code == 401


def test_pins_are_ones_own_show_on_the_profile_and_are_limited(
    client: TestClient, api_user
) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    made = [_post(alice, f"pin me {i}") for i in range(6)]
    r = bob.post(f"/api/v1/statuses/{made[0]}/pin")
    assert r.status_code == 422 and "your own" in r.json()["error"]
    for sid in made[:5]:
        r = alice.post(f"/api/v1/statuses/{sid}/pin")
        assert r.status_code == 200, r.text
        assert r.json()["pinned"] is True
    assert alice.post(f"/api/v1/statuses/{made[1]}/pin").json()["pinned"] is True  # again: once
    r = alice.post(f"/api/v1/statuses/{made[5]}/pin")
    assert r.status_code == 422 and "5" in r.json()["error"]

    me = alice.get("/api/v1/accounts/verify_credentials").json()
    pinned = client.get(f"/api/v1/accounts/{me['id']}/statuses", params={"pinned": "true"})
    assert pinned.status_code == 200
    assert [s["id"] for s in pinned.json()] == list(reversed(made[:5]))
    assert all(s["pinned"] for s in pinned.json())
    # everyone sees a pin on the status
    assert bob.get(f"/api/v1/statuses/{made[0]}").json()["pinned"] is True

    assert alice.post(f"/api/v1/statuses/{made[0]}/unpin").json()["pinned"] is False
    assert alice.post(f"/api/v1/statuses/{made[5]}/pin").status_code == 200
    shown = client.get(f"/api/v1/accounts/{me['id']}/statuses", params={"pinned": "true"}).json()
    assert made[0] not in [s["id"] for s in shown] and made[5] in [s["id"] for s in shown]
    # a reply can't be pinned (Mastodon pins what starts a thread or stands alone)
    reply = alice.post("/api/v1/statuses", json={"status": "re", "in_reply_to_id": made[5]})
    r = alice.post(f"/api/v1/statuses/{reply.json()['id']}/pin")
    assert r.status_code == 422 and "reply" in r.json()["error"]


def test_bad_bookmarks_and_pins_store_nothing(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    sid = _post(alice, "a note")
    for verb in ("bookmark", "unbookmark", "pin", "unpin"):
        assert client.post(f"/api/v1/statuses/{sid}/{verb}").status_code == 401
        for bad in ("abc", "-1", "99999999999999999999", "0"):
            r = alice.post(f"/api/v1/statuses/{bad}/{verb}")
            assert r.status_code == 404 and r.json() == {"error": "Record not found"}
    reader = alice.post(
        "/api/cg/v1/tokens",
        json={"username": "alice", "password": PASSWORD, "scope": "read"},
    ).json()["token"]
    r = client.post(
        f"/api/v1/statuses/{sid}/bookmark", headers={"Authorization": f"Bearer {reader}"}
    )
    assert r.status_code == 403 and "error" in r.json()
    assert alice.get("/api/v1/bookmarks").json() == []
    assert alice.get(f"/api/v1/statuses/{sid}").json()["pinned"] is False
    r = alice.get("/api/v1/bookmarks", params={"max_id": "nope"})
    assert r.status_code == 422 and "error" in r.json()
