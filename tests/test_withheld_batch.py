"""Whether a batch of outgoing activities may still leave, decided in a fixed number
of queries (the delivery prefetch asks this for every claimed batch), with the
same answer as asking activity by activity."""

from __future__ import annotations

from sqlalchemy import event

from app.services import Ctx, accounts, posts
from federation import objects


def _carried(activities: dict[int, dict]) -> dict[int, list[str]]:
    return {k: objects.carried_uris(a) for k, a in activities.items()}


def _create(uri: str) -> dict:
    return {"type": "Create", "object": {"id": uri, "type": "Note"}}


def test_a_batch_gets_the_one_by_one_answer_in_a_fixed_number_of_queries(ctx: Ctx) -> None:
    alice = accounts.register(ctx, "alice", "correct horse battery")
    bob = accounts.register(ctx, "bob", "correct horse battery")
    kept = posts.create(ctx, alice, "still here")
    gone = posts.create(ctx, alice, "taken back")
    posts.delete_post(ctx, alice, gone.id)
    silenced = posts.create(ctx, bob, "by a member suspended since")
    accounts.set_active(ctx, bob, False)
    ctx.db.flush()
    activities = {
        1: _create(kept.uri),
        2: _create(gone.uri),
        3: _create(silenced.uri),
        4: _create("https://elsewhere.example/notes/1"),  # not ours: nothing to withhold
        5: {"type": "Announce", "object": _create(gone.uri)},  # nested, as deep as we nest
        6: {"type": "Like", "object": gone.uri},  # carries no copy
        7: {"type": "Update", "object": silenced.uri},
        8: {"type": "Create", "object": "not a dict but an id"},
    }
    one_by_one = {k for k, a in activities.items() if objects.withheld_post_in(ctx, a)}
    assert one_by_one == {2, 3, 5, 7}

    statements: list[str] = []
    conn = ctx.db.connection()
    listen = lambda *args: statements.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    event.listen(conn, "before_cursor_execute", listen)
    try:
        assert objects.withheld_among(ctx, _carried(activities)) == one_by_one
        few = len(statements)
        many = {k: _create(kept.uri) for k in range(100)} | activities
        statements.clear()
        assert objects.withheld_among(ctx, _carried(many)) == one_by_one
    finally:
        event.remove(conn, "before_cursor_execute", listen)
    assert len(statements) == few <= 2
    assert objects.withheld_among(ctx, {}) == set()
