"""The delivery prefetch (federation/delivery.py) runs for every claimed batch, so
it keeps what it may: an actor's signing key is read once and trusted for half the
cache's key age (its age is not renewed by being reused), and an outbox item's body
is parsed once, when first loaded."""

from __future__ import annotations

from sqlalchemy import event

from app.services import Ctx, accounts
from federation import delivery, outbound


def _publish(ctx: Ctx, actor_uri: str, n: int) -> dict:
    activity = {
        "id": f"{actor_uri}/activities/{n}",
        "type": "Create",
        "actor": actor_uri,
        "object": {"id": f"{actor_uri}/notes/{n}", "type": "Note", "content": "hi"},
    }
    item = outbound.publish(ctx, activity, ["http://peer.example/inbox"])
    return {"outbox_item": item.id, "inbox": "http://peer.example/inbox"}


def _key_reads(ctx: Ctx, shared: dict, payloads: list[dict]) -> int:
    statements: list[str] = []
    conn = ctx.db.connection()
    listen = lambda *args: statements.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    event.listen(conn, "before_cursor_execute", listen)
    try:
        delivery._prefetch(ctx, shared, payloads)
    finally:
        event.remove(conn, "before_cursor_execute", listen)
    return sum("actor_keys" in s for s in statements)


def test_a_signing_key_is_read_once_then_reused_until_half_its_cache_age(ctx: Ctx) -> None:
    actor = accounts.register(ctx, "alice", "correct horse battery").uri
    shared: dict = {}
    assert _key_reads(ctx, shared, [_publish(ctx, actor, 1)]) >= 1
    cache = delivery._cache(shared)
    read_at = cache.keys[actor][0]
    assert _key_reads(ctx, shared, [_publish(ctx, actor, 2)]) == 0  # a new item, same actor
    assert cache.keys[actor][0] == read_at  # reusing the key does not make it younger
    prepared = cache.prepared(_publish(ctx, actor, 3)["outbox_item"], "peer.example")
    assert prepared is None  # not prefetched: this one would load itself

    when, key_id, pem = cache.keys[actor]
    cache.keys[actor] = (when - delivery.DeliveryCache.KEY_SECONDS / 2 - 1, key_id, pem)
    assert _key_reads(ctx, shared, [_publish(ctx, actor, 4)]) >= 1  # old enough: read again
    assert cache.keys[actor][0] > read_at


def test_an_item_is_parsed_once_and_its_state_read_again_per_batch(ctx: Ctx, monkeypatch) -> None:
    actor = accounts.register(ctx, "alice", "correct horse battery").uri
    shared: dict = {}
    payload = _publish(ctx, actor, 1)
    delivery._prefetch(ctx, shared, [payload])
    parsed: list[object] = []
    real = delivery.orjson.loads
    monkeypatch.setattr(delivery.orjson, "loads", lambda b: parsed.append(b) or real(b))
    monkeypatch.setattr(delivery.json, "loads", lambda b: parsed.append(b) or real(b))
    cache = delivery._cache(shared)
    cache.recheck(payload["outbox_item"], True)  # as if it had been withheld
    delivery._prefetch(ctx, shared, [payload])
    assert parsed == []
    ready = cache.prepared(payload["outbox_item"], "peer.example")
    assert ready is not None and ready[0].withheld is False  # read again: it may leave
