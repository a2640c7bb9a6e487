"""Every page form whose input fails validation shows its own page again: a 4xx
answer holding that form, every value the member typed still in it, and the
problem next to the refused field (issue 9, item 18). Pure buttons, with nothing
typed, may keep the error page; they are listed below with the reason."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from fastapi import params as fastapi_params
from fastapi.testclient import TestClient
from sqlmodel import select

from app.models import Account, Decision
from app.services import accounts, appeals, moderation, rules
from tests.conftest import PASSWORD
from tests.test_pages import CLIENT_ENDPOINTS, all_routes, csrf, signup, submit

# routes with no typed field: what they carry and why no page is shown again
BUTTONS = {
    "/settings/data/export": "a button",
    "/settings/data/deletion/cancel": "a button",
    "/logout": "a button",
    "/c/{name}/join": "a button",
    "/c/{name}/follow": "a button",
    "/c/{name}/unfollow": "a button",
    "/c/{name}/leave": "confirm=yes from its confirmation page",
    "/c/{name}/dissolve": "confirm=yes from its confirmation page",
    "/c/{name}/members/{username}/approve": "a button",
    "/c/{name}/members/{username}/remove": "confirm=yes from its confirmation page",
    "/posts/{post_id}/delete": "confirm=yes from its confirmation page",
    "/posts/{post_id}/react": "the pressed button's kind and the page it was on",
    "/posts/{post_id}/boost": "a toggle carrying the page it was on",
    "/@{username}/follow": "a button",
    "/@{username}/unfollow": "a button",
    "/settings/blocks/remove": "an Unblock button carrying the blocked handle",
    "/settings/mutes/remove": "an Unmute button carrying what was muted",
    "/settings/tokens/revoke-all": "a button",
    "/settings/tokens/{token_id}/revoke": "a button",
    "/admin/domains/{domain}/unblock": "a button",
    "/admin/members/{username}/suspend": "confirm=yes from its confirmation page",
    "/admin/members/{username}/restore": "a button",
    "/admin/applications/{application_id}/{verdict}": "Approve / Decline buttons",
    "/c/{name}/algorithm-governance": "a toggle carrying the other mode",
    "/c/{name}/algorithm-proposals/{proposal_id}/vote": "yes / no / abstain buttons",
    "/statements/{statement_id}/stance": "agree / disagree / pass buttons",
    "/oauth/authorize": "Allow / Deny buttons carrying the checked request (tests/test_oauth.py)",
    "/artifacts/{artifact_id}/revert": "a button beside each revision, carrying its number",
    "/notifications/read": "Mark read buttons (one carries a hidden id; Mark all read none)",
    "/notifications/{note_id}/approve/{username}": "a button beside each waiting request",
    "/notifications/{note_id}/deny/{username}": "a button beside each waiting request",
    "/notifications/settings": "on / off / email radio buttons per kind (nothing typed)",
    "/digest/unsubscribe/{account_id}/{signature}": "a button on the signed link's page",
    "/confirm-email/{token}": "a button on the mailed link's page",
    "/settings/sessions/{session_id}/end": "a button beside each session",
}
# not typed by the member: where to go afterwards, a hidden id the page carries
NAVIGATION = ("next", "back", "community", "forked_from")


class Forms(HTMLParser):
    """The forms of a page: action → controls [(tag, attrs, text)] and element ids."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: dict[str, dict] = {}
        self._form: dict | None = None
        self._open: list | None = None  # a textarea or option collecting its text
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = self.forms.setdefault(a.get("action", ""), {"controls": [], "ids": set()})
            return
        if self._form is None:
            return
        if "id" in a:
            self._form["ids"].add(a["id"])
        if tag in ("input", "textarea", "select"):
            control = [tag, a, "", []]
            self._form["controls"].append(control)
            if tag == "textarea":
                self._open = control
        elif tag == "option" and self._form["controls"]:
            self._form["controls"][-1][3].append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "textarea":
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open[2] += data


def _fields(route) -> list[tuple[str, int | None, str | None, type]]:
    """(name, max_length, pattern, type) of each form field of a route."""
    out = []
    for param in route.dependant.body_params:
        if isinstance(param.field_info, fastapi_params.File):
            continue  # no page can refill a file input (browsers forbid it); text only
        meta = param.field_info.metadata
        max_length = next((m.max_length for m in meta if hasattr(m, "max_length")), None)
        pattern = next((m.pattern for m in meta if getattr(m, "pattern", None)), None)
        out.append((param.alias or param.name, max_length, pattern, param.field_info.annotation))
    return out


