"""Moving an account, as Mastodon does: the target must name the origin among its
aliases (``alsoKnownAs``) first; a move marks the origin (``movedTo``, a notice on
its profile), sends Mastodon's ``Move`` to its followers, and followers follow the
new account and leave the old. A received Move is carried out only when the
target, read afresh, lists the origin."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.infra import jobs
from app.models import Job
from app.services import Ctx, accounts, follows
from federation import handlers, lifecycle, remote
from tests.conftest import PASSWORD
from tests.peers import Instance, eventually
from tests.test_account_export import _token
from tests.test_federation_handlers import PEER, actor_doc, apply

AS2 = {"Accept": "application/activity+json"}


@pytest.fixture
def people(client: TestClient, new_ctx) -> dict:
    with new_ctx() as ctx:
        for name in ("ada", "ada2", "bob"):
            accounts.register(ctx, name, PASSWORD)
        follows.follow(ctx, accounts.get_local(ctx, "bob"), accounts.get_local(ctx, "ada"))
    return {name: _token(client, name) for name in ("ada", "ada2", "bob")}


def test_a_move_needs_the_target_to_list_the_origin(client, people, new_ctx, settings) -> None:
    r = client.post("/api/cg/v1/me/move", json={"target": "ada2"}, headers=people["ada"])
    assert r.status_code == 403 and r.json()["error"] == "alias_missing"
    with new_ctx() as ctx:
        assert accounts.get_local(ctx, "ada").moved_to_uri is None
    r = client.put("/api/cg/v1/me/aliases", json={"aliases": ["ada2"]}, headers=people["ada2"])
    assert r.status_code == 422 and r.json()["error"] == "self_alias"
    r = client.put("/api/cg/v1/me/aliases", json={"aliases": ["ada"]}, headers=people["ada2"])
    assert r.status_code == 200 and r.json()["aliases"] == [f"{settings.base_url}/users/ada"]
    doc = client.get("/users/ada2", headers=AS2).json()
    assert doc["alsoKnownAs"] == [f"{settings.base_url}/users/ada"]

    r = client.post("/api/cg/v1/me/move", json={"target": "ada2"}, headers=people["ada"])
    assert r.status_code == 200, r.text
    assert r.json()["moved_to"] == f"{settings.base_url}/users/ada2"
    assert client.get("/users/ada", headers=AS2).json()["movedTo"] == r.json()["moved_to"]
    assert "This account has moved to" in client.get("/@ada").text
    with new_ctx() as ctx:
        bob, ada, ada2 = (accounts.get_local(ctx, n) for n in ("bob", "ada", "ada2"))
        assert follows.is_following(ctx, bob, ada2) and not follows.is_following(ctx, bob, ada)
    r = client.post("/api/cg/v1/me/move", json={"target": "ada2"}, headers=people["ada"])
    assert r.status_code == 409 and r.json()["error"] == "already_moved"


@pytest.mark.parametrize("aliases", [["ada"], ["nobody"], ["x"] * 11])
def test_bad_aliases_are_refused(client, people, aliases) -> None:
    r = client.put("/api/cg/v1/me/aliases", json={"aliases": aliases}, headers=people["ada"])
    assert r.status_code in (404, 422), r.text
    assert client.get("/api/cg/v1/me/aliases", headers=people["ada"]).json()["aliases"] == []


def _run_move(engine, settings, job_row: Job) -> None:
    context = jobs.JobContext(job=job_row, engine=engine, settings=settings)
    asyncio.run(lifecycle.move_followers(context, json.loads(job_row.payload)))


def test_a_received_move_moves_local_followers_once_the_target_lists_the_origin(
    new_ctx, engine, settings
) -> None:
    with new_ctx() as ctx:
        rita = remote.store_actor(ctx, actor_doc("rita"))
        ada = accounts.register(ctx, "ada", PASSWORD)
        accounts.register(ctx, "newrita", PASSWORD)
        follow = follows.follow(ctx, ada, rita)
        follows.accepted(ctx, follow)
        target = f"{settings.base_url}/users/newrita"
        with pytest.raises(handlers.Ignored, match="moves itself"):
            apply(
                ctx,
                {
                    "id": f"{PEER}/m/0",
                    "type": "Move",
                    "actor": rita.uri,
                    "object": f"{PEER}/users/other",
                    "target": target,
                },
            )
        move = {
            "id": f"{PEER}/m/1",
            "type": "Move",
            "actor": rita.uri,
            "object": rita.uri,
            "target": target,
        }
        apply(ctx, move)
        job_row = ctx.db.exec(select(Job).where(Job.kind == "ap.move")).one()
        ctx.db.expunge(job_row)
    with pytest.raises(jobs.PermanentError, match="does not list"):
        _run_move(engine, settings, job_row)
    with new_ctx() as ctx:
        ada, rita = accounts.get_local(ctx, "ada"), remote.known(ctx, f"{PEER}/users/rita")
        assert follows.is_following(ctx, ada, rita)
        newrita = accounts.get_local(ctx, "newrita")
        newrita.also_known_as = rita.uri
    _run_move(engine, settings, job_row)
    with new_ctx() as ctx:
        ada, rita = accounts.get_local(ctx, "ada"), remote.known(ctx, f"{PEER}/users/rita")
        assert follows.is_following(ctx, ada, accounts.get_local(ctx, "newrita"))
        assert follows.between(ctx, ada, rita) is None
        assert rita.moved_to_uri == f"{settings.base_url}/users/newrita"


def test_actor_documents_carry_aliases_and_moves(ctx: Ctx) -> None:
    doc = actor_doc("rita", alsoKnownAs=[f"{PEER}/users/old", 7], movedTo=f"{PEER}/users/new")
    rita = remote.store_actor(ctx, doc)
    assert rita.also_known_as == f"{PEER}/users/old"
    assert rita.moved_to_uri == f"{PEER}/users/new"


@pytest.mark.slow
def test_followers_on_another_instance_follow_the_moved_account(fresh_postgres: str) -> None:
    with Instance() as a, Instance(database_url=fresh_postgres) as b:
        a.register("alice")
        a.register("alice2")
        b.register("bob")
        r = b.api("POST", "/follows", "bob", json={"target": f"alice@{a.domain}"})
        assert r.status_code == 202, r.text
        eventually(lambda: b.sql("SELECT state FROM follows") == [("accepted",)], what="follow")
        r = a.api("POST", "/me/move", "alice", json={"target": "alice2"})
        assert r.status_code == 403 and r.json()["error"] == "alias_missing"
        assert a.api("PUT", "/me/aliases", "alice2", json={"aliases": ["alice"]}).status_code == 200
        r = a.api("POST", "/me/move", "alice", json={"target": "alice2"})
        assert r.status_code == 200, r.text
        [(body,)] = a.sql("SELECT body FROM outbox_items WHERE activity_type = 'Move'")
        sent = json.loads(body)
        alice, alice2 = f"{a.url}/users/alice", f"{a.url}/users/alice2"
        assert (sent["actor"], sent["object"], sent["target"]) == (alice, alice, alice2)
        follows_on_b = (
            "SELECT a.uri, f.state FROM follows f JOIN accounts a ON a.id = f.target_account_id"
        )
        eventually(
            lambda: b.sql(follows_on_b) == [(alice2, "accepted")],
            what="bob to follow alice2 instead of alice",
        )
        on_a = "SELECT t.username FROM follows f JOIN accounts t ON t.id = f.target_account_id"
        eventually(lambda: a.sql(on_a) == [("alice2",)], what="A to see bob follow alice2 only")
