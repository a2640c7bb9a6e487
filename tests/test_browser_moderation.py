"""Moderation in a real browser: Debian's chromium (the fixture in tests/test_browser.py)
against a real server process. Carol reports Bob's advert in Alice's community under
one of its rules; Alice, its moderator, finds the report in her queue, removes the post
citing that rule, and anyone reading the public log sees the rule and the reason
but not the removed words."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from tests.server_process import ServerProcess
from tests.test_browser import browser, sign_up  # noqa: F401 - the shared chromium fixture

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser
ADVERT = "Cheap watches at the market stall, tell your friends"
REASON = "Adverts are not what this garden is for"


def join(page: Page, base: str) -> None:
    page.goto(f"{base}/c/garden")
    page.get_by_role("button", name="Join", exact=True).click()
    expect(page.get_by_role("link", name="Leave", exact=True)).to_be_visible()


def test_a_report_reaches_the_queue_the_post_is_removed_under_a_rule_and_the_log_says_so(
    browser: Browser,  # noqa: F811
) -> None:
    with ServerProcess() as server:
        base = server.url
        alice = browser.new_context().new_page()
        sign_up(alice, base, "alice")
        alice.goto(f"{base}/communities/new")
        alice.get_by_label("Short name (used in its address)").fill("garden")
        alice.get_by_role("button", name="Create community").click()
        alice.goto(f"{base}/c/garden/rules")
        alice.get_by_label(re.compile("Edit the rules")).fill("Be kind\nNo adverts")
        alice.get_by_role("button", name="Save the rules").click()
        expect(alice.locator("ol.rules li")).to_have_text(["Be kind", "No adverts"])

        bob = browser.new_context().new_page()
        sign_up(bob, base, "bob")
        join(bob, base)
        bob.get_by_label("Your post").fill(ADVERT)
        bob.get_by_role("button", name="Post to garden").click()

        carol = browser.new_context().new_page()
        sign_up(carol, base, "carol")
        join(carol, base)
        carol.goto(f"{base}/c/garden")
        post = carol.locator("article", has_text=ADVERT).first
        post.get_by_role("link", name="Report").click()
        expect(carol.get_by_role("heading", name=re.compile("^Report"))).to_be_visible()
        expect(carol.locator("blockquote.report-excerpt")).to_contain_text("Cheap watches")
        carol.get_by_label("2. No adverts").check()
        carol.get_by_label(re.compile("What should the moderators know")).fill("spam, twice today")
        carol.get_by_role("button", name="Send the report").click()
        carol.wait_for_url(re.compile(r".*/reports$"))
        expect(carol.get_by_text("Your report was sent.")).to_be_visible()

        # someone who moderates nothing is not let into the queue
        bob.goto(f"{base}/c/garden/moderation")
        expect(bob.get_by_role("heading", name=re.compile("Moderation queue"))).to_have_count(0)

        alice.goto(f"{base}/c/garden/moderation")
        entry = alice.locator("section.card", has_text="Cheap watches")
        expect(entry).to_contain_text("rules: 2. No adverts")
        expect(entry).to_contain_text("spam, twice today")
        entry.get_by_role("link", name="Act on this").click()
        alice.get_by_label("Action").select_option("remove")
        alice.get_by_label("Rule it enforces").select_option(label="community rule 2: No adverts")
        alice.get_by_label(re.compile("^Reason")).fill(REASON)
        alice.get_by_role("button", name="Continue").click()
        expect(alice.get_by_role("heading", name=re.compile("^Remove"))).to_be_visible()
        alice.get_by_role("button", name="Confirm: remove").click()
        alice.goto(f"{base}/c/garden/moderation")
        expect(alice.get_by_text("No open reports.")).to_be_visible()

        reader = browser.new_context().new_page()  # signed out: the log is public
        reader.goto(f"{base}/c/garden")
        expect(reader.get_by_text("Cheap watches")).to_have_count(0)
        reader.goto(f"{base}/c/garden/modlog")
        entry = reader.locator("ol.modlog li").first
        expect(entry).to_contain_text("remove")
        expect(entry).to_contain_text("Rule 2: No adverts")
        expect(entry).to_contain_text(f"Reason: {REASON}")
        expect(reader.get_by_text("Cheap watches")).to_have_count(0)
