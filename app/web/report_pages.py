"""The report form (/report?type=post&id=12) and a member's reports (/reports).
What may be reported, which rules apply and what is refused is
app/services/reports.py; these pages only show it and pass on what was typed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from app.api.schemas import MAX_ID, CleanStr
from app.deps import CtxDep, client_ip
from app.errors import DomainError
from app.models import Account
from app.services import Ctx, reports, rules
from app.web.deps import Csrf, Member
from app.web.forms import member, redisplayed_by, show_error
from app.web.post_pages import Checkbox
from app.web.templating import redirect, render

router = APIRouter()
TargetType = Annotated[
    str, Form(alias="type", pattern=r"^(post|artifact|statement|account|community|)$")
]
TargetQuery = Annotated[
    str, Query(alias="type", pattern=r"^(post|artifact|statement|account|community)$")
]
TargetId = Annotated[int, Form(alias="id", ge=1, le=MAX_ID)]
# longer than the service's limit, so that a long comment gets the service's
# message with every other choice kept
CommentField = Annotated[CleanStr, Form(max_length=reports.MAX_COMMENT * 4)]
RuleIds = Annotated[list[int] | None, Form(alias="rules", max_length=50)]
PostIds = Annotated[list[int] | None, Form(alias="posts", max_length=50)]
WHAT = {
    "post": "a post",
    "artifact": "an artifact",
    "statement": "a statement",
    "account": "a member",
    "community": "a community",
}


def _ids(value: object) -> set[int]:
    """Checked boxes as typed: a list (this page's own error path) or one string
    (a form shown again after refused fields)."""
    values = value if isinstance(value, list) else [value]
    return {int(v) for v in values if str(v).isdigit() and len(str(v)) < 19}


def _form(ctx: Ctx, target_type: str, target_id: int, typed: dict) -> dict:
    """The report form's context; a target gone meanwhile still shows the form
    (with what was typed) and says so."""
    try:
        target: reports.Target | None = reports.find_target(ctx, target_type, target_id)
    except DomainError:
        target = None
    instance_rules = rules.of(ctx)
    groups: list[tuple[str, list]] = [("instance", instance_rules)] if instance_rules else []
    if target is not None and target.community is not None and not target.community.domain:
        own = rules.of(ctx, target.community)
        if own:
            groups.append(("community", own))
    return {
        "target": target,
        "target_type": target_type,
        "target_id": target_id,
        "what": WHAT.get(target_type, "something"),
        "rule_groups": groups,
        "recent": reports.recent_posts(ctx, target) if target is not None else [],
        "chosen_rules": _ids(typed.get("rules", [])),
        "chosen_posts": _ids(typed.get("posts", [])),
        "form": {
            "comment": typed.get("comment", ""),
            "forward": bool(typed.get("forward")),
        },
    }


def report_page(
    request: Request, ctx: Ctx, viewer: Account | None, typed: dict
) -> tuple[str, dict]:
    member(viewer)
    raw_id = str(typed.get("id", ""))
    target_id = int(raw_id) if raw_id.isdigit() and len(raw_id) < 19 else 0
    return "report.html", _form(ctx, str(typed.get("type", "")), target_id, typed)


@router.get("/report")
def report_form(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    target_type: TargetQuery,
    target_id: Annotated[int, Query(alias="id", ge=1, le=MAX_ID)],
) -> Response:
    reports.find_target(ctx, target_type, target_id)  # 404 for what is not there
    return render(request, "report.html", **_form(ctx, target_type, target_id, {}))


@router.post("/report", dependencies=[Csrf])
@redisplayed_by(report_page)
def send_report(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    target_type: TargetType = "",
    target_id: TargetId = 1,
    rule_ids: RuleIds = None,
    comment: CommentField = "",
    post_ids: PostIds = None,
    forward: Checkbox = "",
) -> Response:
    try:
        reports.file_report(
            ctx,
            viewer,
            target_type,
            target_id,
            rule_ids or [],
            comment,
            post_ids or [],
            forward == "yes",
            client=client_ip(request),
        )
    except DomainError as exc:
        typed = {
            "rules": rule_ids or [],
            "posts": post_ids or [],
            "comment": comment,
            "forward": forward,
        }
        context = _form(ctx, target_type, target_id, typed)
        return show_error(request, ctx, exc, "report.html", typed, **context)
    return redirect(
        request,
        "/reports",
        flash="Your report was sent. The moderators will look at it; its state is below.",
    )


@router.get("/reports")
def my_reports(request: Request, ctx: CtxDep, viewer: Member) -> Response:
    return render(request, "reports.html", reports=reports.my_reports(ctx, viewer))
