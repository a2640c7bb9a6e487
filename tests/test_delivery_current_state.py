"""A delivery sends what is true when it is sent: a queued Create of a post deleted
since it was queued is dropped (its Delete follows), and so is one whose author
was suspended meanwhile, however warm the worker's cache of outbox items is."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import Engine
from sqlmodel import select

import app.plugins
from app.config import Settings
from app.db import transaction
from app.infra import jobs
from app.models import Account, Follow, Job, RemoteActor
from app.services import Ctx, accounts, posts
from tests.peers import RecordingPeer

app.plugins.load()
SECRET = "the words that were taken back"


def _author_with_followers(engine: Engine, settings: Settings, peer: RecordingPeer) -> None:
    """A local member followed by two people on the peer (two inboxes, so two jobs)."""
    with transaction(engine) as db:
        ctx = Ctx(db, settings)
        alice = accounts.register(ctx, "alice", "correct horse battery")
        for name in ("ann", "bob"):
            inbox = peer.inbox(name)
            uri = inbox.removesuffix("/inbox")
            follower = Account(
                username=name, username_key=name, domain=inbox.split("/")[2], uri=uri
            )
            db.add(follower)
            db.add(RemoteActor(uri=uri, actor_type="Person", inbox=inbox))
            db.flush()
            db.add(Follow(follower_id=follower.id, target_account_id=alice.id, state="accepted"))


def _post(engine: Engine, settings: Settings) -> int:
    with transaction(engine) as db:
        ctx = Ctx(db, settings)
        alice = accounts.get_local(ctx, "alice")
        return posts.create(ctx, alice, SECRET).id


def _queued(engine: Engine) -> list[str]:
    with transaction(engine, write=False) as db:
        rows = db.exec(select(Job).where(Job.kind == "ap.deliver", Job.state == "queued"))
        return [json.loads(j.payload)["inbox"] for j in rows]


async def _run_like_a_worker(engine: Engine, settings: Settings, shared: dict) -> Job | None:
    """Claim one job, prefetch its batch and run it, as the worker loop does (the
    same ``shared`` dict across calls keeps the worker's caches warm)."""
    batch = await asyncio.to_thread(jobs.claim_many, engine, "w1", 1)
    if not batch:
        return None
    await asyncio.to_thread(jobs._prefetch, engine, settings, shared, batch)
    return await jobs.execute(batch[0], engine, settings, shared)


def test_a_queued_create_of_a_deleted_post_is_not_sent(
    engine: Engine, local_settings: Settings, peer: RecordingPeer
) -> None:
    _author_with_followers(engine, local_settings, peer)
    post_id = _post(engine, local_settings)
    assert len(_queued(engine)) == 2  # one Create per follower's inbox
    with transaction(engine) as db:
        ctx = Ctx(db, local_settings)
        posts.delete_post(ctx, accounts.get_local(ctx, "alice"), post_id)
    while jobs.run_one(engine, local_settings, "w1") is not None:
        pass
    assert SECRET not in json.dumps(peer.received)
    assert peer.types() == ["Delete", "Delete"]
    assert _queued(engine) == []


def test_a_warm_cache_does_not_send_the_old_body(
    engine: Engine, local_settings: Settings, peer: RecordingPeer
) -> None:
    """The first follower gets the Create; the post is deleted; the second one's
    Create, whose outbox item the worker has already cached, is not sent."""
    _author_with_followers(engine, local_settings, peer)
    post_id = _post(engine, local_settings)

    async def scenario() -> list[Job]:
        shared: dict = {}
        done = [await _run_like_a_worker(engine, local_settings, shared)]
        with transaction(engine) as db:
            ctx = Ctx(db, local_settings)
            posts.delete_post(ctx, accounts.get_local(ctx, "alice"), post_id)
        while (job := await _run_like_a_worker(engine, local_settings, shared)) is not None:
            done.append(job)
        for closer in shared.get("closers", []):
            await closer()
        return done

    done = asyncio.run(scenario())
    assert peer.types() == ["Create", "Delete", "Delete"]
    assert SECRET in json.dumps(peer.received[0])
    assert SECRET not in json.dumps(peer.received[1:])
    assert [j.state for j in done] == ["done"] * 4  # the dropped one is not a failure


def test_a_queued_create_by_a_member_suspended_since_is_not_sent(
    engine: Engine, local_settings: Settings, peer: RecordingPeer
) -> None:
    _author_with_followers(engine, local_settings, peer)
    _post(engine, local_settings)
    with transaction(engine) as db:
        ctx = Ctx(db, local_settings)
        accounts.set_active(ctx, accounts.get_local(ctx, "alice"), False)
    while jobs.run_one(engine, local_settings, "w1") is not None:
        pass
    assert SECRET not in json.dumps(peer.received)
    assert _queued(engine) == []
