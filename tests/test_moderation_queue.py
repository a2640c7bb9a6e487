"""The moderation queue (issue 13): open reports grouped by target, with each
report's rules, comment and origin, the log's earlier actions on the target and
its member, and open appeals; the instance's queue holds every open report, a
community's only its own; nobody else sees it, by page or API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD
from tests.moderation_world import World, act, make_world, report
from tests.test_pages import submit


@pytest.fixture
def world(client: TestClient, new_ctx) -> World:
    return make_world(client, new_ctx)


def _queue(client: TestClient, world: World, who: str, scope: str):
    return client.get(
        "/api/cg/v1/moderation/queue", params={"scope": scope}, headers=world.tokens[who]
    )


def test_reports_group_by_target_with_their_rules_comments_and_origins(
    client: TestClient, new_ctx, world: World
) -> None:
    report(new_ctx, world, comment="spam")
    report(new_ctx, world, comment="", origin="peer.example")  # a Flag from elsewhere
    target = {"type": "account", "id": world.ids["ada"]}
    act(client, world, "mod", action="warn", target=target, scope="community:garden")
    r = _queue(client, world, "mod", "community:garden")
    assert r.status_code == 200, r.text
    (entry,) = r.json()["items"]  # the account report is the instance's alone
    assert entry["target_type"] == "post" and entry["count"] == 2
    assert entry["excerpt"].startswith("Pills Buy my pills")
    assert entry["account"].startswith("ada@")
    assert [(x["comment"], x["origin"], x["rules"]) for x in entry["reports"]] == [
        ("spam", "", ["Only gardens."]),
        ("", "peer.example", ["Only gardens."]),
    ]
    assert [p["action"] for p in entry["prior"]] == ["warn"]  # on ada, from the log
    report(new_ctx, world, target_type="account", target_id=world.ids["ada"], community=False)
    r = _queue(client, world, "root", "instance")
    assert r.status_code == 200, r.text
    assert sorted((e["target_type"], e["count"]) for e in r.json()["items"]) == [
        ("account", 1),
        ("post", 2),
    ]
    assert len(_queue(client, world, "mod", "community:garden").json()["items"]) == 1


def test_settled_reports_leave_the_queue(client: TestClient, new_ctx, world: World) -> None:
    filed = report(new_ctx, world)
    assert act(client, world, "mod", action="dismiss", report=filed).status_code == 201
    assert _queue(client, world, "mod", "community:garden").json()["items"] == []


@pytest.mark.parametrize(
    "who, scope, status",
    [
        ("bob", "community:garden", 403),
        ("ada", "instance", 403),
        ("mod", "instance", 403),
        ("mod", "community:nowhere", 404),
        ("mod", "garden", 422),
    ],
)
def test_nobody_else_sees_the_queue(
    client: TestClient, new_ctx, world: World, who: str, scope: str, status: int
) -> None:
    report(new_ctx, world, comment="secret words")
    r = _queue(client, world, who, scope)
    assert r.status_code == status, r.text
    assert "secret words" not in r.text
    assert client.get("/api/cg/v1/moderation/queue", params={"scope": scope}).status_code in (
        401,
        422,
    )


def test_the_queue_pages_show_reports_to_moderators_only(
    client: TestClient, new_ctx, world: World
) -> None:
    report(new_ctx, world, comment="secret words")
    submit(client, "/login", "/login", {"username": "bob", "password": PASSWORD})
    for page in ("/c/garden/moderation", "/admin/moderation"):
        r = client.get(page)
        assert r.status_code == 403 and "secret words" not in r.text
    assert 'href="/c/garden/moderation"' not in client.get("/c/garden").text
    client.cookies.clear()
    submit(client, "/login", "/login", {"username": "mod", "password": PASSWORD})
    assert 'href="/c/garden/moderation"' in client.get("/c/garden").text
    page = client.get("/c/garden/moderation").text
    assert "secret words" in page and "Only gardens." in page and "Buy my pills" in page
    assert client.get("/admin/moderation").status_code == 403
    client.cookies.clear()
    submit(client, "/login", "/login", {"username": "root", "password": PASSWORD})
    assert "secret words" in client.get("/admin/moderation").text