def _valid(name: str, pattern: str | None, kind: type) -> str:
    """A value the field itself accepts: what a member would have typed."""
    if pattern:
        return re.match(r"\^\(([^|)]+)", pattern).group(1)
    if kind is str:
        return "" if name in NAVIGATION else f"typed {name} here"
    return "" if kind is bool else "7"


def _refused(fields: list) -> tuple[str, str]:
    """The field to refuse and its value: a typed text too long, else a choice that is
    not one, else a number that is not."""
    for prefer_password in (False, True):
        for name, max_length, pattern, kind in fields:
            typed = kind is str and not pattern and name not in NAVIGATION
            if typed and max_length and ("password" in name) == prefer_password:
                return name, "x" * (max_length + 1)
    for name, _, pattern, _ in fields:
        if pattern:
            return name, "not one of them!"
    return next((n, "not a number") for n, _, _, kind in fields if kind is not str)


def _kept(control: list, value: str) -> bool | None:
    """Whether a form control still shows ``value`` (None: it can't show it)."""
    tag, attrs, text, options = control
    if tag == "textarea":
        return text.strip("\n") == value
    if tag == "select":
        values = [o.get("value", "") for o in options]
        if value not in values:
            return None
        return any(o.get("value") == value and "selected" in o for o in options)
    kind = attrs.get("type", "text")
    if kind in ("hidden", "password", "submit", "checkbox"):
        return None
    if kind == "radio":
        return (attrs.get("value") != value) or "checked" in attrs
    return attrs.get("value") == value


def _world(client: TestClient, new_ctx) -> dict[str, str]:
    """An admin member, a community with a post, artifacts, a statement, an open vote
    and a closed one: so that every form of every page is on it."""
    signup(client, "alice")
    with new_ctx() as ctx:
        ctx.db.exec(select(Account).where(Account.username == "alice")).one().is_admin = True
    submit(client, "/communities/new", "/communities/new", {"name": "garden"})
    post = submit(client, "/compose", "/compose", {"text": "a post"}).headers["location"]
    ids = []
    for title in ("open vote", "closed vote", "other"):
        r = submit(
            client,
            "/c/garden/artifacts",
            "/c/garden/artifacts/new",
            {"kind": "idea", "title": title},
        )
        assert r.status_code == 303, r.text[:300]
        ids.append(r.headers["location"].rsplit("/", 1)[1])
    for artifact in ids:
        for stage in ("open", "proposed"):
            r = submit(
                client,
                f"/artifacts/{artifact}",
                f"/artifacts/{artifact}/stage",
                {"stage": stage},
            )
            assert r.status_code == 303, r.text[:300]
        if artifact == ids[2]:
            continue  # the one still to be put to a vote
        r = submit(
            client,
            f"/artifacts/{artifact}",
            f"/artifacts/{artifact}/decisions",
            {"method": "consent", "hours": "72", "quorum": "1"},
        )
        assert r.status_code == 303, r.text[:300]
    r = submit(client, f"/artifacts/{ids[0]}", f"/artifacts/{ids[0]}/statements", {"text": "s"})
    assert r.status_code == 303, r.text[:300]
    submit(client, "/communities/new", "/communities/new", {"name": "meadow"})
    r = submit(client, "/c/meadow/algorithm", "/c/meadow/algorithm-governance", {"mode": "vote"})
    assert r.status_code == 303, r.text[:300]
    with new_ctx() as ctx:  # alice is warned (she may appeal); bob appeals her warning
        alice = ctx.db.exec(select(Account).where(Account.username == "alice")).one()
        other = accounts.register(ctx, "other_admin", PASSWORD, is_admin=True)
        bob = accounts.register(ctx, "bob", PASSWORD)
        (rule,) = rules.replace(ctx, other, None, ["Be kind."])
        warn = {"action": "warn", "target_type": "account", "rule_id": rule.id, "reason": "r"}
        on_alice = moderation.act(ctx, other, target_id=alice.id, scope="instance", **warn)
        on_bob = moderation.act(ctx, alice, target_id=bob.id, scope="instance", **warn)
        appeal = appeals.appeal(ctx, bob, on_bob.id, "Please look again.")
        action_id, appeal_id = str(on_alice.id), str(appeal.id)
    with new_ctx() as ctx:
        votes = {d.artifact_id: d for d in ctx.db.exec(select(Decision))}
        closed = votes[int(ids[1])]
        closed.state, closed.closes_at = "adopted", datetime.now(UTC) - timedelta(hours=1)
        open_id, closed_id = votes[int(ids[0])].id, closed.id
    return {
        "name": "garden",
        "username": "alice",
        "token": "x",
        "post_id": post.rsplit("/", 1)[1],
        "artifact_id": ids[0],
        "statement_id": "1",
        "decision_id": str(open_id),
        "closed_decision_id": str(closed_id),
        "unvoted_artifact_id": ids[2],
        "action_id": action_id,
        "appeal_id": appeal_id,
        "verdict": "grant",
    }


