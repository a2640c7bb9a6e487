"""Search in the Mastodon client API (docs/mastodon-api.md, "Search"): GET
/api/v2/search over app/services/search.py, answering full Account and Status
entities and Tags; ``type``, ``account_id``, ``following``, ``limit`` and
``offset``; ``resolve`` and ``offset`` only with a token, as Mastodon has it; and
/api/v1/accounts/search giving the same accounts. On both databases. The lookup
of an account on another real instance is in tests/test_mastodon_py_media_search.py."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.test_mastodon_statuses import check_status

EMPTY = {"accounts": [], "statuses": [], "hashtags": []}


def test_words_find_statuses_names_find_accounts_tags_find_hashtags(
    client: TestClient, api_user
) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    made = alice.post("/api/v1/statuses", json={"status": "Quince jelly, slowly #preserves"})
    bob.post("/api/v1/statuses", json={"status": "Apple jelly #preserving"})
    r = client.get("/api/v2/search", params={"q": "quince"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"accounts", "statuses", "hashtags"}
    [status] = body["statuses"]
    check_status(status)
    assert status["id"] == made.json()["id"] and "Quince" in status["content"]
    assert body["accounts"] == [] and body["hashtags"] == []

    people = client.get("/api/v2/search", params={"q": "alice", "type": "accounts"}).json()
    assert [a["acct"] for a in people["accounts"]] == ["alice"]
    assert people["accounts"][0]["followers_count"] == 0  # the full entity
    assert people["statuses"] == [] and people["hashtags"] == []

    tags = client.get("/api/v2/search", params={"q": "#preserv", "type": "hashtags"}).json()
    names = [t["name"] for t in tags["hashtags"]]
    assert sorted(names) == ["preserves", "preserving"]
    assert tags["hashtags"][0]["url"].startswith("http://127.0.0.1:8000/tags/")
    assert tags["hashtags"][0]["history"] == []


def test_account_id_following_limit_and_offset(client: TestClient, api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    api_user("carrot")
    for i in range(3):
        alice.post("/api/v1/statuses", json={"status": f"carrot soup {i}"})
    bob.post("/api/v1/statuses", json={"status": "carrot cake"})
    bob_id = bob.get("/api/v1/accounts/verify_credentials").json()["id"]

    mine = alice.get("/api/v2/search", params={"q": "carrot", "type": "statuses"}).json()
    assert len(mine["statuses"]) == 4
    only_bob = alice.get(
        "/api/v2/search", params={"q": "carrot", "type": "statuses", "account_id": bob_id}
    ).json()
    assert [s["content"] for s in only_bob["statuses"]] == ["<p>carrot cake</p>"]

    page = alice.get("/api/v2/search", params={"q": "carrot", "type": "statuses", "limit": 2})
    rest = alice.get(
        "/api/v2/search", params={"q": "carrot", "type": "statuses", "limit": 2, "offset": 2}
    )
    first, second = page.json()["statuses"], rest.json()["statuses"]
    assert len(first) == 2 and len(second) == 2
    assert not {s["id"] for s in first} & {s["id"] for s in second}

    assert alice.get("/api/v2/search", params={"q": "bob", "following": "true"}).json() == EMPTY
    alice.post(f"/api/v1/accounts/{bob_id}/follow")
    followed = alice.get("/api/v2/search", params={"q": "bob", "following": "true"}).json()
    assert [a["id"] for a in followed["accounts"]] == [bob_id]


def test_resolve_and_offset_need_a_token_as_in_mastodon(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    r = client.get("/api/v2/search", params={"q": "alice@example.org", "resolve": "true"})
    assert r.status_code == 401
    assert r.json() == {
        "error": "Search queries that resolve remote resources are not supported without "
        "authentication"
    }
    r = client.get("/api/v2/search", params={"q": "alice", "offset": "5"})
    assert r.status_code == 401
    assert r.json() == {
        "error": "Search queries pagination is not supported without authentication"
    }
    bad = client.get(
        "/api/v2/search",
        params={"q": "alice@example.org", "resolve": "true"},
        headers={"Authorization": "Bearer cg_not_a_token"},
    )
    assert bad.status_code == 401 and bad.json() == {"error": "The access token is invalid"}
    local = alice.get("/api/v2/search", params={"q": "alice@127.0.0.1:8000", "resolve": "1"})
    assert [a["acct"] for a in local.json()["accounts"]] == ["alice"]


def test_a_lookup_that_fails_is_no_result(client: TestClient, api_user) -> None:
    """Mastodon answers a handle it could not resolve with nothing found, not an error
    (this app may not reach 127.0.0.1's other ports: the lookup is refused)."""
    alice = api_user("alice")
    r = alice.get("/api/v2/search", params={"q": "nobody@127.0.0.1:9", "resolve": "true"})
    assert r.status_code == 200, r.text
    assert r.json() == EMPTY


def test_accounts_search_v1_gives_the_same_accounts(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    api_user("alina")
    v1 = alice.get("/api/v1/accounts/search", params={"q": "ali", "limit": 5}).json()
    v2 = alice.get("/api/v2/search", params={"q": "ali", "type": "accounts", "limit": 5}).json()
    assert [a["id"] for a in v1] == [a["id"] for a in v2["accounts"]]
    assert sorted(a["acct"] for a in v1) == ["alice", "alina"]
    r = client.get("/api/v1/accounts/search", params={"q": "x@example.org", "resolve": "true"})
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ({}, 400, "q"),
        ({"q": "   "}, 400, "q"),
        ({"q": "x", "type": "posts"}, 422, "type"),
        ({"q": "x" * 501}, 422, "at most"),
        ({"q": "x", "offset": "-1"}, 422, "offset"),
        ({"q": "x", "account_id": "nope"}, 404, "Record not found"),
    ],
)
def test_bad_searches_get_mastodon_errors(
    client: TestClient, api_user, query: dict, status: int, words: str
) -> None:
    alice = api_user("alice")
    r = alice.get("/api/v2/search", params=query)
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error"} and words in r.json()["error"]


def test_a_lenient_limit_as_in_mastodon(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    alice.post("/api/v1/statuses", json={"status": "pear"})
    for limit in ("abc", "0", "1000"):
        r = alice.get("/api/v2/search", params={"q": "pear", "limit": limit})
        assert r.status_code == 200 and len(r.json()["statuses"]) == 1


@pytest.mark.parametrize("path", ["/api/v2/search", "/api/v1/accounts/search"])
def test_the_lookup_runs_before_any_database_slot_is_taken(
    client: TestClient, api_user, monkeypatch, path: str
) -> None:
    """The remote fetch waits on the network: it holds no transaction and no slot of
    the request gate (app/deps.py) meanwhile."""
    import asyncio

    from app import deps
    from app.mastodon import search as search_api

    alice = api_user("alice")
    seen: list[tuple[int, int]] = []

    async def lookup(request, q: str) -> None:
        gate = deps._GATES[asyncio.get_running_loop()]
        seen.append((gate._free, gate.slots))

    monkeypatch.setattr(search_api, "search_lookup", lookup)
    r = alice.get(path, params={"q": "bob@example.org", "resolve": "true"})
    assert r.status_code == 200, r.text
    assert len(seen) == 1 and seen[0][0] == seen[0][1]  # every slot free
