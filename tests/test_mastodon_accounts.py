"""Accounts in the Mastodon client API (docs/mastodon-api.md, "Accounts")."""

from __future__ import annotations

from fastapi.testclient import TestClient

ACCOUNT_ARRAYS = ("emojis", "fields", "roles")
ACCOUNT_FIELDS = (
    "id", "username", "acct", "display_name", "locked", "bot", "group", "discoverable",
    "created_at", "note", "url", "uri", "avatar", "avatar_static", "header", "header_static",
    "followers_count", "following_count", "statuses_count", "last_status_at",
)  # fmt: skip
RELATIONSHIP_FIELDS = (
    "id", "following", "showing_reblogs", "notifying", "followed_by", "blocking",
    "blocked_by", "muting", "muting_notifications", "requested", "requested_by",
    "domain_blocking", "endorsed", "note",
)  # fmt: skip


def check_account(body: dict) -> None:
    for key in ACCOUNT_FIELDS:
        assert key in body, key
    for key in ACCOUNT_ARRAYS:
        assert isinstance(body[key], list), key
    assert isinstance(body["id"], str) and body["id"].isdigit()
    assert body["avatar"].startswith("http") and body["header"].startswith("http")


def test_verify_credentials_has_source(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    r = alice.get("/api/v1/accounts/verify_credentials")
    assert r.status_code == 200, r.text
    me = r.json()
    check_account(me)
    assert me["username"] == "alice" and me["acct"] == "alice"
    assert me["source"]["privacy"] == "public"
    assert me["source"]["fields"] == [] and me["source"]["note"] == ""
    assert set(me["source"]) >= {"note", "fields", "privacy", "sensitive", "language"}
    r = client.get("/api/v1/accounts/verify_credentials")
    assert r.status_code == 401 and r.json() == {"error": "The access token is invalid"}


def test_update_credentials_form_and_json(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    r = client.patch(
        "/api/v1/accounts/update_credentials",
        data={"display_name": "Alice A.", "note": "Gardener\nand <b>baker</b>"},
        headers=alice.headers,
    )
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["display_name"] == "Alice A."
    assert me["source"]["note"] == "Gardener\nand <b>baker</b>"
    assert me["note"] == "<p>Gardener<br>and &lt;b&gt;baker&lt;/b&gt;</p>"
    r = alice.patch("/api/v1/accounts/update_credentials", json={"display_name": "x" * 101})
    assert r.status_code == 422 and isinstance(r.json()["error"], str)
    assert alice.get(f"/api/v1/accounts/{me['id']}").json()["display_name"] == "Alice A."


def test_update_credentials_avatar(client: TestClient, api_user) -> None:
    import io

    from PIL import Image

    alice = api_user("alice")
    png = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 120, 200)).save(png, "PNG")
    r = client.patch(
        "/api/v1/accounts/update_credentials",
        files={"avatar": ("me.png", png.getvalue(), "image/png")},
        headers=alice.headers,
    )
    assert r.status_code == 200, r.text
    assert "/media/" in r.json()["avatar"]


def test_lookup_get_and_unknown(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    found = client.get("/api/v1/accounts/lookup", params={"acct": "alice"}).json()
    check_account(found)
    assert (
        client.get("/api/v1/accounts/lookup", params={"acct": "@alice@127.0.0.1:8000"}).json()["id"]
        == found["id"]
    )
    assert client.get(f"/api/v1/accounts/{found['id']}").json()["username"] == "alice"
    for bad in ("abc", "-1", "0", "99999", "9" * 30, "1e3"):
        r = client.get(f"/api/v1/accounts/{bad}")
        assert r.status_code == 404, bad
        assert r.json() == {"error": "Record not found"}
    r = client.get("/api/v1/accounts/lookup", params={"acct": "nobody"})
    assert r.status_code == 404 and r.json() == {"error": "Record not found"}
    assert alice.get("/api/v1/accounts/search", params={"q": "alice"}).status_code == 200


def test_follow_unfollow_relationships(client: TestClient, api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    bob_id = bob.get("/api/v1/accounts/verify_credentials").json()["id"]
    alice_id = alice.get("/api/v1/accounts/verify_credentials").json()["id"]
    rel = alice.post(f"/api/v1/accounts/{bob_id}/follow").json()
    for key in RELATIONSHIP_FIELDS:
        assert key in rel, key
    assert rel["following"] is True and rel["requested"] is False
    rels = bob.get("/api/v1/accounts/relationships", params={"id[]": [alice_id, "zzz"]}).json()
    assert len(rels) == 1 and rels[0]["followed_by"] is True and rels[0]["following"] is False
    assert alice.get(f"/api/v1/accounts/{alice_id}").json()["following_count"] == 1
    followers = client.get(f"/api/v1/accounts/{bob_id}/followers").json()
    assert [a["username"] for a in followers] == ["alice"]
    following = client.get(f"/api/v1/accounts/{alice_id}/following").json()
    assert [a["username"] for a in following] == ["bob"]
    rel = alice.post(f"/api/v1/accounts/{bob_id}/unfollow").json()
    assert rel["following"] is False
    assert alice.post(f"/api/v1/accounts/{bob_id}/unfollow").status_code == 200  # again: fine
    r = alice.post(f"/api/v1/accounts/{alice_id}/follow")
    assert r.status_code == 422 and isinstance(r.json()["error"], str)
    assert client.post(f"/api/v1/accounts/{bob_id}/follow").status_code == 401


def test_block_and_mute(client: TestClient, api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    bob_id = bob.get("/api/v1/accounts/verify_credentials").json()["id"]
    alice.post(f"/api/v1/accounts/{bob_id}/follow")
    rel = alice.post(f"/api/v1/accounts/{bob_id}/block").json()
    assert rel["blocking"] is True and rel["following"] is False
    assert alice.post(f"/api/v1/accounts/{bob_id}/unblock").json()["blocking"] is False
    rel = alice.post(f"/api/v1/accounts/{bob_id}/mute", json={"duration": 3600}).json()
    assert rel["muting"] is True
    assert alice.post(f"/api/v1/accounts/{bob_id}/unmute").json()["muting"] is False
    r = alice.post(f"/api/v1/accounts/{bob_id}/mute", data={"duration": "-5"})
    assert r.status_code == 422


def test_followers_paginate_with_link_headers(client: TestClient, api_user) -> None:
    target = api_user("target")
    target_id = target.get("/api/v1/accounts/verify_credentials").json()["id"]
    for i in range(5):
        api_user(f"fan{i}").post(f"/api/v1/accounts/{target_id}/follow")
    seen: list[str] = []
    url = f"/api/v1/accounts/{target_id}/followers?limit=2"
    while url:
        r = client.get(url)
        assert r.status_code == 200
        page = [a["username"] for a in r.json()]
        if not page:
            break
        seen += page
        link = r.headers["link"]
        assert link.startswith("<http://127.0.0.1:8000/api/v1/accounts/")
        url = link.split(">")[0].lstrip("<").removeprefix("http://127.0.0.1:8000")
    assert seen == [f"fan{i}" for i in reversed(range(5))]
