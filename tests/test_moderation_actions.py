"""Moderation actions (issue 13): each writes one log row with its effect, settles
the reports on its target and tells the member; who may act is checked, forged and
bad actions store nothing; bans keep a member out (and their posts out of the
community's feed) until they lapse; limited domains leave public feeds."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from app.models import (
    Account,
    Community,
    CommunityBan,
    Follow,
    Job,
    Membership,
    ModerationAction,
    Notification,
    PeerDomain,
    Post,
    Report,
    utcnow,
)
from app.services import artifacts, moderation, posts
from federation import remote
from tests.conftest import PASSWORD
from tests.moderation_world import World, act, make_world, report
from tests.test_federation_handlers import actor_doc, apply, create
from tests.test_pages import submit


@pytest.fixture
def world(client: TestClient, new_ctx) -> World:
    return make_world(client, new_ctx)


def _rows(new_ctx, model, *where):
    with new_ctx() as ctx:
        return list(ctx.db.exec(select(model).where(*where)))


def _notes(new_ctx, account_id: int) -> list[tuple[str, str, int | None]]:
    return [
        (n.kind, n.verb, n.ref_id)
        for n in _rows(new_ctx, Notification, col(Notification.account_id) == account_id)
    ]


def _feed_ids(client: TestClient, headers: dict | None = None) -> set[int]:
    r = client.get("/api/cg/v1/communities/garden/feed", headers=headers or {})
    assert r.status_code == 200, r.text
    return {item["post"]["id"] for item in r.json()["items"]}


def test_removing_a_post_tombstones_it_logs_once_settles_reports_and_tells_the_author(
    client: TestClient, new_ctx, world: World
) -> None:
    first, second = report(new_ctx, world), report(new_ctx, world, comment="again")
    assert world.post in _feed_ids(client)
    r = act(client, world, "mod", action="remove", report=first)
    assert r.status_code == 201, r.text
    done = r.json()
    assert done["action"] == "remove" and done["scope"] == "community:garden"
    assert done["target_label"].startswith("a post by @ada@")
    with new_ctx() as ctx:
        assert ctx.db.get(Post, world.post).is_deleted
        logged = list(ctx.db.exec(select(ModerationAction)))
        assert len(logged) == 1 and logged[0].excerpt.startswith("Pills Buy my pills")
        for report_id in (first, second):
            settled = ctx.db.get(Report, report_id)
            assert settled.state == "actioned" and settled.resolved_at is not None
    assert _notes(new_ctx, world.ids["ada"]) == [("moderation", "remove", done["id"])]
    assert world.post not in _feed_ids(client)


def test_a_forged_action_by_a_non_moderator_is_refused_and_stores_nothing(
    client: TestClient, new_ctx, world: World
) -> None:
    filed = report(new_ctx, world)
    r = act(client, world, "bob", action="remove", report=filed)
    assert r.status_code == 403, r.text
    r = act(client, world, "bob", action="remove", scope="instance", rule=world.instance_rule)
    assert r.status_code == 403, r.text
    # a community moderator takes no instance action
    r = act(
        client,
        world,
        "mod",
        action="suspend",
        target={"type": "account", "id": world.ids["ada"]},
        rule=world.instance_rule,
    )
    assert r.status_code == 403 and r.json()["error"] == "not_admin"
    r = client.post("/api/cg/v1/moderation/actions", json={"action": "remove"})
    assert r.status_code in (401, 422)
    with new_ctx() as ctx:
        assert not ctx.db.get(Post, world.post).is_deleted
        assert ctx.db.get(Report, filed).state == "open"
        assert list(ctx.db.exec(select(ModerationAction))) == []
    assert _notes(new_ctx, world.ids["ada"]) == []


@pytest.mark.parametrize(
    "change, status, code",
    [
        ({"reason": ""}, 422, "reason_required"),
        ({"reason": "   "}, 422, "reason_required"),
        ({"reason": "x" * (moderation.MAX_REASON + 1)}, 422, None),
        ({"rule": 999_999}, 422, "invalid_rule"),
        ({"rule": "one"}, 422, None),
        ({"duration": 5}, 422, "invalid_duration"),  # a removal lasts no time
        ({"action": "ban", "duration": -1, "scope": "community:garden"}, 422, None),
        ({"action": "ban", "duration": 10**9, "scope": "community:garden"}, 422, None),
        ({"action": "explode"}, 422, None),
        ({"target": {"type": "post", "id": 999_999}}, 404, "target_not_found"),
        ({"target": {"type": "planet", "id": 1}}, 422, None),
        ({"target": {"type": "post", "id": "x"}}, 422, "invalid_target"),
        ({"report": 999_999}, 404, "report_not_found"),
        ({"scope": "community:nowhere"}, 404, None),
        ({"action": "ban"}, 422, "invalid_scope"),
    ],
)
def test_bad_actions_are_refused_clearly_and_store_nothing(
    client: TestClient, new_ctx, world: World, change: dict, status: int, code: str | None
) -> None:
    body = {"action": "remove", **change}
    r = act(client, world, "mod", **body)
    assert r.status_code == status, r.text
    if code:
        assert r.json()["error"] == code
    with new_ctx() as ctx:
        assert not ctx.db.get(Post, world.post).is_deleted
        assert list(ctx.db.exec(select(ModerationAction))) == []


def test_a_rule_of_another_scope_is_refused(client: TestClient, new_ctx, world: World) -> None:
    # the instance's rules hold in a community; a community's rules not at the instance
    r = act(
        client,
        world,
        "root",
        action="warn",
        scope="instance",
        target={"type": "account", "id": world.ids["ada"]},
        rule=world.garden_rule,
    )
    assert r.status_code == 422 and r.json()["error"] == "invalid_rule"
    r = act(client, world, "mod", action="warn", rule=world.instance_rule)
    assert r.status_code == 201, r.text


def test_warn_tells_the_member_and_dismiss_only_settles_the_report(
    client: TestClient, new_ctx, world: World
) -> None:
    filed = report(new_ctx, world)
    r = act(client, world, "mod", action="dismiss", report=filed, reason="Not spam.")
    assert r.status_code == 201, r.text
    with new_ctx() as ctx:
        assert ctx.db.get(Report, filed).state == "dismissed"
        assert not ctx.db.get(Post, world.post).is_deleted
    assert _notes(new_ctx, world.ids["ada"]) == []
    target = {"type": "account", "id": world.ids["ada"]}
    r = act(client, world, "mod", action="warn", target=target, scope="community:garden")
    assert r.status_code == 201, r.text
    assert _notes(new_ctx, world.ids["ada"]) == [("moderation", "warn", r.json()["id"])]
    page = client.get("/api/cg/v1/notifications", headers=world.tokens["ada"]).json()
    assert page["items"][0]["summary"] == "Moderators warned you"


def test_a_ban_ends_membership_keeps_the_member_out_and_their_posts_off_the_feed_until_it_lapses(
    client: TestClient, new_ctx, world: World
) -> None:
    ada = world.tokens["ada"]
    target = {"type": "account", "id": world.ids["ada"]}
    r = act(client, world, "mod", action="ban", target=target, scope="community:garden", duration=2)
    assert r.status_code == 201, r.text
    assert r.json()["expires_at"] is not None
    assert _rows(new_ctx, Membership, col(Membership.account_id) == world.ids["ada"]) == []
    assert world.post not in _feed_ids(client)
    r = client.post("/api/cg/v1/communities/garden/join", headers=ada)
    assert r.status_code == 403 and r.json()["error"] == "banned_from_community"
    r = client.post("/api/cg/v1/posts", json={"text": "hi", "community": "garden"}, headers=ada)
    assert r.status_code == 403
    r = client.post("/api/cg/v1/posts", json={"text": "hi", "in_reply_to": world.post}, headers=ada)
    assert r.status_code == 403
    assert [k for k, *_ in _notes(new_ctx, world.ids["ada"])] == ["moderation"]
    with new_ctx() as ctx:  # two hours later
        (ban,) = ctx.db.exec(select(CommunityBan)).all()
        ban.expires_at = utcnow() - timedelta(minutes=1)
        ctx.db.add(ban)
    assert world.post in _feed_ids(client)
    r = client.post("/api/cg/v1/communities/garden/join", headers=ada)
    assert r.status_code in (200, 201), r.text


def test_unban_lets_the_member_back(client: TestClient, new_ctx, world: World) -> None:
    target = {"type": "account", "id": world.ids["ada"]}
    ban = act(client, world, "mod", action="ban", target=target, scope="community:garden")
    assert ban.status_code == 201 and ban.json()["expires_at"] is None  # for good
    r = act(client, world, "bob", action="unban", target=target, scope="community:garden")
    assert r.status_code == 403
    r = act(client, world, "mod", action="unban", target=target, scope="community:garden")
    assert r.status_code == 201 and r.json()["reverses_id"] == ban.json()["id"]
    r = client.post("/api/cg/v1/communities/garden/join", headers=world.tokens["ada"])
    assert r.status_code in (200, 201), r.text
    # moderators are not banned: their role changes first
    target = {"type": "account", "id": world.ids["mod"]}
    r = act(client, world, "root", action="ban", target=target, scope="community:garden")
    assert r.status_code == 422 and r.json()["error"] == "ban_moderator"


def test_a_suspension_for_a_time_ends_by_itself(client: TestClient, new_ctx, world: World) -> None:
    target = {"type": "account", "id": world.ids["ada"]}
    r = act(
        client, world, "root", action="suspend", target=target, rule=world.instance_rule, duration=1
    )
    assert r.status_code == 201 and r.json()["scope"] == "instance", r.text
    with new_ctx() as ctx:
        assert not ctx.db.get(Account, world.ids["ada"]).is_active
        (job,) = ctx.db.exec(select(Job).where(col(Job.kind) == "moderation.lapse")).all()
        # the member was told before the suspension took effect
        kinds = [n.verb for n in ctx.db.exec(select(Notification))]
        assert kinds == ["suspend"]
    assert world.post not in _feed_ids(client)
    with new_ctx() as ctx:  # an hour later the job runs
        action = ctx.db.get(ModerationAction, r.json()["id"])
        action.expires_at = utcnow() - timedelta(seconds=5)
        ctx.db.add(action)
        ctx.db.flush()
        moderation.lapse(ctx, json.loads(job.payload))
    with new_ctx() as ctx:
        assert ctx.db.get(Account, world.ids["ada"]).is_active
    assert world.post in _feed_ids(client)


def test_an_unsuspension_before_the_lapse_is_kept(client: TestClient, new_ctx, world) -> None:
    target = {"type": "account", "id": world.ids["ada"]}
    body = {"target": target, "rule": world.instance_rule}
    first = act(client, world, "root", action="suspend", duration=1, **body).json()
    assert act(client, world, "root", action="unsuspend", **body).status_code == 201
    again = act(client, world, "root", action="suspend", **body)  # now for good
    assert again.status_code == 201
    with new_ctx() as ctx:
        action = ctx.db.get(ModerationAction, first["id"])
        action.expires_at = utcnow() - timedelta(seconds=5)
        ctx.db.add(action)
        ctx.db.flush()
        moderation.lapse(ctx, {"action": action.id})  # the old one's job: nothing to lift
        assert not ctx.db.get(Account, world.ids["ada"]).is_active


def test_domain_actions_limit_and_suspend_a_domain(
    client: TestClient, new_ctx, world: World
) -> None:
    with new_ctx() as ctx:
        rita = remote.store_actor(ctx, actor_doc("rita"))
        seeds = {"type": "Hashtag", "name": "#seeds", "href": "https://peer.example/tags/seeds"}
        apply(ctx, create(1, content="<p>Cheap #seeds</p>", tag=[seeds]))
        ctx.db.add(
            Follow(follower_id=world.ids["bob"], target_account_id=rita.id, state="accepted")
        )
        rita_post = posts.find_by_uri(ctx, "https://peer.example/notes/1").id

    def tagged(headers=None) -> set[int]:
        r = client.get("/api/cg/v1/feed/tags/seeds", headers=headers or {})
        assert r.status_code == 200, r.text
        return {i["post"]["id"] for i in r.json()["items"]}

    assert rita_post in tagged()
    domain = {"type": "domain", "id": "peer.example"}
    body = {"target": domain, "rule": world.instance_rule}
    assert act(client, world, "mod", action="limit_domain", **body).status_code == 403
    r = act(client, world, "root", action="limit_domain", **body)
    assert r.status_code == 201 and r.json()["target_label"] == "peer.example", r.text
    assert rita_post not in tagged() and rita_post not in tagged(world.tokens["ada"])
    assert rita_post in tagged(world.tokens["bob"])  # bob follows rita
    r = client.get("/api/cg/v1/search", params={"q": "cheap"}, headers=world.tokens["ada"])
    assert r.status_code == 200 and r.json()["items"] == [], r.text
    r = client.get("/api/cg/v1/search", params={"q": "cheap"}, headers=world.tokens["bob"])
    assert r.status_code == 200 and len(r.json()["items"]) == 1, r.text
    r = act(client, world, "root", action="suspend_domain", **body)
    assert r.status_code == 201, r.text
    with new_ctx() as ctx:
        peer = ctx.db.get(PeerDomain, "peer.example")
        assert peer.blocked and peer.limited
    assert rita_post not in tagged(world.tokens["bob"])
    r = act(
        client,
        world,
        "root",
        action="limit_domain",
        target={"type": "domain", "id": "127.0.0.1:8000"},
        rule=world.instance_rule,
    )
    assert r.status_code == 422


def test_the_queue_page_acts_only_after_the_confirmation(
    client: TestClient, new_ctx, world: World
) -> None:
    filed = report(new_ctx, world)
    submit(client, "/login", "/login", {"username": "mod", "password": PASSWORD})
    queue = client.get("/c/garden/moderation").text
    link = (
        f"/moderation/act?scope=community%3Agarden&amp;target_type=post&amp;target_id={world.post}"
    )
    assert link in queue
    page = f"/moderation/act?scope=community:garden&target_type=post&target_id={world.post}"
    form = {
        "scope": "community:garden",
        "target_type": "post",
        "target_id": str(world.post),
        "report": str(filed),
        "action": "remove",
        "rule": str(world.garden_rule),
        "reason": "Spam is not gardening.",
    }
    r = submit(client, page, "/moderation/act", {**form, "reason": ""})
    assert r.status_code == 422 and "Give a reason" in r.text  # refused, nothing asked
    r = submit(client, page, "/moderation/act", form)  # the first click: a question
    assert r.status_code == 200 and 'name="confirmed" value="1"' in r.text
    with new_ctx() as ctx:
        assert not ctx.db.get(Post, world.post).is_deleted
        assert list(ctx.db.exec(select(ModerationAction))) == []
    r = submit(client, page, "/moderation/act", {**form, "confirmed": "1", "rule": "999999"})
    assert r.status_code == 422 and "Spam is not gardening." in r.text  # kept
    r = submit(client, page, "/moderation/act", {**form, "confirmed": "1"})
    assert r.status_code == 303 and r.headers["location"] == "/c/garden/moderation", r.text
    with new_ctx() as ctx:
        assert ctx.db.get(Post, world.post).is_deleted
        assert ctx.db.get(Report, filed).state == "actioned"
    client.cookies.clear()
    submit(client, "/login", "/login", {"username": "bob", "password": PASSWORD})
    assert client.get(page).status_code == 403  # nor the form, for others


def test_artifacts_are_not_removed_and_remote_posts_are_hidden_here(
    client: TestClient, new_ctx, world: World
) -> None:
    with new_ctx() as ctx:
        ada = ctx.db.get(Account, world.ids["ada"])
        garden = ctx.db.get(Community, world.garden)
        art = artifacts.create(ctx, ada, garden, "idea", "Pills", "Buy them.")
        remote.store_actor(ctx, actor_doc("rita"))
        apply(ctx, create(7))
        rita_post = posts.find_by_uri(ctx, "https://peer.example/notes/7").id
    r = act(client, world, "mod", action="remove", target={"type": "artifact", "id": art.id})
    assert r.status_code == 422 and r.json()["error"] == "not_removable"
    r = act(client, world, "mod", action="warn", target={"type": "artifact", "id": art.id})
    assert r.status_code == 201, r.text  # its author is warned instead
    r = act(
        client,
        world,
        "root",
        action="remove",
        target={"type": "post", "id": rita_post},
        rule=world.instance_rule,
    )
    assert r.status_code == 201 and r.json()["scope"] == "instance", r.text
    with new_ctx() as ctx:
        assert ctx.db.get(Post, rita_post).is_deleted
