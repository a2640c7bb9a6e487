"""Server-rendered pages: sign-up to thread, CSRF, cookies, access control, first run."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from app.services import setup
from tests.conftest import PASSWORD, make_settings


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def submit(client: TestClient, page: str, action: str, data: dict, **kw):
    """Load ``page`` like a browser, then post its form to ``action``."""
    token = csrf(client.get(page).text)
    return client.post(action, data={"csrf_token": token, **data}, follow_redirects=False, **kw)


def signup(client: TestClient, username: str) -> None:
    r = submit(client, "/signup", "/signup", {"username": username, "password": PASSWORD})
    assert r.status_code == 303, r.text


def test_signup_sets_a_safe_session_cookie(client: TestClient) -> None:
    r = submit(
        client,
        "/signup",
        "/signup",
        {"username": "alice", "password": PASSWORD, "display_name": "Alice"},
    )
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "cg_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # http on loopback
    home = client.get("/")
    assert "Log out" in home.text and "Alice" in client.get("/@alice").text


def test_cookies_are_secure_under_https(settings, engine) -> None:
    from app.main import create_app

    https = make_settings(
        settings.data_dir, settings.database_url, domain="cg.example", scheme="https"
    )
    with TestClient(create_app(https, engine), base_url="https://cg.example") as c:
        r = submit(c, "/signup", "/signup", {"username": "alice", "password": PASSWORD})
        assert "secure" in r.headers["set-cookie"].lower()


def test_forms_without_a_valid_csrf_token_are_refused(client: TestClient) -> None:
    client.get("/signup")
    r = client.post("/signup", data={"username": "mallory", "password": PASSWORD})
    assert r.status_code == 403 and "expired" in r.text
    r = client.post(
        "/signup", data={"username": "mallory", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert r.status_code == 403
    assert client.get("/@mallory").status_code == 404


def test_csrf_token_is_bound_to_the_browser(app) -> None:
    with TestClient(app) as one, TestClient(app) as two:
        token = csrf(one.get("/signup").text)
        two.get("/signup")
        r = two.post("/signup", data={"csrf_token": token, "username": "x1", "password": PASSWORD})
        assert r.status_code == 403


def test_login_logout_and_wrong_password(client: TestClient) -> None:
    signup(client, "alice")
    submit(client, "/", "/logout", {})
    assert "Log in" in client.get("/").text
    r = submit(client, "/login", "/login", {"username": "alice", "password": "nope nope"})
    assert r.status_code == 401 and "Wrong username or password" in r.text
    assert 'value="alice"' in r.text  # the form keeps what was typed
    r = submit(
        client,
        "/login?next=/settings",
        "/login",
        {"username": "alice", "password": PASSWORD, "next": "/settings"},
    )
    assert r.headers["location"] == "/settings"


def test_login_never_redirects_off_site(client: TestClient) -> None:
    signup(client, "alice")
    submit(client, "/", "/logout", {})
    r = submit(
        client,
        "/login",
        "/login",
        {"username": "alice", "password": PASSWORD, "next": "//evil.example/"},
    )
    assert r.headers["location"] == "/"


def test_member_pages_redirect_to_login(client: TestClient) -> None:
    for path in ("/compose", "/settings", "/communities/new"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_community_thread_reply_and_reactions(client: TestClient, app) -> None:
    signup(client, "alice")
    r = submit(
        client,
        "/communities/new",
        "/communities/new",
        {
            "name": "garden",
            "title": "Garden",
            "description": "Grow",
            "charter": "We **share** seeds",
            "join_policy": "open",
        },
    )
    assert r.headers["location"] == "/c/garden"
    page = client.get("/c/garden").text
    assert "<strong>share</strong>" in page and "Your role here: <strong>admin</strong>" in page
    r = submit(
        client,
        "/c/garden",
        "/compose",
        {"community": "garden", "title": "Seed swap", "text": "Bring #seeds"},
    )
    assert r.status_code == 303
    thread_url = r.headers["location"]
    post_id = int(thread_url.rsplit("/", 1)[1])

    with TestClient(app) as bob:
        signup(bob, "bob")
        submit(bob, "/c/garden", "/c/garden/join", {})
        r = submit(bob, thread_url, f"/posts/{post_id}/reply", {"text": "I'll bring beans"})
        assert r.status_code == 303
        r = submit(bob, thread_url, f"/posts/{post_id}/react", {"kind": "agree"})
        assert r.status_code == 303

    thread = client.get(thread_url).text
    assert "Seed swap" in thread and "bring beans" in thread
    assert re.search(
        r'value="agree" aria-pressed="false"[^>]*>Agree <span class="count">1</span>', thread
    )
    home = client.get("/").text
    assert "bring beans" in home and "Why am I seeing this?" in home


def test_reaction_buttons_toggle(client: TestClient) -> None:
    signup(client, "alice")
    r = submit(client, "/compose", "/compose", {"text": "hello"})
    post = r.headers["location"]
    pid = post.rsplit("/", 1)[1]
    submit(client, post, f"/posts/{pid}/react", {"kind": "like"})
    assert re.search(
        r'value="like" aria-pressed="true"[^>]*>♥ Like <span class="count">1', client.get(post).text
    )
    submit(client, post, f"/posts/{pid}/react", {"kind": "like"})
    assert re.search(
        r'value="like" aria-pressed="false"[^>]*>♥ Like <span class="count">0',
        client.get(post).text,
    )


def test_compose_errors_keep_the_text(client: TestClient) -> None:
    signup(client, "alice")
    long_text = "x" * 10_001
    r = submit(client, "/compose", "/compose", {"text": long_text})
    assert r.status_code == 422 and "at most 10,000 characters" in r.text
    assert long_text in r.text
    r = submit(client, "/compose", "/compose", {"text": "keep me", "community": "nowhere"})
    assert r.status_code == 404 and "No community named" in r.text and "keep me" in r.text


def test_edit_history_and_delete(client: TestClient) -> None:
    signup(client, "alice")
    post = submit(client, "/compose", "/compose", {"text": "first draft"}).headers["location"]
    pid = post.rsplit("/", 1)[1]
    submit(client, f"/posts/{pid}/edit", f"/posts/{pid}/edit", {"text": "second draft"})
    history = client.get(f"/posts/{pid}/history").text
    assert "second draft" in history and "first draft" in history
    submit(client, f"/posts/{pid}/delete", f"/posts/{pid}/delete", {"confirm": "yes"})
    page = client.get(post).text
    assert "This post was deleted." in page and "second draft" not in page


def test_settings_profile_and_tokens(client: TestClient) -> None:
    signup(client, "alice")
    r = submit(client, "/settings", "/settings/profile", {"display_name": "A" * 101})
    assert r.status_code == 422 and "at most 100 characters" in r.text
    submit(
        client, "/settings", "/settings/profile", {"display_name": "Alice A", "bio": "river person"}
    )
    assert "river person" in client.get("/@alice").text
    r = submit(client, "/settings", "/settings/tokens", {"scope": "write", "name": "script"})
    token = re.search(r'<code class="token">(cg_[^<]+)</code>', r.text).group(1)
    assert (
        client.get("/api/cg/v1/me", headers={"Authorization": f"Bearer {token}"}).json()["username"]
        == "alice"
    )


def test_admin_page_is_for_admins_only(client: TestClient, new_ctx) -> None:
    signup(client, "alice")
    assert client.get("/admin").status_code == 403
    with new_ctx() as ctx:
        from app.services import accounts

        accounts.register(ctx, "root", PASSWORD, is_admin=True)
    submit(client, "/", "/logout", {})
    submit(client, "/login", "/login", {"username": "root", "password": PASSWORD})
    page = client.get("/admin").text
    assert "Background jobs" in page and "@alice" in page
    r = submit(client, "/admin", "/admin/members/alice/suspend", {"confirm": "yes"})
    assert r.status_code == 303
    assert client.get("/@alice").status_code == 404


def test_first_run_setup_link_works_once(client: TestClient, new_ctx) -> None:
    with new_ctx() as ctx:
        token = setup.issue_setup_token(ctx)
    assert token
    r = submit(
        client,
        f"/setup/{token}",
        f"/setup/{token}",
        {
            "username": "admin",
            "password": PASSWORD,
            "community_name": "town",
            "community_title": "Our Town",
        },
    )
    assert r.headers["location"] == "/c/town"
    assert "Admin" in client.get("/").text  # logged in as the new admin
    assert client.get(f"/setup/{token}").status_code == 403
    with new_ctx() as ctx:
        assert setup.issue_setup_token(ctx) is None  # an admin exists now


@pytest.mark.parametrize(
    "path", ["/c/nowhere", "/@nobody", "/posts/999999", "/posts/0", "/nothing"]
)
def test_missing_pages_are_friendly_404s(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code in (404, 422) and "<h1>" in r.text and "Traceback" not in r.text


def test_pages_carry_security_headers(client: TestClient) -> None:
    r = client.get("/")
    assert r.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in r.headers["content-security-policy"]


def all_routes(routes, top: str | None = None):
    """Every route with the prefix of the top-level router it came from (FastAPI
    nests included routers; a route's own path already has its router's prefix)."""
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from all_routes(nested.routes, nested.prefix if top is None else top)
        elif hasattr(route, "methods"):
            yield top or "", route


# POST routes outside /api that no page's form sends, and what they check instead of CSRF
CLIENT_ENDPOINTS = {
    "/oauth/token": "an OAuth client's token request: client authentication (tests/test_oauth.py)",
    "/oauth/revoke": "an OAuth client's revocation: client authentication (tests/test_oauth.py)",
}


def test_every_page_form_checks_csrf(client: TestClient, app) -> None:
    """No state-changing page route exists without the CSRF check."""
    signup(client, "alice")
    sample = {
        "name": "garden",
        "username": "alice",
        "token": "x",
        "post_id": "1",
        "token_id": "1",
        "proposal_id": "1",
        "module_id": "1",
        "domain": "spam.example",
        "artifact_id": "1",
        "statement_id": "1",
        "decision_id": "1",
        "note_id": "1",
        "account_id": "1",
        "application_id": "1",
        "export_id": "1",
        "verdict": "approve",
        "action_id": "1",
        "appeal_id": "1",
        "session_id": "1",
    }
    checked = 0
    for top, route in all_routes(app.routes):
        path = route.path
        if "POST" not in (route.methods or set()) or (top + path).startswith("/api"):
            continue
        if path.endswith("/inbox"):
            continue  # ActivityPub inboxes authenticate with HTTP signatures instead
        if path in CLIENT_ENDPOINTS:
            continue
        if path.startswith(("/api/v1/", "/api/v2/")):
            continue  # the Mastodon client API: bearer tokens only, no session cookie
        if path.startswith("/digest/unsubscribe/"):
            continue  # no session: the signed link is the permission (tests/test_digests.py)
        r = client.post(
            path.format(**sample), data={"csrf_token": "forged"}, follow_redirects=False
        )
        assert r.status_code == 403, (path, r.status_code)
        checked += 1
    assert checked >= 20


def test_the_site_icon_is_served(client: TestClient) -> None:
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/x-icon"
    assert r.content[:4] == b"\0\0\1\0"  # an ICO file's header
