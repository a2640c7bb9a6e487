"""The moderation API: the queue, actions, appeals (app/services/moderation.py,
appeals.py) and the public moderation log (app/services/modlog.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from app.api.auth import MaybeAccount, Reader, Writer
from app.api.schemas import MAX_ID, Body, BoundedJSONRoute, CleanStr, Id
from app.deps import CtxDep
from app.models import Account, ModerationAction
from app.services import Ctx, appeals, communities, moderation, modlog
from app.services.moderation import Scope

router = APIRouter(tags=["moderation"], route_class=BoundedJSONRoute)
Name = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
# a local community's name, or name@domain for one on another instance
Handle = Annotated[str, Path(max_length=300, pattern=r"^[A-Za-z0-9_-]+(@[A-Za-z0-9.:-]+)?$")]
ScopeParam = Annotated[
    str, Query(max_length=320, pattern=r"^(instance|community:[A-Za-z0-9_-]+(@[A-Za-z0-9.:-]+)?)$")
]
Reason = Annotated[CleanStr, Field(max_length=moderation.MAX_REASON)]


class TargetIn(Body):
    type: CleanStr = Field(pattern="^(post|artifact|statement|account|community|domain)$")
    # a row's id, or for a domain its name
    id: Annotated[int, Field(ge=1, le=MAX_ID)] | Annotated[CleanStr, Field(max_length=260)]


class ActionIn(Body):
    report: Id | None = None
    target: TargetIn
    action: CleanStr = Field(pattern="^(" + "|".join(moderation.ACTIONS) + ")$")
    rule: Id
    reason: Reason
    duration: float | None = Field(default=None, gt=0, le=moderation.MAX_DURATION_HOURS)
    scope: str | None = Field(
        default=None,
        max_length=320,
        pattern=r"^(instance|community:[A-Za-z0-9_-]+(@[A-Za-z0-9.:-]+)?)$",
    )


class ActionOut(BaseModel):
    id: int
    scope: str
    action: str
    actor_role: str
    target_type: str
    target_id: int | None
    target_label: str
    rule_id: int | None
    rule_text: str
    reason: str
    expires_at: datetime | None
    reverses_id: int | None
    created_at: datetime


class AppealIn(Body):
    text: CleanStr = Field(max_length=appeals.MAX_APPEAL)


class DecisionIn(Body):
    reason: Reason


class AppealOut(BaseModel):
    id: int
    action_id: int
    state: str
    text: str
    created_at: datetime


class ReportOut(BaseModel):
    id: int
    origin: str  # "" here; another instance's domain for a Flag
    rules: list[str]
    comment: str
    created_at: datetime


class QueueEntryOut(BaseModel):
    target_type: str
    target_id: int
    label: str
    excerpt: str
    account: str | None
    count: int
    reports: list[ReportOut]
    prior: list[ActionOut]


class QueueOut(BaseModel):
    scope: str
    items: list[QueueEntryOut]
    appeals: list[AppealOut]


class LogEntryOut(BaseModel):
    id: int
    created_at: datetime
    actor: str
    action: str
    target: str
    rule_number: int | None
    rule_text: str
    reason: str
    expires_at: datetime | None
    appeal: str | None
    reversed_by: int | None
    reverses: int | None
    excerpt: str | None = None  # for the scope's moderators only


class LogOut(BaseModel):
    items: list[LogEntryOut]
    next_cursor: str | None


def _handle(ctx: Ctx, account: Account | None) -> str | None:
    if account is None:
        return None
    return f"{account.username}@{account.domain or ctx.settings.domain}"


def action_out(ctx: Ctx, a: ModerationAction) -> ActionOut:
    return ActionOut(
        id=a.id,
        scope=moderation.scope_of(ctx, a).label,
        action=a.action,
        actor_role=a.actor_role,
        target_type=a.target_type,
        target_id=a.target_id,
        target_label=a.target_label,
        rule_id=a.rule_id,
        rule_text=a.rule_text,
        reason=a.reason,
        expires_at=a.expires_at,
        reverses_id=a.reverses_id,
        created_at=a.created_at,
    )


@router.get("/moderation/queue", response_model=QueueOut)
def moderation_queue(scope: ScopeParam, ctx: CtxDep, viewer: Reader) -> QueueOut:
    """Open reports of the scope, one entry per target (moderators of the scope)."""
    where = moderation.parse_scope(ctx, scope)
    entries = moderation.queue(ctx, viewer, where)
    return QueueOut(
        scope=where.label,
        items=[
            QueueEntryOut(
                target_type=e.target_type,
                target_id=e.target_id,
                label=e.label,
                excerpt=e.excerpt,
                account=_handle(ctx, e.account),
                count=e.count,
                reports=[
                    ReportOut(
                        id=r.report.id,
                        origin=r.report.origin_domain,
                        rules=[rule.text for rule in r.rules],
                        comment=r.report.comment,
                        created_at=r.report.created_at,
                    )
                    for r in e.reports
                ],
                prior=[action_out(ctx, a) for a in e.prior],
            )
            for e in entries
        ],
        appeals=[_appeal_out(a) for a, _, _ in moderation.open_appeals(ctx, viewer, where)],
    )


@router.post("/moderation/actions", status_code=201, response_model=ActionOut)
def take_action(body: ActionIn, ctx: CtxDep, moderator: Writer) -> ActionOut:
    """Act on a target (and settle its reports): logged once, the member told."""
    done = moderation.act(
        ctx,
        moderator,
        action=body.action,
        target_type=body.target.type,
        target_id=body.target.id,
        rule_id=body.rule,
        reason=body.reason,
        report_id=body.report,
        scope=body.scope,
        duration_hours=body.duration,
    )
    return action_out(ctx, done)


def _appeal_out(a) -> AppealOut:
    return AppealOut(
        id=a.id, action_id=a.action_id, state=a.state, text=a.text, created_at=a.created_at
    )


@router.post("/moderation/actions/{action_id}/appeal", status_code=201, response_model=AppealOut)
def appeal_action(
    action_id: Annotated[int, Path(ge=1, le=MAX_ID)], body: AppealIn, ctx: CtxDep, member: Writer
) -> AppealOut:
    """The member acted on appeals, once per action."""
    return _appeal_out(appeals.appeal(ctx, member, action_id, body.text))


@router.post("/moderation/appeals/{appeal_id}/{verdict}", response_model=ActionOut)
def decide_appeal(
    appeal_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    verdict: Annotated[str, Path(pattern="^(grant|deny)$")],
    body: DecisionIn,
    ctx: CtxDep,
    moderator: Writer,
) -> ActionOut:
    """A moderator of the action's scope grants (reversing it) or denies an appeal."""
    return action_out(
        ctx, appeals.decide(ctx, moderator, appeal_id, verdict == "grant", body.reason)
    )


