"""A newcomer's first visit, in a real browser: Debian's chromium driven by
Playwright against a real server process. No browser is downloaded; without
chromium on PATH the test is skipped with the reason (``REQUIRE_BROWSER=1``,
set by CI, makes that a failure)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.server_process import ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

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
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        reason = "Debian's chromium is not on PATH (apt-get install chromium)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    expect.set_options(timeout=10_000)  # a busy 2-core CI box can be slow to render
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def sign_up(page: Page, base: str, username: str, display_name: str = "") -> None:
    page.goto(f"{base}/signup")
    page.get_by_label("Username").fill(username)
    if display_name:
        page.get_by_label("Display name").fill(display_name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(re.compile(r".*/communities$"))
    expect(page.get_by_text(f"Welcome, {display_name or username}.")).to_be_visible()


def test_newcomer_signs_up_posts_replies_and_reacts(browser: Browser, tmp_path: Path) -> None:
    with ServerProcess() as server:
        base = server.url
        alice = browser.new_context().new_page()
        sign_up(alice, base, "alice", "Alice Gardener")
        alice.get_by_role("link", name="Start a community").click()
        alice.get_by_label("Short name (used in its address)").fill("garden")
        alice.get_by_label("Title").fill("Garden Friends")
        alice.get_by_label("Description").fill("We grow things together.")
        alice.get_by_role("button", name="Create community").click()
        alice.wait_for_url(f"{base}/c/garden")
        expect(alice.get_by_role("heading", name="Garden Friends", level=1)).to_be_visible()
        alice.get_by_label("Start a thread: title (optional)").fill("Seed swap on Saturday")
        alice.get_by_label("Your post").fill("Bring your spare #seeds, everyone welcome.")
        alice.get_by_role("button", name="Post to Garden Friends").click()
        alice.wait_for_url(re.compile(r".*/posts/\d+$"))
        thread_url = alice.url
        expect(alice.get_by_role("heading", name="Seed swap on Saturday", level=2)).to_be_visible()
        expect(alice.get_by_role("link", name="#seeds")).to_be_visible()

        bob = browser.new_context().new_page()
        sign_up(bob, base, "bob", "Bob Builder")
        bob.goto(f"{base}/c/garden")
        expect(bob.get_by_label("Your post")).to_have_count(0)  # not a member yet
        bob.get_by_role("button", name="Join", exact=True).click()
        expect(bob.get_by_text("Your role here:")).to_be_visible()
        expect(bob.get_by_role("link", name="Leave", exact=True)).to_be_visible()
        bob.goto(thread_url)
        bob.get_by_label("Your reply").fill("I'll bring bean seeds!")
        bob.get_by_role("button", name="Reply", exact=True).click()
        expect(bob.get_by_role("heading", name="1 reply", level=2)).to_be_visible()
        reply = bob.get_by_role("article", name=re.compile("Bob Builder"))
        expect(reply).to_contain_text("I'll bring bean seeds!")
        root = bob.get_by_role("article", name=re.compile("Alice Gardener"))
        root.get_by_role("button", name=re.compile("^Agree")).click()
        agree = root.get_by_role("button", name=re.compile("^Agree"))
        expect(agree).to_have_attribute("aria-pressed", "true")
        expect(agree).to_have_text(re.compile(r"^Agree\s+1$"))

        alice.goto(f"{base}/")
        feed = alice.get_by_role("main")
        expect(feed.get_by_role("article", name=re.compile("Bob Builder"))).to_contain_text(
            "I'll bring bean seeds!"
        )
        expect(feed.get_by_role("link", name="Seed swap on Saturday")).to_be_visible()
        expect(feed.get_by_text("Why am I seeing this?").first).to_be_visible()

        alice.goto(thread_url)
        root = alice.get_by_role("article", name=re.compile("Alice Gardener"))
        agree = root.get_by_role("button", name=re.compile("^Agree"))
        expect(agree).to_have_text(re.compile(r"^Agree\s+1$"))
        expect(agree).to_have_attribute("aria-pressed", "false")  # Bob agreed, not Alice
        expect(root.get_by_role("link", name="1 reply")).to_be_visible()
        expect(alice.get_by_role("article", name=re.compile("Bob Builder"))).to_contain_text(
            "I'll bring bean seeds!"
        )

        shot = tmp_path / "home.png"
        alice.goto(f"{base}/")
        alice.screenshot(path=str(shot), full_page=True)
        assert shot.exists()
        assert shot.stat().st_size > 10_000
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        alice.context.close()
        bob.context.close()


def test_fork_propose_vote_and_see_why(browser: Browser) -> None:
    """The co-design loop in a browser: fork a module, edit it, read its report,
    hand the choice to members, propose, vote, and see the feed say why."""
    import sqlite3

    with ServerProcess(with_worker=True) as server:  # the worker ranks submitted modules
        base = server.url
        alice = browser.new_context().new_page()
        sign_up(alice, base, "alice")
        alice.goto(f"{base}/communities/new")
        alice.get_by_label("Short name (used in its address)").fill("garden")
        alice.get_by_role("button", name="Create community").click()
        for title in ("Where do we store the tools?", "Harvest notes"):
            alice.get_by_label("Start a thread: title (optional)").fill(title)
            alice.get_by_label("Your post").fill(f"{title} — let's talk.")
            alice.get_by_role("button", name="Post to garden").click()
            alice.goto(f"{base}/c/garden")

        bob = browser.new_context().new_page()
        sign_up(bob, base, "bob")
        bob.goto(f"{base}/c/garden")
        bob.get_by_role("button", name="Join", exact=True).click()
        bob.goto(f"{base}/algorithms")
        bob.get_by_role("link", name="Recent discussion").click()
        bob.get_by_role("link", name="Fork or edit").click()
        source = bob.get_by_label("Source")
        source.fill(source.input_value().replace('"Recent discussion"', '"Bob\'s discussion"'))
        bob.get_by_label("Compare with a community's current algorithm").select_option("garden")
        bob.get_by_role("button", name="Save version").click()
        expect(bob.get_by_role("heading", name="Bob's discussion")).to_be_visible()
        expect(bob.get_by_text("overlap@20")).to_be_visible()
        expect(bob.get_by_text("Built on:")).to_be_visible()
        # a second version of his own module
        bob.get_by_role("link", name="Fork or edit").click()
        source = bob.get_by_label("Source")
        source.fill(source.input_value().replace("12.0", "6.0"))
        bob.get_by_role("button", name="Save version").click()
        expect(bob.get_by_text("Version 2 · SHA-256")).to_be_visible()
        bob.get_by_role("link", name="what changed").click()
        expect(bob.get_by_text('+PARAMETERS = {"half_life_hours": 6.0}')).to_be_visible()

        alice.goto(f"{base}/c/garden/algorithm")
        alice.get_by_role("button", name="Let members decide by vote").click()
        bob.goto(f"{base}/c/garden/algorithm")
        option = bob.locator("#proposal-version option", has_text="Bob's discussion (v2")
        bob.get_by_label("Propose an algorithm").select_option(option.get_attribute("value"))
        bob.get_by_label("Why?").fill("conversations first")
        bob.get_by_role("button", name="Open the vote").click()
        bob.get_by_role("button", name="Vote yes").click()
        alice.goto(f"{base}/c/garden/algorithm")
        alice.get_by_role("button", name="Vote yes").click()
        expect(alice.get_by_text("yes 2, no 0")).to_be_visible()

        db = sqlite3.connect(server.data_dir / "commonground.db")  # the voting window passes
        db.execute("UPDATE algorithm_proposals SET closes_at = '2000-01-01 00:00:00.000000'")
        db.commit()
        alice.goto(f"{base}/c/garden/algorithm")
        expect(alice.get_by_text("closing…").first).to_be_visible()  # a page never closes it
        db.execute(  # its closing job, queued for the closing time, comes due
            "UPDATE jobs SET run_at = '2000-01-01 00:00:00.000000'"
            " WHERE kind = 'algorithms.close_proposal'"
        )
        db.commit()
        db.close()
        for _ in range(40):  # the worker closes it
            if alice.get_by_text("closing…").count() == 0:
                break
            alice.wait_for_timeout(250)
            alice.reload()
        expect(alice.get_by_text("passed").first).to_be_visible()
        expect(alice.get_by_text("conversations first").first).to_be_visible()
        alice.goto(f"{base}/c/garden")
        expect(alice.get_by_text("Ordered by Bob's discussion")).to_be_visible()
        for _ in range(40):  # the background job ranks the community; then the page uses it
            if alice.get_by_text("in the background").count() == 0:
                break
            alice.wait_for_timeout(250)
            alice.reload()
        expect(alice.get_by_text("in the background")).to_have_count(0)
        alice.get_by_text("Why am I seeing this?").first.click()
        why = alice.locator("details.why").first
        expect(why.get_by_text("distinct repliers")).to_be_visible()
        why.get_by_role("link").click()
        expect(alice.get_by_role("heading", name="Bob's discussion")).to_be_visible()
