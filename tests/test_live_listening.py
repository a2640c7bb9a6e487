"""The live fan-out's LISTEN connections (app/infra/live.py): one per event loop
*and database*, ended when the app or worker that needed it stops, so a dropped
or finished database is not listened to (and retried) for ever."""

from __future__ import annotations

import asyncio

import psycopg

from app.infra import live
from tests.conftest import _libpq, _throwaway_database


async def _listening_connections(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(_libpq(url), autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%%'"
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0


async def _notify(url: str, payload: str) -> None:
    async with await psycopg.AsyncConnection.connect(_libpq(url), autocommit=True) as conn:
        await conn.execute("SELECT pg_notify(%s, %s)", (live.CHANNEL, payload))


async def test_one_loop_listens_to_each_database_and_stops_when_told(fresh_postgres) -> None:
    with _throwaway_database("cg_live") as other:
        sub = live.BROKER.subscribe()
        try:
            await live.ensure_listening(fresh_postgres)
            await live.ensure_listening(other)
            await _notify(other, '{"from": "the second database"}')
            heard = await asyncio.wait_for(sub.queue.get(), 10)
            assert heard == {"from": "the second database"}
            assert await _listening_connections(fresh_postgres) == 1
            assert await _listening_connections(other) == 1
        finally:
            live.BROKER.unsubscribe(sub)
            await live.stop_listening(fresh_postgres)
            await live.stop_listening(other)
        for _ in range(50):  # the server notices a closed connection a moment later
            if await _listening_connections(other) == 0:
                break
            await asyncio.sleep(0.1)
        assert await _listening_connections(other) == 0
        assert await _listening_connections(fresh_postgres) == 0
