"""Mastodon.py as an app uses it, start to finish, against a real ``commonground
serve --with-worker``, with the member's consent given in Chromium:

``create_app`` with a loopback redirect URI, ``auth_request_url`` with a PKCE
challenge added (as Ivory and Elk send one; Mastodon.py itself sends none), the
member logs in and presses Allow in the browser, the code is exchanged with its
verifier; then ``account_verify_credentials``, ``media_post`` and a post with the
image and a content warning, the home timeline and ``fetch_next``, a favourite, a
reply and ``status_context``, ``notifications``, and ``stream_user`` (Server-Sent
Events) hearing a new status. Search with ``resolve`` and a follow across two
instances: tests/test_mastodon_py_media_search.py."""

from __future__ import annotations

import base64
import hashlib
import io
import queue
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import expect

from tests.server_process import ServerProcess
from tests.test_browser import PASSWORD, browser  # noqa: F401 - the fixture
from tests.test_browser_oauth import callback, member  # noqa: F401 - the fixture
from tests.test_media import png

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]
mastodon = pytest.importorskip("mastodon")  # Mastodon.py, in the dev extras
SCOPES = ["read", "write", "follow"]
WAIT = 20


class Heard(mastodon.StreamListener):
    def __init__(self) -> None:
        self.updates: queue.Queue[Any] = queue.Queue()
        self.started = queue.Queue()

    def handle_heartbeat(self) -> None:
        self.started.put(True)

    def on_update(self, status: Any) -> None:
        self.updates.put(status)


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_mastodon_py_from_consent_in_chromium_to_a_live_stream(
    browser: Browser,  # noqa: F811 - the fixture
    callback,  # noqa: F811 - the fixture
) -> None:
    redirect_uri, received = callback
    with (
        ServerProcess(with_worker=True) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        base = server.url
        member(http, "ada")
        member(http, "ben")
        client_id, client_secret = mastodon.Mastodon.create_app(
            "Mastodon.py app", scopes=SCOPES, redirect_uris=redirect_uri, api_base_url=base
        )
        app = mastodon.Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=base)
        verifier, challenge = _pkce()
        url = app.auth_request_url(
            redirect_uris=redirect_uri, scopes=SCOPES, state="s1", allow_http=True
        )
        url += "&" + urlencode({"code_challenge": challenge, "code_challenge_method": "S256"})

        page = browser.new_context().new_page()
        page.goto(url)
        page.wait_for_url(f"{base}/login?**")
        page.get_by_label("Username").fill("ada")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base}/oauth/authorize?**")
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Allow Mastodon.py app to use your account?"
        )
        page.get_by_role("button", name="Allow").click()
        page.wait_for_url(f"{redirect_uri}?**")
        assert len(received) == 1 and received[0]["state"] == ["s1"]
        code = received[0]["code"][0]
        token = http.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
                "client_id": client_id,
                "client_secret": client_secret,
            },
        )
        assert token.status_code == 200, token.text
        api = mastodon.Mastodon(access_token=token.json()["access_token"], api_base_url=base)

        me = api.account_verify_credentials()
        assert me["username"] == "ada" and me["source"]["privacy"] == "public"
        image = api.media_post(
            io.BytesIO(png((48, 32))), mime_type="image/png", description="a red square"
        )
        shown = api.status_post("a picture", media_ids=[image["id"]], spoiler_text="colour")
        assert [m["description"] for m in shown["media_attachments"]] == ["a red square"]
        assert shown["spoiler_text"] == "colour" and shown["sensitive"] is True
        made = [shown] + [api.status_post(f"note {i}") for i in range(3)]

        page_one = api.timeline_home(limit=2)
        assert [s["id"] for s in page_one] == [made[3]["id"], made[2]["id"]]
        page_two = api.fetch_next(page_one)
        assert [s["id"] for s in page_two] == [made[1]["id"], shown["id"]]

        # ben answers and likes: ada hears of both
        ben_token = http.post(
            "/api/cg/v1/tokens", json={"username": "ben", "password": PASSWORD, "scope": "write"}
        ).json()["token"]
        ben = mastodon.Mastodon(access_token=ben_token, api_base_url=base)
        assert ben.status_favourite(shown["id"])["favourites_count"] == 1
        reply = ben.status_post("lovely", in_reply_to_id=shown["id"])
        context = api.status_context(shown["id"])
        assert [s["id"] for s in context["descendants"]] == [reply["id"]]
        assert api.status_favourite(reply["id"])["favourited"] is True
        kinds = sorted(n["type"] for n in api.notifications())
        assert kinds == ["favourite", "mention"], kinds

        ben_id = api.account_lookup("ben")["id"]
        assert api.account_follow(ben_id)["following"] is True
        heard = Heard()
        stream = api.stream_user(heard, run_async=True, reconnect_async=False, timeout=60)
        try:
            assert heard.started.get(timeout=WAIT)
            news = ben.status_post("the stream works")
            got = heard.updates.get(timeout=WAIT)
            assert got["id"] == news["id"] and "the stream works" in got["content"]
        finally:
            stream.close()
