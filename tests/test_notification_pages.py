"""The notifications page (unread count in the header, mark-read, filter,
cursor pages, inline approve/deny of join requests, settings) and the native API
(``GET /api/cg/v1/notifications``, ``POST /api/cg/v1/notifications/read``), on both
databases."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD
from tests.test_pages import signup, submit


def _post(api, text: str, **extra) -> int:
    r = api.post("/api/cg/v1/posts", json={"text": text, **extra})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_the_api_lists_pages_filters_and_marks_read(client: TestClient, api_user) -> None:
    ada, ben = api_user("ada"), api_user("ben")
    post = _post(ada, "Oaks along the river")
    assert ben.post(f"/api/cg/v1/posts/{post}/reactions", json={"kind": "agree"}).status_code == 200
    for n in range(4):
        _post(ben, f"reply {n}", in_reply_to=post)
    _post(ben, "Ask @ada")
    r = ada.get("/api/cg/v1/notifications", params={"limit": 2})
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["unread"] == 3 and len(page["items"]) == 2 and page["next_cursor"]
    first = page["items"][0]
    assert first["kind"] == "mention" and first["read"] is False
    assert first["actors"] == [
        {"uri": "http://127.0.0.1:8000/users/ben", "handle": "ben", "name": "ben"}
    ]
    assert set(first) >= {
        "id",
        "kind",
        "created_at",
        "read",
        "actors",
        "post",
        "artifact",
        "community",
    }
    rest = ada.get("/api/cg/v1/notifications", params={"cursor": page["next_cursor"]}).json()
    assert [i["kind"] for i in rest["items"]] == ["stance"] and rest["next_cursor"] is None
    assert rest["items"][0]["summary"] == "ben agreed with your post"
    replies = ada.get("/api/cg/v1/notifications", params={"kinds": "reply"}).json()["items"]
    assert [(i["kind"], i["actor_count"], i["post"]["id"]) for i in replies] == [("reply", 1, post)]
    r = ada.post("/api/cg/v1/notifications/read", json={"ids": [first["id"]]})
    assert r.json() == {"changed": 1, "unread": 2}
    r = ada.post("/api/cg/v1/notifications/read", json={"up_to": first["id"]})
    assert r.json() == {"changed": 2, "unread": 0}
    assert ben.get("/api/cg/v1/notifications").json()["items"] == []


def test_bad_api_input_gets_plain_4xx(client: TestClient, api_user) -> None:
    ada = api_user("ada")
    for params in ({"cursor": "!!"}, {"kinds": "gossip"}):
        r = ada.get("/api/cg/v1/notifications", params=params)
        assert r.status_code == 422 and r.json()["error"] in ("invalid_cursor", "invalid_kind")
    r = ada.post("/api/cg/v1/notifications/read", json={})
    assert r.status_code == 422 and "ids" in r.json()["detail"]
    r = ada.post("/api/cg/v1/notifications/read", json={"up_to": 2**40})
    assert r.status_code in (404, 422)
    r = ada.put("/api/cg/v1/notifications/preferences", json={"like": "loud"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_mode"
    r = ada.put("/api/cg/v1/notifications/preferences", json={"like": "off", "reply": "email"})
    assert r.status_code == 200 and r.json()["like"] == "off" and r.json()["mention"] == "on"
    assert client.get("/api/cg/v1/notifications").status_code == 401


def test_the_page_shows_counts_marks_read_and_filters(client: TestClient, api_user) -> None:
    ben = api_user("ben")
    signup(client, "ada")
    ada_post = client.get("/api/cg/v1/accounts/ada")  # the page member, seen from the API
    assert ada_post.status_code == 200
    post = _post(ben, "Hello @ada")
    html = client.get("/").text
    assert re.search(r"data-unread[^>]*>1<", html), "the header shows the unread count"
    page = client.get("/notifications").text
    assert "ben mentioned you" in page and "/static/live.js" in page
    assert f'href="/posts/{post}"' in page
    r = submit(client, "/notifications", "/notifications/read", {})
    assert r.status_code == 303
    assert "data-unread" not in client.get("/").text
    assert "ben mentioned you" not in client.get("/notifications?kind=follow").text
    assert client.get("/notifications?kind=gossip").status_code == 422
    assert client.get("/notifications?cursor=%%%").status_code == 422


def test_join_requests_are_answered_inline(client: TestClient, api_user) -> None:
    ben, cara = api_user("ben"), api_user("cara")
    signup(client, "ada")
    r = submit(
        client,
        "/communities/new",
        "/communities/new",
        {"name": "garden", "title": "Garden", "join_policy": "approval"},
    )
    assert r.status_code == 303, r.text
    assert ben.post("/api/cg/v1/communities/garden/join").status_code in (200, 201, 202)
    assert cara.post("/api/cg/v1/communities/garden/join").status_code in (200, 201, 202)
    page = client.get("/notifications").text
    assert "cara and ben asked to join" in page
    note = re.search(r'action="/notifications/(\d+)/approve/ben"', page)
    assert note, page
    r = submit(client, "/notifications", f"/notifications/{note.group(1)}/approve/ben", {})
    assert r.status_code == 303
    r = submit(client, "/notifications", f"/notifications/{note.group(1)}/deny/cara", {})
    assert r.status_code == 303
    members = ben.get("/api/cg/v1/communities/garden").json()
    assert members is not None
    page = client.get("/notifications").text
    assert "/approve/" not in page  # nobody waits any more
    assert (
        ben.post("/api/cg/v1/posts", json={"text": "in!", "community": "garden"}).status_code == 201
    )
    assert (
        cara.post("/api/cg/v1/posts", json={"text": "in?", "community": "garden"}).status_code
        == 403
    )
    # someone else's notification cannot be used to approve
    other = submit(client, "/notifications", "/notifications/999999/approve/ben", {})
    assert other.status_code == 404


def test_settings_page_saves_modes(client: TestClient) -> None:
    signup(client, "ada")
    r = submit(
        client,
        "/notifications/settings",
        "/notifications/settings",
        {"like": "off", "reply": "email"},
    )
    assert r.status_code == 303
    page = client.get("/notifications/settings").text
    assert re.search(r'name="like" value="off" checked', page)
    assert re.search(r'name="reply" value="email" checked', page)
    bad = submit(client, "/notifications/settings", "/notifications/settings", {"like": "loud"})
    assert bad.status_code == 422
    assert PASSWORD  # members log in with the usual password
