"""What a browser does with our pages (Debian's chromium, Playwright, a real server
process): confirmation pages before destructive actions, a compare form that puts
no secret in its URL, and an artifact graph whose labels fit and arrows show."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import expect

from tests.server_process import ServerProcess
from tests.test_browser import PASSWORD, browser  # noqa: F401 - the fixture

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser


def api_member(base: str, username: str) -> httpx.Client:
    """A JSON-API client for a new member (made through the API)."""
    http = httpx.Client(base_url=f"{base}/api/cg/v1", trust_env=False, timeout=20)
    http.post("/accounts", json={"username": username, "password": PASSWORD})
    token = http.post(
        "/tokens", json={"username": username, "password": PASSWORD, "scope": "write"}
    ).json()["token"]
    http.headers["Authorization"] = f"Bearer {token}"
    return http


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_destructive_actions_ask_first_and_history_keeps_secrets_out_of_urls(
    browser: Browser,  # noqa: F811
) -> None:
    with ServerProcess(startup_timeout=120) as server:
        base = server.url
        ada = api_member(base, "ada")
        assert ada.post("/communities", json={"name": "garden"}).status_code == 201
        post = ada.post("/posts", json={"text": "Spare seeds?", "community": "garden"})
        assert post.status_code == 201, post.text
        post_id = post.json()["id"]
        made = ada.post(
            "/artifacts",
            json={"community": "garden", "kind": "problem", "title": "Slugs", "body": "A\n"},
        ).json()
        for body in ("A\nB\n", "A\nB\nC\n"):
            current = ada.get(f"/artifacts/{made['id']}").json()["revision"]
            r = ada.post(
                f"/artifacts/{made['id']}/revisions",
                json={"base_revision": current, "body": body},
            )
            assert r.status_code == 201, r.text
        ada.close()
        page = browser.new_context().new_page()
        log_in(page, base, "ada")

        page.goto(f"{base}/posts/{post_id}")
        page.get_by_role("link", name="Delete", exact=True).click()
        expect(page.get_by_role("heading", name="Delete your post?")).to_be_visible()
        page.get_by_role("link", name="Cancel").click()
        expect(page.get_by_text("Spare seeds?")).to_be_visible()  # nothing happened
        page.get_by_role("link", name="Delete", exact=True).click()
        page.get_by_role("button", name="Delete the post").click()
        expect(page.get_by_text("This post was deleted.")).to_be_visible()

        page.goto(f"{base}/c/garden")
        page.get_by_role("link", name="Leave", exact=True).click()
        expect(page.get_by_text("You are its only admin")).to_be_visible()
        page.get_by_role("link", name="dissolve the community").click()
        expect(page.get_by_role("heading", name="Dissolve “garden”?")).to_be_visible()

        page.goto(f"{base}/artifacts/{made['id']}/history")
        page.get_by_label("compare from revision 1").check()
        page.get_by_role("button", name="Compare").click()
        expect(page.get_by_text("From revision 1 to revision 3")).to_be_visible()
        assert "/diff?" in page.url and "csrf" not in page.url
        page.go_back()
        page.get_by_role("button", name="Revert to this").last.click()
        expect(page.get_by_text("Reverted (as a new revision).")).to_be_visible()
        page.context.close()


def test_the_artifact_graph_fits_its_labels_and_shows_its_arrowheads(
    browser: Browser,  # noqa: F811
) -> None:
    with ServerProcess(startup_timeout=120) as server:
        base = server.url
        ada = api_member(base, "ada")
        assert ada.post("/communities", json={"name": "garden"}).status_code == 201
        ids = [
            ada.post(
                "/artifacts",
                json={
                    "community": "garden",
                    "kind": "idea",
                    "title": f"Plant a hedge of native shrubs along path {i}",
                },
            ).json()["id"]
            for i in range(8)
        ]
        for source, target in zip(ids, ids[1:], strict=False):
            r = ada.post(f"/artifacts/{source}/links", json={"target": target, "kind": "builds-on"})
            assert r.status_code == 201, r.text
        ada.close()
        page = browser.new_context().new_page()
        page.goto(f"{base}/c/garden/artifacts/graph")
        svg = page.locator("svg.artifact-graph")
        expect(svg).to_be_visible()
        outside = page.evaluate(
            """() => {
              const svg = document.querySelector("svg.artifact-graph");
              const [, , w, h] = svg.getAttribute("viewBox").split(" ").map(Number);
              return [...svg.querySelectorAll("text")].map(t => t.getBBox())
                .filter(b => b.x < 0 || b.y < 0 || b.x + b.width > w || b.y + b.height > h)
                .map(b => [b.x, b.y, b.width, b.height]);
            }"""
        )
        assert outside == []
        # the rendered pixel at each arrow's tip belongs to the arrowhead, not a node
        hidden = page.evaluate(
            """() => {
              const svg = document.querySelector("svg.artifact-graph");
              const circles = [...svg.querySelectorAll("circle")];
              return [...svg.querySelectorAll("line")].filter(l => {
                const x = +l.getAttribute("x2"), y = +l.getAttribute("y2");
                return circles.some(c => Math.hypot(x - c.cx.baseVal.value,
                  y - c.cy.baseVal.value) <= c.r.baseVal.value);
              }).length;
            }"""
        )
        assert hidden == 0
        assert re.search(r"8 artifacts and 7 links", page.content())
        page.context.close()
