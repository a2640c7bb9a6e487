"""Every page of the app in a real browser (Debian's chromium through Playwright,
a real server process with demo-like data): it fits a 390 px wide phone without
scrolling sideways, and axe-core finds no accessibility violation in the light or
the dark colour scheme. ``PAGES`` lists every GET page route; a route that is
added to the app without being listed here fails ``test_every_page_route_is_checked``,
so no page escapes the checks.

axe-core comes from the repository's package-lock.json (``make test`` runs
``npm ci``). Without it the axe test is skipped with the reason; ``REQUIRE_BROWSER=1``
(set by CI) makes that a failure, as for chromium."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from app.main import create_app
from app.services.demo import DEMO_PASSWORD
from tests.conftest import make_settings
from tests.server_process import ServerProcess
from tests.test_browser import PASSWORD, browser  # noqa: F401 - the fixture
from tests.test_pages import all_routes

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
LONG_LINE = "the_river_path_floods_" * 8  # one unbreakable word, far wider than a phone


@dataclass(frozen=True)
class PageCase:
    """One page to check: the route it belongs to, its address with ``{names}``
    filled in from the demo data, and who looks at it."""

    route: str
    url: str
    who: str = "member"  # "member" (ada), "admin", "anonymous" or "fresh" (a new instance)


PAGES = [
    PageCase("/", "/"),
    PageCase("/", "/", who="anonymous"),
    PageCase("/tags/{tag}", "/tags/cleanup"),
    PageCase("/search", "/search?q=river"),
    PageCase("/search", "/search?q=ada&type=members", who="anonymous"),
    PageCase("/signup", "/signup", who="anonymous"),
    PageCase("/login", "/login", who="anonymous"),
    PageCase("/setup/{token}", "{setup_path}", who="fresh"),
    PageCase("/communities", "/communities"),
    PageCase("/communities/new", "/communities/new"),
    PageCase("/c/{name}", "/c/riverside"),
    PageCase("/c/{name}", "/c/riverside", who="anonymous"),
    PageCase("/c/{name}/settings", "/c/riverside/settings"),
    PageCase("/c/{name}/members", "/c/riverside/members"),
    PageCase("/c/{name}/rules", "/c/riverside/rules"),
    PageCase("/rules", "/rules", who="admin"),
    PageCase("/rules", "/rules", who="anonymous"),
    PageCase("/report", "/report?type=post&id={post}"),
    PageCase("/reports", "/reports"),
    PageCase("/compose", "/compose"),
    PageCase("/settings/data", "/settings/data"),
    PageCase("/posts/{post_id}", "/posts/{post}"),
    PageCase("/posts/{post_id}/edit", "/posts/{post}/edit"),
    PageCase("/posts/{post_id}/history", "/posts/{post}/history"),
    PageCase("/posts/{post_id}/delete", "/posts/{post}/delete"),
    PageCase("/c/{name}/leave", "/c/riverside/leave"),
    PageCase("/c/{name}/dissolve", "/c/riverside/dissolve", who="admin"),
    PageCase(
        "/c/{name}/members/{username}/remove", "/c/riverside/members/chloe/remove", who="admin"
    ),
    PageCase("/admin/members/{username}/suspend", "/admin/members/chloe/suspend", who="admin"),
    PageCase("/@{username}", "/@ada"),
    PageCase("/@{username}/followers", "/@ada/followers"),
    PageCase("/@{username}/following", "/@ada/following"),
    PageCase("/users/{username}", "/users/chloe"),
    PageCase("/settings", "/settings"),
    PageCase("/settings/email", "/settings/email"),
    PageCase("/settings/sessions", "/settings/sessions"),
    PageCase("/password-reset", "/password-reset", who="anonymous"),
    PageCase("/password-reset/{token}", "{reset_path}", who="anonymous"),
    PageCase("/confirm-email", "/confirm-email", who="anonymous"),
    PageCase("/confirm-email/{token}", "{confirm_path}", who="anonymous"),
    PageCase("/notifications", "/notifications"),
    PageCase("/notifications/settings", "/notifications/settings"),
    PageCase("/admin", "/admin", who="admin"),
    PageCase("/algorithms", "/algorithms"),
    PageCase("/algorithms/new", "/algorithms/new?from={version}"),
    PageCase("/algorithms/{module_id}", "/algorithms/{module}"),
    PageCase("/algorithms/{module_id}", "/algorithms/{builtin}"),
    PageCase("/algorithm-versions/{version_id}", "/algorithm-versions/{version}"),
    PageCase("/algorithm-hashes/{digest}", "/algorithm-hashes/{digest}"),
    PageCase("/algorithm-diff", "/algorithm-diff?from={first_version}&to={version}"),
    PageCase("/c/{name}/algorithm", "/c/riverside/algorithm"),
    PageCase("/preview", "/preview?algorithm={version}"),
    PageCase("/c/{name}/artifacts", "/c/riverside/artifacts"),
    PageCase("/c/{name}/artifacts/graph", "/c/riverside/artifacts/graph"),
    PageCase("/artifacts/{artifact_id}", "/artifacts/{artifact}"),
    PageCase("/artifacts/{artifact_id}/edit", "/artifacts/{artifact}/edit"),
    PageCase("/artifacts/{artifact_id}/history", "/artifacts/{artifact}/history"),
    PageCase("/artifacts/{artifact_id}/diff", "/artifacts/{artifact}/diff?from=1&to=3"),
    PageCase("/admin/moderation", "/admin/moderation", who="admin"),
    PageCase("/c/{name}/moderation", "/c/riverside/moderation"),
    PageCase(
        "/moderation/act",
        "/moderation/act?scope=community:riverside&target_type=post&target_id={reply}",
    ),
    PageCase("/moderation/actions/{action_id}", "/moderation/actions/{action}"),
    PageCase("/modlog", "/modlog", who="anonymous"),
    PageCase("/c/{name}/modlog", "/c/riverside/modlog", who="anonymous"),
    PageCase("/c/{name}/modlog", "/c/riverside/modlog"),
]

# GET routes that are not pages of their own, and why they are not in PAGES.
NOT_PAGES = {
    "/docs": "Swagger UI's own page: test_api_docs_render_offline checks it",
    "/favicon.ico": "an image",
    "/settings/data/exports/{export_id}/download": (
        "a member's zip archive, not a page: tests/test_account_export.py downloads one"
    ),
    "/media/{key}": "an uploaded image file, not a page: tests/test_media.py checks its headers",
    "/oauth/authorize": (
        "the consent page needs an app's request: tests/test_browser_oauth.py walks it"
    ),
    "/.well-known/oauth-authorization-server": "OAuth metadata (JSON): tests/test_oauth.py",
    "/digest/unsubscribe/{account_id}/{signature}": (
        "a signed link from a digest mail: tests/test_digests.py follows one, "
        "tests/test_every_page.py renders it"
    ),
}


def get_page_routes(data_dir: Path) -> set[str]:
    """The path of every GET route that answers a browser with a page: all of
    them except the JSON API, ActivityPub and discovery documents."""
    app = create_app(make_settings(data_dir, f"sqlite:///{data_dir / 'routes.db'}"))
    paths = set()
    for top, route in all_routes(app.routes):
        if "GET" not in (route.methods or set()):
            continue
        endpoint_module = getattr(route.endpoint, "__module__", "")
        if (top + route.path).startswith("/api/") or endpoint_module.startswith("federation."):
            continue
        paths.add(route.path)
    return paths


def test_every_page_route_is_checked(tmp_path: Path) -> None:
    listed = {p.route for p in PAGES} | set(NOT_PAGES)
    routes = get_page_routes(tmp_path)
    assert routes - listed == set(), "new GET routes: add them to PAGES (or NOT_PAGES, with why)"
    assert listed - routes == set(), "PAGES lists routes the app no longer has"


@dataclass
class Site:
    """The running instances and what the pages show."""

    server: ServerProcess
    fresh: ServerProcess
    names: dict[str, object] = field(default_factory=dict)
    sessions: dict[str, dict] = field(default_factory=dict)  # who -> storage state

    def base(self, who: str) -> str:
        return self.fresh.url if who == "fresh" else self.server.url


class Api:
    """A demo member's writes through the JSON API."""

    def __init__(self, http: httpx.Client, username: str, password: str = DEMO_PASSWORD) -> None:
        self.http = http
        login = {"username": username, "password": password, "scope": "write"}
        r = http.post("/tokens", json=login)
        assert r.status_code == 201, r.text
        self.auth = {"Authorization": f"Bearer {r.json()['token']}"}

    def call(self, method: str, path: str, expected: int = 200, **kwargs: object) -> dict:
        r = self.http.request(method, path, headers=self.auth, **kwargs)
        assert r.status_code == expected, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else {}


