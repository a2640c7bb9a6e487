"""How a community changes its ranking algorithm: by its admins, or by member
vote (a proposal with a closing time, a quorum and a threshold, applied
automatically when it passes). Every change lands in the public changelog."""

from __future__ import annotations

import json
import math
from datetime import timedelta

from sqlmodel import func, select

from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.models import (
    Account,
    AlgorithmChange,
    AlgorithmProposal,
    AlgorithmVote,
    Community,
    FeedAlgorithmChoice,
    get_row,
    utcnow,
)
from app.services import Ctx, algorithms, communities, jobs

MODES = ("admins", "vote")
CHOICES = ("yes", "no", "abstain")


def set_mode(ctx: Ctx, admin: Account, community: Community, mode: str) -> Community:
    """Admins hand the decision to members ("vote") or take it back ("admins")."""
    communities.require_role(ctx, admin, community, "admin")
    if mode not in MODES:
        raise Invalid("Governance is “admins” or “vote”.", code="invalid_mode")
    community.algorithm_governance = mode
    ctx.db.add(community)
    return community


def require_admin_governed(community: Community) -> None:
    if community.algorithm_governance != "admins":
        raise Forbidden(
            "This community decides its algorithm by member vote: make a proposal.",
            code="governed_by_vote",
        )


def propose(
    ctx: Ctx,
    member: Account,
    community: Community,
    version_id: int,
    params: dict | None,
    *,
    reason: str = "",
    window_hours: float = 72.0,
    quorum: int | None = None,
    threshold: float = 0.5,
) -> AlgorithmProposal:
    if community.algorithm_governance != "vote":
        raise Conflict(
            "This community's admins choose its algorithm; ask them, or ask them "
            "to let members vote.",
            code="governed_by_admins",
        )
    if not communities.is_active_member(ctx, member, community):
        raise Forbidden("Only members can make proposals.", code="not_a_member")
    version = algorithms.get_version(ctx, version_id)
    params = algorithms.checked_params(version, params)
    if not (1 / 60 <= window_hours <= 24 * 30):
        raise Invalid("The voting window is between one minute and 30 days.", code="invalid_window")
    if not 0 <= threshold < 1:
        raise Invalid("The threshold is a fraction from 0 to below 1.", code="invalid_threshold")
    members = communities.member_count(ctx, community)
    quorum = max(1, math.ceil(members * 0.1)) if quorum is None else quorum
    if not 1 <= quorum <= max(members, 1):
        raise Invalid(f"The quorum is between 1 and the {members} members.", code="invalid_quorum")
    if len(reason) > 1000:
        raise Invalid("Reasons are at most 1,000 characters.", code="invalid_reason")
    proposal = AlgorithmProposal(
        community_id=community.id,
        version_id=version.id,
        params=json.dumps(params),
        proposer_id=member.id,
        reason=reason,
        quorum=quorum,
        threshold=threshold,
        closes_at=utcnow() + timedelta(hours=window_hours),
    )
    ctx.db.add(proposal)
    ctx.db.flush()
    jobs.enqueue(
        ctx, "algorithms.close_proposal", {"proposal_id": proposal.id}, run_at=proposal.closes_at
    )
    return proposal


def get_proposal(ctx: Ctx, community: Community, proposal_id: int) -> AlgorithmProposal:
    proposal = get_row(ctx.db, AlgorithmProposal, proposal_id)
    if proposal is None or proposal.community_id != community.id:
        raise NotFound("No such proposal.", code="proposal_not_found")
    return proposal


def vote(ctx: Ctx, member: Account, proposal: AlgorithmProposal, choice: str) -> AlgorithmVote:
    close_if_due(ctx, proposal)
    if proposal.state != "open":
        raise Conflict("Voting on this proposal has closed.", code="proposal_closed")
    if choice not in CHOICES:
        raise Invalid("Vote yes, no or abstain.", code="invalid_choice")
    community = ctx.db.get(Community, proposal.community_id)
    if not communities.is_active_member(ctx, member, community):
        raise Forbidden("Only members can vote.", code="not_a_member")
    ballot = ctx.db.exec(
        select(AlgorithmVote).where(
            AlgorithmVote.proposal_id == proposal.id, AlgorithmVote.account_id == member.id
        )
    ).first()
    ballot = ballot or AlgorithmVote(proposal_id=proposal.id, account_id=member.id, choice=choice)
    ballot.choice, ballot.created_at = choice, utcnow()
    ctx.db.add(ballot)
    ctx.db.flush()
    return ballot


def tally(ctx: Ctx, proposal: AlgorithmProposal) -> dict[str, int]:
    counts = dict(
        ctx.db.exec(
            select(AlgorithmVote.choice, func.count())
            .where(AlgorithmVote.proposal_id == proposal.id)
            .group_by(AlgorithmVote.choice)
        ).all()
    )
    return {c: int(counts.get(c, 0)) for c in CHOICES}


def close_if_due(ctx: Ctx, proposal: AlgorithmProposal) -> AlgorithmProposal:
    """Decide a proposal whose window has ended, applying it if it passed."""
    if proposal.state != "open" or proposal.closes_at > utcnow():
        return proposal
    counts = tally(ctx, proposal)
    voted = sum(counts.values())
    decided = counts["yes"] + counts["no"]
    passed = (
        voted >= proposal.quorum and decided > 0 and counts["yes"] / decided > proposal.threshold
    )
    proposal.state = "passed" if passed else "rejected"
    proposal.tally = json.dumps(
        {**counts, "quorum": proposal.quorum, "threshold": proposal.threshold}
    )
    ctx.db.add(proposal)
    if passed:
        community = ctx.db.get(Community, proposal.community_id)
        choice = algorithms.choice_of(ctx, community=community) or FeedAlgorithmChoice(
            community_id=community.id, version_id=proposal.version_id
        )
        choice.version_id, choice.params, choice.updated_at = (
            proposal.version_id,
            proposal.params,
            utcnow(),
        )
        ctx.db.add(choice)
        ctx.db.add(
            AlgorithmChange(
                community_id=community.id,
                version_id=proposal.version_id,
                params=proposal.params,
                changed_by_id=proposal.proposer_id,
                tally=proposal.tally,
                reason=proposal.reason or f"member vote #{proposal.id}",
            )
        )
    return proposal


def proposals(ctx: Ctx, community: Community) -> list[AlgorithmProposal]:
    rows = list(
        ctx.db.exec(
            select(AlgorithmProposal)
            .where(AlgorithmProposal.community_id == community.id)
            .order_by(AlgorithmProposal.id.desc())
        )
    )
    return [close_if_due(ctx, p) for p in rows]


@jobs.handler("algorithms.close_proposal")
def close_job(ctx: Ctx, payload: dict) -> None:
    proposal = ctx.db.get(AlgorithmProposal, payload["proposal_id"])
    if proposal is not None:
        close_if_due(ctx, proposal)