def test_every_form_shows_its_own_page_again_with_what_was_typed(
    client: TestClient,
    app,
    new_ctx,
) -> None:
    sample = _world(client, new_ctx)
    routes = [
        route
        for top, route in all_routes(app.routes)
        if "POST" in (route.methods or set())
        and not (top + route.path).startswith("/api")
        and not route.path.endswith("/inbox")
        and route.path not in CLIENT_ENDPOINTS
    ]
    paths = {route.path for route in routes}
    assert not set(BUTTONS) - paths, "a listed button no longer exists"
    failures, checked, refilled = [], 0, 0
    for route in routes:
        if route.path in BUTTONS:
            continue
        fields = _fields(route)
        assert fields, f"{route.path} has no fields: list it in BUTTONS with the reason"
        data = {name: _valid(name, pattern, kind) for name, _, pattern, kind in fields}
        refused, bad = _refused(fields)
        data[refused] = bad
        params = dict(sample)
        if route.path.endswith("/outcome"):
            params["decision_id"] = sample["closed_decision_id"]
        elif route.path.endswith("/decisions"):
            params["artifact_id"] = sample["unvoted_artifact_id"]
        elif route.path.endswith("/algorithm-proposals"):
            params["name"] = "meadow"  # where members decide by vote
        action = route.path.format(**params)
        token = csrf(client.get("/settings").text)
        r = client.post(action, data={"csrf_token": token, **data}, follow_redirects=False)
        checked += 1
        if not 400 <= r.status_code < 500:
            failures.append((action, f"answered {r.status_code}"))
            continue
        form = Forms(r.text).forms.get(action)
        if form is None:
            failures.append((action, "the page does not hold the form"))
            continue
        if f"{refused}-error" not in form["ids"]:
            failures.append((action, f"no message next to {refused}"))
        for name, value in data.items():
            if name == refused or name in NAVIGATION or not value:
                continue
            controls = [c for c in form["controls"] if c[1].get("name") == name]
            shown = [_kept(c, value) for c in controls]
            if False in shown:
                failures.append((action, f"{name} lost what was typed"))
            refilled += True in shown
    assert not failures, "\n".join(f"{a}: {why}" for a, why in failures)
    assert checked >= 25 and refilled >= 30


def test_a_refused_action_keeps_the_form_that_was_sent_on_a_page_of_several(
    client: TestClient,
    new_ctx,
) -> None:
    """A domain error (parameters that are not JSON) shows the community's algorithm
    page with that form refilled, the message beside it in the page's error note."""
    signup(client, "alice")
    submit(client, "/communities/new", "/communities/new", {"name": "garden"})
    page = client.get("/c/garden/algorithm").text
    version = re.search(r'name="version_id">\s*<option value="(\d+)"', page).group(1)
    typed = {"version_id": version, "params": "{not json", "reason": "kept reason"}
    r = submit(client, "/c/garden/algorithm", "/c/garden/algorithm", typed)
    assert r.status_code == 422, r.text[:300]
    form = Forms(r.text).forms["/c/garden/algorithm"]
    by_name = {c[1].get("name"): c for c in form["controls"]}
    assert _kept(by_name["params"], "{not json") and _kept(by_name["reason"], "kept reason")
    assert "Parameters must be a JSON object" in r.text