ARTIFACT_TEXT = (
    "The river path floods after rain.\n\n"
    f"Measurements: {LONG_LINE}\n\n"
    "```\n"
    "level_cm = {'monday': 12, 'tuesday': 48, 'wednesday': 95, 'thursday': 31}  # at the bridge\n"
    "```\n\n"
    "| day | level | who measured it | where exactly |\n|---|---|---|---|\n"
    "| Monday | 12 cm | Ada Okafor | at the old footbridge near the allotments |\n"
)


def make_content(base: str) -> dict[str, object]:
    """Artifacts with history and statements, a module with two versions, a
    community vote, an edited post: every page has something real to show."""
    names: dict[str, object] = {}
    with httpx.Client(base_url=f"{base}/api/cg/v1", trust_env=False, timeout=60) as http:
        ada = Api(http, "ada")
        a = ada.call(
            "POST",
            "/artifacts",
            201,
            json={
                "community": "riverside",
                "kind": "problem",
                "title": "The path floods",
                "body": ARTIFACT_TEXT,
                "tags": ["water", "paths"],
            },
        )
        names["artifact"] = a["id"]
        text = ARTIFACT_TEXT
        for n, change in enumerate(("Nobody clears it.", f"The council clears it. {LONG_LINE}")):
            text = text + f"\n{change}\n"
            ada.call(
                "POST",
                f"/artifacts/{a['id']}/revisions",
                201,
                json={"base_revision": n + 1, "body": text, "message": f"edit {n + 1}"},
            )
        idea = ada.call(
            "POST",
            "/artifacts",
            201,
            json={"community": "riverside", "kind": "idea", "title": "A drain by the bridge"},
        )
        ada.call(
            "POST",
            f"/artifacts/{idea['id']}/links",
            201,
            json={"target": a["id"], "kind": "addresses"},
        )
        statements = [
            ada.call("POST", f"/artifacts/{a['id']}/statements", 201, json={"text": t})["id"]
            for t in ("The path matters to everyone.", "A drain is worth the cost.", LONG_LINE)
        ]
        for i, who in enumerate(("ada", "ben", "chloe", "dev")):
            member = ada if who == "ada" else Api(http, who)
            for n, s in enumerate(statements):
                stance = "agree" if n == 0 or (i < 2) == (n == 1) else "disagree"
                member.call("PUT", f"/statements/{s}/stance", json={"stance": stance})
            member.call(
                "PUT",
                f"/artifacts/{a['id']}/stance",
                json={"stance": "agree", "reason": f"I walk there daily {i}"},
            )

        modules = http.get("/algorithms").json()
        builtin = max(modules, key=lambda m: len(http.get(f"/algorithms/{m['id']}/source").text))
        names["builtin"] = builtin["id"]
        source = http.get(f"/algorithms/{builtin['id']}/source").text
        source = source.replace(f'"{builtin["name"]}"', '"Riverside discussion"', 1)
        first = ada.call(
            "POST",
            "/algorithms",
            201,
            json={"source": source + f"\n# {LONG_LINE}\n", "community": "riverside"},
        )
        first_version = first["latest"]["version_id"]
        second = ada.call(
            "POST",
            "/algorithms",
            201,
            json={
                "source": source + f"\n# {LONG_LINE} {LONG_LINE}\n",
                "forked_from": first_version,
            },
        )
        latest = second["latest"]
        names.update(
            module=second["id"],
            first_version=first_version,
            version=latest["version_id"],
            digest=latest["sha256"],
        )
        ada.call("PUT", "/communities/riverside/algorithm-governance", json={"mode": "vote"})
        ada.call(
            "POST",
            "/communities/riverside/algorithm-proposals",
            201,
            json={"algorithm": latest["version_id"], "reason": "conversations first"},
        )

        thread = ada.call(
            "POST",
            "/posts",
            201,
            json={
                "community": "riverside",
                "title": "Gauge readings",
                "text": f"Readings are in: {LONG_LINE} #cleanup",
            },
        )
        ada.call(
            "PATCH",
            f"/posts/{thread['id']}",
            json={"text": f"Readings are in (corrected): {LONG_LINE} #cleanup"},
        )
        ben = Api(http, "ben")
        reply = ben.call(
            "POST", "/posts", 201, json={"in_reply_to": thread["id"], "text": "Thanks, Ada!"}
        )
        names["post"], names["reply"] = thread["id"], reply["id"]
        # a moderator's warning on ben's reply, which ben appeals (queue, log, action page)
        rules = ada.call("PUT", "/communities/riverside/rules", json={"rules": ["Be kind."]})
        warned = ada.call(
            "POST",
            "/moderation/actions",
            201,
            json={
                "target": {"type": "post", "id": reply["id"]},
                "action": "warn",
                "rule": rules["items"][0]["id"],
                "reason": f"Mind the tone. {LONG_LINE}",
            },
        )
        ben.call(
            "POST", f"/moderation/actions/{warned['id']}/appeal", 201, json={"text": LONG_LINE}
        )
        names["action"] = warned["id"]
    return names


