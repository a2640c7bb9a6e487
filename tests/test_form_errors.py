"""A form that refuses its input shows the form again: a 4xx page, the problem in
plain words next to the field, and what was typed still there."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlmodel import select

from app.models import Account
from app.services.accounts import MAX_PASSWORD, MIN_PASSWORD
from tests.conftest import PASSWORD
from tests.test_pages import all_routes, csrf, signup, submit


def test_change_password_errors_show_the_settings_page(client: TestClient) -> None:
    """A wrong current password or a too-short new one is a 422 settings page
    (with every section, e.g. the feed algorithm's parameters), not a 500."""
    signup(client, "alice")
    cases = [
        ({"current_password": "wrong wrong", "new_password": "long enough pw"}, "wrong"),
        ({"current_password": PASSWORD, "new_password": "short"}, f"{MIN_PASSWORD} to"),
        ({"current_password": PASSWORD, "new_password": "x" * (MAX_PASSWORD + 1)}, "at most"),
    ]
    for data, words in cases:
        r = submit(client, "/settings", "/settings/password", data)
        assert r.status_code == 422, r.text[:500]
        assert words in r.text and 'id="feed-params"' in r.text and "Traceback" not in r.text
        assert data["new_password"] not in r.text  # passwords are never echoed


def test_validation_errors_name_the_field_and_keep_the_form(client: TestClient) -> None:
    """Developer wording ("password: Value should have at most 300 items") became
    plain words, shown next to the field on the filled-in form page."""
    long_name = "n" * 301
    r = submit(
        client,
        "/signup",
        "/signup",
        {"username": "alice", "display_name": long_name, "password": PASSWORD},
    )
    assert r.status_code == 422
    assert "Display name can be at most 300 characters." in r.text
    assert 'id="display_name-error"' in r.text and 'value="alice"' in r.text
    assert 'action="/signup"' in r.text  # the form itself, not a generic error page
    r = client.get("/algorithm-diff")  # a page's missing query parameter
    assert r.status_code == 422 and "From is required." in r.text
    assert "query." not in r.text and "Field required" not in r.text


def test_every_password_field_states_the_one_limit(client: TestClient) -> None:
    """Sign-up, setup, log-in and change-password use the same limits, and the pages
    say so in their minlength/maxlength attributes."""
    pages = [client.get("/signup").text, client.get("/login").text]
    signup(client, "alice")
    pages.append(client.get("/settings").text)
    for html in pages:
        for field in re.findall(r'<input[^>]*type="password"[^>]*>', html):
            assert f'maxlength="{MAX_PASSWORD}"' in field, field
            if "new-password" in field:
                assert f'minlength="{MIN_PASSWORD}"' in field, field
    r = client.post(
        "/api/cg/v1/accounts", json={"username": "bob", "password": "p" * (MAX_PASSWORD + 1)}
    )
    assert r.status_code == 422
    ok = client.post(
        "/api/cg/v1/accounts", json={"username": "bob", "password": "p" * MAX_PASSWORD}
    )
    assert ok.status_code == 201, ok.text


# not typed: where to go afterwards (only same-site paths), a pick from a list on the
# page, a hidden id the page carries itself
NAVIGATION = ("next", "back", "community", "forked_from")


def _fields(route) -> list[tuple[str, int | None, str | None, bool]]:
    """(name, max_length, pattern, is_text) of each form field of a route."""
    out = []
    for param in route.dependant.body_params:
        meta = param.field_info.metadata
        max_length = next((m.max_length for m in meta if hasattr(m, "max_length")), None)
        pattern = next((m.pattern for m in meta if getattr(m, "pattern", None)), None)
        is_text = param.field_info.annotation is str
        out.append((param.alias or param.name, max_length, pattern, is_text))
    return out


def test_every_form_error_path_keeps_what_was_typed(client: TestClient, app, new_ctx) -> None:
    """Walk every POST page route (as the CSRF test does), refuse one field, and
    expect a 4xx page that still holds everything else that was typed."""
    signup(client, "alice")
    with new_ctx() as ctx:
        ctx.db.exec(select(Account).where(Account.username == "alice")).one().is_admin = True
    submit(client, "/communities/new", "/communities/new", {"name": "garden"})
    post = submit(client, "/compose", "/compose", {"text": "a post"}).headers["location"]
    sample = {
        "name": "garden",
        "username": "alice",
        "token": "x",
        "post_id": post.rsplit("/", 1)[1],
        "token_id": "1",
        "proposal_id": "1",
        "module_id": "1",
        "domain": "spam.example",
        "artifact_id": "1",
        "statement_id": "1",
        "decision_id": "1",
        "action_id": "1",
        "appeal_id": "1",
        "verdict": "grant",
    }
    checked = 0
    for top, route in all_routes(app.routes):
        if "POST" not in (route.methods or set()) or top.startswith("/api"):
            continue
        if route.path.endswith("/inbox"):
            continue  # ActivityPub, not a form
        fields = _fields(route)
        if not fields:
            continue  # a button: nothing is typed
        data, typed = {}, {}
        for name, _, pattern, is_text in fields:
            data[name] = f"typed {name} here" if is_text and not pattern else "1"
            if is_text and not pattern and "password" not in name and name not in NAVIGATION:
                typed[name] = data[name]
        # refuse one field: the first with a length limit, else a choice, else a number
        name, max_length, pattern, _ = sorted(fields, key=lambda f: (f[1] is None, f[2] is None))[0]
        data[name] = "x" * (max_length + 1) if max_length else "not one of them!"
        typed.pop(name, None)
        token = csrf(client.get("/settings").text)
        r = client.post(
            route.path.format(**sample),
            data={"csrf_token": token, **data},
            follow_redirects=False,
        )
        assert 400 <= r.status_code < 500, (route.path, r.status_code, r.text[:300])
        assert "Traceback" not in r.text and "<h1" in r.text, route.path
        for value in typed.values():
            assert value in r.text, (route.path, value)
        checked += 1
    assert checked >= 25


def test_an_oversized_module_source_is_kept_on_the_module_form(client: TestClient) -> None:
    signup(client, "alice")
    source = "# " + "x" * 70_000
    r = submit(client, "/algorithms/new", "/algorithms/new", {"source": source})
    assert r.status_code == 422
    assert "Source can be at most 70000 characters." in r.text
    assert 'action="/algorithms/new"' in r.text and source in r.text


def test_nul_and_broken_utf8_in_optional_form_fields_are_refused_or_replaced(
    client: TestClient,
) -> None:
    """Forms can't carry lone surrogates (percent-encoded ones arrive as U+FFFD),
    and NUL in any text field, optional ones too, is a 422 with the form kept."""
    signup(client, "alice")
    token = csrf(client.get("/settings").text)
    for field in ("bio", "display_name"):
        body = f"csrf_token={token}&{field}=a%00b&display_name=Kept+Name"
        if field == "display_name":
            body = f"csrf_token={token}&bio=kept+bio&display_name=a%00b"
        r = client.post(
            "/settings/profile",
            content=body.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert r.status_code == 422, (field, r.status_code, r.text[:300])
        assert "must not contain NUL characters" in r.text
        assert ("Kept Name" if field != "display_name" else "kept bio") in r.text
    body = f"csrf_token={token}&display_name=x%ED%A0%80y&bio=".encode()
    r = client.post(
        "/settings/profile",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:300]
    assert "x\ufffd" in client.get("/settings").text
