"""Federation of the account lifecycle (docs/federation.md, "Accounts that leave"):
the ``Delete`` of a deleted member's actor, sent to every server that knew it,
and the look-ups an import needs (``ap.import_resolve``)."""

from __future__ import annotations

from sqlmodel import col, select

from app.errors import DomainError
from app.infra import events, jobs
from app.models import Account, PeerDomain, RemoteActor
from app.services import Ctx, account_import, follows
from federation import network, remote
from federation.fetcher import FetchError
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
