"""Statuses in the Mastodon client API (docs/mastodon-api.md, "Statuses")."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

STATUS_ARRAYS = ("media_attachments", "mentions", "tags", "emojis", "filtered")
STATUS_FIELDS = (
    "id", "uri", "url", "created_at", "account", "content", "visibility", "sensitive",
    "spoiler_text", "in_reply_to_id", "in_reply_to_account_id", "reblog", "poll", "card",
    "language", "replies_count", "reblogs_count", "favourites_count", "edited_at",
    "favourited", "reblogged", "muted", "bookmarked", "pinned", "application",
)  # fmt: skip


def check_status(body: dict) -> None:
    for key in STATUS_FIELDS:
        assert key in body, key
    for key in STATUS_ARRAYS:
        assert isinstance(body[key], list), key
    assert isinstance(body["id"], str) and body["id"].isdigit()


def test_post_json_and_form_read_and_delete(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    r = alice.post(
        "/api/v1/statuses",
        json={"status": "Hello #garden @alice", "spoiler_text": "plants", "visibility": "public"},
    )
    assert r.status_code == 200, r.text
    made = r.json()
    check_status(made)
    assert made["spoiler_text"] == "plants" and made["sensitive"] is True
    assert made["tags"] == [{"name": "garden", "url": "http://127.0.0.1:8000/tags/garden"}]
    assert [m["acct"] for m in made["mentions"]] == ["alice"]
    assert made["account"]["username"] == "alice"
    r = client.post(
        "/api/v1/statuses",
        data={"status": "a reply", "in_reply_to_id": made["id"]},
        headers=alice.headers,
    )
    assert r.status_code == 200, r.text
    reply = r.json()
    assert reply["in_reply_to_id"] == made["id"]
    assert reply["in_reply_to_account_id"] == made["account"]["id"]
    assert int(reply["id"]) > int(made["id"])
    shown = client.get(f"/api/v1/statuses/{made['id']}").json()
    assert shown["replies_count"] == 1 and shown["content"] == made["content"]
    gone = alice.delete(f"/api/v1/statuses/{reply['id']}")
    assert gone.status_code == 200 and gone.json()["text"] == "a reply"
    r = client.get(f"/api/v1/statuses/{reply['id']}")
    assert r.status_code == 404 and r.json() == {"error": "Record not found"}


def test_idempotency_key_makes_one_post(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    headers = {**alice.headers, "Idempotency-Key": "abc-123"}
    first = client.post("/api/v1/statuses", json={"status": "once"}, headers=headers).json()
    again = client.post("/api/v1/statuses", json={"status": "once"}, headers=headers).json()
    assert again["id"] == first["id"]
    other = client.post("/api/v1/statuses", json={"status": "once"}, headers=alice.headers)
    assert other.json()["id"] != first["id"]
    bob = api_user("bob")  # keys are per account
    theirs = client.post(
        "/api/v1/statuses",
        json={"status": "once"},
        headers={**bob.headers, "Idempotency-Key": "abc-123"},
    ).json()
    assert theirs["id"] != first["id"]
    me = alice.get("/api/v1/accounts/verify_credentials").json()
    assert me["statuses_count"] == 2


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"status": "   "}, 422),
        ({"status": "x" * 10_001}, 422),
        ({"status": "hi", "visibility": "direct"}, 422),
        ({"status": "hi", "visibility": "private"}, 422),
        ({"status": "hi", "visibility": "secret"}, 422),
        ({"status": "hi", "in_reply_to_id": "abc"}, 404),
        ({"status": "hi", "in_reply_to_id": "99999999999"}, 404),
        ({"status": "hi", "media_ids": ["-1"]}, 422),
        ({"status": "hi", "media_ids": ["12345"]}, 422),
        ({"status": "hi", "poll": {"options": ["a", "b"], "expires_in": 60}}, 422),
        ({"status": "hi\u0000"}, 422),
        ({"status": ["a", "list"]}, 422),
    ],
)
def test_bad_posts_get_mastodon_errors(client: TestClient, api_user, body, status) -> None:
    alice = api_user("alice")
    r = alice.post("/api/v1/statuses", json=body)
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error"} and isinstance(r.json()["error"], str)


def test_malformed_json_and_no_token(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    r = client.post(
        "/api/v1/statuses",
        content=b"{not json",
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert r.status_code in (400, 422) and "error" in r.json()
    r = client.post("/api/v1/statuses", json={"status": "hi"})
    assert r.status_code == 401 and r.json() == {"error": "The access token is invalid"}


@pytest.mark.parametrize("bad", ["abc", "-1", "0", "9" * 25, "18446744073709551616", "12345"])
def test_bad_status_ids_are_not_found(client: TestClient, api_user, bad: str) -> None:
    alice = api_user("alice")
    for method, path in (
        ("GET", ""), ("GET", "/context"), ("DELETE", ""), ("POST", "/favourite"),
        ("GET", "/history"), ("GET", "/source"), ("PUT", ""),
    ):  # fmt: skip
        r = (
            alice.client.request(
                method, f"/api/v1/statuses/{bad}", headers=alice.headers, json={"status": "x"}
            )
            if path == ""
            else alice.client.request(
                method, f"/api/v1/statuses/{bad}{path}", headers=alice.headers
            )
        )
        assert r.status_code == 404, (method, path, r.text)
        assert r.json() == {"error": "Record not found"}


def test_only_the_author_edits_or_deletes(client: TestClient, api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    sid = alice.post("/api/v1/statuses", json={"status": "mine"}).json()["id"]
    for r in (
        bob.delete(f"/api/v1/statuses/{sid}"),
        bob.put(f"/api/v1/statuses/{sid}", json={"status": "theirs"}),
        bob.get(f"/api/v1/statuses/{sid}/source"),
    ):
        assert r.status_code == 403, r.text
        assert isinstance(r.json()["error"], str)
    assert client.get(f"/api/v1/statuses/{sid}").json()["content"] == "<p>mine</p>"


def test_edit_source_history(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    sid = alice.post("/api/v1/statuses", json={"status": "first words"}).json()["id"]
    r = alice.put(f"/api/v1/statuses/{sid}", json={"status": "second words"})
    assert r.status_code == 200, r.text
    assert r.json()["content"] == "<p>second words</p>" and r.json()["edited_at"]
    assert alice.get(f"/api/v1/statuses/{sid}/source").json() == {
        "id": sid,
        "text": "second words",
        "spoiler_text": "",
    }
    history = client.get(f"/api/v1/statuses/{sid}/history").json()
    assert [h["content"] for h in history] == ["<p>first words</p>", "<p>second words</p>"]
    r = alice.put(f"/api/v1/statuses/{sid}", json={"status": "x", "spoiler_text": "new warning"})
    assert r.status_code == 422
    assert alice.put(f"/api/v1/statuses/{sid}", json={"status": ""}).status_code == 422


def test_context_favourite_and_reblog(client: TestClient, api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    root = alice.post("/api/v1/statuses", json={"status": "root"}).json()["id"]
    mid = bob.post("/api/v1/statuses", json={"status": "mid", "in_reply_to_id": root}).json()["id"]
    leaf = alice.post("/api/v1/statuses", json={"status": "leaf", "in_reply_to_id": mid}).json()[
        "id"
    ]
    side = bob.post("/api/v1/statuses", json={"status": "side", "in_reply_to_id": root}).json()[
        "id"
    ]
    context = client.get(f"/api/v1/statuses/{mid}/context").json()
    assert [s["id"] for s in context["ancestors"]] == [root]
    assert [s["id"] for s in context["descendants"]] == [leaf]
    whole = client.get(f"/api/v1/statuses/{root}/context").json()
    assert whole["ancestors"] == [] and [s["id"] for s in whole["descendants"]] == [mid, leaf, side]
    liked = bob.post(f"/api/v1/statuses/{root}/favourite").json()
    assert liked["favourited"] is True and liked["favourites_count"] == 1
    assert bob.post(f"/api/v1/statuses/{root}/favourite").json()["favourites_count"] == 1
    assert [a["username"] for a in client.get(f"/api/v1/statuses/{root}/favourited_by").json()] == [
        "bob"
    ]
    assert alice.get(f"/api/v1/statuses/{root}").json()["favourited"] is False
    unliked = bob.post(f"/api/v1/statuses/{root}/unfavourite").json()
    assert unliked["favourited"] is False and unliked["favourites_count"] == 0
    r = bob.post(f"/api/v1/statuses/{root}/reblog")  # tests/test_mastodon_boosts.py
    assert r.status_code == 200 and r.json()["reblog"]["id"] == root
    assert bob.post(f"/api/v1/statuses/{root}/mute").json()["muted"] is True
    assert client.post(f"/api/v1/statuses/{root}/favourite").status_code == 401
