"""A real Mastodon client library, Mastodon.py, logs in to a real server process:
``create_app``, ``auth_request_url``, the member's approval (out of band: the code
shown on a page), ``log_in(code=…)``, ``app_verify_credentials`` and
``revoke_access_token``; and its password login, refused unless the instance turns
the grant on."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from app.api import router as native_api
from tests.server_process import ServerProcess
from tests.test_pages import PASSWORD

mastodon = pytest.importorskip("mastodon")  # Mastodon.py, pinned in the dev extras
pytestmark = pytest.mark.slow
OOB = "urn:ietf:wg:oauth:2.0:oob"
SCOPES = ["read", "write"]
# Told, not asked: there is no /api/v1/instance yet, and Mastodon.py 2.3.3 recurses
# without end when asking for it fails (retrieve_mastodon_version ↔ verify_minimum_version).
VERSION = "4.3.0"


def client(client_id: str, client_secret: str, base: str):
    return mastodon.Mastodon(
        client_id=client_id,
        client_secret=client_secret,
        api_base_url=base,
        mastodon_version=VERSION,
    )


def logged_in_browser(base: str, username: str) -> httpx.Client:
    """A cookie-keeping client that signed up through the pages, as a browser would."""
    http = httpx.Client(base_url=base)
    page = http.get("/signup").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = http.post("/signup", data={"csrf_token": token, "username": username, "password": PASSWORD})
    assert r.status_code == 303, r.text
    return http


def approve(http: httpx.Client, url: str) -> str:
    """Open the consent page at ``url``, press Allow, read the code off the page."""
    split = urlsplit(url)
    page = http.get(f"{split.path}?{split.query}")
    assert page.status_code == 200, page.text
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page.text))
    fields = {k: unescape(v) for k, v in fields.items()}
    shown = http.post("/oauth/authorize", data={**fields, "decision": "approve"})
    assert shown.status_code == 200, shown.text
    return re.search(r'<code id="oauth-code">([^<]+)</code>', shown.text).group(1)


def test_mastodon_py_logs_in_with_the_code_flow() -> None:
    with ServerProcess() as server:
        base = server.url
        client_id, client_secret = mastodon.Mastodon.create_app(
            "Mastodon.py test", scopes=SCOPES, redirect_uris=OOB, api_base_url=base
        )
        api = client(client_id, client_secret, base)
        url = api.auth_request_url(redirect_uris=OOB, scopes=SCOPES, state="s", allow_http=True)
        assert url.startswith(f"{base}/oauth/authorize?")
        assert dict(parse_qsl(urlsplit(url).query))["client_id"] == client_id
        http = logged_in_browser(base, "ada")
        try:
            code = approve(http, url)
        finally:
            http.close()
        token = api.log_in(code=code, redirect_uri=OOB, scopes=SCOPES, allow_http=True)
        assert api.app_verify_credentials()["name"] == "Mastodon.py test"
        me = httpx.get(
            f"{base}{native_api.prefix}/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert me.json()["username"] == "ada"
        api.revoke_access_token(allow_http=True)
        gone = httpx.get(
            f"{base}{native_api.prefix}/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert gone.status_code == 401


def test_mastodon_py_password_login_when_turned_on() -> None:
    """Off by default (tests/test_oauth.py: refused, not in the metadata); on here."""
    with ServerProcess(env={"CG_OAUTH_PASSWORD_GRANT": "1"}) as server:
        base = server.url
        logged_in_browser(base, "ada").close()
        client_id, client_secret = mastodon.Mastodon.create_app(
            "Mastodon.py test", scopes=SCOPES, api_base_url=base
        )
        api = client(client_id, client_secret, base)
        token = api.log_in("ada", PASSWORD, scopes=SCOPES, allow_http=True)
        me = httpx.get(
            f"{base}{native_api.prefix}/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert me.json()["username"] == "ada"
        with pytest.raises(mastodon.MastodonIllegalArgumentError):
            api.log_in("ada", "wrong password", scopes=SCOPES, allow_http=True)
