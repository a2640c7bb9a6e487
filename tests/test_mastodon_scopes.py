"""Granular OAuth scopes over the Mastodon client API (app/mastodon/scopes.py): an
app's token reaches what its scopes name and nothing else, with Mastodon's 403
sentence; the native API's own tokens keep their read/write rule."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.mastodon import scopes
from tests.conftest import PASSWORD, app_for
from tests.test_oauth import register

OUT_OF_SCOPE = {"error": "This action is outside the authorized scopes"}


@pytest.fixture
def password_client(settings, engine):
    tuned = {"oauth_password_grant": True, "stream_max_seconds": 0.05}  # streams end at once
    app = app_for(settings.model_copy(update=tuned), engine)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield client


def _token(client: TestClient, scope: str) -> dict[str, str]:
    made = register(client, scopes="read write follow push")
    r = client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": "alice",
            "password": PASSWORD,
            "scope": scope,
            "client_id": made["client_id"],
            "client_secret": made["client_secret"],
        },
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_a_token_reaches_what_its_scopes_name_and_nothing_else(password_client) -> None:
    client = password_client
    r = client.post("/api/cg/v1/accounts", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = client.post("/api/cg/v1/accounts", json={"username": "bob", "password": PASSWORD})
    bob_id = client.get("/api/v1/accounts/lookup", params={"acct": "bob"}).json()["id"]

    statuses_only = _token(client, "read:statuses write:statuses")
    made = client.post("/api/v1/statuses", json={"status": "hi"}, headers=statuses_only)
    assert made.status_code == 200, made.text
    assert client.get("/api/v1/timelines/home", headers=statuses_only).status_code == 200
    for method, path in (
        ("GET", "/api/v1/notifications"),
        ("GET", "/api/v1/accounts/verify_credentials"),
        ("POST", f"/api/v1/statuses/{made.json()['id']}/favourite"),
        ("POST", f"/api/v1/accounts/{bob_id}/follow"),
        ("GET", "/api/v1/bookmarks"),
        ("POST", "/api/v2/media"),
    ):
        r = client.request(method, path, headers=statuses_only)
        assert (r.status_code, r.json()) == (403, OUT_OF_SCOPE), (method, path, r.text)
    follow = _token(client, "follow read:accounts")
    # the refused follow did nothing, nor the refused favourite
    assert client.get(f"/api/v1/accounts/{bob_id}/followers", headers=follow).json() == []
    shown = client.get(f"/api/v1/statuses/{made.json()['id']}").json()
    assert shown["favourites_count"] == 0
    r = client.post(f"/api/v1/accounts/{bob_id}/follow", headers=follow)
    assert r.status_code == 200 and r.json()["following"] is True
    followers = client.get(f"/api/v1/accounts/{bob_id}/followers", headers=follow)
    assert [a["username"] for a in followers.json()] == ["alice"]
    r = client.post("/api/v1/statuses", json={"status": "no"}, headers=follow)
    assert (r.status_code, r.json()) == (403, OUT_OF_SCOPE)

    reading = _token(client, "read")
    assert client.get("/api/v1/notifications", headers=reading).status_code == 200
    r = client.post("/api/v1/statuses", json={"status": "no"}, headers=reading)
    assert r.status_code == 403

    # a native token is not an app's: its own read/write rule holds
    native = client.post(
        "/api/cg/v1/tokens", json={"username": "alice", "password": PASSWORD, "scope": "write"}
    ).json()["token"]
    mine = {"Authorization": f"Bearer {native}"}
    assert client.get("/api/v1/notifications", headers=mine).status_code == 200
    texts = [s["content"] for s in client.get("/api/v1/timelines/home", headers=mine).json()]
    assert texts == ["<p>hi</p>"]


def test_a_stream_needs_the_scope_of_what_it_carries(password_client) -> None:
    client = password_client
    r = client.post("/api/cg/v1/accounts", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 201, r.text
    notes = _token(client, "read:notifications")
    statuses = _token(client, "read:statuses")
    r = client.get("/api/v1/streaming/user", headers=notes)
    assert (r.status_code, r.json()) == (403, OUT_OF_SCOPE)
    r = client.get("/api/v1/streaming/user/notification", headers=notes)
    assert r.status_code == 200 and r.text.startswith(":)")
    r = client.get("/api/v1/streaming/public", headers=statuses)
    assert r.status_code == 200
    r = client.get("/api/v1/streaming/user/notification", headers=statuses)
    assert (r.status_code, r.json()) == (403, OUT_OF_SCOPE)


def test_every_route_that_needs_a_member_names_a_scope(client: TestClient) -> None:
    """No Mastodon route that takes a member's token is left to "any scope will do"."""
    from tests.test_pages import all_routes

    public = {
        "/api/v1/instance", "/api/v2/instance", "/api/v1/instance/rules",
        "/api/v1/instance/peers", "/api/v1/instance/activity", "/api/v1/custom_emojis",
        "/api/v1/trends", "/api/v1/trends/tags", "/api/v1/trends/links",
        "/api/v1/trends/statuses", "/api/v1/streaming/health", "/api/v1/apps",
        "/api/v1/apps/verify_credentials",
    }  # fmt: skip
    unnamed = []
    for _, route in all_routes(client.app.routes):
        path = getattr(route, "path", "")
        if not path.startswith(("/api/v1/", "/api/v2/")) or path in public:
            continue
        for method in getattr(route, "methods", None) or {"GET"}:
            if scopes.needed(method, path) is None:
                unnamed.append(f"{method} {path}")
    assert unnamed == []


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/api/v1/accounts/{account_id}/statuses", "read:accounts"),
        ("POST", "/api/v1/accounts/{account_id}/mute", "write:mutes"),
        ("GET", "/api/v1/timelines/list/{list_id}", "read:lists"),
        ("POST", "/api/v1/statuses/{status_id}/commonground/stance", "write:favourites"),
        ("GET", "/api/v1/streaming/user/notification", "read:notifications"),
        ("GET", "/api/v1/streaming/hashtag/local", "read:statuses"),
        ("PUT", "/api/v1/media/{media_id}", "write:media"),
        ("GET", "/api/v1/instance", None),
    ],
)
def test_the_table(method: str, path: str, scope: str | None) -> None:
    assert scopes.needed(method, path) == scope
