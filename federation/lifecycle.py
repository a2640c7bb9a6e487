"""Federation of the account lifecycle (docs/federation.md, "Accounts that leave or
move"): the ``Delete`` of a deleted member's actor, sent to every server that knew
it; ``Move`` sent to a moved member's followers, and a received one carried out
(``ap.move``) once the target's own aliases, fetched afresh, name the origin; and
the look-ups an import needs (``ap.import_resolve``)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import col, select

from app.config import Settings
from app.errors import DomainError, NotFound
from app.infra import events, jobs
from app.models import Account, PeerDomain, RemoteActor
from app.services import Ctx, account_import, account_move, follows
from federation import network, remote
from federation.fetcher import FetchError
from federation.network import Network, in_db
from federation.outbound import activity_id, inboxes_of, publish
from federation.vocab import AS_PUBLIC


def _peer_inboxes(ctx: Ctx) -> set[str]:
    """One inbox (the shared one where there is one) of each server we have
    delivered to: the servers that may hold copies of a member's posts."""
    reached = set(
        ctx.db.exec(
            select(col(PeerDomain.domain)).where(col(PeerDomain.last_success_at).is_not(None))
        )
    )
    chosen: dict[str, str] = {}
    for row in ctx.db.exec(select(RemoteActor).order_by(col(RemoteActor.id))):
        inbox = row.shared_inbox or row.inbox
        domain = remote.authority_of(inbox)
        if domain in reached and (domain not in chosen or row.shared_inbox):
            chosen[domain] = inbox
    return set(chosen.values())


@events.on("account.deleting")
def _deleting(ctx: Ctx, account: Account) -> None:
    """A Delete of the actor by itself (``actor`` = ``object``), signed with its key,
    which stays for this; peers drop what they hold of it."""
    if not account.is_local:
        return
    activity = {
        "id": activity_id(ctx),
        "type": "Delete",
        "actor": account.uri,
        "object": account.uri,
        "to": [AS_PUBLIC],
    }
    followers = inboxes_of(ctx, [a.uri for a in follows.remote_followers(ctx, account)])
    publish(ctx, activity, followers | _peer_inboxes(ctx))


@jobs.handler("ap.import_resolve")
async def import_resolve(job: jobs.JobContext, payload: dict) -> None:
    """Look up one remote account of an imported file, then apply its line."""
    address = str(payload.get("address", ""))
    try:
        await network.ensure_known(job.engine, job.settings, address)
    except (FetchError, remote.InvalidActor) as exc:
        if isinstance(exc, FetchError) and exc.retryable:
            raise
        raise jobs.PermanentError(f"{address}: {exc}") from exc

    def apply(ctx: Ctx) -> None:
        member = ctx.db.get(Account, payload.get("account_id"))
        if member is None or not member.is_active:
            return
        try:
            target = follows.resolve_target(ctx, address)
            account_import.apply_one(ctx, member, str(payload.get("kind")), target)
        except DomainError as exc:
            raise jobs.PermanentError(f"{address}: {exc.detail}") from exc

    await job.run_db(apply)


@events.on("account.moved")
def _moved(ctx: Ctx, account: Account, target: Account) -> None:
    """Mastodon's Move: actor and object the old account, target the new one."""
    activity = {
        "id": activity_id(ctx),
        "type": "Move",
        "actor": account.uri,
        "object": account.uri,
        "target": target.uri,
        "to": [f"{account.uri}/followers"],
    }
    followers = inboxes_of(ctx, [a.uri for a in follows.remote_followers(ctx, account)])
    publish(ctx, activity, followers)


async def fetch_actor_afresh(engine: Engine, settings: Settings, target: str) -> None:
    """Before a move's transaction: make ``target`` (a handle or an actor URL) known
    and, if it is remote, read its actor document again from its server, so the
    aliases the move checks are the ones it holds now."""
    await network.ensure_known(engine, settings, target)

    def uri_of(ctx: Ctx) -> str | None:
        try:
            found = follows.resolve_target(ctx, target)
        except DomainError:
            return None
        return found.uri if isinstance(found, Account) and found.domain else None

    uri = await in_db(engine, settings, uri_of, write=False)
    if uri is None:
        return
    net = Network(engine, settings)
    try:
        doc = await net.fetch(uri)
    except FetchError as exc:
        raise NotFound(f"Could not read {uri[:200]} again.", code="target_not_found") from exc
    finally:
        await net.aclose()
    await in_db(engine, settings, lambda ctx: remote.store_actor(ctx, doc))


@jobs.handler("ap.move")
async def move_followers(job: jobs.JobContext, payload: dict) -> None:
    """A followed remote account moved: read the target afresh (unless it is ours),
    then move the local followers if it lists the origin among its aliases."""
    origin, target = str(payload.get("origin", "")), str(payload.get("target", ""))
    if not target.startswith(job.settings.base_url + "/"):
        try:
            doc = await network.shared(job).fetch(target)
        except FetchError as exc:
            if exc.retryable:
                raise
            raise jobs.PermanentError(f"{target}: {exc}") from exc
        try:
            await job.run_db(lambda ctx: remote.store_actor(ctx, doc))
        except remote.InvalidActor as exc:
            raise jobs.PermanentError(f"{target}: {exc}") from exc

    def carry(ctx: Ctx) -> None:
        old, new = remote.known(ctx, origin), remote.known(ctx, target)
        if not isinstance(old, Account) or not isinstance(new, Account):
            raise jobs.PermanentError("a Move is between two accounts")
        try:
            account_move.carry_followers(ctx, old, new)
        except DomainError as exc:
            raise jobs.PermanentError(f"{target}: {exc.detail}") from exc

    await job.run_db(carry)
