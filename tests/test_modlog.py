"""The public moderation log (issue 13): anyone reads a community's and the
instance's log, newest first with a cursor; entries show the acting role (the
name only where the community chose so), the action, a target label, the rule
and reason, appeals and reversals; never the removed content, whose excerpt only
the scope's moderators see."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD
from tests.moderation_world import World, act, make_world
from tests.test_pages import submit


@pytest.fixture
def world(client: TestClient, new_ctx) -> World:
    return make_world(client, new_ctx)


def test_the_log_is_public_and_never_shows_the_content(
    client: TestClient, new_ctx, world: World
) -> None:
    assert act(client, world, "mod", action="remove").status_code == 201
    r = client.get("/api/cg/v1/communities/garden/modlog")
    assert r.status_code == 200, r.text
    (entry,) = r.json()["items"]
    assert entry["actor"] == "a moderator" and entry["action"] == "remove"
    assert entry["target"].startswith("a post by @ada@")
    assert (entry["rule_number"], entry["rule_text"]) == (1, "Only gardens.")
    assert entry["reason"] == "Spam is not gardening." and entry["excerpt"] is None
    assert "pills" not in r.text.lower()
    page = client.get("/c/garden/modlog")
    assert page.status_code == 200 and "Only gardens." in page.text
    assert "pills" not in page.text.lower()
    assert client.get("/api/cg/v1/instance/modlog").json()["items"] == []  # scopes apart


def test_moderators_see_the_excerpt(client: TestClient, new_ctx, world: World) -> None:
    act(client, world, "mod", action="remove")
    r = client.get("/api/cg/v1/communities/garden/modlog", headers=world.tokens["mod"])
    assert r.json()["items"][0]["excerpt"].startswith("Pills Buy my pills")
    r = client.get("/api/cg/v1/communities/garden/modlog", headers=world.tokens["bob"])
    assert r.json()["items"][0]["excerpt"] is None
    submit(client, "/login", "/login", {"username": "mod", "password": PASSWORD})
    assert "Buy my pills" in client.get("/c/garden/modlog").text


def test_names_show_only_when_the_community_chooses(
    client: TestClient, new_ctx, world: World
) -> None:
    act(client, world, "mod", action="warn")
    url = "/api/cg/v1/communities/garden/modlog-settings"
    assert client.put(url, json={"names": True}, headers=world.tokens["bob"]).status_code == 403
    r = client.put(url, json={"names": True}, headers=world.tokens["mod"])
    assert r.status_code == 200 and r.json() == {"names": True}
    (entry,) = client.get("/api/cg/v1/communities/garden/modlog").json()["items"]
    assert entry["actor"] == "@mod"
    assert (
        client.put(url, json={"names": "yes please"}, headers=world.tokens["mod"]).status_code
        == 422
    )


def test_appeals_and_reversals_show_in_the_log(client: TestClient, new_ctx, world: World) -> None:
    target = {"type": "account", "id": world.ids["ada"]}
    banned = act(client, world, "mod", action="ban", target=target, scope="community:garden")
    banned_id = banned.json()["id"]
    url = f"/api/cg/v1/moderation/actions/{banned_id}/appeal"
    appeal = client.post(url, json={"text": "Sorry."}, headers=world.tokens["ada"]).json()
    client.post(
        f"/api/cg/v1/moderation/appeals/{appeal['id']}/grant",
        json={"reason": "Fair."},
        headers=world.tokens["mod"],
    )
    items = client.get("/api/cg/v1/communities/garden/modlog").json()["items"]
    assert [i["action"] for i in items] == ["appeal_granted", "ban"]
    granted, ban = items
    assert granted["reverses"] == banned_id and ban["reversed_by"] == granted["id"]
    assert ban["appeal"] == "granted" and ban["target"].startswith("@ada@")
    assert "Sorry." not in client.get("/api/cg/v1/communities/garden/modlog").text


def test_the_log_pages_through_with_a_cursor(client: TestClient, new_ctx, world: World) -> None:
    target = {"type": "account", "id": world.ids["ada"]}
    for n in range(5):
        act(
            client,
            world,
            "root",
            action="warn",
            target=target,
            scope="instance",
            rule=world.instance_rule,
            reason=f"warning {n}",
        )
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/cg/v1/instance/modlog", params=params).json()
        seen += [i["reason"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"warning {n}" for n in reversed(range(5))]
    assert entry_actor(client) == "an admin"
    r = client.get("/api/cg/v1/instance/modlog", params={"cursor": "garbage"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_cursor"
    assert client.get("/api/cg/v1/communities/nowhere/modlog").status_code == 404
    r = client.get("/modlog")
    assert r.status_code == 200 and "warning 4" in r.text
    assert 'href="/modlog"' in client.get("/rules").text


def entry_actor(client: TestClient) -> str:
    return client.get("/api/cg/v1/instance/modlog").json()["items"][0]["actor"]
