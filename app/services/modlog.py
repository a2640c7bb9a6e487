"""The public moderation log: every action of a scope (a community, here or on
another instance, or this instance), newest first, for anyone to read.

It shows the acting role, and the moderator's name only in a community that
chose so (``Community.modlog_names``); never the removed content: the short
excerpt is for the scope's moderators alone."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import tuple_
from sqlmodel import col, select

from app.models import Account, Appeal, Community, ModerationAction
from app.services import Ctx, moderation
from app.services.moderation import Scope
from app.services.ranking.types import Cursor

PAGE = 50
MAX_PAGE = 100


@dataclass
class Entry:
    """One log entry as the public (or a moderator) sees it."""

    action: ModerationAction
    actor: str  # the role, or the moderator's name where the community shows names
    rule_number: int | None
    appeal: str | None  # open | granted | denied
    reversed_by: int | None
    excerpt: str  # "" unless the viewer moderates this scope


def listing(
    ctx: Ctx,
    scope: Scope,
    viewer: Account | None,
    *,
    cursor: str | None = None,
    limit: int = PAGE,
) -> tuple[list[Entry], str | None]:
    """A page of the scope's log, keyset-paginated on (created_at, id)."""
    limit = max(1, min(limit, MAX_PAGE))
    q = select(ModerationAction).where(
        col(ModerationAction.community_id).is_(None)
        if scope.community is None
        else col(ModerationAction.community_id) == scope.community_id
    )
    if cursor:
        at = Cursor.decode(cursor)
        q = q.where(
            tuple_(col(ModerationAction.created_at), col(ModerationAction.id))
            < tuple_(at.created_at, at.id)
        )
    q = q.order_by(col(ModerationAction.created_at).desc(), col(ModerationAction.id).desc())
    rows = list(ctx.db.exec(q.limit(limit + 1)))
    more, rows = len(rows) > limit, rows[:limit]
    entries = _entries(ctx, scope, viewer, rows)
    last = rows[-1] if rows and more else None
    return entries, (Cursor(last.created_at, last.id).encode() if last else None)


def _entries(
    ctx: Ctx, scope: Scope, viewer: Account | None, rows: list[ModerationAction]
) -> list[Entry]:
    ids = [r.id for r in rows] or [0]
    appeals = {
        a.action_id: a.state
        for a in ctx.db.exec(select(Appeal).where(col(Appeal.action_id).in_(ids)))
    }
    reversals = dict(
        ctx.db.exec(
            select(col(ModerationAction.reverses_id), col(ModerationAction.id)).where(
                col(ModerationAction.reverses_id).in_(ids)
            )
        ).all()
    )
    rules = moderation.rule_number(ctx, [r.rule_id for r in rows if r.rule_id is not None])
    names = _names(ctx, scope.community, rows)
    moderates = moderation.can_moderate(ctx, viewer, scope)
    return [
        Entry(
            action=r,
            actor=names.get(r.actor_id or 0) or _role(r),
            rule_number=rules[r.rule_id].position if r.rule_id in rules else None,
            appeal=appeals.get(r.id),
            reversed_by=reversals.get(r.id),
            excerpt=r.excerpt if moderates else "",
        )
        for r in rows
    ]


def _role(row: ModerationAction) -> str:
    if row.origin_domain:
        return f"a moderator at {row.origin_domain}"
    return {"admin": "an admin", "moderator": "a moderator"}.get(row.actor_role, row.actor_role)


def _names(ctx: Ctx, community: Community | None, rows: list[ModerationAction]) -> dict[int, str]:
    """The acting moderators' handles, where the community chose to show them."""
    if community is None or not community.modlog_names:
        return {}
    ids = {r.actor_id for r in rows if r.actor_id is not None and not r.origin_domain}
    if not ids:
        return {}
    people = ctx.db.exec(select(Account).where(col(Account.id).in_(ids)))
    return {a.id: f"@{a.username}" for a in people}
