"""A member's everyday network in a real browser: Debian's chromium (the fixture in
tests/test_browser.py) against a real server process. Ada posts an image with a
description behind a content warning, mentioning Ben; Ben is notified, searches,
finds the post, opens the warning and sees the image with its alt text."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from tests.server_process import ServerProcess
from tests.test_browser import browser, sign_up  # noqa: F401 - the shared chromium fixture
from tests.test_media import png

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser
ALT = "A wheelbarrow full of ripe pumpkins"


def test_a_warned_image_post_is_notified_searched_found_and_opened(
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    image = tmp_path / "pumpkins.png"
    image.write_bytes(png((64, 48), (230, 120, 20)))
    with ServerProcess() as server:
        ben = browser.new_context().new_page()
        sign_up(ben, server.url, "ben")
        ada = browser.new_context().new_page()
        sign_up(ada, server.url, "ada")

        ada.goto(f"{server.url}/compose")
        ada.locator("#text").fill("Harvest is in, @ben: come and take some #pumpkins")
        ada.locator("#summary").fill("Food photo")
        ada.locator("#media1").set_input_files(str(image))
        ada.locator("#alt1").fill(ALT)
        ada.get_by_role("button", name="Post").click()
        ada.wait_for_url(re.compile(r".*/posts/\d+"))

        ben.goto(f"{server.url}/notifications")
        expect(ben.get_by_text(re.compile(r"ada.*mentioned you"))).to_be_visible()

        ben.goto(server.url)
        box = ben.get_by_role("searchbox", name="Search").first
        box.fill("harvest pumpkins")
        box.press("Enter")
        ben.wait_for_url(re.compile(r".*/search\?q=harvest"))
        expect(ben.get_by_role("heading", name="1 result")).to_be_visible()
        warning = ben.locator("details.content-warning summary").first
        expect(warning).to_have_text("Food photo")
        picture = ben.get_by_role("img", name=ALT)
        expect(picture).to_be_hidden()  # behind the warning until opened
        warning.click()
        expect(picture).to_be_visible()
        expect(picture).to_have_attribute("alt", ALT)
        assert picture.evaluate("img => img.complete && img.naturalWidth > 0")  # it loaded
