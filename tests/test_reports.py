"""Reports: a member reports a post, an artifact, a statement, a member or a
community, citing the instance's rules or those of the community the target lives
in, with a comment and other posts of the same account; bad reports are refused
with a clear error and store nothing; a member sees their reports' state."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.errors import Conflict, Invalid, NotFound
from app.models import Account, Job, Post, Report, utcnow
from app.services import accounts, artifacts, communities, posts, reports, rules, stances
from tests.conftest import PASSWORD
from tests.test_pages import submit
from tests.test_ratelimits import assert_refused, limited  # noqa: F401 - the fixture


def _token(client: TestClient, name: str) -> dict:
    r = client.post(
        "/api/cg/v1/tokens", json={"username": name, "password": PASSWORD, "scope": "write"}
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _build(ctx) -> dict:
    """ada reports; bob writes in the garden; the meadow is another community; eve
    is a member of remote.example with a post here."""
    root = accounts.register(ctx, "root", PASSWORD, is_admin=True)
    ada = accounts.register(ctx, "ada", PASSWORD)
    bob = accounts.register(ctx, "bob", PASSWORD)
    cat = accounts.register(ctx, "cat", PASSWORD)
    garden = communities.create(ctx, bob, "garden")
    meadow = communities.create(ctx, cat, "meadow")
    communities.join(ctx, ada, garden)
    kind = rules.replace(ctx, root, None, ["Be kind."])[0]
    topic = rules.replace(ctx, bob, garden, ["Stay on topic."])[0]
    spam = rules.replace(ctx, cat, meadow, ["No spam."])[0]
    post = posts.create(ctx, bob, "Buy my seeds", community="garden")
    others = [posts.create(ctx, bob, f"more seeds {i}") for i in range(6)]
    gone = posts.create(ctx, bob, "to be deleted")
    posts.delete_post(ctx, bob, gone.id)
    cats = posts.create(ctx, cat, "cat's post")
    artifact = artifacts.create(ctx, bob, "garden", "idea", "Sell seeds here", "")
    statement = stances.add_statement(ctx, bob, artifact.id, "Seeds should be sold")
    eve = Account(
        username="eve",
        username_key="eve",
        domain="remote.example",
        uri="https://remote.example/users/eve",
    )
    ctx.db.add(eve)
    ctx.db.flush()
    remote_post = Post(uri="https://remote.example/notes/1", author_id=eve.id, text="far spam")
    ctx.db.add(remote_post)
    ctx.db.flush()
    return {
        "ada": ada.id,
        "bob": bob.id,
        "eve": eve.id,
        "garden": garden.id,
        "meadow": meadow.id,
        "kind": kind.id,
        "topic": topic.id,
        "spam": spam.id,
        "post": post.id,
        "others": [p.id for p in others],
        "gone": gone.id,
        "cats": cats.id,
        "artifact": artifact.id,
        "statement": statement.id,
        "remote_post": remote_post.id,
    }


@pytest.fixture
def world(new_ctx) -> dict:
    with new_ctx() as ctx:
        return _build(ctx)


def _ada(ctx) -> Account:
    return accounts.get_local(ctx, "ada")


def _count(new_ctx) -> int:
    with new_ctx() as ctx:
        return len(ctx.db.exec(select(Report)).all())


@pytest.mark.parametrize(
    "target, account, community",
    [
        ("post", "bob", "garden"),
        ("artifact", "bob", "garden"),
        ("statement", "bob", "garden"),
        ("account", "bob", None),
        ("community", None, "garden"),
    ],
)
def test_each_kind_of_target_is_reported_to_its_queue(
    new_ctx, world, target, account, community
) -> None:
    target_id = (
        world["bob"]
        if target == "account"
        else world["garden" if target == "community" else target]
    )
    rule_ids = [world["kind"]] if target == "account" else [world["kind"], world["topic"]]
    with new_ctx() as ctx:
        report = reports.file_report(ctx, _ada(ctx), target, target_id, rule_ids, "Look")
    assert report.reporter_id == world["ada"] and report.state == "open"
    assert report.target_type == target and report.target_id == target_id
    assert report.target_account_id == (world[account] if account else None)
    assert report.community_id == (world[community] if community else None)
    assert json.loads(report.rule_ids) == rule_ids and report.comment == "Look"
    assert report.forward is False and report.origin_domain == ""


@pytest.mark.parametrize(
    "change, code",
    [
        ({"rule_ids": ["spam"]}, "unknown_rule"),  # a rule of another community
        ({"rule_ids": [999999]}, "unknown_rule"),
        ({"comment": "x" * (reports.MAX_COMMENT + 1)}, "comment_too_long"),
        ({"target_id": 999999}, "post_not_found"),
        ({"target_id": "gone"}, "target_not_found"),  # deleted
        ({"target_type": "thing"}, "invalid_target_type"),
        ({"extra_post_ids": ["cats"]}, "posts_not_theirs"),  # by another account
        ({"extra_post_ids": "others"}, "too_many_posts"),
        ({"forward": True}, "forward_not_remote"),  # local content stays here
    ],
)
def test_bad_reports_are_refused_and_store_nothing(new_ctx, world, change, code) -> None:
    def resolve(value):
        if isinstance(value, list):
            return [world.get(v, v) if isinstance(v, str) else v for v in value]
        return world.get(value, value) if isinstance(value, str) and value in world else value

    args = {
        "target_type": "post",
        "target_id": world["post"],
        "rule_ids": [world["topic"]],
        "comment": "",
        "extra_post_ids": [],
        "forward": False,
    } | {k: resolve(v) for k, v in change.items()}
    with new_ctx() as ctx, pytest.raises((Invalid, NotFound)) as refused:
        reports.file_report(ctx, _ada(ctx), **args)
    assert refused.value.code == code
    assert _count(new_ctx) == 0


def test_a_rule_of_the_instance_or_the_targets_community_is_accepted(new_ctx, world) -> None:
    with new_ctx() as ctx:
        with pytest.raises(Invalid):  # the meadow's rule, about a garden post
            reports.file_report(ctx, _ada(ctx), "post", world["post"], [world["spam"]])
        with pytest.raises(Invalid):  # a community's rule about a member: the instance's only
            reports.file_report(ctx, _ada(ctx), "account", world["bob"], [world["topic"]])
        report = reports.file_report(
            ctx, _ada(ctx), "post", world["post"], [world["kind"], world["topic"]]
        )
        assert reports.rule_ids_of(report) == [world["kind"], world["topic"]]


def test_extra_posts_by_the_same_account_are_kept(new_ctx, world) -> None:
    extra = world["others"][:5]
    with new_ctx() as ctx:
        report = reports.file_report(ctx, _ada(ctx), "account", world["bob"], [], "", extra)
    assert reports.extra_post_ids_of(report) == extra
    with new_ctx() as ctx, pytest.raises(NotFound):  # a deleted one is no evidence
        reports.file_report(ctx, _ada(ctx), "post", world["post"], [], "", [world["gone"]])


def test_one_open_report_per_reporter_and_target(new_ctx, world) -> None:
    with new_ctx() as ctx:
        reports.file_report(ctx, _ada(ctx), "post", world["post"])
    with new_ctx() as ctx, pytest.raises(Conflict) as refused:
        reports.file_report(ctx, _ada(ctx), "post", world["post"], comment="again")
    assert refused.value.code == "already_reported"
    assert _count(new_ctx) == 1
    with new_ctx() as ctx:  # once settled, the same target may be reported again
        row = ctx.db.exec(select(Report)).one()
        row.state, row.resolved_at = "dismissed", utcnow()
    with new_ctx() as ctx:
        reports.file_report(ctx, _ada(ctx), "post", world["post"], comment="again")
    assert _count(new_ctx) == 2


def test_forward_is_allowed_for_remote_content(new_ctx, world) -> None:
    with new_ctx() as ctx:
        report = reports.file_report(
            ctx, _ada(ctx), "post", world["remote_post"], [world["kind"]], "spam", [], True
        )
    assert report.forward is True and report.target_account_id == world["eve"]
    with new_ctx() as ctx:
        kinds = [j.kind for j in ctx.db.exec(select(Job))]
    assert "forward_flag" in kinds


def test_a_local_report_queues_no_flag(new_ctx, world) -> None:
    with new_ctx() as ctx:
        reports.file_report(ctx, _ada(ctx), "post", world["post"])
    with new_ctx() as ctx:
        assert [j for j in ctx.db.exec(select(Job)) if j.kind == "forward_flag"] == []


def test_my_reports_show_state_and_when_resolved_not_who(new_ctx, world) -> None:
    with new_ctx() as ctx:
        reports.file_report(ctx, _ada(ctx), "post", world["post"])
        reports.file_report(ctx, _ada(ctx), "artifact", world["artifact"])
    with new_ctx() as ctx:
        first = ctx.db.exec(select(Report).where(Report.target_type == "post")).one()
        first.state, first.resolved_at = "actioned", utcnow()
    with new_ctx() as ctx:
        mine = reports.my_reports(ctx, _ada(ctx))
        assert reports.my_reports(ctx, accounts.get_local(ctx, "bob")) == []
    assert [(m.target_type, m.state) for m in mine] == [("artifact", "open"), ("post", "actioned")]
    assert mine[1].resolved_at is not None and mine[0].resolved_at is None
    assert mine[1].excerpt == "Buy my seeds"


# --- the API -----------------------------------------------------------------------------


def test_the_api_files_and_lists_reports(client: TestClient, world) -> None:
    ada = _token(client, "ada")
    body = {
        "target": {"type": "post", "id": world["post"]},
        "rules": [world["topic"]],
        "comment": "<b>spam</b>",
        "posts": world["others"][:2],
        "forward": False,
    }
    assert client.post("/api/cg/v1/reports", json=body).status_code == 401
    read = client.post(
        "/api/cg/v1/tokens", json={"username": "ada", "password": PASSWORD, "scope": "read"}
    ).json()["token"]
    r = client.post("/api/cg/v1/reports", json=body, headers={"Authorization": f"Bearer {read}"})
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
    r = client.post("/api/cg/v1/reports", json=body, headers=ada)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["target"] == {"type": "post", "id": world["post"]} and out["state"] == "open"
    assert out["rules"] == [world["topic"]] and out["posts"] == world["others"][:2]
    assert out["comment"] == "<b>spam</b>"  # stored as typed, plain text
    r = client.post("/api/cg/v1/reports", json=body, headers=ada)
    assert r.status_code == 409 and r.json()["error"] == "already_reported"
    listed = client.get("/api/cg/v1/reports", headers=ada)
    assert listed.status_code == 200
    assert [(i["id"], i["state"]) for i in listed.json()["items"]] == [(out["id"], "open")]
    assert "reporter" not in json.dumps(listed.json())


@pytest.mark.parametrize(
    "body",
    [
        {"target": {"type": "post", "id": 999999}},
        {"target": {"type": "nothing", "id": 1}},
        {"target": {"type": "post"}},
        {"target": {"type": "post", "id": 1}, "comment": "x" * 1001},
        {"target": {"type": "post", "id": 1}, "posts": [1, 2, 3, 4, 5, 6]},
        {"target": {"type": "post", "id": 1}, "rules": "all"},
    ],
)
def test_the_api_refuses_bad_reports_clearly(client: TestClient, world, new_ctx, body) -> None:
    r = client.post("/api/cg/v1/reports", json=body, headers=_token(client, "ada"))
    assert r.status_code in (404, 422), r.text
    assert r.json()["error"] and r.json()["detail"]
    assert _count(new_ctx) == 0


def test_reports_are_rate_limited(limited, new_ctx) -> None:  # noqa: F811
    client = limited(report_limit_per_account=2)
    with new_ctx() as ctx:
        world = _build(ctx)
    ada = _token(client, "ada")
    targets = [world["post"], *world["others"][:2]]
    answers = [
        client.post("/api/cg/v1/reports", json={"target": {"type": "post", "id": t}}, headers=ada)
        for t in targets
    ]
    assert [r.status_code for r in answers[:2]] == [201, 201]
    assert_refused(answers[2], "filing reports")
    assert _count(new_ctx) == 2


# --- the pages ---------------------------------------------------------------------------


def _log_in(client: TestClient, name: str) -> None:
    r = submit(client, "/login", "/login", {"username": name, "password": PASSWORD})
    assert r.status_code == 303, r.text[:300]


def test_the_report_page_shows_the_target_rules_and_other_posts(client: TestClient, world) -> None:
    _log_in(client, "ada")
    page = client.get(f"/report?type=post&id={world['post']}")
    assert page.status_code == 200
    html = page.text
    assert "Buy my seeds" in html and "Be kind." in html and "Stay on topic." in html
    assert "No spam." not in html  # the meadow's rules are not this post's
    assert f'value="{world["others"][-1]}"' in html  # bob's other posts, to add
    assert 'name="forward"' not in html  # local content: nothing to forward
    remote = client.get(f"/report?type=post&id={world['remote_post']}").text
    assert 'name="forward"' in remote and "Forward to <bdi>remote.example</bdi>" in remote
    assert "without your name" in remote
    assert client.get("/report?type=post&id=999999").status_code == 404


def test_the_report_form_keeps_what_was_typed_on_error(client: TestClient, world, new_ctx) -> None:
    _log_in(client, "ada")
    page = f"/report?type=post&id={world['post']}"
    typed = {
        "type": "post",
        "id": str(world["post"]),
        "rules": [str(world["topic"])],
        "posts": [str(world["others"][0])],
        "comment": "kept <b>comment</b>",
        "forward": "yes",  # refused: local content
    }
    r = submit(client, page, "/report", typed)
    assert r.status_code == 422, r.text[:300]
    assert "kept &lt;b&gt;comment&lt;/b&gt;</textarea>" in r.text  # plain text, escaped
    assert f'value="{world["topic"]}" checked' in r.text
    assert f'value="{world["others"][0]}" checked' in r.text
    assert "Only what comes from another instance" in r.text
    assert _count(new_ctx) == 0
    typed.pop("forward")
    r = submit(client, page, "/report", typed)
    assert r.status_code == 303 and r.headers["location"].startswith("/reports")
    done = client.get(r.headers["location"]).text
    assert "Your report was sent" in done and "Buy my seeds" in done and "open" in done
    assert _count(new_ctx) == 1


def test_report_links_lead_to_the_form(client: TestClient, world) -> None:
    _log_in(client, "ada")
    for page, link in [
        (f"/posts/{world['post']}", f"/report?type=post&amp;id={world['post']}"),
        (f"/artifacts/{world['artifact']}", f"/report?type=artifact&amp;id={world['artifact']}"),
        (f"/artifacts/{world['artifact']}", f"/report?type=statement&amp;id={world['statement']}"),
        ("/@bob", f"/report?type=account&amp;id={world['bob']}"),
        ("/c/garden", f"/report?type=community&amp;id={world['garden']}"),
    ]:
        assert link in client.get(page).text, (page, link)
