"""Sensitive media in a real browser with JavaScript off: a Mastodon Note marked
``sensitive: true`` with no summary shows its text at once and its image only
once the reader opens the disclosure (Debian's chromium against a real server)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from tests.server_process import ServerProcess
from tests.test_browser import browser  # noqa: F401 - the shared chromium fixture
from tests.test_browser_content_warning import receive_note
from tests.test_federation_content import PEER

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser


XRAY_NOTE = {
    "id": f"{PEER}/notes/xray",
    "sensitive": True,
    "content": "<p>Broken, the doctor says.</p>",
    "attachment": [
        {
            "type": "Image",
            "mediaType": "image/png",
            "url": f"{PEER}/media/xray.png",
            "name": "An X-ray of a wrist",
        }
    ],
}


def test_sensitive_media_stay_folded_until_opened_without_javascript(
    browser: Browser,  # noqa: F811
) -> None:
    with ServerProcess() as server:
        post_id = receive_note(server, XRAY_NOTE)
        page = browser.new_context(java_script_enabled=False).new_page()
        page.goto(f"{server.url}/posts/{post_id}")
        expect(page.get_by_text("Broken, the doctor says.")).to_be_visible()
        expect(page.locator("details.content-warning")).to_have_count(0)
        image = page.get_by_role("link", name="An X-ray of a wrist")
        expect(image).to_be_hidden()
        page.locator("details.sensitive-media summary").click()
        expect(image).to_be_visible()
        expect(image).to_have_attribute("href", f"{PEER}/media/xray.png")
