"""Timelines in the Mastodon client API (docs/mastodon-api.md, "Timelines" and
"IDs and pagination"): time order by status id, Link headers both ways."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from app.models import Account, Follow
from app.services import accounts, posts

BASE = "http://127.0.0.1:8000"


def _links(r) -> dict[str, str]:
    out = {}
    for part in r.headers.get("link", "").split(", "):
        if part:
            url, rel = part.split("; ")
            out[rel.removeprefix('rel="').removesuffix('"')] = url.strip("<>")
    return out


def _walk(client: TestClient, headers: dict, url: str, rel: str) -> list[str]:
    """Follow ``rel`` links from ``url`` until a page is empty; the ids seen in order."""
    seen: list[str] = []
    for _ in range(50):
        r = client.get(url.removeprefix(BASE), headers=headers)
        assert r.status_code == 200, r.text
        page = [s["id"] for s in r.json()]
        if not page:
            break
        assert page == sorted(page, key=int, reverse=True)  # each page newest first
        seen += page
        links = _links(r)
        assert list(links) == ["next", "prev"]  # next first
        assert all(u.startswith(BASE + "/api/v1/") for u in links.values())
        url = links[rel]
    return seen


def test_home_is_in_time_order_with_string_ids(client: TestClient, api_user, new_ctx) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    bob_id = bob.get("/api/v1/accounts/verify_credentials").json()["id"]
    alice.post(f"/api/v1/accounts/{bob_id}/follow")
    made = [
        bob.post("/api/v1/statuses", json={"status": f"bob {i}"}).json()["id"] for i in range(3)
    ]
    with new_ctx() as ctx:  # a remote member alice follows posts late: written a day ago
        me = accounts.get_local(ctx, "alice")
        carol = Account(
            username="carol", username_key="carol", domain="remote.example",
            uri="https://remote.example/users/carol",
        )  # fmt: skip
        ctx.db.add(carol)
        ctx.db.flush()
        ctx.db.add(Follow(follower_id=me.id, target_account_id=carol.id, state="accepted"))
        late = posts.store_remote(
            ctx,
            uri="https://remote.example/notes/1",
            author=carol,
            html="<p>old news</p>",
            published=datetime.now(UTC) - timedelta(days=1),
        )
        assert late is not None
        late_id = str(late.status_id)
    newest = alice.post("/api/v1/statuses", json={"status": "mine"}).json()["id"]
    r = alice.get("/api/v1/timelines/home")
    assert r.status_code == 200, r.text
    got = [s["id"] for s in r.json()]
    assert all(isinstance(i, str) for i in got)
    assert got == [newest, *reversed(made), late_id]  # the late post stays below, by its time
    assert r.json()[-1]["account"]["acct"] == "carol@remote.example"
    assert client.get("/api/v1/timelines/home").status_code == 401


def test_link_headers_page_both_ways_without_gaps(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    made = [alice.post("/api/v1/statuses", json={"status": f"n{i}"}).json()["id"] for i in range(7)]
    newest_first = list(reversed(made))
    down = _walk(client, alice.headers, f"{BASE}/api/v1/timelines/home?limit=3", "next")
    assert down == newest_first
    # from the oldest back up with min_id: each page is the next newer three
    up_pages = []
    url = f"{BASE}/api/v1/timelines/home?limit=3&min_id={made[0]}"
    for _ in range(10):
        r = client.get(url.removeprefix(BASE), headers=alice.headers)
        page = [s["id"] for s in r.json()]
        if not page:
            break
        up_pages.append(page)
        url = _links(r)["prev"]
    assert up_pages == [list(reversed(made[1:4])), list(reversed(made[4:7]))]
    # since_id: the newest after it, not the ones just after it
    r = alice.get("/api/v1/timelines/home", params={"since_id": made[0], "limit": 2})
    assert [s["id"] for s in r.json()] == newest_first[:2]
    # other parameters are kept in the links
    r = alice.get("/api/v1/timelines/public", params={"local": "true", "limit": 2})
    nxt = parse_qs(urlsplit(_links(r)["next"]).query)
    assert nxt["local"] == ["true"] and nxt["limit"] == ["2"] and nxt["max_id"] == [newest_first[1]]


def test_public_and_tag_timelines(client: TestClient, api_user, new_ctx) -> None:
    alice = api_user("alice")
    first = alice.post("/api/v1/statuses", json={"status": "about #Bees"}).json()["id"]
    alice.post("/api/v1/statuses", json={"status": "a reply", "in_reply_to_id": first})
    with new_ctx() as ctx:
        dave = Account(
            username="dave", username_key="dave", domain="remote.example",
            uri="https://remote.example/users/dave",
        )  # fmt: skip
        ctx.db.add(dave)
        ctx.db.flush()
        posts.store_remote(
            ctx, uri="https://remote.example/notes/9", author=dave, html="<p>#bees too</p>",
            tags=["bees"],
        )  # fmt: skip
    everything = client.get("/api/v1/timelines/public").json()
    assert [s["account"]["acct"] for s in everything] == ["dave@remote.example", "alice"]
    assert all(s["in_reply_to_id"] is None for s in everything)  # replies are left out
    local = client.get("/api/v1/timelines/public", params={"local": "true"}).json()
    assert [s["account"]["acct"] for s in local] == ["alice"]
    remote = client.get("/api/v1/timelines/public", params={"remote": "1"}).json()
    assert [s["account"]["acct"] for s in remote] == ["dave@remote.example"]
    tagged = client.get("/api/v1/timelines/tag/bees").json()
    assert len(tagged) == 2
    assert [
        s["id"] for s in client.get("/api/v1/timelines/tag/bees", params={"local": "1"}).json()
    ] == [first]
    assert client.get("/api/v1/timelines/tag/nothing-here").json() == []


def test_bad_pagination_parameters(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    alice.post("/api/v1/statuses", json={"status": "one"})
    for bad in ("abc", "-1", "9" * 30, "1.5"):
        r = alice.get("/api/v1/timelines/home", params={"max_id": bad})
        assert r.status_code == 422, bad
        assert set(r.json()) == {"error"}
    for limit in ("abc", "0", "-3", "100000000"):
        r = alice.get("/api/v1/timelines/home", params={"limit": limit})
        assert r.status_code == 200 and len(r.json()) == 1
    r = alice.get("/api/v1/timelines/public", params={"local": "maybe"})
    assert r.status_code == 422 and set(r.json()) == {"error"}
    assert alice.get("/api/v1/timelines/list/1").status_code == 404


def test_account_statuses_paginate(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    me = alice.get("/api/v1/accounts/verify_credentials").json()["id"]
    made = [alice.post("/api/v1/statuses", json={"status": f"p{i}"}).json()["id"] for i in range(5)]
    down = _walk(client, {}, f"{BASE}/api/v1/accounts/{me}/statuses?limit=2", "next")
    assert down == list(reversed(made))
    assert client.get(f"/api/v1/accounts/{me}/statuses", params={"pinned": "true"}).json() == []
