"""Co-building an artifact in a real browser (Debian's chromium, Playwright, a real
server process): create it, edit it twice, compare revisions, add a statement,
take stances and see the common-ground map."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import expect

from tests.server_process import ServerProcess
from tests.test_browser import PASSWORD, browser, sign_up  # noqa: F401 - the fixture

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser


def edit(page: Page, text: str, message: str) -> None:
    page.get_by_role("link", name="edit", exact=True).click()
    page.get_by_label("Text (markdown)").fill(text)
    page.get_by_label("What you changed").fill(message)
    page.get_by_role("button", name="Save").click()


def others_take_stances(base: str, artifact_id: int) -> None:
    """Six more members, in two camps, through the JSON API."""
    with httpx.Client(base_url=f"{base}/api/cg/v1", trust_env=False, timeout=20) as http:
        statements = http.get(f"/artifacts/{artifact_id}/statements").json()
        for i in range(6):
            name = f"neighbour{i}"
            http.post("/accounts", json={"username": name, "password": PASSWORD})
            token = http.post(
                "/tokens", json={"username": name, "password": PASSWORD, "scope": "write"}
            ).json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            assert http.post("/communities/river/join", headers=auth).status_code == 200
            for n, s in enumerate(statements):
                stance = "agree" if n == 0 or (i < 3) == (n == 1) else "disagree"
                r = http.put(f"/statements/{s['id']}/stance", json={"stance": stance}, headers=auth)
                assert r.status_code == 200, r.text


def test_an_artifact_is_built_edited_compared_and_mapped(browser: Browser) -> None:  # noqa: F811
    with ServerProcess(with_worker=True) as server:
        base = server.url
        page = browser.new_context().new_page()
        sign_up(page, base, "ada")
        page.get_by_role("link", name="Start a community").click()
        page.get_by_label("Short name (used in its address)").fill("river")
        page.get_by_label("Title").fill("River Friends")
        page.get_by_role("button", name="Create community").click()
        page.wait_for_url(f"{base}/c/river")

        page.get_by_role("link", name="shared artifacts", exact=True).click()
        page.get_by_label("Kind", exact=True).select_option("problem")
        page.get_by_label("Title", exact=True).fill("The path floods")
        page.get_by_label("Text (markdown)").fill("The river path floods.\n\nNobody clears it.\n")
        page.get_by_label("Tags (space separated)").fill("water")
        page.get_by_role("button", name="Create").click()
        page.wait_for_url(re.compile(r".*/artifacts/\d+$"))
        artifact_id = int(page.url.rsplit("/", 1)[1])
        expect(page.get_by_role("heading", name="The path floods", level=1)).to_be_visible()
        expect(page.get_by_text("Artifact created.")).to_be_visible()

        edit(page, "The river path floods after rain.\n\nNobody clears it.\n", "after rain")
        expect(page.get_by_text("Saved as revision 2.")).to_be_visible()
        edit(
            page, "The river path floods after rain.\n\nThe council clears it monthly.\n", "council"
        )
        expect(page.get_by_text("Saved as revision 3.")).to_be_visible()

        page.get_by_role("link", name="history").click()
        page.get_by_label("compare from revision 1").check()
        page.get_by_label("compare to revision 3").check()
        page.get_by_role("button", name="Compare").click()
        expect(page.get_by_text("From revision 1 to revision 3")).to_be_visible()
        expect(page.locator("ins", has_text="council")).to_be_visible()
        expect(page.locator("del", has_text="Nobody")).to_be_visible()

        page.goto(f"{base}/artifacts/{artifact_id}")
        for text in ("Drains need clearing", "The council should pay"):
            page.get_by_label("Add a statement").fill(text)
            page.get_by_role("button", name="Add", exact=True).click()
            expect(page.get_by_text("Statement added.")).to_be_visible()
        page.get_by_role("button", name="agree with statement 1", exact=True).click()
        expect(page.get_by_text("Your stance: agree.")).to_be_visible()
        page.get_by_role("button", name="disagree with statement 2", exact=True).click()
        page.get_by_role("button", name="Agree", exact=True).click()
        expect(page.locator("#s1, li", has_text="yours: agree").first).to_be_visible()

        others_take_stances(base, artifact_id)
        for _ in range(60):  # the map job runs a few seconds after the stances
            page.reload()
            if page.get_by_text("7 people, 2 statements").count():  # not ada's map alone
                break
            page.wait_for_timeout(500)
        expect(page.locator("svg.map")).to_be_visible()
        expect(
            page.get_by_role("table").filter(has_text="What every group agrees on")
        ).to_contain_text("Drains need clearing")
        expect(page.get_by_text("7 people, 2 statements")).to_be_visible()
