"""Decisions: a Loomio-style vote on a proposed artifact.

*Consent* passes unless someone blocks; *consensus* passes only if nobody
disagrees or blocks (abstaining is fine). Either way fewer ballots than the
quorum means no decision. The vote closes at its closing time (a job does it,
never a read), the artifact is adopted when it passes (through the same stage
change as a moderator's, so its event fires and it federates), and the outcome
statement with a review date becomes part of the artifact's history; on that
date it shows up for review. The community's floors (window, quorum, who opens
votes) are the same as for algorithm proposals: governance.VoteRules.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta

from sqlmodel import col, select

from app.db import get_or_raise, hold, lock_row
from app.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from app.infra import events, jobs
from app.models import Account, Artifact, Ballot, Decision, get_row, utcnow
from app.services import Ctx, artifacts, communities, governance

METHODS = ("consent", "consensus")
CHOICES = ("agree", "abstain", "disagree", "block")
MAX_DAYS = 60


def get(ctx: Ctx, decision_id: int) -> Decision:
    found = get_row(ctx.db, Decision, decision_id)
    if found is None:
        raise NotFound("No such decision.", code="decision_not_found")
    return found


def current(ctx: Ctx, artifact: Artifact) -> Decision | None:
    return ctx.db.exec(
        select(Decision)
        .where(col(Decision.artifact_id) == artifact.id)
        .order_by(col(Decision.id).desc())
    ).first()


def _refusal(ctx: Ctx, account: Account | None, artifact: Artifact) -> DomainError | None:
    """Why ``account`` may not put ``artifact`` to a vote now, or None if it may:
    the one rule behind both the page's offer and the action."""
    if artifact.stage != "proposed":
        return Invalid("Only a proposed artifact can be put to a vote.", code="not_proposed")
    community = artifacts.community_of(ctx, artifact)
    moderator = communities.can_moderate(ctx, account, community)
    if not moderator:
        if account is None or not communities.is_active_member(ctx, account, community):
            return Forbidden("Only members open votes.", code="not_a_member")
        if not governance.may_open_votes(ctx, account, community):
            return Forbidden("In this community only moderators open votes.", code="not_allowed")
        if artifact.author_id != account.id:
            return Forbidden("Its author or a moderator opens the vote.", code="not_allowed")
    open_one = current(ctx, artifact)
    if open_one is not None and open_one.state == "open":
        return Conflict("A vote on this artifact is already open.", code="vote_open")
    return None


def may_open_vote(ctx: Ctx, account: Account | None, artifact: Artifact) -> bool:
    """Whether to offer ``account`` to put the artifact to a vote."""
    return _refusal(ctx, account, artifact) is None


def open_vote(
    ctx: Ctx,
    actor: Account,
    artifact_id: int,
    method: str,
    closes_at: datetime,
    quorum: int | None = None,
) -> Decision:
    """Open a vote; without a quorum it takes the community's smallest allowed."""
    artifact = artifacts.get(ctx, artifact_id)
    community = artifacts.community_of(ctx, artifact)
    refusal = _refusal(ctx, actor, artifact)
    if refusal is not None:
        raise refusal
    if method not in METHODS:
        raise Invalid("The method is consent or consensus.", code="bad_method")
    now = utcnow()
    if closes_at.tzinfo is None or not now < closes_at <= now + timedelta(days=MAX_DAYS):
        raise Invalid(
            f"The vote must close in the future, within {MAX_DAYS} days.", code="bad_closing"
        )
    rules = governance.vote_rules(ctx, community)
    quorum = rules.min_quorum if quorum is None else quorum
    governance.check_floors(rules, closes_at - now, quorum)
    decision = Decision(
        artifact_id=artifact.id,
        method=method,
        quorum=quorum,
        closes_at=closes_at,
        opened_by_id=actor.id,
    )
    ctx.db.add(decision)
    ctx.db.flush()
    jobs.enqueue(ctx, "decisions.close", {"decision": decision.id}, run_at=closes_at)
    events.emit(ctx, "decision.opened", decision=decision, artifact=artifact)
    return decision


