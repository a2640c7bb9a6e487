"""Sync: reading a followed actor's outbox, so nothing is missed.

When one of our members' follows is accepted, the followed outbox is read and up
to ``BACKFILL_ITEMS`` recent activities are applied; every ``CATCH_UP_EVERY`` the
worker does this again for everything followed, filling gaps left by downtime.
Items already stored are skipped (posts are keyed by their URI).
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from app.infra import jobs
from app.models import Account, Community, Follow, utcnow
from app.services import Ctx
from federation import handlers, network, remote, vocab
from federation.fetcher import FetchError
from federation.inbox import run_with_fetches

BACKFILL_ITEMS = 20
CATCH_UP_EVERY = timedelta(minutes=30)
jobs.periodic("ap.catch_up", CATCH_UP_EVERY)


def _items(collection: dict) -> list:
    items = collection.get("orderedItems", collection.get("items"))
    return items if isinstance(items, list) else []


async def read_outbox(net: network.Network, outbox: str) -> list[dict]:
    collection = await net.fetch(outbox)
    items = _items(collection)
    first = collection.get("first")
    if not items and isinstance(first, dict):
        items = _items(first)
    elif not items and isinstance(first, str) and remote.same_host(first, outbox):
        items = _items(await net.fetch(first))
    return [i for i in items[:BACKFILL_ITEMS] if isinstance(i, dict)]


def _apply_item(ctx: Ctx, actor_uri: str, item: dict, budget: handlers.Budget) -> None:
    """An outbox item fetched from the actor's own host counts as coming from it."""
    if vocab.id_of(item.get("actor")) != actor_uri or not remote.same_host(
        str(item.get("id", "")), actor_uri
    ):
        return
    item = {**item, "actor": actor_uri}
    try:
        with ctx.db.begin_nested():
            handlers.process(ctx, item, budget)
    except handlers.Ignored:
        pass


@jobs.handler("ap.backfill")
async def backfill(job: jobs.JobContext, payload: dict) -> None:
    actor_uri = payload["actor"]
    found = await job.run_db(lambda ctx: remote.endpoints(ctx, actor_uri))
    if found is None or not found.outbox:
        return
    net = network.shared(job)
    try:
        items = await read_outbox(net, found.outbox)
    except FetchError as exc:
        if exc.retryable:
            raise
        raise jobs.PermanentError(str(exc)) from exc
    for item in reversed(items):  # oldest first, so replies find their parents
        await run_with_fetches(
            job, lambda ctx, budget, it=item: _apply_item(ctx, actor_uri, it, budget)
        )


@jobs.handler("ap.catch_up")
def catch_up(ctx: Ctx, payload: dict) -> None:
    """Queue a backfill of every remote actor a member here follows."""
    people = select(col(Account.uri)).join(Follow, col(Follow.target_account_id) == col(Account.id))
    groups = select(col(Community.uri)).join(
        Follow, col(Follow.target_community_id) == col(Community.id)
    )
    uris: set[str] = set()
    for q, model in ((people, Account), (groups, Community)):
        uris |= set(ctx.db.exec(q.where(col(Follow.state) == "accepted", model.domain != "")).all())
    for uri in sorted(uris):
        jobs.enqueue(ctx, "ap.backfill", {"actor": uri})
    every = timedelta(seconds=payload.get("every_seconds", CATCH_UP_EVERY.total_seconds()))
    jobs.reschedule(ctx, "ap.catch_up", payload, utcnow() + every)
