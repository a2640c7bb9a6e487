"""In real chromium: a display name ending in U+202E (RIGHT-TO-LEFT OVERRIDE) must
not reverse the "@zoe" printed after it. The characters of the handle are laid
out left to right, measured with a DOM Range per character."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.server_process import ServerProcess
from tests.test_browser import PASSWORD, browser  # noqa: F401 - the chromium fixture

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser
RLO = "\u202e"

# x positions of each character of the first text node under `selector` holding `text`
CHARACTER_LEFTS = """([selector, text]) => {
  for (const el of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const at = node.data.indexOf(text);
      if (at < 0) continue;
      return [...text].map((_, i) => {
        const range = document.createRange();
        range.setStart(node, at + i);
        range.setEnd(node, at + i + 1);
        return range.getBoundingClientRect().left;
      });
    }
  }
  return null;
}"""


def _reads_left_to_right(page: Page, selector: str, text: str) -> bool:
    lefts = page.evaluate(CHARACTER_LEFTS, [selector, text])
    assert lefts is not None, f"no {text!r} under {selector}"
    return lefts == sorted(lefts) and len(set(lefts)) == len(lefts)


def test_a_handle_after_an_overriding_name_reads_left_to_right(browser: Browser) -> None:  # noqa: F811
    with ServerProcess(startup_timeout=120) as server:  # a busy shared machine
        page = browser.new_context().new_page()
        page.goto(f"{server.url}/signup")
        page.get_by_label("Username").fill("zoe")
        page.get_by_label("Display name").fill(f"Zoe{RLO}")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign up").click()
        page.wait_for_url(re.compile(r".*/communities$"))
        page.goto(f"{server.url}/compose")
        page.locator("#text").fill("Hello, garden.")
        page.get_by_role("button", name="Post").click()
        page.wait_for_url(re.compile(r".*/posts/\d+$"))
        assert _reads_left_to_right(page, ".byline .handle", "@zoe")
        page.goto(f"{server.url}/@zoe")
        assert _reads_left_to_right(page, "h1 .handle", "zoe")