def vote(ctx: Ctx, account: Account, decision_id: int, choice: str, reason: str = "") -> Ballot:
    """A ballot, until the closing time; its closer waits for it and then counts it."""
    decision = lock_row(ctx.db, Decision, get(ctx, decision_id).id, shared=True)
    if decision is None:  # deleted since get() read it
        raise NotFound("No such decision.", code="decision_not_found")
    artifact = artifacts.get(ctx, decision.artifact_id)
    if not communities.is_active_member(ctx, account, artifacts.community_of(ctx, artifact)):
        raise Forbidden("Only members vote.", code="not_a_member")
    if decision.state != "open" or decision.closes_at <= utcnow():
        raise Conflict("This vote is closed.", code="vote_closed")
    if choice not in CHOICES:
        raise Invalid(f"Vote one of: {', '.join(CHOICES)}.", code="bad_choice")
    reason = (reason or "").strip()
    if len(reason) > 1000:
        raise Invalid("Reasons are at most 1,000 characters.", code="reason_too_long")
    if choice == "block" and not reason:
        raise Invalid("A block needs a reason.", code="block_needs_reason")
    hold(ctx.db, f"ballot:{decision.id}:{account.id}")  # the same member voting twice at once
    ballot = ctx.db.exec(
        select(Ballot).where(
            col(Ballot.decision_id) == decision.id, col(Ballot.account_id) == account.id
        )
    ).first() or Ballot(decision_id=decision.id, account_id=account.id, choice=choice)
    ballot.choice, ballot.reason, ballot.created_at = choice, reason, utcnow()
    ctx.db.add(ballot)
    ctx.db.flush()
    return ballot


def tally(ctx: Ctx, decision: Decision) -> dict[str, int]:
    counts = Counter(
        ctx.db.exec(select(col(Ballot.choice)).where(col(Ballot.decision_id) == decision.id)).all()
    )
    return {c: counts.get(c, 0) for c in CHOICES}


def result(method: str, quorum: int, counts: dict[str, int]) -> str:
    """adopted, rejected or no_quorum, by the rules in the module docstring."""
    if sum(counts.values()) < quorum:
        return "no_quorum"
    if counts["block"]:
        return "rejected"
    if method == "consensus" and counts["disagree"]:
        return "rejected"
    if method == "consent" and counts["disagree"] > counts["agree"]:
        return "rejected"
    return "adopted"


def close(ctx: Ctx, decision: Decision, *, now: datetime | None = None) -> Decision:
    """Close a vote whose time has come: once, however many closers race (its row
    is locked and its state read again). A passed vote adopts the artifact
    through artifacts.transition, like a moderator's adoption."""
    now = now or utcnow()
    if decision.state != "open" or decision.closes_at > now:
        return decision
    held = lock_row(ctx.db, Decision, decision.id)
    if held is None or held.state != "open":  # gone, or decided by another closer
        return held or decision
    decision = held
    counts = tally(ctx, decision)
    decision.state = result(decision.method, decision.quorum, counts)
    decision.tally = json.dumps(counts)
    decision.closed_at = now
    ctx.db.add(decision)
    if decision.state == "adopted":
        artifact = artifacts.lock_for_change(ctx, decision.artifact_id)
        if artifact.stage == "proposed":  # not moved back to "open" meanwhile
            artifacts.transition(
                ctx,
                get_or_raise(ctx.db, Account, decision.opened_by_id),
                artifact.id,
                "adopted",
                f"Decision #{decision.id} ({decision.method}): {counts}",
                decision=decision,
            )
    events.emit(
        ctx,
        "decision.closed",
        decision=decision,
        artifact=get_or_raise(ctx.db, Artifact, decision.artifact_id),
    )
    return decision


def record_outcome(
    ctx: Ctx, actor: Account, decision_id: int, outcome: str, review_at: datetime | None
) -> Decision:
    """The closed vote's outcome statement and review date, written into the artifact."""
    decision = get(ctx, decision_id)
    artifact = artifacts.get(ctx, decision.artifact_id)
    community = artifacts.community_of(ctx, artifact)
    opener = decision.opened_by_id == actor.id and communities.is_active_member(
        ctx, actor, community
    )
    if not (opener or communities.can_moderate(ctx, actor, community)):
        raise Forbidden(
            "Who opened the vote, or a moderator, records its outcome.", code="not_allowed"
        )
    if decision.state == "open":
        raise Conflict("The vote is still open.", code="vote_open")
    outcome = (outcome or "").strip()
    if not outcome or len(outcome) > 5000:
        raise Invalid("Write the outcome (up to 5,000 characters).", code="bad_outcome")
    if review_at is not None and (review_at.tzinfo is None or review_at <= utcnow()):
        raise Invalid("The review date must be in the future.", code="bad_review_date")
    decision.outcome, decision.review_at = outcome, review_at
    ctx.db.add(decision)
    artifacts.append_outcome(ctx, actor, artifact, outcome, review_at)
    return decision


@jobs.handler("decisions.close")
def close_due(ctx: Ctx, payload: dict) -> None:
    decision = ctx.db.get(Decision, payload["decision"])
    if decision is not None:
        close(ctx, decision)
