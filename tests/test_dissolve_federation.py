"""Dissolving a community federates: its remote followers' servers get a signed
``Delete`` of the Group actor, and a remote Group that deletes itself is gone here
too (with what it held), as a dissolved local one is."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import select

from app.config import Settings
from app.db import transaction
from app.infra import jobs
from app.models import Account, Community, Follow, Job, RemoteActor
from app.services import Ctx, accounts, communities
from federation import remote
from tests.conftest import PASSWORD
from tests.peers import RecordingPeer
from tests.test_federation_handlers import actor_doc, apply


def test_dissolving_a_community_sends_a_delete_of_its_group_to_its_followers(
    engine: Engine,
    local_settings: Settings,
    peer: RecordingPeer,
) -> None:
    with transaction(engine) as db:
        ctx = Ctx(db, local_settings)
        ada = accounts.register(ctx, "ada", PASSWORD)
        garden = communities.create(ctx, ada, "garden")
        group_uri = garden.uri
        for name in ("ann", "bob"):
            inbox = peer.inbox(name)
            uri = inbox.removesuffix("/inbox")
            follower = Account(
                username=name, username_key=name, domain=inbox.split("/")[2], uri=uri
            )
            db.add(follower)
            db.add(RemoteActor(uri=uri, actor_type="Person", inbox=inbox))
            db.flush()
            db.add(Follow(follower_id=follower.id, target_community_id=garden.id, state="accepted"))
    with transaction(engine) as db:
        ctx = Ctx(db, local_settings)
        communities.dissolve(ctx, accounts.get_local(ctx, "ada"), communities.get(ctx, "garden"))
    while jobs.run_one(engine, local_settings, "w1") is not None:
        pass
    assert [(a["type"], a["actor"], a["object"]) for a in peer.received] == [
        ("Delete", group_uri, group_uri)
    ] * 2
    assert peer.signed_by == [f"{group_uri}#main-key"] * 2  # the Group's own, known key
    with transaction(engine, write=False) as db:
        states = {j.state for j in db.exec(select(Job).where(Job.kind == "ap.deliver"))}
    assert states == {"done"}


def test_a_remote_group_that_deletes_itself_is_gone_here(ctx: Ctx) -> None:
    group = remote.store_actor(ctx, actor_doc("garden", "Group"))
    ada = accounts.register(ctx, "ada", PASSWORD)
    ctx.db.add(Follow(follower_id=ada.id, target_community_id=group.id, state="accepted"))
    ctx.db.flush()
    apply(
        ctx,
        {"id": f"{group.uri}#delete", "type": "Delete", "actor": group.uri, "object": group.uri},
    )
    assert ctx.db.exec(select(Community).where(Community.uri == group.uri)).first() is None
    assert ctx.db.exec(select(Follow).where(Follow.follower_id == ada.id)).all() == []
