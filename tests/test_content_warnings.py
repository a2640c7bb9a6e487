"""Content warnings written here (issue 12): a member's post carries a warning
(``summary`` + ``sensitive: true``, as Mastodon sends), its page hides the body
behind a ``<details>`` disclosure, and a member may always expand warnings.
(Warnings from elsewhere: tests/test_federation_content.py; real servers:
tests/test_content_warnings_e2e.py.)"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD

AS2 = {"Accept": "application/activity+json"}


def _log_in(client: TestClient, username: str) -> None:
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post(
        "/login",
        data={"csrf_token": token, "username": username, "password": PASSWORD},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _behind(warning: str, body: str, *, open_: bool = False) -> re.Pattern:
    """A ``<details>`` disclosure whose summary is ``warning`` and which holds ``body``."""
    attrs = r'class="content-warning" open' if open_ else r'class="content-warning"'
    return re.compile(
        rf"<details {attrs}>\s*<summary>{re.escape(warning)}</summary>"
        rf"(?:(?!</details>).)*{re.escape(body)}(?:(?!</details>).)*</details>",
        re.S,
    )


def test_a_post_with_a_warning_carries_summary_and_sensitive(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    r = alice.post(
        "/api/cg/v1/posts",
        {"text": "The butler did it", "summary": " Spoilers ", "sensitive": True},
    )
    assert r.status_code == 201, r.text
    post = r.json()
    assert post["content_warning"] == "Spoilers" and "butler" in post["html"]
    doc = client.get(f"/posts/{post['id']}", headers=AS2).json()
    assert doc["summary"] == "Spoilers" and doc["sensitive"] is True
    assert "butler" in doc["content"]
    # only marked sensitive: a general warning, sent as Mastodon shows one
    r = alice.post("/api/cg/v1/posts", {"text": "gore", "sensitive": True})
    assert r.json()["content_warning"] == "Sensitive content"
    doc = client.get(f"/posts/{r.json()['id']}", headers=AS2).json()
    assert doc["summary"] == "Sensitive content" and doc["sensitive"] is True
    # a summary alone warns too (Mastodon's spoiler text is a warning)
    r = alice.post("/api/cg/v1/posts", {"text": "x", "summary": "Food"})
    assert r.json()["content_warning"] == "Food"


def test_a_warning_survives_an_edit_and_its_update_carries_it(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    post = alice.post("/api/cg/v1/posts", {"text": "one", "summary": "Politics"}).json()
    r = alice.patch(f"/api/cg/v1/posts/{post['id']}", {"text": "two"})
    assert r.status_code == 200 and r.json()["content_warning"] == "Politics"
    doc = client.get(f"/posts/{post['id']}", headers=AS2).json()
    assert doc["summary"] == "Politics" and doc["sensitive"] is True


def test_bad_warnings_are_refused_in_plain_words(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    r = alice.post("/api/cg/v1/posts", {"text": "x", "summary": "w" * 501})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "warning_too_long" and "500" in r.json()["detail"]
    r = alice.post("/api/cg/v1/posts", {"text": "x", "summary": "w" * 5000})
    assert r.status_code == 422 and r.json()["error"] == "validation_error"
    r = alice.post("/api/cg/v1/posts", {"text": "x", "sensitive": "very"})
    assert r.status_code == 422
    r = alice.post("/api/cg/v1/posts", {"text": "x", "summary": "   "})
    assert r.status_code == 201 and r.json()["content_warning"] is None


def test_compose_page_writes_a_warning_and_pages_hide_the_body_behind_it(
    client: TestClient, api_user
) -> None:
    api_user("alice")
    _log_in(client, "alice")
    form = client.get("/compose").text
    assert 'name="summary"' in form and 'name="sensitive"' in form
    r = client.post(
        "/compose",
        data={"csrf_token": _csrf(form), "text": "The butler did it", "summary": "Spoilers"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    thread = client.get(r.headers["location"]).text
    assert _behind("Spoilers", "butler").search(thread), thread
    assert thread.count("butler") == 1
    r = client.post(
        "/compose",
        data={"csrf_token": _csrf(form), "text": "gore", "sensitive": "yes"},
        follow_redirects=False,
    )
    assert _behind("Sensitive content", "gore").search(client.get(r.headers["location"]).text)


def test_a_member_may_always_expand_warnings(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    alice.post("/api/cg/v1/posts", {"text": "The butler did it", "summary": "Spoilers"})
    _log_in(client, "alice")
    settings = client.get("/settings").text
    assert 'name="expand_warnings"' in settings
    assert _behind("Spoilers", "butler").search(client.get("/@alice").text)
    r = client.post(
        "/settings/preferences",
        data={"csrf_token": _csrf(settings), "expand_warnings": "yes"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert "checked" in client.get("/settings").text.split('name="expand_warnings"')[1][:40]
    page = client.get("/@alice").text
    assert _behind("Spoilers", "butler", open_=True).search(page), page
    assert alice.get("/api/cg/v1/me").json()["expand_warnings"] is True
    # unticked: warnings close again; the API sets the same preference
    client.post("/settings/preferences", data={"csrf_token": _csrf(settings)})
    assert _behind("Spoilers", "butler").search(client.get("/@alice").text)
    r = alice.patch("/api/cg/v1/me", {"expand_warnings": True})
    assert r.status_code == 200 and r.json()["expand_warnings"] is True
    assert _behind("Spoilers", "butler", open_=True).search(client.get("/@alice").text)
    # others' pages, and visitors, keep warnings closed
    client.cookies.clear()
    assert _behind("Spoilers", "butler").search(client.get("/@alice").text)


def test_an_artifact_may_carry_a_warning_too(client: TestClient, api_user) -> None:
    ada = api_user("ada")
    assert ada.post("/api/cg/v1/communities", {"name": "garden"}).status_code == 201
    art = {"community": "garden", "kind": "problem", "title": "Rats", "body": "They bite"}
    r = ada.post("/api/cg/v1/artifacts", {**art, "summary": "Pests"})
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["content_warning"] == "Pests"
    doc = client.get(f"/artifacts/{made['id']}", headers=AS2).json()
    assert doc["summary"] == "Pests" and doc["sensitive"] is True and "bite" in doc["content"]
    _log_in(client, "ada")
    assert _behind("Pests", "They bite").search(client.get(f"/artifacts/{made['id']}").text)
    # without one, the Page's summary stays an excerpt and nothing is folded
    plain = ada.post("/api/cg/v1/artifacts", {**art, "title": "Paths"}).json()
    assert plain["content_warning"] is None
    doc = client.get(f"/artifacts/{plain['id']}", headers=AS2).json()
    assert "sensitive" not in doc and doc["summary"] == "They bite"
    r = ada.post("/api/cg/v1/artifacts", {**art, "summary": "w" * 501})
    assert r.status_code == 422 and r.json()["error"] == "warning_too_long"


def test_the_new_artifact_form_takes_a_warning(client: TestClient, api_user) -> None:
    ada = api_user("ada")
    assert ada.post("/api/cg/v1/communities", {"name": "garden"}).status_code == 201
    _log_in(client, "ada")
    page = client.get("/c/garden/artifacts").text
    assert 'name="summary"' in page and 'name="sensitive"' in page
    r = client.post(
        "/c/garden/artifacts/new",
        data={"csrf_token": _csrf(page), "kind": "problem", "title": "Rats", "body": "They bite",
              "sensitive": "yes"},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303, r.text
    shown = client.get(r.headers["location"]).text
    assert _behind("Sensitive content", "They bite").search(shown)
