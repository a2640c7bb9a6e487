"""Password reset by a mailed link: the same answer whether or not an account has
the address, a link that works once and expires, a reset that ends every web
session and revokes every API token, the usual password rules, rate limits per
client and per address, and the pages from "Forgot password?" on. Mails go
through a real SMTP server on 127.0.0.1. On both databases."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from app.models import EmailToken, utcnow
from tests.conftest import PASSWORD
from tests.mailbox import Mailbox, link, mailbox  # noqa: F401 - the fixture
from tests.test_pages import submit

NEW_PASSWORD = "a brand new password"


def _member(client: TestClient, mailbox: Mailbox, name: str = "ada") -> None:  # noqa: F811
    r = client.post(
        "/api/cg/v1/accounts",
        json={"username": name, "password": PASSWORD, "email": f"{name}@example.org"},
    )
    assert r.status_code == 201, r.text
    mailbox.deliver()  # the confirmation link, not needed here


def _token(client: TestClient, password: str = PASSWORD):
    return client.post(
        "/api/cg/v1/tokens", json={"username": "ada", "password": password, "scope": "write"}
    )


def _reset_link(client: TestClient, mailbox: Mailbox) -> str:  # noqa: F811
    r = client.post("/api/cg/v1/password-resets", json={"email": "ada@example.org"})
    assert r.status_code == 202
    [(rcpt, message)] = mailbox.deliver()
    assert rcpt == ["ada@example.org"]
    assert message["Subject"] == "Commonground: set a new password"
    return link(message, "/password-reset/")


def test_the_answer_is_the_same_for_unknown_addresses(client: TestClient, mailbox: Mailbox) -> None:  # noqa: F811
    _member(client, mailbox)
    known = client.post("/api/cg/v1/password-resets", json={"email": "Ada@Example.org"})
    unknown = client.post("/api/cg/v1/password-resets", json={"email": "eve@example.org"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert known.headers["content-length"] == unknown.headers["content-length"]
    received = mailbox.deliver()
    assert [rcpt for rcpt, _ in received] == [["ada@example.org"]]
    r = client.post("/api/cg/v1/password-resets", json={"email": "not an address"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_email"


def test_a_reset_ends_every_session_and_revokes_every_token_and_works_once(
    client: TestClient,
    app,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    _member(client, mailbox)
    api = {"Authorization": f"Bearer {_token(client).json()['token']}"}
    with TestClient(app, base_url="http://127.0.0.1:8000") as browser:
        r = submit(browser, "/login", "/login", {"username": "ada", "password": PASSWORD})
        assert r.status_code == 303 and browser.get("/settings").status_code == 200
        path = _reset_link(client, mailbox)
        token = path.rsplit("/", 1)[1]

        r = client.post(f"/api/cg/v1/password-resets/{token}", json={"password": "short"})
        assert r.status_code == 422 and r.json()["error"] == "invalid_password"
        assert client.get("/api/cg/v1/me", headers=api).status_code == 200  # nothing happened

        r = client.post(f"/api/cg/v1/password-resets/{token}", json={"password": NEW_PASSWORD})
        assert r.status_code == 204, r.text
        assert client.get("/api/cg/v1/me", headers=api).status_code == 401
        assert browser.get("/settings", follow_redirects=False).status_code in (303, 401)
    assert _token(client).status_code == 401
    assert _token(client, NEW_PASSWORD).status_code == 201

    r = client.post(f"/api/cg/v1/password-resets/{token}", json={"password": "another password"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_link"
    used, unknown = client.get(path), client.get("/password-reset/not-a-token")
    assert used.status_code == unknown.status_code == 400
    assert "used up, expired or not one of ours" in used.text
    assert "used up, expired or not one of ours" in unknown.text


def test_an_expired_link_gets_the_same_error(client: TestClient, new_ctx, mailbox) -> None:  # noqa: F811
    _member(client, mailbox)
    path = _reset_link(client, mailbox)
    with new_ctx() as ctx:
        ctx.db.execute(update(EmailToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    r = client.post(f"/api/cg/v1/password-resets/{path[16:]}", json={"password": NEW_PASSWORD})
    assert r.status_code == 422 and r.json()["error"] == "invalid_link"
    page = client.get(path)
    assert page.status_code == 400 and 'name="password"' not in page.text
    assert _token(client).status_code == 201  # the old password still works


def test_the_pages_from_forgot_password_to_a_new_one(client: TestClient, mailbox) -> None:  # noqa: F811
    _member(client, mailbox)
    assert 'href="/password-reset"' in client.get("/login").text
    r = submit(client, "/password-reset", "/password-reset", {"email": "no such address"})
    assert r.status_code == 422 and 'value="no such address"' in r.text
    for address in ("eve@example.org", "ada@example.org"):
        r = submit(client, "/password-reset", "/password-reset", {"email": address})
        assert r.status_code == 200 and "If an account uses this address" in r.text
    [(_, message)] = mailbox.deliver()
    path = link(message, "/password-reset/")
    page = client.get(path)
    assert page.status_code == 200 and 'name="password"' in page.text
    r = submit(client, path, path, {"password": "short"})
    assert r.status_code == 422 and 'name="password"' in r.text
    r = submit(client, path, path, {"password": NEW_PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    r = submit(client, "/login", "/login", {"username": "ada", "password": NEW_PASSWORD})
    assert r.status_code == 303
    assert client.get(path).status_code == 400


def test_asking_is_rate_limited_per_address_and_per_client(
    client: TestClient,
    settings,
    mailbox,  # noqa: F811
) -> None:
    settings.mail_limit_per_address, settings.mail_limit_per_client = 2, 3
    for _ in range(2):
        r = client.post("/api/cg/v1/password-resets", json={"email": "ada@example.org"})
        assert r.status_code == 202
    r = client.post("/api/cg/v1/password-resets", json={"email": "ADA@example.org"})
    assert r.status_code == 429 and r.json()["error"] == "rate_limited"
    assert (
        client.post("/api/cg/v1/password-resets", json={"email": "b@example.org"}).status_code
        == 202
    )
    r = client.post("/api/cg/v1/password-resets", json={"email": "c@example.org"})
    assert r.status_code == 429  # this client asked too often, whatever the address
