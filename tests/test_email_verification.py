"""E-mail addresses and their confirmation: required when the instance verifies
addresses (a new member logs in only after following the mailed link), the link
works once and expires, it can be asked for again (rate-limited, never telling
who is a member), and a change of address is confirmed at the new address while
the old one is told. Mails go through a real SMTP server on 127.0.0.1. On both
databases."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import func, select

from app.models import Account, EmailToken, utcnow
from app.services import accounts, registration
from tests.conftest import PASSWORD
from tests.mailbox import Mailbox, link, mailbox  # noqa: F401 - the fixture
from tests.test_pages import csrf, submit


def _sign_up(client: TestClient, name: str, **extra):
    return client.post(
        "/api/cg/v1/accounts", json={"username": name, "password": PASSWORD, **extra}
    )


def _token(client: TestClient, name: str, password: str = PASSWORD):
    return client.post(
        "/api/cg/v1/tokens", json={"username": name, "password": password, "scope": "write"}
    )


def _verification_on(new_ctx) -> None:
    """An admin turns it on (the environment says off): the admin's choice wins."""
    with new_ctx() as ctx:
        root = accounts.register(ctx, "root", PASSWORD, is_admin=True)
        assert registration.set_verification(ctx, root, True) is True


def test_with_verification_on_a_new_member_logs_in_only_after_the_link(
    client: TestClient,
    new_ctx,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    _verification_on(new_ctx)
    assert client.get("/api/cg/v1/instance/registration").json()["email_required"] is True
    r = _sign_up(client, "ada")
    assert r.status_code == 422 and r.json()["error"] == "email_required"
    r = _sign_up(client, "ada", email="not an address")
    assert r.status_code == 422 and r.json()["error"] == "invalid_email"
    with new_ctx() as ctx:  # nothing was stored
        assert accounts.find_local(ctx, "ada") is None
    assert _sign_up(client, "ada", email=" Ada@Example.ORG ").status_code == 201
    r = _sign_up(client, "ben", email="ada@example.org")
    assert r.status_code == 409 and r.json()["error"] == "email_taken"

    r = _token(client, "ada", "wrong password")
    assert r.status_code == 401 and r.json()["error"] == "bad_credentials"  # no tell
    r = _token(client, "ada")
    assert r.status_code == 403 and r.json()["error"] == "email_unconfirmed"

    [(rcpt, message)] = mailbox.deliver()
    assert rcpt == ["ada@example.org"]
    assert message["Subject"] == "Commonground: confirm your e-mail address"
    path = link(message, "/confirm-email/")
    page = client.get(path)  # a read: a mail scanner opening it uses nothing up
    assert page.status_code == 200 and "Confirm my address" in page.text
    r = client.post(path, data={"csrf_token": csrf(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert _token(client, "ada").status_code == 201

    again = client.post(path, data={"csrf_token": csrf(page.text)}, follow_redirects=False)
    assert again.status_code == 400 and "used up, expired or not one of ours" in again.text
    r = client.post("/api/cg/v1/email-verifications/" + path.rsplit("/", 1)[1])
    assert r.status_code == 422 and r.json()["error"] == "invalid_link"
    assert client.get(path).status_code == 400


def test_the_signup_page_asks_for_the_address_and_does_not_log_in_before_the_link(
    client: TestClient,
    new_ctx,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    _verification_on(new_ctx)
    page = client.get("/signup")
    assert 'name="email"' in page.text and "confirm it before you can log in" in page.text
    r = submit(client, "/signup", "/signup", {"username": "ada", "password": PASSWORD})
    assert r.status_code == 422 and 'value="ada"' in r.text  # what was typed stays
    r = submit(
        client,
        "/signup",
        "/signup",
        {"username": "ada", "password": PASSWORD, "email": "ada@example.org"},
    )
    assert r.status_code == 200 and "we mailed a link to ada@example.org" in r.text
    assert "cg_session" not in r.cookies
    r = submit(client, "/login", "/login", {"username": "ada", "password": PASSWORD})
    assert r.status_code == 403 and "Confirm your e-mail address first" in r.text
    assert 'href="/confirm-email"' in r.text  # send the link again
    [(_, message)] = mailbox.deliver()
    path = link(message, "/confirm-email/")
    assert submit(client, path, path, {}).status_code == 303
    r = submit(client, "/login", "/login", {"username": "ada", "password": PASSWORD})
    assert r.status_code == 303


def test_verification_off_keeps_the_address_optional_but_still_confirms_it(
    client: TestClient,
    new_ctx,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    assert _sign_up(client, "ada").status_code == 201
    assert _sign_up(client, "ben", email="ben@example.org").status_code == 201
    assert _token(client, "ben").status_code == 201  # logs in before confirming
    [(rcpt, _)] = mailbox.deliver()
    assert rcpt == ["ben@example.org"]


def test_an_expired_link_is_refused_and_a_new_one_can_be_asked_for(
    client: TestClient,
    new_ctx,
    settings,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    _verification_on(new_ctx)
    assert _sign_up(client, "ada", email="ada@example.org").status_code == 201
    [(_, first)] = mailbox.deliver()
    with new_ctx() as ctx:
        ctx.db.execute(update(EmailToken).values(expires_at=utcnow() - timedelta(minutes=1)))
    token = link(first, "/confirm-email/").rsplit("/", 1)[1]
    r = client.post(f"/api/cg/v1/email-verifications/{token}")
    assert r.status_code == 422 and r.json()["error"] == "invalid_link"
    assert client.get(f"/confirm-email/{token}").status_code == 400

    known = client.post("/api/cg/v1/email-verifications", json={"email": "ada@example.org"})
    unknown = client.post("/api/cg/v1/email-verifications", json={"email": "eve@example.org"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    [(rcpt, second)] = mailbox.deliver()  # only to the address that waits
    assert rcpt == ["ada@example.org"]
    r = client.post("/api/cg/v1/email-verifications/" + link(second, "/confirm-email/")[15:])
    assert r.status_code == 200 and r.json() == {"username": "ada", "email": "ada@example.org"}
    assert _token(client, "ada").status_code == 201

    settings.mail_limit_per_address = 2
    for _ in range(2):
        r = client.post("/api/cg/v1/email-verifications", json={"email": "cyd@example.org"})
        assert r.status_code == 202
    r = client.post("/api/cg/v1/email-verifications", json={"email": "CYD@example.org"})
    assert r.status_code == 429 and "Retry-After" in r.headers


def test_a_change_of_address_is_confirmed_at_the_new_one_and_the_old_one_is_told(
    client: TestClient,
    new_ctx,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    assert _sign_up(client, "ada", email="ada@example.org").status_code == 201
    assert _sign_up(client, "ben", email="ben@example.org").status_code == 201
    [(_, welcome), _] = mailbox.deliver()
    client.post("/api/cg/v1/email-verifications/" + link(welcome, "/confirm-email/")[15:])
    ada = {"Authorization": f"Bearer {_token(client, 'ada').json()['token']}"}

    change = {"email": "ada@river.example", "password": "wrong password"}
    r = client.post("/api/cg/v1/me/email", json=change, headers=ada)
    assert r.status_code == 422 and r.json()["error"] == "bad_password", r.text
    r = client.post(
        "/api/cg/v1/me/email", json={"email": "BEN@example.org", "password": PASSWORD}, headers=ada
    )
    assert r.status_code == 409 and r.json()["error"] == "email_taken"
    r = client.post("/api/cg/v1/me/email", json={**change, "password": PASSWORD}, headers=ada)
    assert r.status_code == 202, r.text
    me = client.get("/api/cg/v1/me", headers=ada).json()
    assert (me["email"], me["email_verified"]) == ("ada@example.org", True)  # not yet replaced

    [(rcpt, message)] = mailbox.deliver()
    assert rcpt == ["ada@river.example"]
    r = client.post("/api/cg/v1/email-verifications/" + link(message, "/confirm-email/")[15:])
    assert r.status_code == 200 and r.json()["email"] == "ada@river.example"
    me = client.get("/api/cg/v1/me", headers=ada).json()
    assert (me["email"], me["email_verified"]) == ("ada@river.example", True)
    [(rcpt, notice)] = mailbox.deliver()
    assert rcpt == ["ada@example.org"]
    assert "is now ada@river.example" in notice.get_content()
    with new_ctx() as ctx:
        assert ctx.db.exec(select(func.count()).select_from(Account)).one() == 2


def test_the_settings_page_changes_the_address_and_keeps_what_was_typed(
    client: TestClient,
    new_ctx,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    submit(client, "/signup", "/signup", {"username": "ada", "password": PASSWORD})
    r = submit(
        client,
        "/settings/email",
        "/settings/email",
        {"email": "ada@example.org", "password": "wrong password"},
    )
    assert r.status_code == 422 and 'value="ada@example.org"' in r.text
    assert "The password is wrong." in r.text
    r = submit(
        client,
        "/settings/email",
        "/settings/email",
        {"email": "ada@example.org", "password": PASSWORD},
    )
    assert r.status_code == 303
    [(rcpt, message)] = mailbox.deliver()
    path = link(message, "/confirm-email/")
    r = submit(client, path, path, {})
    assert r.status_code == 303 and r.headers["location"] == "/settings"
    assert "ada@example.org (confirmed" in client.get("/settings/email").text


def test_the_admin_turns_verification_on_and_off_on_the_admin_page(
    client: TestClient, new_ctx
) -> None:
    with new_ctx() as ctx:
        accounts.register(ctx, "root", PASSWORD, is_admin=True)
    assert submit(
        client, "/login", "/login", {"username": "root", "password": PASSWORD}
    ).is_redirect
    r = submit(client, "/admin", "/admin/email-verification", {"verification": "on"})
    assert r.status_code == 303
    assert client.get("/api/cg/v1/instance/registration").json()["email_required"] is True
    assert 'value="on" selected' in client.get("/admin").text
    r = submit(client, "/admin", "/admin/email-verification", {"verification": "off"})
    assert r.status_code == 303
    assert client.get("/api/cg/v1/instance/registration").json()["email_required"] is False
    assert _sign_up(client, "ada").status_code == 201  # no address needed