def mailed_links(server: ServerProcess) -> dict[str, str]:
    """Live links of the two mailed kinds: a sign-up's confirmation and a password
    reset, read from the queued mails (this server runs no worker to send them)."""
    with httpx.Client(base_url=server.url) as http:
        body = {"username": "dora", "password": PASSWORD, "email": "dora@example.org"}
        assert http.post("/api/cg/v1/accounts", json=body).status_code == 201
        assert http.post(
            "/api/cg/v1/password-resets", json={"email": "dora@example.org"}
        ).is_success
    with sqlite3.connect(server.data_dir / "commonground.db") as db:
        texts = [row[0] for row in db.execute("SELECT payload FROM jobs WHERE kind = 'mail.send'")]
    found = {}
    for name, path in (("confirm_path", "/confirm-email/"), ("reset_path", "/password-reset/")):
        match = re.search(re.escape(server.url + path) + r"[A-Za-z0-9_-]+", "".join(texts))
        assert match, texts
        found[name] = match.group(0).removeprefix(server.url)
    return found


def log_in(browser: Browser, base: str, username: str, password: str) -> dict:  # noqa: F811
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture(scope="module")
def site(browser: Browser) -> Iterator[Site]:  # noqa: F811
    with (
        ServerProcess(env={"CG_ADMIN_PASSWORD": PASSWORD}, startup_timeout=120) as server,
        ServerProcess(startup_timeout=120) as fresh,
    ):
        server.run("demo-data")
        server.run("create-admin", "root", "--display-name", "Instance admin")
        setup_link = fresh.setup_link()
        assert setup_link, fresh.output()
        s = Site(server=server, fresh=fresh)
        s.names = (
            make_content(server.url)
            | {"setup_path": urlsplit(setup_link).path}
            | mailed_links(server)
        )
        s.sessions = {
            "member": log_in(browser, server.url, "ada", DEMO_PASSWORD),
            "admin": log_in(browser, server.url, "root", PASSWORD),
        }
        yield s


