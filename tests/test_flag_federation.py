"""Reports across instances: a member's report of remote content, forwarded, becomes
a ``Flag`` from our instance actor (never naming the reporter); a ``Flag`` received
about our own content becomes an anonymous report; a Flag about anyone else's
content, or one seen before, stores nothing.

The first part runs the handlers in-process on both databases; the second two real
instances (``commonground serve --with-worker``) on 127.0.0.1, one of them on
PostgreSQL.
"""

from __future__ import annotations

import json

import httpx
import pytest
from sqlmodel import select

from app.models import Job, OutboxItem, Post, Report
from app.services import Ctx, accounts, artifacts, communities, posts, reports
from federation import flags, handlers, remote
from federation.httpsig import sign_request
from tests.conftest import PASSWORD
from tests.peers import Instance, eventually
from tests.test_federation_handlers import PEER, actor_doc, apply


def _flag(n: int, objects: list[str], **extra: object) -> dict:
    return {
        "id": f"{PEER}/activities/flag-{n}",
        "type": "Flag",
        "actor": f"{PEER}/actor",
        "object": objects,
        "content": "spam, see these",
        **extra,
    }


@pytest.fixture
def here(ctx: Ctx) -> dict:
    """bob posts twice in the garden and writes an artifact; the peer's instance actor
    is known."""
    bob = accounts.register(ctx, "bob", PASSWORD)
    garden = communities.create(ctx, bob, "garden")
    first = posts.create(ctx, bob, "first", community="garden")
    second = posts.create(ctx, bob, "second", community="garden")
    artifact = artifacts.create(ctx, bob, "garden", "idea", "An idea", "")
    doc = actor_doc("actor", "Application")
    doc |= {"id": f"{PEER}/actor", "inbox": f"{PEER}/actor/inbox"}
    doc["publicKey"] |= {"id": f"{PEER}/actor#main-key", "owner": f"{PEER}/actor"}
    peer = remote.store_actor(ctx, doc)
    return {
        "bob": bob,
        "garden": garden,
        "first": first,
        "second": second,
        "artifact": artifact,
        "peer": peer,
    }


def _reports(ctx: Ctx) -> list[Report]:
    return list(ctx.db.exec(select(Report).order_by(Report.id)))


def test_a_flag_about_our_content_becomes_anonymous_reports(ctx: Ctx, here) -> None:
    bob, first, second = here["bob"], here["first"], here["second"]
    apply(ctx, _flag(1, [bob.uri, first.uri, second.uri], content="<p>spam <b>here</b></p>"))
    found = _reports(ctx)
    assert [(r.target_type, r.target_id) for r in found] == [
        ("post", first.id),
        ("post", second.id),
    ]  # the account is whose posts they are, not a report of its own
    for r in found:
        assert r.reporter_id is None and r.origin_domain == "peer.example"
        assert r.target_account_id == bob.id and r.community_id == here["garden"].id
        assert r.comment == "spam here" and r.state == "open"
    assert [r.flag_uri for r in found] == [
        f"{PEER}/activities/flag-1",
        f"{PEER}/activities/flag-1#2",
    ]


def test_a_flag_of_a_member_or_community_alone_reports_them(ctx: Ctx, here) -> None:
    apply(ctx, _flag(1, [here["bob"].uri]))
    apply(ctx, _flag(2, [here["garden"].uri, here["artifact"].uri]))
    assert [(r.target_type, r.target_account_id, r.community_id) for r in _reports(ctx)] == [
        ("account", here["bob"].id, None),
        ("artifact", here["bob"].id, here["garden"].id),
        ("community", None, here["garden"].id),
    ]


def test_a_repeated_flag_makes_no_second_report(ctx: Ctx, here) -> None:
    flag = _flag(1, [here["first"].uri])
    apply(ctx, flag)
    with pytest.raises(handlers.Ignored, match="already recorded"):
        apply(ctx, flag)
    assert len(_reports(ctx)) == 1


@pytest.mark.parametrize(
    "objects, reason",
    [
        (["https://third.example/notes/1"], "another host"),
        (["{first}", "https://third.example/users/x"], "another host"),
        (["{base}/posts/999999"], "nothing of ours"),
        ([], "objects"),
    ],
)
def test_flags_about_others_or_unknown_objects_are_dropped(ctx: Ctx, here, objects, reason) -> None:
    base = ctx.base_url
    named = [o.format(first=here["first"].uri, base=base) for o in objects]
    with pytest.raises(handlers.Ignored, match=reason):
        apply(ctx, _flag(1, named))
    assert _reports(ctx) == []


def test_a_flag_about_a_remote_copy_is_not_ours_to_judge(ctx: Ctx, here) -> None:
    """Content of the peer's stored here is on the peer's host: not ours."""
    rita = remote.store_actor(ctx, actor_doc("rita"))
    with pytest.raises(handlers.Ignored):
        apply(ctx, _flag(1, [rita.uri]))
    assert _reports(ctx) == []


