"""The JSON API: the documented flows, statuses, auth scopes and error shape."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD


def test_register_token_post_read_feed(api_user) -> None:
    alice = api_user("alice")
    r = alice.post("/api/cg/v1/communities", {"name": "garden", "description": "Grow things"})
    assert r.status_code == 201 and r.json()["members"] == 1
    r = alice.post(
        "/api/cg/v1/posts", {"text": "Seeds #swap", "community": "garden", "title": "Swap"}
    )
    assert r.status_code == 201
    post = r.json()
    assert post["url"].endswith(f"/posts/{post['id']}") and post["community"]["name"] == "garden"
    assert alice.get(f"/api/cg/v1/posts/{post['id']}").json()["text"] == "Seeds #swap"
    feed = alice.get("/api/cg/v1/feed/home").json()
    assert [i["id"] for i in feed["items"]] == [post["uri"]]
    assert feed["items"][0]["why"]["algorithm"] == "Chronological"
    assert feed["next_cursor"] is None


def test_thread_reply_react_edit_delete(api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    root = alice.post("/api/cg/v1/posts", {"text": "root"}).json()
    reply = bob.post("/api/cg/v1/posts", {"text": "reply", "in_reply_to": root["id"]}).json()
    assert reply["root"] == root["id"]
    r = bob.post(f"/api/cg/v1/posts/{root['id']}/reactions", {"kind": "agree"})
    assert r.status_code == 200 and r.json()["reactions"]["agree"] == 1
    r = bob.post(f"/api/cg/v1/posts/{root['id']}/reactions", {"kind": "disagree"})
    assert r.json()["reactions"] | {} == {"like": 0, "agree": 0, "disagree": 1, "pass": 0}
    assert r.json()["my_reactions"] == ["disagree"]
    assert (
        bob.delete(f"/api/cg/v1/posts/{root['id']}/reactions/disagree").json()["my_reactions"] == []
    )

    r = alice.patch(f"/api/cg/v1/posts/{root['id']}", {"text": "root, edited"})
    assert r.status_code == 200 and r.json()["updated_at"] is not None
    assert [h["text"] for h in alice.get(f"/api/cg/v1/posts/{root['id']}/history").json()] == [
        "root"
    ]
    assert bob.patch(f"/api/cg/v1/posts/{root['id']}", {"text": "mine"}).status_code == 403

    assert alice.delete(f"/api/cg/v1/posts/{root['id']}").status_code == 204
    thread = alice.get(f"/api/cg/v1/posts/{reply['id']}/thread").json()
    assert thread["root"]["deleted"] is True and thread["root"]["text"] == ""
    assert [p["id"] for p in thread["replies"]] == [reply["id"]]


def test_approval_community_flow(api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    alice.post(
        "/api/cg/v1/communities", {"name": "council", "description": "x", "join_policy": "approval"}
    )
    assert bob.post("/api/cg/v1/communities/council/join").json()["state"] == "pending"
    assert bob.post("/api/cg/v1/posts", {"text": "hi", "community": "council"}).status_code == 403
    assert bob.get("/api/cg/v1/communities/council/members?state=pending").status_code == 403
    pending = alice.get("/api/cg/v1/communities/council/members?state=pending").json()
    assert [m["username"] for m in pending] == ["bob"]
    r = alice.post("/api/cg/v1/communities/council/members/bob/approve")
    assert r.json()["state"] == "active"
    assert bob.post("/api/cg/v1/posts", {"text": "hi", "community": "council"}).status_code == 201
    r = alice.put("/api/cg/v1/communities/council/members/bob/role", {"role": "moderator"})
    assert r.json()["role"] == "moderator"
    assert alice.delete("/api/cg/v1/communities/council/members/bob").status_code == 204
    assert bob.get("/api/cg/v1/me/communities").json() == []


def test_follows_feed_and_unfollow(api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    r = alice.post("/api/cg/v1/follows", {"target": "bob"})
    assert (
        r.status_code == 201 and r.json()["state"] == "accepted" and r.json()["kind"] == "account"
    )
    p = bob.post("/api/cg/v1/posts", {"text": "news from bob"}).json()
    assert [i["post"]["id"] for i in alice.get("/api/cg/v1/feed/home").json()["items"]] == [p["id"]]
    assert alice.delete("/api/cg/v1/follows", params={"target": "bob"}).status_code == 204
    assert alice.get("/api/cg/v1/feed/home").json()["items"] == []


def test_cursor_pagination(api_user) -> None:
    alice = api_user("alice")
    ids = [alice.post("/api/cg/v1/posts", {"text": f"n{i}"}).json()["id"] for i in range(7)]
    seen, cursor = [], None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = alice.get("/api/cg/v1/feed/home", params=params).json()
        seen += [i["post"]["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids[::-1]


def test_read_tokens_cannot_write(client: TestClient, api_user) -> None:
    api_user("alice")
    r = client.post(
        "/api/cg/v1/tokens", json={"username": "alice", "password": PASSWORD, "scope": "read"}
    )
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    assert client.get("/api/cg/v1/me", headers=headers).json()["username"] == "alice"
    r = client.post("/api/cg/v1/posts", json={"text": "x"}, headers=headers)
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"


def test_revoked_tokens_stop_working(api_user) -> None:
    alice = api_user("alice")
    tokens = alice.get("/api/cg/v1/me/tokens").json()
    assert len(tokens) == 1 and "token" not in tokens[0] or tokens[0]["token"] is None
    assert alice.delete(f"/api/cg/v1/me/tokens/{tokens[0]['id']}").status_code == 204
    r = alice.get("/api/cg/v1/me")
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


def test_profile_and_password(api_user, client: TestClient) -> None:
    alice = api_user("alice")
    r = alice.patch("/api/cg/v1/me", {"display_name": "Alice", "bio": "hi"})
    assert r.json()["display_name"] == "Alice"
    assert client.get("/api/cg/v1/accounts/alice").json()["bio"] == "hi"
    r = alice.post(
        "/api/cg/v1/me/password", {"current_password": "nope nope", "new_password": "x" * 9}
    )
    assert r.status_code == 422 and r.json()["error"] == "bad_current_password"
    r = alice.post(
        "/api/cg/v1/me/password", {"current_password": PASSWORD, "new_password": "new pass 123"}
    )
    assert r.status_code == 204
    r = client.post("/api/cg/v1/tokens", json={"username": "alice", "password": "new pass 123"})
    assert r.status_code == 201


def test_public_reads_need_no_token(api_user, client: TestClient) -> None:
    alice = api_user("alice")
    alice.post("/api/cg/v1/communities", {"name": "garden"})
    p = alice.post("/api/cg/v1/posts", {"text": "public #hello", "community": "garden"}).json()
    assert client.get(f"/api/cg/v1/posts/{p['id']}").status_code == 200
    assert client.get("/api/cg/v1/communities").json()["items"][0]["name"] == "garden"
    assert len(client.get("/api/cg/v1/communities/garden/feed").json()["items"]) == 1
    assert len(client.get("/api/cg/v1/feed/tags/hello").json()["items"]) == 1
    assert len(client.get("/api/cg/v1/accounts/alice/posts").json()["items"]) == 1
    assert client.get("/api/cg/v1/feed/home").status_code == 401


def test_community_list_pagination(api_user, client: TestClient) -> None:
    alice = api_user("alice")
    for n in ("c-one", "c-two", "c-three"):
        alice.post("/api/cg/v1/communities", {"name": n})
    page1 = client.get("/api/cg/v1/communities", params={"limit": 2}).json()
    page2 = client.get(
        "/api/cg/v1/communities", params={"limit": 2, "cursor": page1["next_cursor"]}
    ).json()
    names = [c["name"] for c in page1["items"] + page2["items"]]
    assert names == ["c-one", "c-three", "c-two"] and page2["next_cursor"] is None


def test_openapi_docs_are_served(client: TestClient) -> None:
    spec = client.get("/api/cg/v1/openapi.json").json()
    assert "/api/cg/v1/posts" in spec["paths"] and "/api/cg/v1/feed/home" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_the_native_api_lives_under_api_cg_v1_and_leaves_api_v1_to_mastodon(
    client: TestClient,
) -> None:
    """Mastodon apps hard-code /api/v1 and /api/v2; none of our own routes may sit there."""
    spec = client.get("/api/cg/v1/openapi.json").json()
    ours = [p for p in spec["paths"] if p.startswith("/api/cg/v1/")]
    assert len(ours) > 50
    assert not [p for p in spec["paths"] if p.startswith(("/api/v1/", "/api/v2/"))]
    assert client.get("/api/cg/v1/communities").status_code == 200
    assert client.get("/api/v1/communities").status_code == 404
    assert client.get("/api/v1/openapi.json").status_code == 404
