"""Reports in the Mastodon client API (``POST /api/v1/reports``), over
app/services/reports.py.

Mastodon reports an account, with some of its statuses as evidence. Here the
first status is what is reported (a post report, in the queue of the community
it is in, so its rules may be cited) and the others are the report's other posts;
with no status, the account is. Whatever names nothing, or a status not by that
account, is 422 (Mastodon's "Validation failed") and nothing is stored. See
docs/mastodon-api.md ("Reports")."""

from __future__ import annotations

from typing import Any

from anyio.to_thread import run_sync
from fastapi import APIRouter, Request
from pydantic import Field, field_validator

from app.api.auth import Writer
from app.deps import CtxDep, client_ip
from app.errors import Invalid, NotFound
from app.mastodon import entities, ids, params
from app.models import MAX_ID, Account, Post, Report
from app.services import Ctx, reports
from app.services import posts as posts_service

router = APIRouter(prefix="/api/v1/reports")

Json = dict[str, Any]
CATEGORIES = ("spam", "legal", "violation", "other")
MAX_STATUSES = 1 + reports.MAX_EXTRA_POSTS


class ReportParams(params.Params):
    account_id: str = Field(max_length=40)
    status_ids: list[str] = Field(default=[], max_length=MAX_STATUSES)
    comment: params.Text = Field(default="", max_length=10_000)
    forward: bool = False
    category: str | None = Field(default=None, max_length=20)
    rule_ids: list[str] = Field(default=[], max_length=50)

    @field_validator("status_ids", "rule_ids", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str | int) else value

    @field_validator("status_ids", "rule_ids", mode="after")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        for v in value:
            if ids.number(str(v)) is None:
                raise ValueError(f"{str(v)[:40]!r} is not an id")
        return list(dict.fromkeys(str(v) for v in value))

    @field_validator("category", mode="after")
    @classmethod
    def _category(cls, value: str | None) -> str | None:
        if value is not None and value not in CATEGORIES:
            raise ValueError(f"must be one of {', '.join(CATEGORIES)}")
        return value


def _account(ctx: Ctx, value: str) -> Account:
    try:
        return ids.account_by_id(ctx, value)
    except NotFound as exc:
        raise Invalid(f"There is no account {value[:40]}.", code="account_not_found") from exc


def _statuses(ctx: Ctx, account: Account, values: list[str]) -> list[Post]:
    """The posts these status ids name, each visible and by ``account``."""
    found = []
    for value in values:
        n = ids.number(value)
        try:
            post = posts_service.get_by_status_id(ctx, n or 0)
        except NotFound:
            post = None
        if post is None or post.is_deleted:
            raise Invalid(f"There is no status {value}.", code="status_not_found")
        if post.author_id != account.id:
            raise Invalid(
                f"Status {value} is not by {entities.acct(account)}.", code="status_not_theirs"
            )
        found.append(post)
    return found


def _rule_ids(values: list[str]) -> list[int]:
    out = [int(v) for v in values]
    if any(n > MAX_ID for n in out):
        raise Invalid("There is no such rule.", code="unknown_rule")
    return out


def entity(ctx: Ctx, report: Report, target: Account, statuses: list[Post], category: str) -> Json:
    """Mastodon's Report; ``category`` is what the reporter chose (not stored)."""
    return {
        "id": str(report.id),
        "action_taken": report.state != "open",
        "action_taken_at": entities.when(report.resolved_at),
        "category": category,
        "comment": report.comment,
        "forwarded": report.forward,
        "created_at": entities.when(report.created_at),
        "status_ids": [ids.status_id(p) for p in statuses],
        "rule_ids": [str(r) for r in reports.rule_ids_of(report)],
        "target_account": entities.account(ctx, target),
    }


@router.post("")
@router.post("/", include_in_schema=False)  # Mastodon.py posts to /api/v1/reports/
async def file_report(request: Request, ctx: CtxDep, viewer: Writer) -> Json:
    given = params.parse(ReportParams, await params.read(request))
    return await run_sync(_file, ctx, viewer, given, client_ip(request))


def _file(ctx: Ctx, viewer: Account, given: ReportParams, client: str) -> Json:
    target = _account(ctx, given.account_id)
    statuses = _statuses(ctx, target, given.status_ids)
    rule_ids = _rule_ids(given.rule_ids)
    try:
        report = reports.file_report(
            ctx,
            viewer,
            "post" if statuses else "account",
            statuses[0].id if statuses else target.id,
            rule_ids,
            given.comment,
            [p.id for p in statuses[1:]],
            given.forward and bool(target.domain),  # Mastodon forwards only remote reports
            client=client,
        )
    except NotFound as exc:  # what the report names, gone meanwhile
        raise Invalid(str(exc.detail), code=exc.code) from exc
    category = given.category or ("violation" if rule_ids else "other")
    return entity(ctx, report, target, statuses, category)