def open_pages(
    browser: Browser,  # noqa: F811
    site: Site,
    scheme: str = "light",
    bypass_csp: bool = False,
) -> Iterator[tuple[PageCase, str, Page]]:
    """Each page of PAGES loaded in a phone-sized tab of the right visitor, in
    the given colour scheme."""
    contexts: dict[str, BrowserContext] = {}
    tabs: dict[str, Page] = {}
    try:
        for case in PAGES:
            if case.who not in tabs:
                contexts[case.who] = browser.new_context(
                    viewport=PHONE, storage_state=site.sessions.get(case.who), bypass_csp=bypass_csp
                )
                tabs[case.who] = contexts[case.who].new_page()
                tabs[case.who].emulate_media(color_scheme=scheme)
            tab = tabs[case.who]
            url = site.base(case.who) + case.url.format(**site.names)
            response = tab.goto(url)
            assert response is not None and response.status == 200, f"{url}: {response.status}"
            yield case, url, tab
    finally:
        for context in contexts.values():
            context.close()


def test_no_page_scrolls_sideways_on_a_phone(browser: Browser, site: Site) -> None:  # noqa: F811
    too_wide = []
    for _, url, tab in open_pages(browser, site):
        width = tab.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            too_wide.append(f"{url}: {width} px")
    assert too_wide == [], f"pages wider than {PHONE['width']} px:\n" + "\n".join(too_wide)


