"""Statements and stances on artifacts (the Pol.is pattern).

Anyone in the community, here or on another instance, adds short statements
about an artifact and takes a stance (agree, disagree, pass, with an optional
reason) on the artifact itself and on each statement. A member has one current
stance per target; every earlier one is kept in the history. Each stance asks
for the artifact's common-ground map to be recomputed (see commonground.py).
"""

from __future__ import annotations

from collections import Counter

from sqlmodel import col, select

from app.db import hold
from app.errors import Forbidden, Invalid, NotFound
from app.infra import events
from app.models import (
    Account,
    Artifact,
    Stance,
    StanceHistory,
    Statement,
    get_row,
    pending_uri,
    utcnow,
)
from app.services import Ctx, artifacts, communities

STANCES = ("agree", "disagree", "pass")
MAX_STATEMENT = 500
MAX_REASON = 1000


def _may_take_part(ctx: Ctx, account: Account, artifact: Artifact) -> None:
    community = artifacts.community_of(ctx, artifact)
    # here: members of the community; on a copy of a remote artifact: our members
    # (who joined it by following); from elsewhere: people who follow it (members)
    must_belong = not community.domain or account.is_local
    if must_belong and not communities.is_active_member(ctx, account, community):
        raise Forbidden(f"Join “{community.display_title}” to take part.", code="not_a_member")


def statement_url(ctx: Ctx, statement: Statement) -> str:
    return f"{ctx.base_url}/statements/{statement.id}"


def add_statement(
    ctx: Ctx, author: Account, artifact_id: int, text: str, *, uri: str | None = None
) -> Statement:
    artifact = artifacts.get(ctx, artifact_id)
    _may_take_part(ctx, author, artifact)
    text = " ".join((text or "").split())
    if not text or len(text) > MAX_STATEMENT:
        raise Invalid(f"A statement is 1–{MAX_STATEMENT} characters.", code="invalid_statement")
    statement = Statement(
        uri=uri or pending_uri(), artifact_id=artifact.id, author_id=author.id, text=text
    )
    ctx.db.add(statement)
    ctx.db.flush()
    if not uri:
        statement.uri = statement_url(ctx, statement)
    events.emit(ctx, "statement.created", statement=statement)
    return statement


def get_statement(ctx: Ctx, statement_id: int) -> Statement:
    found = get_row(ctx.db, Statement, statement_id)
    if found is None:
        raise NotFound("No such statement.", code="statement_not_found")
    return found


def statements(ctx: Ctx, artifact: Artifact) -> list[Statement]:
    return list(
        ctx.db.exec(
            select(Statement)
            .where(col(Statement.artifact_id) == artifact.id)
            .order_by(col(Statement.id))
        )
    )


def take(
    ctx: Ctx,
    account: Account,
    stance: str,
    *,
    artifact_id: int | None = None,
    statement_id: int | None = None,
    reason: str = "",
    activity_uri: str | None = None,
) -> Stance:
    """Take (or change) a stance on an artifact or on one of its statements."""
    if stance not in STANCES:
        raise Invalid("A stance is agree, disagree or pass.", code="invalid_stance")
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise Invalid(f"Reasons are at most {MAX_REASON} characters.", code="reason_too_long")
    if statement_id is not None:
        statement = get_statement(ctx, statement_id)
        artifact = artifacts.get(ctx, statement.artifact_id)
        target = f"s:{statement.id}"
    else:
        artifact = artifacts.get(ctx, artifact_id or 0)
        statement = None
        target = f"a:{artifact.id}"
    _may_take_part(ctx, account, artifact)
    hold(ctx.db, f"stance:{target}:{account.id}")  # the same member's stance, twice at once
    current = ctx.db.exec(
        select(Stance).where(col(Stance.target) == target, col(Stance.account_id) == account.id)
    ).first()
    if current is None:
        current = Stance(
            target=target,
            artifact_id=artifact.id,
            statement_id=statement.id if statement else None,
            account_id=account.id,
            stance=stance,
        )
    elif current.stance == stance and current.reason == reason:
        return current
    current.stance, current.reason, current.updated_at = stance, reason, utcnow()
    current.activity_uri = activity_uri
    ctx.db.add(current)
    ctx.db.add(StanceHistory(target=target, account_id=account.id, stance=stance, reason=reason))
    ctx.db.flush()
    events.emit(ctx, "stance.taken", stance=current)
    return current


def tally(ctx: Ctx, artifact: Artifact) -> dict[str, dict[str, int]]:
    """Counts of each stance, on the artifact ("artifact") and per statement id."""
    out: dict[str, Counter] = {}
    rows = ctx.db.exec(
        select(col(Stance.statement_id), col(Stance.stance)).where(
            col(Stance.artifact_id) == artifact.id
        )
    )
    for statement_id, stance in rows:
        key = "artifact" if statement_id is None else str(statement_id)
        out.setdefault(key, Counter())[stance] += 1
    return {k: {s: c.get(s, 0) for s in STANCES} for k, c in out.items()}


def stances_on(ctx: Ctx, artifact: Artifact) -> list[tuple[Stance, Account]]:
    """Current stances on the artifact itself, with who took them."""
    return list(
        ctx.db.exec(
            select(Stance, Account)
            .join(Account, col(Account.id) == col(Stance.account_id))
            .where(col(Stance.target) == f"a:{artifact.id}")
            .order_by(col(Stance.updated_at).desc())
        )
    )


def history(ctx: Ctx, account: Account, target: str) -> list[StanceHistory]:
    return list(
        ctx.db.exec(
            select(StanceHistory)
            .where(col(StanceHistory.target) == target, col(StanceHistory.account_id) == account.id)
            .order_by(col(StanceHistory.id))
        )
    )


def mine(ctx: Ctx, account: Account | None, artifact: Artifact) -> dict[str, str]:
    if account is None:
        return {}
    rows = ctx.db.exec(
        select(col(Stance.target), col(Stance.stance)).where(
            col(Stance.artifact_id) == artifact.id, col(Stance.account_id) == account.id
        )
    )
    return dict(rows.all())