def _log(ctx: Ctx, where: Scope, viewer: Account | None, cursor: str | None, limit: int) -> LogOut:
    entries, next_cursor = modlog.listing(ctx, where, viewer, cursor=cursor, limit=limit)
    moderates = moderation.can_moderate(ctx, viewer, where)
    return LogOut(
        items=[
            LogEntryOut(
                id=e.action.id,
                created_at=e.action.created_at,
                actor=e.actor,
                action=e.action.action,
                target=e.action.target_label,
                rule_number=e.rule_number,
                rule_text=e.action.rule_text,
                reason=e.action.reason,
                expires_at=e.action.expires_at,
                appeal=e.appeal,
                reversed_by=e.reversed_by,
                reverses=e.action.reverses_id,
                excerpt=e.excerpt if moderates else None,
            )
            for e in entries
        ],
        next_cursor=next_cursor,
    )


Cursor = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int, Query(ge=1, le=modlog.MAX_PAGE)]


@router.get("/instance/modlog", response_model=LogOut)
def instance_modlog(
    ctx: CtxDep, viewer: MaybeAccount, cursor: Cursor = None, limit: Limit = modlog.PAGE
) -> LogOut:
    """The instance's public moderation log, newest first (no login needed)."""
    return _log(ctx, Scope(None), viewer, cursor, limit)


@router.get("/communities/{name}/modlog", response_model=LogOut)
def community_modlog(
    name: Handle,
    ctx: CtxDep,
    viewer: MaybeAccount,
    cursor: Cursor = None,
    limit: Limit = modlog.PAGE,
) -> LogOut:
    """A community's public moderation log (``name@domain`` for a remote one)."""
    return _log(ctx, Scope(communities.get_by_handle(ctx, name)), viewer, cursor, limit)


class ModlogSettingsIn(Body):
    names: bool


@router.put("/communities/{name}/modlog-settings", response_model=ModlogSettingsIn)
def set_modlog_settings(
    name: Name, body: ModlogSettingsIn, ctx: CtxDep, moderator: Writer
) -> ModlogSettingsIn:
    """Whether the community's public log names the acting moderator (its moderators)."""
    c = communities.set_modlog_names(ctx, moderator, communities.get(ctx, name), body.names)
    return ModlogSettingsIn(names=c.modlog_names)
