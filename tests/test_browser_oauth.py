"""A Mastodon-style app signs a member in, in a real browser: the app registers with
a loopback redirect URI, sends the member to /oauth/authorize with PKCE, they log in
(and come back), approve, and Chromium follows the redirect to the app's own little
HTTP server on 127.0.0.1 with the code and state; the app exchanges the code and
reads with the token. Then the member revokes the app on their sessions page."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from app.api import router as native_api
from tests.server_process import HOST, ServerProcess
from tests.test_browser import PASSWORD, browser  # noqa: F401 - the fixture
from tests.test_browser_every_page import AXE_RUN, axe_path

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]
OOB = "urn:ietf:wg:oauth:2.0:oob"


class Callback(BaseHTTPRequestHandler):
    """The app's redirect URI: keeps what it was sent, says so."""

    received: list[dict[str, list[str]]]  # set per server (the fixture's subclass)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/callback":  # not the browser's /favicon.ico
            type(self).received.append(parse_qs(url.query))
        body = b"<!doctype html><title>Tooter</title><h1>Signed in to Tooter</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def callback() -> Iterator[tuple[str, list[dict[str, list[str]]]]]:
    received: list[dict[str, list[str]]] = []
    handler = type("Handler", (Callback,), {"received": received})
    server = ThreadingHTTPServer((HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}/callback", received
    finally:
        server.shutdown()
        server.server_close()


def member(http: httpx.Client, username: str) -> None:
    """A member, made through the native API (wherever its prefix is)."""
    body = {"username": username, "password": PASSWORD}
    r = http.post(f"{native_api.prefix}/accounts", json=body)
    assert r.status_code == 201, r.text


def test_an_app_signs_a_member_in_with_pkce(browser: Browser, callback) -> None:  # noqa: F811
    redirect_uri, received = callback
    with ServerProcess() as server, httpx.Client(base_url=server.url) as http:
        base = server.url
        me = f"{native_api.prefix}/me"
        member(http, "ada")
        made = http.post(
            "/api/v1/apps",
            data={"client_name": "Tooter", "redirect_uris": redirect_uri, "scopes": "read write"},
        ).json()
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        state = secrets.token_urlsafe(16)
        query = {
            "response_type": "code",
            "client_id": made["client_id"],
            "redirect_uri": redirect_uri,
            "scope": "read write",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }

        page = browser.new_context().new_page()
        page.goto(f"{base}/oauth/authorize?{urlencode(query)}")
        page.wait_for_url(f"{base}/login?**")  # not logged in: log in first
        page.get_by_label("Username").fill("ada")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base}/oauth/authorize?**")  # and back
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Allow Tooter to use your account?"
        )
        expect(page.get_by_text("read everything your account can see")).to_be_visible()
        page.get_by_role("button", name="Allow").click()
        page.wait_for_url(f"{redirect_uri}?**")  # CSP let the form's redirect through
        expect(page.get_by_role("heading", name="Signed in to Tooter")).to_be_visible()

        assert len(received) == 1 and received[0]["state"] == [state]
        code = received[0]["code"][0]
        auth = (made["client_id"], made["client_secret"])
        r = http.post(
            "/oauth/token",
            auth=auth,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            },
        )
        assert r.status_code == 200, r.text
        bearer = {"Authorization": f"Bearer {r.json()['access_token']}"}
        app = http.get("/api/v1/apps/verify_credentials", headers=bearer)
        assert app.status_code == 200 and app.json()["name"] == "Tooter"
        assert http.get(me, headers=bearer).json()["username"] == "ada"
        # the code was single use
        again = http.post(
            "/oauth/token",
            auth=auth,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            },
        )
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

        # the member sees the app on their sessions page and ends its access there
        page.goto(f"{base}/settings/sessions")
        token_item = page.locator("ul.tokens li", has_text="Tooter")
        expect(token_item).to_contain_text("read write")
        token_item.get_by_role("button", name="Revoke").click()
        expect(page.get_by_text("Token revoked.")).to_be_visible()
        assert http.get(me, headers=bearer).status_code == 401
        assert http.get("/api/v1/apps/verify_credentials", headers=bearer).status_code == 401


def test_deny_sends_the_member_back_with_access_denied(browser: Browser, callback) -> None:  # noqa: F811
    redirect_uri, received = callback
    with ServerProcess() as server, httpx.Client(base_url=server.url) as http:
        base = server.url
        member(http, "ada")
        made = http.post(
            "/api/v1/apps", json={"client_name": "Tooter", "redirect_uris": [redirect_uri]}
        ).json()
        page = browser.new_context().new_page()
        page.goto(f"{base}/login")
        page.get_by_label("Username").fill("ada")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base}/")
        query = {"response_type": "code", "client_id": made["client_id"], "state": "s1"}
        page.goto(f"{base}/oauth/authorize?{urlencode(query)}")  # the one redirect URI
        page.get_by_role("button", name="Deny").click()
        page.wait_for_url(f"{redirect_uri}?**")
        assert received == [{"error": ["access_denied"], "state": ["s1"]}]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_consent_and_code_pages_are_accessible(browser: Browser, scheme: str) -> None:  # noqa: F811
    """axe-core on the two OAuth pages, which the every-page walk cannot reach
    without an app (tests/test_browser_every_page.py NOT_PAGES)."""
    axe = axe_path()
    with ServerProcess() as server, httpx.Client(base_url=server.url) as http:
        base = server.url
        member(http, "ada")
        made = http.post(
            "/api/v1/apps",
            json={"client_name": "Tooter", "redirect_uris": OOB, "website": "https://t.example"},
        ).json()
        # bypass_csp: the app's CSP (rightly) refuses the injected axe script
        context = browser.new_context(color_scheme=scheme, bypass_csp=True)
        page = context.new_page()
        page.goto(f"{base}/login")
        page.get_by_label("Username").fill("ada")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base}/")
        query = {"response_type": "code", "client_id": made["client_id"], "scope": "read"}
        page.goto(f"{base}/oauth/authorize?{urlencode(query)}")
        found = []
        for step in ("consent", "code"):
            page.add_script_tag(path=str(axe))
            found += [
                f"{step} [{v['rule']}] {v['help']}: {v['nodes'][:3]}"
                for v in page.evaluate(AXE_RUN)
            ]
            if step == "consent":
                page.get_by_role("button", name="Allow").click()
                expect(page.locator("#oauth-code")).to_be_visible()
        context.close()
        assert found == []
