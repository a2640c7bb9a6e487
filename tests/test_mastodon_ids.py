"""Status ids: every post gets a time-sortable id when it is stored (local posts at
their writing, remote ones from their own ``published`` time), and the migration
gives every existing post one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from app.db import make_engine
from app.migrate import upgrade
from app.models import Account
from app.services import Ctx, accounts, posts


def _remote(ctx: Ctx, name: str = "bob") -> Account:
    account = Account(
        username=name,
        username_key=name,
        domain="remote.example",
        uri=f"https://remote.example/users/{name}",
    )
    ctx.db.add(account)
    ctx.db.flush()
    return account


def test_local_posts_get_increasing_status_ids(ctx: Ctx) -> None:
    alice = accounts.register(ctx, "alice", "correct horse battery")
    made = [posts.create(ctx, alice, f"post {i}") for i in range(5)]
    ids = [p.status_id for p in made]
    assert all(isinstance(i, int) and i > 2**40 for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == 5
    # the high bits are the post's milliseconds
    for p in made:
        assert p.status_id is not None
        assert p.status_id >> posts.STATUS_ID_BITS == int(p.created_at.timestamp() * 1000)


def test_remote_post_sorts_by_its_published_time(ctx: Ctx) -> None:
    alice = accounts.register(ctx, "alice", "correct horse battery")
    bob = _remote(ctx)
    newer = posts.create(ctx, alice, "written now")
    old = posts.store_remote(
        ctx,
        uri="https://remote.example/notes/1",
        author=bob,
        html="<p>written yesterday, arrived late</p>",
        published=datetime.now(UTC) - timedelta(days=1),
    )
    assert old is not None and old.status_id is not None and newer.status_id is not None
    assert old.status_id < newer.status_id
    day_ago_ms = int((datetime.now(UTC) - timedelta(hours=23)).timestamp() * 1000)
    assert old.status_id < day_ago_ms << posts.STATUS_ID_BITS
    assert posts.get_by_status_id(ctx, old.status_id).id == old.id


def test_unknown_status_ids_are_not_found(ctx: Ctx) -> None:
    import pytest

    from app.errors import NotFound

    for value in (0, -1, 2**63, 2**80, 12345):
        with pytest.raises(NotFound):
            posts.get_by_status_id(ctx, value)


def test_migration_gives_existing_posts_status_ids(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0021_account_lifecycle")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO accounts (id, username, username_key, domain, uri, display_name,"
                    " bio, avatar_url, header_url, is_admin, is_active, expand_warnings,"
                    " created_at, updated_at, also_known_as) VALUES (1, 'a', 'a', '', 'u:a', '',"
                    " '', '', '', 0, 1, 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00', '')"
                )
            )
            for i, when in enumerate(["2026-01-02 00:00:00.5", "2026-01-01 00:00:00"], 1):
                conn.execute(
                    text(
                        "INSERT INTO posts (id, uri, author_id, text, html, object_type,"
                        " reply_count, created_at) VALUES (:i, :u, 1, 't', 't', 'Note', 0, :w)"
                    ),
                    {"i": i, "u": f"u:p{i}", "w": when},
                )
        upgrade(url)
        with engine.connect() as conn:
            got = dict(conn.execute(text("SELECT id, status_id FROM posts")).all())
    finally:
        engine.dispose()
    newer_ms = int(datetime(2026, 1, 2, 0, 0, 0, 500000, tzinfo=UTC).timestamp() * 1000)
    assert got[1] == (newer_ms << 16) | (1 << 2)  # 0027: row id above two 0 bits
    assert got[2] < got[1]
