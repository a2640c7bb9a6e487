"""Blocks, mutes and domain blocks as Mastodon apps list them (app/mastodon/relations.py)."""

from __future__ import annotations

from fastapi.testclient import TestClient


def _id(client: TestClient, acct: str) -> str:
    return client.get("/api/v1/accounts/lookup", params={"acct": acct}).json()["id"]


def test_blocks_and_mutes_list_the_accounts(client: TestClient, api_user) -> None:
    alice, _bob, _carl = api_user("alice"), api_user("bob"), api_user("carl")
    bob, carl = _id(client, "bob"), _id(client, "carl")
    assert alice.get("/api/v1/blocks").json() == []
    assert alice.post(f"/api/v1/accounts/{bob}/block").json()["blocking"] is True
    assert alice.post(f"/api/v1/accounts/{carl}/mute").json()["muting"] is True
    assert [a["username"] for a in alice.get("/api/v1/blocks").json()] == ["bob"]
    assert [a["username"] for a in alice.get("/api/v1/mutes").json()] == ["carl"]
    alice.post(f"/api/v1/accounts/{bob}/unblock")
    alice.post(f"/api/v1/accounts/{carl}/unmute")
    assert alice.get("/api/v1/blocks").json() == [] and alice.get("/api/v1/mutes").json() == []
    assert client.get("/api/v1/blocks").status_code == 401


def test_domain_blocks_are_the_members_domain_mutes(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    r = alice.post("/api/v1/domain_blocks", json={"domain": "Spam.Example"})
    assert r.status_code == 200, r.text
    assert alice.get("/api/v1/domain_blocks").json() == ["spam.example"]
    # the native API sees the same mute
    assert [m["target"] for m in alice.get("/api/cg/v1/mutes").json()] == ["domain:spam.example"]
    r = client.request(
        "DELETE", "/api/v1/domain_blocks", data={"domain": "spam.example"}, headers=alice.headers
    )
    assert r.status_code == 200, r.text
    assert alice.get("/api/v1/domain_blocks").json() == []
    # undoing what is not there is no error, as in Mastodon
    r = client.request(
        "DELETE", "/api/v1/domain_blocks", data={"domain": "spam.example"}, headers=alice.headers
    )
    assert r.status_code == 200


def test_bad_domain_blocks_are_refused_and_store_nothing(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    for bad in ({}, {"domain": ""}, {"domain": "not a domain"}, {"domain": "x" * 300},
                {"domain": "127.0.0.1:8000"}, {"domain": ["a.example"]}):  # fmt: skip
        r = alice.post("/api/v1/domain_blocks", json=bad)
        assert r.status_code in (400, 422), (bad, r.text)
        assert set(r.json()) == {"error"}
    assert alice.get("/api/v1/domain_blocks").json() == []
    assert client.post("/api/v1/domain_blocks", json={"domain": "a.example"}).status_code == 401
