"""Appeals (issue 13): the member acted on appeals once per action, with a text of
at most 2,000 characters; the appeal waits in the scope's queue; a moderator grants
it (the effect reversed: unbanned, unsuspended; a new log entry reversing the
first) or denies it, and the member is told either way."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from app.models import Account, Appeal, Membership, ModerationAction, Notification
from tests.conftest import PASSWORD
from tests.moderation_world import World, act, make_world
from tests.test_pages import submit


@pytest.fixture
def world(client: TestClient, new_ctx) -> World:
    return make_world(client, new_ctx)


def _ban(client: TestClient, world: World) -> int:
    target = {"type": "account", "id": world.ids["ada"]}
    r = act(client, world, "mod", action="ban", target=target, scope="community:garden")
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _appeal(client: TestClient, world: World, who: str, action_id: int, text: str = "Sorry."):
    url = f"/api/cg/v1/moderation/actions/{action_id}/appeal"
    return client.post(url, json={"text": text}, headers=world.tokens[who])


def _decide(client: TestClient, world: World, who: str, appeal_id: int, verdict: str):
    url = f"/api/cg/v1/moderation/appeals/{appeal_id}/{verdict}"
    return client.post(url, json={"reason": "Fair enough."}, headers=world.tokens[who])


def _verbs(new_ctx, account_id: int) -> list[tuple[str, str]]:
    with new_ctx() as ctx:
        rows = ctx.db.exec(
            select(Notification)
            .where(col(Notification.account_id) == account_id)
            .order_by(col(Notification.id))
        )
        return [(n.kind, n.verb) for n in rows]


def test_a_granted_appeal_lifts_the_ban_and_is_logged_as_a_reversal(
    client: TestClient, new_ctx, world: World
) -> None:
    banned = _ban(client, world)
    r = _appeal(client, world, "ada", banned, "I only sell seeds.")
    assert r.status_code == 201, r.text
    appeal_id = r.json()["id"]
    queue = client.get(
        "/api/cg/v1/moderation/queue",
        params={"scope": "community:garden"},
        headers=world.tokens["mod"],
    ).json()
    assert [a["text"] for a in queue["appeals"]] == ["I only sell seeds."]
    assert _decide(client, world, "bob", appeal_id, "grant").status_code == 403
    r = _decide(client, world, "mod", appeal_id, "grant")
    assert r.status_code == 200, r.text
    assert r.json()["action"] == "appeal_granted" and r.json()["reverses_id"] == banned
    r = client.post("/api/cg/v1/communities/garden/join", headers=world.tokens["ada"])
    assert r.status_code in (200, 201), r.text
    with new_ctx() as ctx:
        assert ctx.db.get(Appeal, appeal_id).state == "granted"
        assert len(list(ctx.db.exec(select(ModerationAction)))) == 2
    assert _verbs(new_ctx, world.ids["ada"]) == [
        ("moderation", "ban"),
        ("appeal_decided", "appeal_granted"),
    ]
    assert _decide(client, world, "mod", appeal_id, "deny").status_code == 409  # decided


def test_a_denied_appeal_keeps_the_ban(client: TestClient, new_ctx, world: World) -> None:
    banned = _ban(client, world)
    appeal_id = _appeal(client, world, "ada", banned).json()["id"]
    r = _decide(client, world, "mod", appeal_id, "deny")
    assert r.status_code == 200 and r.json()["action"] == "appeal_denied", r.text
    r = client.post("/api/cg/v1/communities/garden/join", headers=world.tokens["ada"])
    assert r.status_code == 403
    assert _verbs(new_ctx, world.ids["ada"])[-1] == ("appeal_decided", "appeal_denied")


def test_a_granted_appeal_lifts_a_suspension(client: TestClient, new_ctx, world: World) -> None:
    target = {"type": "account", "id": world.ids["ada"]}
    r = act(
        client,
        world,
        "root",
        action="warn",
        target=target,
        rule=world.instance_rule,
        scope="instance",
    )
    warned = r.json()["id"]
    appeal_id = _appeal(client, world, "ada", warned).json()["id"]
    assert _decide(client, world, "mod", appeal_id, "grant").status_code == 403  # instance's
    r = act(client, world, "root", action="suspend", target=target, rule=world.instance_rule)
    suspended = r.json()["id"]
    with new_ctx() as ctx:  # (the member appeals from a session kept, or by mail)
        ctx.db.add(Appeal(action_id=suspended, account_id=world.ids["ada"], text="Please."))
    with new_ctx() as ctx:
        appeal_id = ctx.db.exec(select(Appeal.id).where(Appeal.action_id == suspended)).one()
    assert _decide(client, world, "root", appeal_id, "grant").status_code == 200
    with new_ctx() as ctx:
        assert ctx.db.get(Account, world.ids["ada"]).is_active


@pytest.mark.parametrize(
    "who, text, status, code",
    [
        ("bob", "Me too.", 403, "not_yours"),
        ("ada", "", 422, "appeal_text_required"),
        ("ada", "   ", 422, "appeal_text_required"),
        ("ada", "x" * 2001, 422, None),
    ],
)
def test_bad_appeals_are_refused_and_store_nothing(
    client: TestClient, new_ctx, world: World, who: str, text: str, status: int, code
) -> None:
    banned = _ban(client, world)
    r = _appeal(client, world, who, banned, text)
    assert r.status_code == status, r.text
    if code:
        assert r.json()["error"] == code
    with new_ctx() as ctx:
        assert list(ctx.db.exec(select(Appeal))) == []


def test_one_appeal_per_action_and_not_of_a_dismissal(
    client: TestClient, new_ctx, world: World
) -> None:
    banned = _ban(client, world)
    assert _appeal(client, world, "ada", banned).status_code == 201
    r = _appeal(client, world, "ada", banned, "Again.")
    assert r.status_code == 409 and r.json()["error"] == "already_appealed"
    assert _appeal(client, world, "ada", 999_999).status_code == 404
    dismissed = act(client, world, "mod", action="dismiss").json()["id"]
    r = _appeal(client, world, "ada", dismissed)
    assert r.status_code in (403, 422)


def test_the_member_appeals_from_the_actions_page(
    client: TestClient, new_ctx, world: World
) -> None:
    banned = _ban(client, world)
    submit(client, "/login", "/login", {"username": "ada", "password": PASSWORD})
    notes = client.get("/notifications").text
    assert f'href="/moderation/actions/{banned}"' in notes
    page = f"/moderation/actions/{banned}"
    text = client.get(page).text
    assert "Only gardens." in text and "Spam is not gardening." in text
    r = submit(client, page, f"{page}/appeal", {"text": "x" * 2001})
    assert r.status_code == 422 and "x" * 2001 in r.text  # kept, not lost
    r = submit(client, page, f"{page}/appeal", {"text": "I only sell seeds."})
    assert r.status_code == 303, r.text
    client.cookies.clear()
    submit(client, "/login", "/login", {"username": "mod", "password": PASSWORD})
    assert "I only sell seeds." in client.get("/c/garden/moderation").text
    with new_ctx() as ctx:
        appeal_id = ctx.db.exec(select(Appeal.id)).one()
    action = f"/moderation/appeals/{appeal_id}/grant"
    r = submit(client, "/c/garden/moderation", action, {"reason": ""})
    assert r.status_code == 422
    r = submit(client, "/c/garden/moderation", action, {"reason": "Fair."})
    assert r.status_code == 303, r.text
    with new_ctx() as ctx:
        assert ctx.db.get(Appeal, appeal_id).state == "granted"
        member = select(Membership).where(col(Membership.account_id) == world.ids["ada"])
        assert ctx.db.exec(member).first() is None  # unbanned, not re-joined for them
