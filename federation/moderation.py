"""Group moderation over ActivityPub (FEP-1b12), both ways.

Sent: when a local community's moderator removes a post in it, the Group
announces its own ``Delete`` of the post to its followers (and to the author's
server); a ban is the Group's ``Block {object: member, target: Group}``
announced the same way, an unban (or a granted appeal of a ban) its ``Undo``.
The Group signs the ``Announce``; the inner activity's actor is the Group too
(FEP-1b12 accepts moderation activities from the Group's own server), so a
receiver needs no list of moderators to trust it: a Group moderates its own
threads.

Received (federation/handlers.py): a Group we follow announcing its Delete of a
post in its community, or its Block of a member, is applied here through
``moderation.remote_removal`` / ``remote_ban`` and logged with the Group's host."""

from __future__ import annotations

from sqlmodel import col, select

from app.infra import events
from app.models import Account, Community, ModerationAction, Post
from app.services import Ctx
from federation.outbound import activity_id, inboxes_of, publish, remote_follower_inboxes
from federation.vocab import AS_PUBLIC


def _announce(ctx: Ctx, group: Community, inner: dict, extra: set[str]) -> None:
    inboxes = remote_follower_inboxes(ctx, group) | extra
    if not inboxes:
        return
    publish(
        ctx,
        {
            "id": activity_id(ctx),
            "type": "Announce",
            "actor": group.uri,
            "object": inner,
            "to": [AS_PUBLIC],
            "cc": [f"{group.uri}/followers"],
        },
        inboxes,
    )


def block_of(group: Community, member: Account, action: ModerationAction) -> dict:
    """The Group's Block of a member (its id names the ban's log entry, so the
    Undo can carry the same activity)."""
    block = {
        "id": f"{group.uri}#ban-{action.id}",
        "type": "Block",
        "actor": group.uri,
        "object": member.uri,
        "target": group.uri,
        "to": [AS_PUBLIC],
        "cc": [f"{group.uri}/followers"],
        "summary": action.reason,
        "rule": action.rule_text,
    }
    if action.expires_at is not None:
        block["endTime"] = action.expires_at.isoformat()
    return block


@events.on("moderation.acted")
def _acted(ctx: Ctx, action: ModerationAction) -> None:
    if action.origin_domain or action.community_id is None:
        return  # a remote Group's own action, or the instance's
    group = ctx.db.get(Community, action.community_id)
    if group is None or group.domain:
        return
    member = ctx.db.get(Account, action.target_account_id) if action.target_account_id else None
    extra = inboxes_of(ctx, [member.uri]) if member is not None and member.domain else set()
    if action.action == "remove" and action.target_type == "post":
        post = ctx.db.get(Post, action.target_id)
        if post is None:
            return
        delete = {
            "id": f"{activity_id(ctx)}",
            "type": "Delete",
            "actor": group.uri,
            "object": {"id": post.uri, "type": "Tombstone"},
            "to": [AS_PUBLIC],
            "cc": [f"{group.uri}/followers"],
            "audience": group.uri,
            "summary": action.reason,
            "rule": action.rule_text,
        }
        _announce(ctx, group, delete, extra)
    elif action.action == "ban" and member is not None:
        _announce(ctx, group, block_of(group, member, action), extra)
    elif action.action in ("unban", "appeal_granted") and member is not None:
        banned = ctx.db.get(ModerationAction, action.reverses_id) if action.reverses_id else None
        if banned is None or banned.action != "ban":
            banned = _last_ban(ctx, group, member)
        if banned is None:
            return
        undo = {
            "id": activity_id(ctx),
            "type": "Undo",
            "actor": group.uri,
            "object": block_of(group, member, banned),
            "to": [AS_PUBLIC],
            "cc": [f"{group.uri}/followers"],
        }
        _announce(ctx, group, undo, extra)


def _last_ban(ctx: Ctx, group: Community, member: Account) -> ModerationAction | None:
    return ctx.db.exec(
        select(ModerationAction)
        .where(
            col(ModerationAction.community_id) == group.id,
            col(ModerationAction.target_account_id) == member.id,
            col(ModerationAction.action) == "ban",
        )
        .order_by(col(ModerationAction.id).desc())
    ).first()
