"""On PostgreSQL, members writing at the same time do not wait for each other.

Posts, artifacts and statements get their URI from their id, so the row is inserted first.
While every new row was inserted with the same placeholder URI (``""``), the
unique index on ``uri`` made each insert wait until the transaction holding that
placeholder committed: all posting on an instance was serialised, and under
load posting p99 reached seconds while reads stayed fast (bench/load.py).

Each test holds one member's write open and checks that another member's
write of the same kind goes through meanwhile: ``lock_timeout`` turns "waits
for the other transaction" into an error instead of a hang. (SQLite admits one
writer at a time by design, so there is no overlap to test there.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from app.config import Settings
from app.db import make_engine, transaction
from app.migrate import upgrade
from app.models import Artifact, Post, Statement
from app.services import Ctx, accounts, artifacts, communities, posts, stances
from tests.conftest import PASSWORD, make_settings


@pytest.fixture
def pg(fresh_postgres: str, tmp_path: Path) -> Iterator[tuple[Engine, Settings]]:
    upgrade(fresh_postgres)
    engine = make_engine(fresh_postgres)
    settings = make_settings(tmp_path, fresh_postgres)
    with transaction(engine) as db:
        ctx = Ctx(db, settings)
        ann = accounts.register(ctx, "ann", PASSWORD)
        bob = accounts.register(ctx, "bob", PASSWORD)
        garden = communities.create(ctx, ann, "garden")
        communities.join(ctx, bob, garden)
    yield engine, settings
    engine.dispose()


def _meanwhile(engine: Engine, settings: Settings, first, second) -> None:
    """Run ``first`` in a transaction left open, then ``second`` in another one
    that may not wait for a lock, then commit both."""
    held = Session(engine)
    try:
        first(Ctx(held, settings))
        held.flush()
        with transaction(engine) as db:
            db.execute(text("SET LOCAL lock_timeout = '3s'"))
            second(Ctx(db, settings))
        held.commit()
    finally:
        held.close()


def _both_stored(
    engine: Engine, settings: Settings, model: type[Post | Artifact | Statement], path: str
) -> None:
    """Both writes were kept, each with the URI its id gives it (not a placeholder)."""
    with Session(engine) as db:
        stored = db.exec(select(model.id, model.uri)).all()
    assert len(stored) == 2
    expected = {f"{settings.base_url}/{path}/{row_id}" for row_id, _ in stored}
    assert {uri for _, uri in stored} == expected


def test_two_members_posting_at_once_do_not_wait_for_each_other(
    pg: tuple[Engine, Settings],
) -> None:
    engine, settings = pg

    def post_as(name: str):
        def write(ctx: Ctx) -> None:
            posts.create(ctx, accounts.get_local(ctx, name), f"{name} says hi", community="garden")

        return write

    _meanwhile(engine, settings, post_as("ann"), post_as("bob"))

    _both_stored(engine, settings, Post, "posts")


def test_two_members_starting_artifacts_at_once_do_not_wait_for_each_other(
    pg: tuple[Engine, Settings],
) -> None:
    engine, settings = pg

    def start_as(name: str):
        def write(ctx: Ctx) -> None:
            author = accounts.get_local(ctx, name)
            artifacts.create(ctx, author, "garden", "idea", f"{name}'s idea", "Plant more trees.")

        return write

    _meanwhile(engine, settings, start_as("ann"), start_as("bob"))

    _both_stored(engine, settings, Artifact, "artifacts")


def test_two_members_adding_statements_at_once_do_not_wait_for_each_other(
    pg: tuple[Engine, Settings],
) -> None:
    engine, settings = pg
    with transaction(engine) as db:
        ctx = Ctx(db, settings)
        ann = accounts.get_local(ctx, "ann")
        idea = artifacts.create(ctx, ann, "garden", "idea", "Trees", "Plant more trees.").id

    def state_as(name: str):
        def write(ctx: Ctx) -> None:
            stances.add_statement(ctx, accounts.get_local(ctx, name), idea, f"{name} agrees")

        return write

    _meanwhile(engine, settings, state_as("ann"), state_as("bob"))

    _both_stored(engine, settings, Statement, "statements")
