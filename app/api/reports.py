"""Reports (app/services/reports.py): file one, list your own with their state."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from app.api.auth import Reader, Writer
from app.api.schemas import Body, BoundedJSONRoute, CleanStr, Id
from app.deps import CtxDep, client_ip
from app.models import Report
from app.services import reports

router = APIRouter(tags=["reports"], route_class=BoundedJSONRoute)
TargetType = Literal["post", "artifact", "statement", "account", "community"]  # REPORT_TARGETS


class TargetRef(Body):
    type: TargetType
    id: Id


class ReportCreate(Body):
    target: TargetRef
    rules: list[Id] = Field(default=[], max_length=50)
    comment: CleanStr = Field(default="", max_length=reports.MAX_COMMENT)
    posts: list[Id] = Field(default=[], max_length=reports.MAX_EXTRA_POSTS)
    forward: bool = False


class ReportOut(BaseModel):
    id: int
    target: dict[str, str | int]
    rules: list[int]
    comment: str
    posts: list[int]
    forward: bool
    forwarded: bool
    state: str  # open | actioned | dismissed
    created_at: datetime
    resolved_at: datetime | None


class MyReportOut(BaseModel):
    id: int
    target: dict[str, str | int]
    excerpt: str
    state: str  # open | actioned | dismissed
    created_at: datetime
    resolved_at: datetime | None


class MyReportsOut(BaseModel):
    items: list[MyReportOut]


def _out(report: Report) -> ReportOut:
    return ReportOut(
        id=report.id,
        target={"type": report.target_type, "id": report.target_id},
        rules=reports.rule_ids_of(report),
        comment=report.comment,
        posts=reports.extra_post_ids_of(report),
        forward=report.forward,
        forwarded=report.forwarded_at is not None,
        state=report.state,
        created_at=report.created_at,
        resolved_at=report.resolved_at,
    )


@router.post("/reports", status_code=201, response_model=ReportOut)
def file_report(body: ReportCreate, ctx: CtxDep, account: Writer, request: Request) -> ReportOut:
    """Report a post, artifact, statement, member or community to the moderators,
    citing rules (the instance's, or the target's community's), with a comment and
    up to five other posts of the same account; ``forward`` (remote targets only)
    also tells their instance, without your name. A second report of the same
    target while yours is open answers 409 ``already_reported``."""
    report = reports.file_report(
        ctx,
        account,
        body.target.type,
        body.target.id,
        body.rules,
        body.comment,
        body.posts,
        body.forward,
        client=client_ip(request),
    )
    return _out(report)


@router.get("/reports", response_model=MyReportsOut)
def my_reports(ctx: CtxDep, account: Reader) -> MyReportsOut:
    """Your reports, newest first: what, their state and when it was settled
    (not who settled it)."""
    return MyReportsOut(
        items=[
            MyReportOut(
                id=m.id,
                target={"type": m.target_type, "id": m.target_id},
                excerpt=m.excerpt,
                state=m.state,
                created_at=m.created_at,
                resolved_at=m.resolved_at,
            )
            for m in reports.my_reports(ctx, account)
        ]
    )
