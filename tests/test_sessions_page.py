"""The sessions page and API: a member sees their browser logins (when, last used,
which browser, roughly from where) and API tokens, and ends any of them; ending
this browser's own logs it out. Last use is noted coarsely, so page views do not
write on every request. On both databases."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import select

from app.models import WebSession, utcnow
from app.services import auth
from tests.conftest import PASSWORD
from tests.test_pages import signup, submit

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36"
)


def _browser(app, agent: str) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1:8000", headers={"User-Agent": agent})


def _log_in(browser: TestClient) -> None:
    r = submit(browser, "/login", "/login", {"username": "ada", "password": PASSWORD})
    assert r.status_code == 303, r.text


def test_the_page_lists_logins_and_tokens_and_ends_them(client: TestClient, app) -> None:
    signup(client, "ada")  # a first login, by the test client
    r = client.post(
        "/api/cg/v1/tokens",
        json={"username": "ada", "password": PASSWORD, "scope": "read", "name": "my script"},
    )
    api = {"Authorization": f"Bearer {r.json()['token']}"}
    prefix = r.json()["prefix"]
    with _browser(app, FIREFOX) as laptop, _browser(app, PHONE) as phone:
        _log_in(laptop)
        _log_in(phone)
        assert "never used" in laptop.get("/settings/sessions").text
        assert client.get("/api/cg/v1/me", headers=api).status_code == 200
        page = laptop.get("/settings/sessions")
        assert page.status_code == 200
        assert "Firefox on Linux" in page.text and "Chrome on Android" in page.text
        assert page.text.count("this browser") == 1
        assert f"<code>{prefix}…</code>" in page.text and "my script" in page.text
        assert "read" in page.text and "never used" not in page.text

        listed = client.get("/api/cg/v1/me/sessions", headers=api).json()
        assert len(listed) == 3
        phone_id = next(s["id"] for s in listed if s["browser"] == "Chrome on Android")
        laptop_id = next(s["id"] for s in listed if s["browser"] == "Firefox on Linux")

        r = submit(laptop, "/settings/sessions", f"/settings/sessions/{phone_id}/end", {})
        assert r.status_code == 303 and r.headers["location"] == "/settings/sessions"
        assert phone.get("/settings", follow_redirects=False).status_code in (303, 401)

        r = submit(laptop, "/settings/sessions", f"/settings/sessions/{laptop_id}/end", {})
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert laptop.get("/settings", follow_redirects=False).status_code in (303, 401)
    assert len(client.get("/api/cg/v1/me/sessions", headers=api).json()) == 1


def test_the_api_ends_only_the_members_own_sessions(client: TestClient, app) -> None:
    signup(client, "ada")
    with _browser(app, FIREFOX) as other:
        signup(other, "ben")
        ben = other.post(
            "/api/cg/v1/tokens", json={"username": "ben", "password": PASSWORD, "scope": "write"}
        ).json()["token"]
        ada = client.post(
            "/api/cg/v1/tokens", json={"username": "ada", "password": PASSWORD, "scope": "write"}
        ).json()["token"]
        [bens] = other.get(
            "/api/cg/v1/me/sessions", headers={"Authorization": f"Bearer {ben}"}
        ).json()
        r = client.delete(
            f"/api/cg/v1/me/sessions/{bens['id']}", headers={"Authorization": f"Bearer {ada}"}
        )
        assert r.status_code == 404 and r.json()["error"] == "session_not_found"
        assert other.get("/settings").status_code == 200  # ben is still logged in
        r = other.delete(
            f"/api/cg/v1/me/sessions/{bens['id']}", headers={"Authorization": f"Bearer {ben}"}
        )
        assert r.status_code == 204
        assert other.get("/settings", follow_redirects=False).status_code in (303, 401)


def test_last_use_is_noted_at_most_every_few_minutes(client: TestClient, new_ctx) -> None:
    signup(client, "ada")
    earlier = utcnow() - timedelta(minutes=1)
    with new_ctx() as ctx:
        ctx.db.execute(update(WebSession).values(last_used_at=earlier))
    client.get("/settings")
    with new_ctx() as ctx:
        [row] = ctx.db.exec(select(WebSession)).all()
        assert row.last_used_at == earlier  # a page view a minute later writes nothing
    stale = utcnow() - timedelta(minutes=10)
    with new_ctx() as ctx:
        ctx.db.execute(update(WebSession).values(last_used_at=stale))
    assert client.get("/settings").status_code == 200  # a GET: its own short write
    with new_ctx() as ctx:
        [row] = ctx.db.exec(select(WebSession)).all()
        assert row.last_used_at > stale + timedelta(minutes=9)


def test_browsers_and_addresses_are_described_briefly() -> None:
    assert auth.describe_agent(FIREFOX) == "Firefox on Linux"
    assert auth.describe_agent("curl/8.5.0") == "curl"
    assert auth.describe_agent("") == "an unknown browser"
    assert auth.address_prefix("203.0.113.77") == "203.0.113.0/24"
    assert auth.address_prefix("2001:db8:1:2::5") == "2001:db8:1::/48"
    assert auth.address_prefix("::ffff:198.51.100.9") == "198.51.100.0/24"
    assert auth.address_prefix("testclient") == ""