def test_a_forwarded_report_builds_an_anonymous_flag(ctx: Ctx, here) -> None:
    rita = remote.store_actor(ctx, actor_doc("rita"))
    note = Post(uri=f"{PEER}/notes/1", author_id=rita.id, text="far spam")
    more = Post(uri=f"{PEER}/notes/2", author_id=rita.id, text="more spam")
    ctx.db.add_all([note, more])
    ctx.db.flush()
    ada = accounts.register(ctx, "ada", PASSWORD)
    report = reports.file_report(ctx, ada, "post", note.id, [], "look", [more.id], True)
    job = ctx.db.exec(select(Job).where(Job.kind == "forward_flag")).one()
    flags.forward_flag(ctx, json.loads(job.payload))
    item = ctx.db.exec(select(OutboxItem).where(OutboxItem.activity_type == "Flag")).one()
    flag = json.loads(item.body)
    assert flag["actor"] == f"{ctx.base_url}/actor" and flag["content"] == "look"
    assert flag["object"] == [rita.uri, note.uri, more.uri]
    assert "ada" not in item.body and item.public is False
    deliveries = [j for j in ctx.db.exec(select(Job)) if j.kind == "ap.deliver"]
    assert [json.loads(j.payload)["inbox"] for j in deliveries] == [f"{PEER}/inbox"]
    assert report.forwarded_at is not None
    flags.forward_flag(ctx, json.loads(job.payload))  # a rerun sends nothing more
    assert len(ctx.db.exec(select(OutboxItem)).all()) == 1


# --- two real instances ----------------------------------------------------------------


def _signed_post(sender: Instance, receiver: Instance, activity: dict) -> httpx.Response:
    """POST ``activity`` to ``receiver``'s shared inbox, signed by ``sender``'s
    instance actor (its key read from ``sender``'s database)."""
    actor = f"{sender.url}/actor"
    [(pem,)] = sender.sql("SELECT private_key_pem FROM actor_keys WHERE owner_uri = :u", u=actor)
    body = json.dumps(activity).encode()
    url = f"{receiver.url}/inbox"
    headers = sign_request("POST", url, {}, body, f"{actor}#main-key", pem)
    return httpx.post(url, content=body, headers=headers, trust_env=False, timeout=20)


def _scenario(a: Instance, b: Instance) -> None:
    b.register("bob")
    assert b.api("POST", "/communities", "bob", json={"name": "garden"}).status_code == 201
    a.register("alice")
    r = a.api("POST", "/follows", "alice", json={"target": f"garden@{b.domain}"})
    assert r.status_code == 202, r.text
    eventually(
        lambda: b.sql("SELECT count(*) FROM follows WHERE state = 'accepted'") == [(1,)],
        what="B to accept A's follow",
    )
    originals = [
        b.api("POST", "/posts", "bob", json={"text": t, "community": "garden"}).json()
        for t in ("Buy cheap seeds", "Cheap seeds again")
    ]

    def copies() -> list[tuple] | None:
        rows = a.sql(
            "SELECT id, uri FROM posts WHERE uri IN (:x, :y) ORDER BY id",
            x=originals[0]["uri"],
            y=originals[1]["uri"],
        )
        return rows if len(rows) == 2 else None

    (copy_id, _), (more_id, _) = eventually(copies, what="B's posts on A")

    # alice reports bob's post on A, with another of his posts, and forwards it to B
    report = {
        "target": {"type": "post", "id": copy_id},
        "comment": "Seed spam, twice",
        "posts": [more_id],
        "forward": True,
    }
    r = a.api("POST", "/reports", "alice", json=report)
    assert r.status_code == 201, r.text
    eventually(
        lambda: a.sql("SELECT forwarded_at FROM reports")[0][0] is not None, what="forwarded_at"
    )

    # B's inbox got the Flag, signed by A's instance actor, naming no reporter
    def flag_on_b() -> list[tuple] | None:
        return b.sql("SELECT key_id, body FROM inbox_items WHERE activity_type = 'Flag'") or None

    [(key_id, body)] = eventually(flag_on_b, what="the Flag on B")
    assert key_id == f"{a.url}/actor#main-key"
    flag = json.loads(body)
    assert flag["actor"] == f"{a.url}/actor" and flag["content"] == "Seed spam, twice"
    bob_uri = f"{b.url}/users/bob"
    assert flag["object"] == [bob_uri, originals[0]["uri"], originals[1]["uri"]]
    assert "alice" not in body

    # ... and B holds anonymous reports from A's domain, in the garden's queue
    query = (
        "SELECT reporter_id, origin_domain, target_type, target_id, comment FROM reports "
        "ORDER BY id"
    )
    stored = eventually(lambda: b.sql(query) or None, what="the reports on B")
    assert stored == [
        (None, a.domain, "post", originals[0]["id"], "Seed spam, twice"),
        (None, a.domain, "post", originals[1]["id"], "Seed spam, twice"),
    ]

    # the same Flag again: B answers, stores no second report
    r = _signed_post(a, b, flag)
    assert r.status_code == 202 and r.json()["status"] == "duplicate", r.text
    # a Flag about a third host's content: refused, nothing stored
    third = {
        "id": f"{a.url}/activities/flag-elsewhere",
        "type": "Flag",
        "actor": f"{a.url}/actor",
        "object": [originals[0]["uri"], "http://127.0.0.1:9/notes/1"],
        "content": "not yours",
    }
    r = _signed_post(a, b, third)
    assert r.status_code == 202, r.text
    eventually(
        lambda: (
            b.sql("SELECT state FROM inbox_items WHERE activity_id = :i", i=third["id"])
            == [("ignored",)]
        ),
        what="B to drop the Flag about a third host",
    )
    [(error,)] = b.sql("SELECT error FROM inbox_items WHERE activity_id = :i", i=third["id"])
    assert "another host" in error
    assert len(b.sql(query)) == 2


@pytest.mark.slow
def test_a_forwarded_report_reaches_the_other_instance_as_a_flag(fresh_postgres: str) -> None:
    with Instance() as a, Instance(database_url=fresh_postgres) as b:
        _scenario(a, b)


@pytest.mark.slow
def test_two_sqlite_instances_exchange_flags() -> None:
    with Instance() as a, Instance() as b:
        _scenario(a, b)
