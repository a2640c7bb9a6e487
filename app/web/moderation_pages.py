"""Moderation pages: the queue (/admin/moderation for the instance, /c/NAME/moderation
for a community), the action form with its confirmation step, an action's own page
(where the member acted on appeals), appeal decisions, and the public logs
(/modlog, /c/NAME/modlog). The rules are in app/services/moderation.py,
appeals.py and modlog.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response

from app.api.schemas import MAX_ID, CleanStr
from app.deps import CtxDep
from app.errors import DomainError, NotFound
from app.models import Account, Community
from app.services import Ctx, appeals, communities, moderation, modlog, rules
from app.services.moderation import Scope
from app.web.deps import Csrf, Member, Viewer
from app.web.forms import member, path_id, redisplayed_by, show_error
from app.web.templating import redirect, render

router = APIRouter()
Name = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Handle = Annotated[str, Path(max_length=300, pattern=r"^[A-Za-z0-9_-]+(@[A-Za-z0-9.:-]+)?$")]
ScopeField = Annotated[
    CleanStr,
    Form(max_length=320, pattern=r"^(instance|community:[A-Za-z0-9_-]+(@[A-Za-z0-9.:-]+)?)$"),
]
TargetType = Annotated[
    CleanStr, Form(pattern=r"^(post|artifact|statement|account|community|domain)$")
]
ActionField = Annotated[CleanStr, Form(pattern="^(" + "|".join(moderation.ACTIONS) + ")$")]
ReasonField = Annotated[CleanStr, Form(max_length=moderation.MAX_REASON)]
Choice = Annotated[CleanStr, Form(pattern=r"^(on|off|)$")]
Cursor = Annotated[str | None, Query(max_length=200)]


# --- the queue ----------------------------------------------------------------


def _queue_context(ctx: Ctx, viewer: Account | None, where: Scope) -> dict:
    return {
        "scope": where,
        "entries": moderation.queue(ctx, viewer, where),
        "appeals": moderation.open_appeals(ctx, viewer, where),
        "community": where.community,
        "bans": moderation.bans(ctx, where.community) if where.community else [],
    }


def queue_page(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    """The queue of the page's scope (its forms' error path too)."""
    name = request.path_params.get("name")
    if request.url.path.startswith("/moderation/appeals/"):
        action = moderation.get_action(
            ctx, appeals.get(ctx, path_id(request, "appeal_id")).action_id
        )
        where = moderation.scope_of(ctx, action)
    else:
        where = Scope(communities.get(ctx, str(name)) if name else None)
    return "moderation_queue.html", _queue_context(ctx, member(viewer), where)


@router.get("/admin/moderation")
def instance_queue(request: Request, ctx: CtxDep, viewer: Member) -> Response:
    return render(request, "moderation_queue.html", **_queue_context(ctx, viewer, Scope(None)))


@router.get("/c/{name}/moderation")
def community_queue(request: Request, name: Name, ctx: CtxDep, viewer: Member) -> Response:
    where = Scope(communities.get(ctx, name))
    return render(request, "moderation_queue.html", **_queue_context(ctx, viewer, where))


@router.post("/c/{name}/moderation/names", dependencies=[Csrf])
@redisplayed_by(queue_page)
def modlog_names(
    request: Request, name: Name, ctx: CtxDep, viewer: Member, names: Choice = ""
) -> Response:
    """Whether the public log names the acting moderator."""
    c = communities.set_modlog_names(ctx, viewer, communities.get(ctx, name), names == "on")
    said = "names the acting moderator" if c.modlog_names else "shows only the role"
    return redirect(request, f"/c/{c.name}/moderation", flash=f"The public log now {said}.")


# --- acting -------------------------------------------------------------------


def act_page(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    """The form that acts on one target; what the queue's "Act" link names, or
    what was sent when it comes back refused."""
    values = {**request.query_params, **typed}
    where = moderation.parse_scope(ctx, str(values.get("scope", "")))
    moderation.require_moderator(ctx, member(viewer), where)
    target, problem = None, None
    try:
        ident: int | str = str(values.get("target_id", ""))
        if values.get("target_type") != "domain":
            ident = int(ident) if str(ident).isdigit() and len(str(ident)) < 12 else 0
        target = moderation.resolve_target(ctx, str(values.get("target_type", "")), ident)
    except DomainError as exc:
        problem = exc.detail
    cited = rules.of(ctx, where.community) + (rules.of(ctx) if where.community else [])
    return "moderation_act.html", {
        "scope": where,
        "target": target,
        "label": moderation.label_of(ctx, target) if target else "",
        "excerpt": moderation.excerpt_of(target) if target else "",
        "problem": problem,
        "actions": moderation.COMMUNITY_ACTIONS if where.community else moderation.INSTANCE_ACTIONS,
        "rules": cited,
        "form": {k: str(values.get(k, "")) for k in _ACT_FIELDS},
    }


_ACT_FIELDS = (
    "scope",
    "target_type",
    "target_id",
    "report",
    "action",
    "rule",
    "reason",
    "duration",
)


@router.get("/moderation/act")
def act_form(request: Request, ctx: CtxDep, viewer: Member) -> Response:
    template, context = act_page(request, ctx, viewer, {})
    return render(request, template, **context)


@router.post("/moderation/act", dependencies=[Csrf])
@redisplayed_by(act_page)
def act(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    scope: ScopeField,
    target_type: TargetType,
    action: ActionField,
    rule: Annotated[int, Form(ge=1, le=MAX_ID)],
    reason: ReasonField = "",
    target_id: Annotated[CleanStr, Form(max_length=260)] = "",
    report: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
    duration: Annotated[float | None, Form(gt=0, le=moderation.MAX_DURATION_HOURS)] = None,
    confirmed: Annotated[CleanStr, Form(pattern=r"^(1|)$")] = "",
) -> Response:
    """Acts only once confirmed: the first submit shows what will happen."""
    typed = {
        "scope": scope,
        "target_type": target_type,
        "target_id": target_id,
        "report": "" if report is None else str(report),
        "action": action,
        "rule": str(rule),
        "reason": reason,
        "duration": "" if duration is None else str(duration),
    }
    ident: int | str = target_id if target_type == "domain" else _int(target_id)
    try:
        if confirmed != "1":
            template, context = act_page(request, ctx, viewer, typed)
            moderation.check_reason(reason)
            moderation.cited_rule(ctx, context["scope"], rule)
            return render(request, "moderation_confirm.html", **context)
        done = moderation.act(
            ctx,
            viewer,
            action=action,
            target_type=target_type,
            target_id=ident,
            rule_id=rule,
            reason=reason,
            report_id=report,
            scope=scope,
            duration_hours=duration,
        )
    except DomainError as exc:
        ctx.db.rollback()
        template, context = act_page(request, ctx, viewer, typed)
        return show_error(request, ctx, exc, template, typed, **context)
    return redirect(
        request,
        _queue_of(ctx, done.community_id),
        flash=f"Done: {done.action.replace('_', ' ')} ({done.target_label}).",
    )


def _int(raw: str) -> int | str:
    return int(raw) if raw.isdigit() and len(raw) < 12 else raw


def _queue_of(ctx: Ctx, community_id: int | None) -> str:
    """The queue page an action or decision of this scope goes back to."""
    found = ctx.db.get(Community, community_id) if community_id else None
    return f"/c/{found.name}/moderation" if found and not found.domain else "/admin/moderation"


# --- an action, and its appeal ------------------------------------------------


def action_page(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    """An action as the member acted on (and the scope's moderators) see it."""
    action = moderation.get_action(ctx, path_id(request, "action_id"))
    where = moderation.scope_of(ctx, action)
    mine = viewer is not None and action.target_account_id == viewer.id
    if not (mine or moderation.can_moderate(ctx, viewer, where)):
        raise NotFound("No such moderation action.", code="action_not_found")
    rule = moderation.rule_number(ctx, [action.rule_id] if action.rule_id else [])
    return "moderation_action.html", {
        "action": action,
        "scope": where,
        "rule_number": rule[action.rule_id].position if action.rule_id in rule else None,
        "appeal": appeals.of_action(ctx, action),
        "may_appeal": appeals.may_appeal(ctx, viewer, action),
        "max_appeal": appeals.MAX_APPEAL,
    }


@router.get("/moderation/actions/{action_id}")
def action_view(
    request: Request,
    action_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    ctx: CtxDep,
    viewer: Member,
) -> Response:
    template, context = action_page(request, ctx, viewer, {})
    return render(request, template, **context)


@router.post("/moderation/actions/{action_id}/appeal", dependencies=[Csrf])
@redisplayed_by(action_page)
def appeal(
    request: Request,
    action_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    ctx: CtxDep,
    viewer: Member,
    text: Annotated[CleanStr, Form(max_length=appeals.MAX_APPEAL)] = "",
) -> Response:
    try:
        appeals.appeal(ctx, viewer, action_id, text)
    except DomainError as exc:
        ctx.db.rollback()
        template, context = action_page(request, ctx, viewer, {"text": text})
        return show_error(request, ctx, exc, template, {"text": text}, **context)
    return redirect(
        request, f"/moderation/actions/{action_id}", flash="Your appeal is sent to the moderators."
    )


@router.post("/moderation/appeals/{appeal_id}/{verdict}", dependencies=[Csrf])
@redisplayed_by(queue_page)
def decide(
    request: Request,
    appeal_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    verdict: Annotated[str, Path(pattern="^(grant|deny)$")],
    ctx: CtxDep,
    viewer: Member,
    reason: ReasonField = "",
) -> Response:
    try:
        done = appeals.decide(ctx, viewer, appeal_id, verdict == "grant", reason)
    except DomainError as exc:
        ctx.db.rollback()
        template, context = queue_page(request, ctx, viewer, {"reason": reason})
        return show_error(request, ctx, exc, template, {"reason": reason}, **context)
    back = _queue_of(ctx, done.community_id)
    said = "granted" if verdict == "grant" else "denied"
    return redirect(request, back, flash=f"The appeal is {said}.")


# --- the public logs ----------------------------------------------------------


def _log(request: Request, ctx: Ctx, viewer: Account | None, where: Scope, cursor: str | None):
    entries, next_cursor = modlog.listing(ctx, where, viewer, cursor=cursor)
    return render(
        request,
        "modlog.html",
        scope=where,
        community=where.community,
        entries=entries,
        next_cursor=next_cursor,
    )


@router.get("/modlog")
def instance_log(request: Request, ctx: CtxDep, viewer: Viewer, cursor: Cursor = None) -> Response:
    return _log(request, ctx, viewer, Scope(None), cursor)


@router.get("/c/{name}/modlog")
def community_log(
    request: Request, name: Handle, ctx: CtxDep, viewer: Viewer, cursor: Cursor = None
) -> Response:
    return _log(request, ctx, viewer, Scope(communities.get_by_handle(ctx, name)), cursor)
