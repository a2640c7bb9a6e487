"""Read markers in the Mastodon client API (docs/mastodon-api.md, "Markers")."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.models import Marker
from tests.conftest import PASSWORD


def markers(user, *timelines: str) -> dict:
    query = "&".join(f"timeline[]={t}" for t in timelines)
    r = user.get(f"/api/v1/markers?{query}")
    assert r.status_code == 200, r.text
    return r.json()


def test_set_by_json_and_form_and_read_back(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    assert markers(alice, "home", "notifications") == {}
    r = alice.post("/api/v1/markers", {"home": {"last_read_id": "103206604258487607"}})
    assert r.status_code == 200, r.text
    home = r.json()["home"]
    assert home["last_read_id"] == "103206604258487607" and home["version"] == 0
    assert home["updated_at"].endswith("Z")
    assert set(r.json()) == {"home"}
    r = client.post(
        "/api/v1/markers", data={"home[last_read_id]": "103206604258487700"}, headers=alice.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["home"]["version"] == 1
    assert r.json()["home"]["last_read_id"] == "103206604258487700"
    both = markers(alice, "home", "notifications")
    assert list(both) == ["home"] and both["home"]["version"] == 1
    assert markers(alice, "notifications") == {}
    assert markers(alice) == {}  # nothing asked, nothing answered, as Mastodon
    assert markers(alice, "home", "lists") == {"home": both["home"]}  # unknown ones: none
    assert markers(api_user("bob"), "home") == {}  # per member


def test_notifications_marker_marks_them_read(client: TestClient, api_user) -> None:
    alice, bob, cara = api_user("alice"), api_user("bob"), api_user("cara")
    post = alice.post("/api/v1/statuses", json={"status": "hi"}).json()
    bob.post(f"/api/v1/statuses/{post['id']}/favourite")
    me = alice.get("/api/v1/accounts/verify_credentials").json()["id"]
    bob.post(f"/api/v1/accounts/{me}/follow")
    notes = alice.get("/api/v1/notifications").json()
    assert [n["type"] for n in notes] == ["follow", "favourite"]
    assert alice.get("/api/v1/notifications/unread_count").json() == {"count": 2}
    r = alice.post("/api/v1/markers", {"notifications": {"last_read_id": notes[1]["id"]}})
    assert r.status_code == 200 and r.json()["notifications"]["last_read_id"] == notes[1]["id"]
    assert alice.get("/api/v1/notifications/unread_count").json() == {"count": 1}
    r = alice.post("/api/v1/markers", {"notifications": {"last_read_id": notes[0]["id"]}})
    assert r.json()["notifications"]["version"] == 1
    assert alice.get("/api/v1/notifications/unread_count").json() == {"count": 0}
    # a read group takes no one new: Cara's like starts a new notification
    cara.post(f"/api/v1/statuses/{post['id']}/favourite")
    assert alice.get("/api/v1/notifications/unread_count").json() == {"count": 1}
    r = bob.post("/api/v1/markers", {"notifications": {"last_read_id": notes[0]["id"]}})
    assert r.status_code == 200  # someone else's id is stored, and marks nothing of Alice's
    assert alice.get("/api/v1/notifications/unread_count").json() == {"count": 1}


def test_bad_input_stores_nothing(client: TestClient, api_user, engine) -> None:
    alice = api_user("alice")
    for body in (
        {},
        {"home": "12"},
        {"home": {"last_read_id": "abc"}},
        {"home": {"last_read_id": "-1"}},
        {"home": {"last_read_id": "9" * 30}},
        {"home": {"last_read_id": "12"}, "notifications": {"last_read_id": "x"}},
        {"home": {}},
    ):
        r = alice.post("/api/v1/markers", body)
        assert r.status_code == 422, (body, r.text)
        assert set(r.json()) == {"error"}
    r = client.post("/api/v1/markers", data={"home[last_read_id]": "%00"}, headers=alice.headers)
    assert r.status_code == 422
    many = "&".join(f"timeline[]=t{i}" for i in range(20))
    assert alice.get(f"/api/v1/markers?{many}").status_code == 422
    assert client.get("/api/v1/markers?timeline[]=home").status_code == 401
    assert client.post("/api/v1/markers", json={"home": {"last_read_id": "1"}}).status_code == 401
    r = client.post(
        "/api/cg/v1/tokens", json={"username": "alice", "password": PASSWORD, "scope": "read"}
    )
    reader = {"Authorization": f"Bearer {r.json()['token']}"}
    r = client.post("/api/v1/markers", json={"home": {"last_read_id": "1"}}, headers=reader)
    assert r.status_code == 403
    with Session(engine) as db:
        assert db.exec(select(Marker)).all() == []
