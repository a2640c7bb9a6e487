"""Reports in the Mastodon client API (docs/mastodon-api.md, "Reports")."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.models import Account, Post, Report
from app.services import accounts, communities, posts, rules
from tests.conftest import PASSWORD

REPORT_FIELDS = (
    "id", "action_taken", "action_taken_at", "category", "comment", "forwarded",
    "created_at", "status_ids", "rule_ids", "target_account",
)  # fmt: skip


@pytest.fixture
def world(new_ctx) -> dict:
    """Ada reports; Bob writes in his garden; the meadow is Cat's; Eve is elsewhere."""
    with new_ctx() as ctx:
        root = accounts.register(ctx, "root", PASSWORD, is_admin=True)
        accounts.register(ctx, "ada", PASSWORD)
        bob = accounts.register(ctx, "bob", PASSWORD)
        cat = accounts.register(ctx, "cat", PASSWORD)
        garden = communities.create(ctx, bob, "garden")
        meadow = communities.create(ctx, cat, "meadow")
        kind = rules.replace(ctx, root, None, ["Be kind."])[0]
        topic = rules.replace(ctx, bob, garden, ["Stay on topic."])[0]
        spam = rules.replace(ctx, cat, meadow, ["No spam."])[0]
        seeds = posts.create(ctx, bob, "Buy my seeds", community="garden")
        more = posts.create(ctx, bob, "more seeds")
        cats = posts.create(ctx, cat, "cat's post")
        eve = Account(
            username="eve",
            username_key="eve",
            domain="remote.example",
            uri="https://remote.example/users/eve",
        )
        ctx.db.add(eve)
        ctx.db.flush()
        far = Post(
            uri="https://remote.example/notes/1",
            author_id=eve.id,
            text="far spam",
            status_id=(seeds.status_id or 0) + 1,
        )
        ctx.db.add(far)
        ctx.db.flush()
        return {
            "bob": str(bob.id),
            "cat": str(cat.id),
            "eve": str(eve.id),
            "kind": str(kind.id),
            "topic": str(topic.id),
            "spam": str(spam.id),
            "seeds": str(seeds.status_id),
            "more": str(more.status_id),
            "cats": str(cats.status_id),
            "far": str(far.status_id),
        }


@pytest.fixture
def ada(client: TestClient) -> dict:
    r = client.post(
        "/api/cg/v1/tokens", json={"username": "ada", "password": PASSWORD, "scope": "write"}
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def stored(new_ctx) -> list[Report]:
    with new_ctx() as ctx:
        return list(ctx.db.exec(select(Report)).all())


def test_report_statuses_citing_rules(client: TestClient, world, ada, new_ctx) -> None:
    body = {
        "account_id": world["bob"],
        "status_ids": [world["seeds"], world["more"]],
        "rule_ids": [world["kind"], world["topic"]],  # the garden's rule: the post is there
        "comment": "selling in every thread",
        "category": "violation",
    }
    r = client.post("/api/v1/reports", json=body, headers=ada)
    assert r.status_code == 200, r.text
    made = r.json()
    for key in REPORT_FIELDS:
        assert key in made, key
    assert made["action_taken"] is False and made["action_taken_at"] is None
    assert made["category"] == "violation" and made["forwarded"] is False
    assert made["comment"] == "selling in every thread"
    assert made["status_ids"] == [world["seeds"], world["more"]]
    assert made["rule_ids"] == [world["kind"], world["topic"]]
    assert made["target_account"]["id"] == world["bob"]
    assert made["target_account"]["acct"] == "bob" and made["created_at"].endswith("Z")
    (row,) = stored(new_ctx)
    assert str(row.id) == made["id"] and row.target_type == "post"
    assert json.loads(row.extra_post_ids) and row.comment == "selling in every thread"


def test_report_an_account_by_form(client: TestClient, world, ada, new_ctx) -> None:
    r = client.post(
        "/api/v1/reports",
        data={"account_id": world["bob"], "rule_ids[]": [world["kind"]], "forward": "false"},
        headers=ada,
    )
    assert r.status_code == 200, r.text
    made = r.json()
    assert made["status_ids"] == [] and made["rule_ids"] == [world["kind"]]
    assert made["category"] == "violation"  # rules cited: a violation, as Mastodon says
    (row,) = stored(new_ctx)
    assert row.target_type == "account" and str(row.target_id) == world["bob"]
    r = client.post("/api/v1/reports", json={"account_id": world["bob"]}, headers=ada)
    assert r.status_code == 409 and set(r.json()) == {"error"}  # still open
    assert len(stored(new_ctx)) == 1
    r = client.post("/api/v1/reports", json={"account_id": world["cat"]}, headers=ada)
    assert r.status_code == 200 and r.json()["category"] == "other"


def test_forward_only_tells_another_instance(client: TestClient, world, ada, new_ctx) -> None:
    far = {"account_id": world["eve"], "status_ids": [world["far"]], "forward": True}
    r = client.post("/api/v1/reports", json=far, headers=ada)
    assert r.status_code == 200, r.text
    assert (
        r.json()["forwarded"] is True and r.json()["target_account"]["acct"] == "eve@remote.example"
    )
    here = {"account_id": world["bob"], "forward": True}  # Mastodon forwards only remote ones
    r = client.post("/api/v1/reports", json=here, headers=ada)
    assert r.status_code == 200 and r.json()["forwarded"] is False
    assert sorted(row.forward for row in stored(new_ctx)) == [False, True]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"account_id": "abc"},
        {"account_id": "99999"},
        {"account_id": "bob"},
        {"account_id": "{bob}", "status_ids": ["{cats}"]},  # not Bob's
        {"account_id": "{bob}", "status_ids": ["{seeds}", "{cats}"]},  # one not Bob's
        {"account_id": "{bob}", "status_ids": ["123456789"]},
        {"account_id": "{bob}", "status_ids": ["x"]},
        {"account_id": "{bob}", "rule_ids": ["{spam}"]},  # the meadow's
        {"account_id": "{bob}", "rule_ids": ["{topic}"]},  # the garden's, and no garden post
        {"account_id": "{bob}", "rule_ids": ["one"]},
        {"account_id": "{bob}", "comment": "x" * 1001},
        {"account_id": "{bob}", "comment": "\x00"},
        {"account_id": "{bob}", "category": "rude"},
        {"account_id": "{bob}", "status_ids": ["1"] * 30},
        {"account_id": "{ada}"},  # oneself
    ],
)
def test_bad_input_is_422_and_stores_nothing(client: TestClient, world, ada, new_ctx, body) -> None:
    me = client.get("/api/v1/accounts/verify_credentials", headers=ada).json()["id"]
    names = {**world, "ada": me}
    sent = {k: _fill(v, names) for k, v in body.items()}
    r = client.post("/api/v1/reports", json=sent, headers=ada)
    assert r.status_code == 422, (sent, r.text)
    assert set(r.json()) == {"error"} and r.json()["error"]
    assert stored(new_ctx) == []


def _fill(value, names: dict):
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return names[value[1:-1]]
    return value


def test_a_token_that_cannot_write_files_nothing(client: TestClient, world, new_ctx) -> None:
    r = client.post(
        "/api/cg/v1/tokens", json={"username": "ada", "password": PASSWORD, "scope": "read"}
    )
    reader = {"Authorization": f"Bearer {r.json()['token']}"}
    r = client.post("/api/v1/reports", json={"account_id": world["bob"]}, headers=reader)
    assert r.status_code == 403 and set(r.json()) == {"error"}
    assert client.post("/api/v1/reports", json={"account_id": world["bob"]}).status_code == 401
    assert stored(new_ctx) == []