def axe_path() -> Path:
    """axe-core as ``npm ci`` installs it; skip (or fail under REQUIRE_BROWSER=1)
    with the reason when it is not there."""
    if AXE.exists():
        return AXE
    if shutil.which("npm") is None:
        reason = "npm is not installed, so axe-core is missing (apt-get install npm; make test)"
    else:
        reason = f"{AXE.relative_to(ROOT)} is missing: run `make test` (it runs `npm ci`)"
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


AXE_RUN = """async () => {
  const results = await axe.run(document, {resultTypes: ["violations"]});
  return results.violations.map(v => ({
    rule: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => n.target.join(" ") + " — " + n.failureSummary.replace(/\\s+/g, " ")),
  }));
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_page_has_accessibility_violations(
    browser: Browser,  # noqa: F811
    site: Site,
    scheme: str,
) -> None:
    axe = axe_path()
    found = []
    # bypass_csp: the app's CSP (rightly) refuses the injected axe script.
    for _, url, tab in open_pages(browser, site, scheme, bypass_csp=True):
        tab.add_script_tag(path=str(axe))
        for v in tab.evaluate(AXE_RUN):
            nodes = "\n      ".join(v["nodes"][:5])
            more = f" (and {len(v['nodes']) - 5} more)" if len(v["nodes"]) > 5 else ""
            found.append(f"{url} [{v['rule']}, {v['impact']}] {v['help']}{more}:\n      {nodes}")
    assert found == [], f"{len(found)} axe violations ({scheme} scheme):\n" + "\n".join(found)


def test_api_docs_render_offline(browser: Browser, site: Site) -> None:  # noqa: F811
    """/docs shows the API's operations with Swagger UI served by this server: no
    request leaves 127.0.0.1 and the page's CSP refuses nothing it needs."""
    context = browser.new_context()
    page = context.new_page()
    requested: list[str] = []
    console_errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{site.server.url}/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.locator(".opblock").count() > 20
    expect(page.get_by_text("/api/cg/v1/communities", exact=True).first).to_be_visible()
    elsewhere = [
        url
        for url in requested
        if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).hostname != "127.0.0.1"
    ]
    assert elsewhere == []
    assert console_errors == []
    context.close()


def relative_luminance(css_colour: str) -> float:
    """WCAG relative luminance of a computed ``rgb(r, g, b)`` colour."""
    channels = [int(c) / 255 for c in css_colour[css_colour.index("(") + 1 : -1].split(",")[:3]]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


MAP_COLOURS = """() => {
  const map = document.querySelector("svg.map");
  const style = element => getComputedStyle(element);
  return {
    background: style(map).backgroundColor,
    axis: style(map.querySelector("line")).stroke,
    dots: [...map.querySelectorAll("circle")].map(dot => style(dot).fill),
  };
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_common_ground_map_follows_the_colour_scheme(
    browser: Browser,  # noqa: F811
    site: Site,
    scheme: str,
) -> None:
    context = browser.new_context(storage_state=site.sessions["member"])
    page = context.new_page()
    page.emulate_media(color_scheme=scheme)
    page.goto(f"{site.server.url}/artifacts/{site.names['artifact']}")
    colours = page.evaluate(MAP_COLOURS)
    page_background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    context.close()
    is_dark = relative_luminance(colours["background"]) < 0.1
    assert is_dark == (scheme == "dark"), colours
    assert contrast(colours["background"], page_background) < 1.5  # no glaring box
    assert contrast(colours["axis"], colours["background"]) > 1.2, colours
    assert len(colours["dots"]) == 4
    assert all(contrast(dot, colours["background"]) >= 3 for dot in colours["dots"]), colours
