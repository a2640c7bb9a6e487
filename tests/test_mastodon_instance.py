"""The Mastodon client API's instance endpoints, start-up placeholders and error
shape (docs/mastodon-api.md): what apps read before they show anything."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app import __version__


def test_instance_v1_has_what_apps_read(client: TestClient) -> None:
    r = client.get("/api/v1/instance")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["uri"] == "127.0.0.1:8000"
    assert body["version"] == f"4.2.1 (compatible; Commonground {__version__})"
    for key in ("title", "short_description", "description", "email"):
        assert isinstance(body[key], str)
    assert body["urls"]["streaming_api"].startswith("ws")
    assert set(body["stats"]) == {"user_count", "status_count", "domain_count"}
    assert isinstance(body["languages"], list) and isinstance(body["rules"], list)
    statuses = body["configuration"]["statuses"]
    assert statuses["max_characters"] == 10_000
    assert statuses["max_media_attachments"] == 4
    assert statuses["characters_reserved_per_url"] == 23
    media = body["configuration"]["media_attachments"]
    assert "image/png" in media["supported_mime_types"]
    assert media["image_size_limit"] > 0
    assert body["configuration"]["polls"]["max_options"] == 0
    assert isinstance(body["registrations"], bool)
    assert isinstance(body["approval_required"], bool)


def test_instance_v2_has_what_apps_read(client: TestClient, api_user) -> None:
    api_user("alice")
    body = client.get("/api/v2/instance").json()
    assert body["domain"] == "127.0.0.1:8000"
    assert body["version"].startswith("4.2.1 (compatible; Commonground ")
    assert body["api_versions"] == {"mastodon": 1, "commonground": 1}
    assert body["usage"]["users"]["active_month"] >= 1
    assert body["configuration"]["urls"]["streaming"].startswith("ws")
    assert body["configuration"]["statuses"]["max_characters"] == 10_000
    reg = body["registrations"]
    assert set(reg) >= {"enabled", "approval_required", "message"}
    assert set(body["contact"]) == {"email", "account"}
    assert "url" in body["thumbnail"]
    assert isinstance(body["rules"], list) and isinstance(body["languages"], list)


def test_instance_rules_peers_activity_preferences(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    assert client.get("/api/v1/instance/rules").json() == []
    assert client.get("/api/v1/instance/peers").json() == []
    activity = client.get("/api/v1/instance/activity").json()
    assert isinstance(activity, list)
    assert all(set(w) == {"week", "statuses", "logins", "registrations"} for w in activity)
    prefs = alice.get("/api/v1/preferences").json()
    assert prefs["posting:default:visibility"] == "public"
    assert prefs["reading:expand:spoilers"] is False
    assert client.get("/api/v1/preferences").status_code == 401


def test_nodeinfo_says_upstream_mastodon(client: TestClient) -> None:
    body = client.get("/nodeinfo/2.1").json()
    assert body["software"]["name"] == "commonground"
    assert body["metadata"]["upstream"]["name"] == "mastodon"


LISTS = [  # /api/v1/lists: the ranked feeds (tests/test_mastodon_ranked.py)
    "/api/v1/filters",
    "/api/v2/filters",
    "/api/v1/announcements",
    "/api/v1/followed_tags",
    "/api/v1/conversations",
    "/api/v1/scheduled_statuses",
    "/api/v2/suggestions",
    "/api/v1/suggestions",
    "/api/v1/domain_blocks",
    "/api/v1/bookmarks",
    "/api/v1/favourites",
    "/api/v1/follow_requests",
    "/api/v1/endorsements",
    "/api/v1/featured_tags",
]


@pytest.mark.parametrize("path", LISTS)
def test_start_up_lists_are_empty_but_valid(client: TestClient, api_user, path: str) -> None:
    alice = api_user("alice")
    r = alice.get(path)
    assert r.status_code == 200, r.text
    assert r.json() == []
    r = client.get(path)
    assert r.status_code == 401
    assert r.json() == {"error": "The access token is invalid"}


@pytest.mark.parametrize(
    "path", ["/api/v1/custom_emojis", "/api/v1/trends/tags", "/api/v1/trends/links",
             "/api/v1/trends/statuses", "/api/v1/trends"],
)  # fmt: skip
def test_public_start_up_lists(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200, r.text
    assert r.json() == []


def test_markers_and_push(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    assert alice.get("/api/v1/markers", params={"timeline[]": ["home"]}).json() == {}
    r = alice.get("/api/v1/push/subscription")
    assert r.status_code == 404
    assert r.json() == {"error": "Record not found"}


def test_mastodon_errors_have_mastodon_shape(client: TestClient, api_user) -> None:
    r = client.get("/api/v1/no/such/thing")
    assert r.status_code == 404
    assert r.json() == {"error": "Record not found"}
    r = client.get("/api/v1/preferences", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert r.json() == {"error": "The access token is invalid"}
    r = client.get("/api/v1/preferences", headers={"Authorization": "Basic x"})
    assert r.status_code == 401
    assert r.json() == {"error": "The access token is invalid"}
    # the native API keeps its own shape
    r = client.get("/api/cg/v1/no/such/thing")
    assert r.json()["error"] == "not_found" and "detail" in r.json()
