"""A newcomer's first visit, in a real browser: Debian's chromium driven by
Playwright against a real server process. No browser is downloaded; without
chromium on PATH the test is skipped with the reason (``REQUIRE_BROWSER=1``,
set by CI, makes that a failure)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.server_process import ServerProcess

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201
    chromium = shutil.which("chromium")
    if chromium is None:
        reason = "Debian's chromium is not on PATH (apt-get install chromium)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def sign_up(page, base: str, username: str) -> None:  # noqa: ANN001
    page.goto(f"{base}/signup")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(re.compile(r".*/communities$"))


def test_newcomer_signs_up_posts_replies_and_reacts(browser, tmp_path: Path) -> None:  # noqa: ANN001
    with ServerProcess() as server:
        base = server.url
        alice = browser.new_context().new_page()
        sign_up(alice, base, "alice")
        alice.get_by_role("link", name="Start a community").click()
        alice.get_by_label("Short name (used in its address)").fill("garden")
        alice.get_by_label("Title").fill("Garden Friends")
        alice.get_by_label("Description").fill("We grow things together.")
        alice.get_by_role("button", name="Create community").click()
        alice.wait_for_url(f"{base}/c/garden")
        alice.get_by_label("Start a thread: title (optional)").fill("Seed swap on Saturday")
        alice.get_by_label("Your post").fill("Bring your spare #seeds, everyone welcome.")
        alice.get_by_role("button", name="Post to Garden Friends").click()
        alice.wait_for_url(re.compile(r".*/posts/\d+$"))
        thread_url = alice.url
        assert alice.get_by_role("heading", name="Seed swap on Saturday", level=2).is_visible()

        bob = browser.new_context().new_page()
        sign_up(bob, base, "bob")
        bob.goto(f"{base}/c/garden")
        bob.get_by_role("button", name="Join", exact=True).click()
        assert bob.get_by_text("Your role here:").is_visible()
        bob.goto(thread_url)
        bob.get_by_label("Your reply").fill("I'll bring bean seeds!")
        bob.get_by_role("button", name="Reply", exact=True).click()
        bob.wait_for_load_state()
        root = bob.locator("article.post").first
        root.get_by_role("button", name=re.compile("^Agree")).click()
        bob.wait_for_load_state()
        assert (
            root.get_by_role("button", name=re.compile("^Agree")).get_attribute("aria-pressed")
            == "true"
        )

        alice.goto(f"{base}/")
        feed = alice.locator("main")
        assert feed.get_by_text("I'll bring bean seeds!").is_visible()
        assert feed.get_by_text("Seed swap on Saturday").is_visible()
        assert alice.get_by_text("Why am I seeing this?").first.is_visible()
        alice.goto(thread_url)
        agree = alice.locator("article.post").first.get_by_role("button", name=re.compile("^Agree"))
        assert agree.inner_text().split() == ["Agree", "1"]
        assert alice.get_by_text("I'll bring bean seeds!").is_visible()

        shot = tmp_path / "home.png"
        alice.goto(f"{base}/")
        alice.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
