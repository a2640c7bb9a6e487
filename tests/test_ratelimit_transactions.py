"""Counting a rate-limited attempt commits the count in a short transaction of its
own and leaves none open: the action's own writing transaction begins at its first
statement, as every request's does (app/deps.py), so no write lock is held between
the count and the action's first statement (e.g. across a slow password hash)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import func, select

from app.config import Settings
from app.db import transaction
from app.infra import ratelimit
from app.models import Post, RateLimitHit
from app.services import Ctx, accounts, posts
from tests.conftest import PASSWORD

CLIENT = "203.0.113.9"


def test_a_counted_attempt_leaves_no_transaction_open(engine: Engine, settings: Settings) -> None:
    with transaction(engine) as db:
        alice = accounts.register(Ctx(db, settings), "alice", PASSWORD)
    with transaction(engine) as db:
        ctx = Ctx(db, settings)
        ratelimit.limit(ctx, "post", account=alice.id, client=CLIENT)
        assert not db.in_transaction()  # nothing holds the write lock for the action yet
        with transaction(engine, write=False) as other:  # the count stands on its own
            assert other.exec(select(func.count()).select_from(RateLimitHit)).one() == 2
        posts.create(ctx, accounts.get_local(ctx, "alice"), "written after the count")
        assert db.in_transaction()  # the action's writing transaction, begun lazily
    with transaction(engine, write=False) as db:
        assert db.exec(select(Post.text)).all() == ["written after the count"]


def test_each_limited_action_counts_and_then_writes(engine: Engine, settings: Settings) -> None:
    """Sign-up, posting and log-in through the limiter, in one writing session each."""
    with transaction(engine) as db:
        accounts.register(Ctx(db, settings), "bob", PASSWORD, client=CLIENT)
    with transaction(engine) as db:
        ctx = Ctx(db, settings)
        bob = accounts.authenticate(ctx, "bob", PASSWORD, CLIENT)
        posts.create(ctx, bob, "a limited post", client=CLIENT)
    with transaction(engine, write=False) as db:
        assert db.exec(select(Post.text)).all() == ["a limited post"]
