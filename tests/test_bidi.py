"""Member-written strings are bidi-isolated wherever a page prints them: a display
name ending in U+202E (RIGHT-TO-LEFT OVERRIDE) must not turn the "@zoe" after it
into "eoz@". Every page that shows names, titles and other short member-written
text is rendered with such strings, and each one must sit inside a ``<bdi>`` (or,
where no element may go, between the isolates FSI and PDI)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from app.services import (
    Ctx,
    accounts,
    appeals,
    artifacts,
    auth,
    communities,
    moderation,
    posts,
    rules,
    stances,
)
from app.web import bidi
from tests.conftest import PASSWORD
from tests.test_pages import submit

RLO = "\u202e"


class IsolationCheck(HTMLParser):
    """Collects every text run holding U+202E that is not bidi-isolated."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.leaks: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in ("br", "img", "input", "meta", "link", "hr", "circle", "line", "path"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            while self.open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if RLO not in data or "bdi" in self.open or {"textarea", "option"} & set(self.open):
            return  # a form control's own text: nothing else shares its line
        prefixes = [data[:i] for i, char in enumerate(data) if char == RLO]
        if all(p.count(bidi.FSI) > p.count(bidi.PDI) for p in prefixes):  # FSI … PDI
            return
        self.leaks.append(f"<{'/'.join(self.open[-3:])}> {data.strip()[:80]!r}")


def leaks(html: str) -> list[str]:
    check = IsolationCheck()
    check.feed(html)
    return check.leaks


@pytest.fixture
def world(new_ctx) -> dict:
    """Everything a member can name, named with a trailing U+202E."""
    with new_ctx() as ctx:
        ctx: Ctx
        root = accounts.register(ctx, "root", PASSWORD, f"Root{RLO}", is_admin=True)
        zoe = accounts.register(ctx, "zoe", PASSWORD, f"Zoe{RLO}")
        garden = communities.create(
            ctx, root, "garden", title=f"Garden{RLO}", description=f"About{RLO}"
        )
        communities.join(ctx, zoe, garden)
        thread = posts.create(ctx, zoe, "Fences #soil", community="garden", title=f"T{RLO}")
        posts.create(ctx, root, "Yes", in_reply_to=thread.id)
        posts.edit(ctx, zoe, thread.id, "Fences, again #soil", f"T2{RLO}")
        plan = artifacts.create(ctx, zoe, garden, "idea", f"Plan{RLO}", "A body.", ["soil"])
        other = artifacts.create(ctx, root, garden, "problem", f"Mud{RLO}", "Wet.")
        artifacts.link(ctx, zoe, plan.id, other.id, "addresses")
        artifacts.revise(ctx, zoe, plan.id, plan.current_revision_id, "B.", None, f"M{RLO}")
        stances.add_statement(ctx, root, plan.id, f"We agree{RLO}")
        stances.take(ctx, root, "agree", artifact_id=plan.id, reason=f"Because{RLO}")
        auth.create_token(ctx, root, "read", f"Tok{RLO}")
        (rule,) = rules.replace(ctx, root, garden, ["Be kind."])
        warned = moderation.act(
            ctx,
            root,
            action="warn",
            target_type="post",
            target_id=thread.id,
            rule_id=rule.id,
            reason="Mind the tone.",
        )
        appeals.appeal(ctx, zoe, warned.id, "I was kind.")  # the queue names zoe
        return {"thread": thread.id, "plan": plan.id}


def pages(world: dict) -> list[str]:
    thread, plan = world["thread"], world["plan"]
    return [
        "/",
        "/communities",
        "/c/garden",
        "/c/garden/members",
        "/c/garden/settings",
        "/c/garden/algorithm",
        "/c/garden/artifacts",
        "/c/garden/artifacts/graph",
        "/c/garden/moderation",
        "/c/garden/modlog",
        "/@zoe",
        "/tags/soil",
        f"/posts/{thread}",
        f"/posts/{thread}/history",
        f"/artifacts/{plan}",
        f"/artifacts/{plan}/history",
        "/compose",
        "/admin",
        "/settings",
    ]


def test_every_page_isolates_member_written_names(client: TestClient, world: dict) -> None:
    for page in ("/", "/communities", "/@zoe", f"/posts/{world['thread']}"):
        r = client.get(page)
        assert r.status_code == 200, page
        assert not leaks(r.text), (page, leaks(r.text))
    submit(client, "/login", "/login", {"username": "root", "password": PASSWORD})
    found = {}
    for page in pages(world):
        r = client.get(page)
        assert r.status_code == 200, (page, r.text[:300])
        assert RLO in r.text, page  # the page does show a member-written string
        if problems := leaks(r.text):
            found[page] = problems
    assert not found, found


def test_the_checker_catches_an_unisolated_name() -> None:
    assert leaks(f"<p><strong>Zoe{RLO}</strong> @zoe</p>")
    assert not leaks(f"<p><strong><bdi>Zoe{RLO}</bdi></strong> @zoe</p>")
    assert leaks(f"<title>Zoe{RLO} · here</title>")
    assert not leaks(f"<title>{bidi.FSI}Zoe{RLO}{bidi.PDI} · here</title>")
    assert leaks(f"<p>{bidi.FSI}Zoe{RLO}{bidi.PDI} and Ann{RLO}</p>")
    assert not leaks(f"<p>{bidi.isolate('Zoe' + RLO)} and {bidi.isolate('Ann' + RLO)}</p>")
    assert str(bidi.bdi("<b>")) == "<bdi>&lt;b&gt;</bdi>"
    assert bidi.isolated(f"Hi {bidi.isolate('<b>')}.") == "Hi <bdi>&lt;b&gt;</bdi>."
    assert bidi.isolated(f"Odd {bidi.FSI}.") == f"Odd {bidi.FSI}."  # unbalanced: left as text
