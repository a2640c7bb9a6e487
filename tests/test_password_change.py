"""Changing the password logs out every other browser (whoever knew the old
password is out), keeps the one that changed it, and offers to revoke API tokens:
a checkbox on the form, a "revoke all tokens" button, and the API's equivalent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.services import Ctx, accounts, auth
from tests.conftest import PASSWORD
from tests.test_pages import signup, submit

NEW = "a new password 1"


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(ctx: Ctx) -> None:
    alice = accounts.register(ctx, "alice", PASSWORD)
    bob = accounts.register(ctx, "bob", PASSWORD)
    here, elsewhere, bobs = (auth.start_session(ctx, a) for a in (alice, alice, bob))
    _, token = auth.create_token(ctx, alice, "read")
    ctx.db.flush()

    accounts.change_password(ctx, alice, PASSWORD, NEW, keep_session=here)
    assert auth.session_account(ctx, here).id == alice.id
    assert auth.session_account(ctx, elsewhere) is None
    assert auth.session_account(ctx, bobs).id == bob.id  # nobody else's
    assert auth.token_account(ctx, token)[0].id == alice.id  # tokens only when asked

    accounts.change_password(ctx, alice, NEW, PASSWORD, revoke_tokens=True)
    assert auth.session_account(ctx, here) is None  # no session to keep: all end
    assert auth.list_tokens(ctx, alice) == []


def test_a_wrong_current_password_ends_nothing(ctx: Ctx) -> None:
    alice = accounts.register(ctx, "alice", PASSWORD)
    elsewhere = auth.start_session(ctx, alice)
    auth.create_token(ctx, alice, "read")
    with pytest.raises(Exception, match="current password"):
        accounts.change_password(ctx, alice, "not it", NEW, revoke_tokens=True)
    assert auth.session_account(ctx, elsewhere).id == alice.id
    assert len(auth.list_tokens(ctx, alice)) == 1


@pytest.fixture
def second_browser(app) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1:8000") as browser:
        yield browser


def _login(browser: TestClient) -> None:
    r = submit(browser, "/login", "/login", {"username": "alice", "password": PASSWORD})
    assert r.status_code == 303, r.text


def test_the_settings_page_logs_out_other_browsers(client: TestClient, second_browser) -> None:
    signup(client, "alice")
    _login(second_browser)
    assert second_browser.get("/settings").status_code == 200
    submit(client, "/settings", "/settings/tokens", {"scope": "read", "name": "script"})
    form = {"current_password": PASSWORD, "new_password": NEW}
    r = submit(client, "/settings", "/settings/password", form)
    assert r.status_code == 303
    assert client.get("/settings").status_code == 200  # this browser stays in
    page = client.get("/settings").text
    assert "script" in page  # the token is kept: the box was not ticked
    r = second_browser.get("/settings", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_the_password_form_can_revoke_every_token(client: TestClient) -> None:
    signup(client, "alice")
    assert 'name="revoke_tokens"' in client.get("/settings").text
    for name in ("one-script", "two-script"):
        submit(client, "/settings", "/settings/tokens", {"scope": "read", "name": name})
    form = {"current_password": PASSWORD, "new_password": NEW, "revoke_tokens": "on"}
    r = submit(client, "/settings", "/settings/password", form)
    assert r.status_code == 303
    page = client.get("/settings").text
    assert "one-script" not in page and "two-script" not in page


def test_one_click_revokes_all_tokens(client: TestClient) -> None:
    signup(client, "alice")
    assert "Revoke all tokens" not in client.get("/settings").text  # nothing to revoke
    for name in ("one-script", "two-script"):
        submit(client, "/settings", "/settings/tokens", {"scope": "write", "name": name})
    r = submit(client, "/settings", "/settings/tokens/revoke-all", {})
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "2 tokens revoked" in page
    assert "one-script" not in page and "two-script" not in page


def test_the_api_password_change_ends_sessions_and_can_revoke_other_tokens(
    api_user, client: TestClient
) -> None:
    alice = api_user("alice")
    _login(client)
    other = client.post(
        "/api/cg/v1/tokens", json={"username": "alice", "password": PASSWORD, "scope": "read"}
    ).json()["token"]
    r = alice.post(
        "/api/cg/v1/me/password",
        {"current_password": PASSWORD, "new_password": NEW, "revoke_tokens": True},
    )
    assert r.status_code == 204, r.text
    assert client.get("/settings", follow_redirects=False).status_code == 303  # logged out
    gone = client.get("/api/cg/v1/me", headers={"Authorization": f"Bearer {other}"})
    assert gone.status_code == 401
    assert alice.get("/api/cg/v1/me").status_code == 200  # the token that asked is kept
    r = alice.post(
        "/api/cg/v1/me/password", {"current_password": NEW, "new_password": "x" * 9, "x": 1}
    )
    assert r.status_code == 422  # unknown fields are still refused
