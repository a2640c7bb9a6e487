"""Appeals: the member acted on asks, once per action, for a second look; a
moderator of the action's scope grants it (the effect is reversed where it can
be, logged as an ``appeal_granted`` action that ``reverses_id`` the original) or
denies it (logged as ``appeal_denied``). The member is told either way.

A removed post is not brought back: its tombstone dropped the text, and a local
post's Delete has already reached other servers; granting says so in the log."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.infra import events
from app.models import Account, Appeal, Community, ModerationAction, PeerDomain, get_row, utcnow
from app.services import Ctx, accounts, moderation, peers

MAX_APPEAL = 2000


def of_action(ctx: Ctx, action: ModerationAction) -> Appeal | None:
    return ctx.db.exec(select(Appeal).where(col(Appeal.action_id) == action.id)).first()


def may_appeal(ctx: Ctx, account: Account | None, action: ModerationAction) -> bool:
    return (
        account is not None
        and action.target_account_id == account.id
        and action.action in moderation.APPEALABLE
        and not action.origin_domain
        and of_action(ctx, action) is None
    )


def appeal(ctx: Ctx, account: Account, action_id: int, text: str) -> Appeal:
    """The member's one appeal of an action taken on them or their content."""
    action = moderation.get_action(ctx, action_id)
    if action.target_account_id != account.id:
        raise Forbidden("Only the member acted on can appeal.", code="not_yours")
    if action.action not in moderation.APPEALABLE:
        raise Invalid("This action can't be appealed.", code="not_appealable")
    if action.origin_domain:
        raise Invalid(
            f"This was done on {action.origin_domain}: appeal to its moderators there.",
            code="not_appealable",
        )
    text = (text or "").strip()
    if not text:
        raise Invalid("Say why the action should be reconsidered.", code="appeal_text_required")
    if len(text) > MAX_APPEAL:
        raise Invalid(f"Appeals are at most {MAX_APPEAL:,} characters.", code="appeal_too_long")
    if of_action(ctx, action) is not None:
        raise Conflict("This action was appealed already.", code="already_appealed")
    row = Appeal(action_id=action.id, account_id=account.id, text=text)
    try:
        with ctx.db.begin_nested():
            ctx.db.add(row)
    except IntegrityError as exc:  # the same appeal, sent twice at once
        raise Conflict("This action was appealed already.", code="already_appealed") from exc
    return row


def get(ctx: Ctx, appeal_id: int) -> Appeal:
    row = get_row(ctx.db, Appeal, appeal_id)
    if row is None:
        raise NotFound("No such appeal.", code="appeal_not_found")
    return row


def decide(
    ctx: Ctx, moderator: Account, appeal_id: int, grant: bool, reason: str
) -> ModerationAction:
    """Grant or deny an open appeal; the decision is one new log entry."""
    row = get(ctx, appeal_id)
    original = moderation.get_action(ctx, row.action_id)
    scope = moderation.scope_of(ctx, original)
    moderation.require_moderator(ctx, moderator, scope)
    reason = moderation.check_reason(reason)
    if row.state != "open":
        raise Conflict("This appeal was decided already.", code="appeal_decided")
    if grant:
        _reverse(ctx, moderator, scope.community, original)
    logged = ModerationAction(
        community_id=original.community_id,
        actor_id=moderator.id,
        actor_role=moderation.role_of(moderator, scope),
        action="appeal_granted" if grant else "appeal_denied",
        target_type=original.target_type,
        target_id=original.target_id,
        target_account_id=original.target_account_id,
        target_label=original.target_label,
        rule_id=original.rule_id,
        rule_text=original.rule_text,
        reason=reason,
        reverses_id=original.id if grant else None,
    )
    ctx.db.add(logged)
    row.state = "granted" if grant else "denied"
    row.decided_at, row.decided_by_id = utcnow(), moderator.id
    ctx.db.add(row)
    ctx.db.flush()
    events.emit(ctx, "moderation.appeal_decided", appeal=row, action=logged)
    return logged


def _reverse(
    ctx: Ctx, moderator: Account, community: Community | None, original: ModerationAction
) -> None:
    """Undo what can be undone: a ban, a suspension, a domain's limits."""
    member = ctx.db.get(Account, original.target_account_id) if original.target_account_id else None
    if original.action == "ban" and community is not None and member is not None:
        moderation.lift_ban(ctx, community, member)
    elif original.action == "suspend" and member is not None:
        accounts.set_active(ctx, member, True)
    elif original.action == "suspend_domain":
        peers.set_blocked(ctx, moderator, original.target_label, False)
    elif original.action == "limit_domain":
        peer = ctx.db.get(PeerDomain, original.target_label)
        if peer is not None:
            peer.limited = False
            ctx.db.add(peer)
