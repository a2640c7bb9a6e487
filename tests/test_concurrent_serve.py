"""Many members at once against a real ``commonground serve`` on SQLite (the
default database): no request fails with a server error, and every write the
server acknowledged is really stored.

This guards the request/transaction design, not a speed: with reads taking the
write lock, or request threads waiting for the lock while the holder waits for a
thread, 100 clients made requests hang and then answer 500.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from tests import load_traffic
from tests.server_process import ServerProcess

pytestmark = pytest.mark.slow

CLIENTS = 120


def test_many_concurrent_members_get_no_server_error_and_lose_nothing() -> None:
    with ServerProcess(startup_timeout=90) as server:
        seed = load_traffic.seed(server.url, members=12, posts=30)
        results = asyncio.run(load_traffic.run(server.url, seed, clients=CLIENTS, seconds=4.0))
        output = server.output()
        db = server.data_dir / "commonground.db"
        with sqlite3.connect(db) as conn:
            stored_posts = {row[0] for row in conn.execute("SELECT id FROM posts")}
            stored_reactions = set(
                conn.execute(
                    "SELECT a.username, r.post_id, r.kind FROM reactions r "
                    "JOIN accounts a ON a.id = r.account_id"
                )
            )

    assert results.requests >= CLIENTS, "every client got at least one answer"
    assert results.server_errors == 0, (results.statuses, results.failures[:5], output[-3000:])
    assert not results.failures, results.failures[:5]
    assert set(results.statuses) <= {200, 201}, results.statuses
    assert results.acknowledged_posts, "some posts were written under load"
    missing = set(results.acknowledged_posts) - stored_posts
    assert not missing, f"{len(missing)} acknowledged posts are not stored"
    # A later stance replaces an earlier one, so check likes (never replaced) exactly
    # and that each acknowledged stance left some stance by that member on that post.
    for username, post_id, kind in results.acknowledged_reactions:
        if kind == "like":
            assert (username, post_id, "like") in stored_reactions
        else:
            assert any(
                (username, post_id, k) in stored_reactions for k in ("agree", "disagree", "pass")
            ), (username, post_id, kind)
