"""Instance rules and community rules: short numbered texts, edited by instance admins
(the instance's) and by a community's moderators (its own), read by anyone, shown at
sign-up and beside the join button. Bad edits are refused and change nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.services import accounts, communities, rules
from tests.conftest import PASSWORD
from tests.test_pages import submit


def _token(client: TestClient, name: str) -> dict:
    r = client.post(
        "/api/cg/v1/tokens", json={"username": name, "password": PASSWORD, "scope": "write"}
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture
def people(client: TestClient, new_ctx) -> dict:
    """root (instance admin), mod (moderator of the garden), ada (a member)."""
    with new_ctx() as ctx:
        accounts.register(ctx, "root", PASSWORD, is_admin=True)
        mod = accounts.register(ctx, "mod", PASSWORD)
        ada = accounts.register(ctx, "ada", PASSWORD)
        garden = communities.create(ctx, mod, "garden")
        communities.join(ctx, ada, garden)
    return {name: _token(client, name) for name in ("root", "mod", "ada")}


def _texts(r) -> list[str]:
    assert r.status_code == 200, r.text
    return [(rule["position"], rule["text"]) for rule in r.json()["items"]]


def test_admins_set_the_instance_rules_and_anyone_reads_them(client: TestClient, people) -> None:
    assert _texts(client.get("/api/cg/v1/instance/rules")) == []
    body = {"rules": ["Be kind.", "  No spam.  "]}
    r = client.put("/api/cg/v1/instance/rules", json=body, headers=people["ada"])
    assert r.status_code == 403 and r.json()["error"] == "not_admin"
    r = client.put("/api/cg/v1/instance/rules", json=body, headers=people["root"])
    assert _texts(r) == [(1, "Be kind."), (2, "No spam.")]
    first_id = r.json()["items"][0]["id"]
    r = client.put(
        "/api/cg/v1/instance/rules", json={"rules": ["Be kind!"]}, headers=people["root"]
    )
    assert _texts(r) == [(1, "Be kind!")]
    assert r.json()["items"][0]["id"] == first_id  # a rule keeps its id (reports cite it)
    assert _texts(client.get("/api/cg/v1/instance/rules")) == [(1, "Be kind!")]


def test_moderators_set_their_communitys_rules(client: TestClient, people) -> None:
    url = "/api/cg/v1/communities/garden/rules"
    body = {"rules": ["Stay on topic: gardens."]}
    r = client.put(url, json=body, headers=people["ada"])
    assert r.status_code == 403 and r.json()["error"] == "insufficient_role"
    assert _texts(client.put(url, json=body, headers=people["mod"])) == [(1, body["rules"][0])]
    assert _texts(client.put(url, json={"rules": []}, headers=people["root"])) == []
    assert client.get("/api/cg/v1/communities/nowhere/rules").status_code == 404
    assert _texts(client.get("/api/cg/v1/instance/rules")) == []  # the two lists are apart


@pytest.mark.parametrize(
    "rules_sent, code",
    [
        ([""], "empty_rule"),
        (["x" * (rules.MAX_RULE + 1)], None),
        ([f"rule {i}" for i in range(rules.MAX_RULES + 1)], None),
        ("not a list", None),
    ],
)
def test_bad_rules_are_refused_and_nothing_changes(
    client: TestClient, people, rules_sent, code
) -> None:
    client.put("/api/cg/v1/instance/rules", json={"rules": ["Be kind."]}, headers=people["root"])
    r = client.put("/api/cg/v1/instance/rules", json={"rules": rules_sent}, headers=people["root"])
    assert r.status_code == 422, r.text
    if code:
        assert r.json()["error"] == code
    assert _texts(client.get("/api/cg/v1/instance/rules")) == [(1, "Be kind.")]


def test_the_pages_show_and_edit_the_rules(client: TestClient, people, new_ctx) -> None:
    submit(client, "/login", "/login", {"username": "root", "password": PASSWORD})
    r = submit(client, "/rules", "/rules", {"rules": "Be kind.\n\nNo spam.\n"})
    assert r.status_code == 303, r.text
    page = client.get("/rules").text
    assert "Be kind." in page and "No spam." in page and "<ol" in page
    client.post("/logout", data={})
    client.cookies.clear()
    signup = client.get("/signup").text
    assert "Be kind." in signup and "No spam." in signup  # shown at sign-up
    submit(client, "/login", "/login", {"username": "mod", "password": PASSWORD})
    r = submit(client, "/c/garden/rules", "/c/garden/rules", {"rules": "Only gardens."})
    assert r.status_code == 303, r.text
    client.cookies.clear()
    submit(client, "/login", "/login", {"username": "ada", "password": PASSWORD})
    assert "Only gardens." in client.get("/c/garden").text  # beside the join button
    r = submit(client, "/c/garden/rules", "/c/garden/rules", {"rules": "Anything goes."})
    assert r.status_code == 403
    assert "Anything goes." not in client.get("/c/garden/rules").text
    assert 'action="/c/garden/rules"' not in client.get("/c/garden/rules").text  # no form
