"""Reports over ActivityPub: the ``Flag`` activity, sent and received.

Sent: a member's report of remote content, when they ask to forward it, becomes a
``forward_flag`` job; the job builds a ``Flag`` from *our instance actor* (never the
reporter: nothing in it names them) whose ``object`` lists the reported account, the
reported object and the extra posts, with the comment as ``content``, and hands it to
the normal delivery path (outbox item + signed ``ap.deliver``) to the account's
shared inbox (or its own).

Received: the inbox edge has checked the signature (the signer is the actor, or
only the origin's copy is believed) and that the Flag's id is on the actor's host.
The handler accepts a Flag only if every object is a post, artifact, statement,
member or community of *ours*; it stores one open report per target with no
reporter, the sender's domain and the Flag's id (a redelivery adds nothing).
"""

from __future__ import annotations

import logging

from app.errors import DomainError
from app.infra import events, jobs
from app.models import Account, Community, Post, Report, get_row, utcnow
from app.services import Ctx, reports
from app.text import plain_text
from federation import handlers, outbound, remote, vocab
from federation.actors import instance_actor_uri

log = logging.getLogger("commonground.flags")
MAX_FLAG_OBJECTS = 20


# --- sent ------------------------------------------------------------------------------


@events.on("report.filed")
def _queue_forward(ctx: Ctx, report: Report) -> None:
    """A report the member asked to forward: send it in a job of its own."""
    if report.forward:
        jobs.enqueue(ctx, "forward_flag", {"report": report.id})


def flag_activity(ctx: Ctx, report: Report) -> tuple[dict, str] | None:
    """The ``Flag`` for ``report`` and the actor whose inbox gets it; None when
    there is nothing (left) to forward."""
    try:
        target = reports.find_target(ctx, report.target_type, report.target_id)
    except DomainError:  # the target is gone since: nothing to send
        return None
    if not target.remote_domain:
        return None
    owner = target.community if target.type == "community" else target.account
    if owner is None:
        return None
    objects = [owner.uri]
    if target.uri != owner.uri:
        objects.append(target.uri)
    for post_id in reports.extra_post_ids_of(report):
        post = get_row(ctx.db, Post, post_id)
        if post is not None and post.uri not in objects:
            objects.append(post.uri)
    activity = {
        "id": outbound.activity_id(ctx),
        "type": "Flag",
        "actor": instance_actor_uri(ctx),
        "object": objects,
        "content": report.comment,
    }
    return activity, owner.uri


@jobs.handler("forward_flag")
def forward_flag(ctx: Ctx, payload: dict) -> None:
    """Send the Flag once (``forwarded_at`` marks it sent: a rerun sends nothing)."""
    report = get_row(ctx.db, Report, payload.get("report"))
    if report is None or not report.forward or report.forwarded_at is not None:
        return
    built = flag_activity(ctx, report)
    if built is None:
        log.info("report %s: nothing left to forward", report.id)
        return
    activity, owner_uri = built
    inbox = remote.inbox_of(ctx, owner_uri, shared=True)
    if inbox is None:
        raise jobs.PermanentError(f"no inbox known for {owner_uri}")
    outbound.publish(ctx, activity, [inbox], public=False)
    report.forwarded_at = utcnow()
    ctx.db.add(report)


# --- received --------------------------------------------------------------------------


@handlers.handles("Flag")
def on_flag(ctx: Ctx, activity: dict, actor: Account | Community, budget: handlers.Budget) -> None:
    """Another instance reports something of ours: store it, or drop it with why."""
    if not actor.domain:
        raise handlers.Ignored("a Flag comes from another instance")
    uris = [vocab.id_of(o) for o in vocab.as_list(activity.get("object"))]
    if not uris or len(uris) > MAX_FLAG_OBJECTS or not all(uris):
        raise handlers.Ignored(f"a Flag names 1 to {MAX_FLAG_OBJECTS} objects by their ids")
    ours = ctx.base_url + "/"
    foreign = [u for u in uris if u is not None and not u.startswith(ours)]
    if foreign:
        raise handlers.Ignored(f"a Flag about content on another host: {foreign[0][:200]}")
    targets = []
    for uri in uris:
        target = reports.local_target_by_uri(ctx, uri or "")
        if target is None:
            raise handlers.Ignored(f"the Flag names nothing of ours at {uri}")
        targets.append(target)
    content = activity.get("content")
    comment = plain_text(content, limit=reports.MAX_COMMENT) if isinstance(content, str) else ""
    stored = reports.record_flag(
        ctx, remote.authority_of(actor.uri), activity["id"], targets, comment
    )
    if not stored:
        raise handlers.Ignored("this Flag was already recorded")
