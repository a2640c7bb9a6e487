"""How a community changes its ranking algorithm: by its admins, or by member
vote (a proposal with a closing time, a quorum and a threshold, applied
automatically when it passes). Every change lands in the public changelog.

Also the floors a community puts on every vote it takes, algorithm proposals
and artifact decisions (app/services/decisions.py) alike: :class:`VoteRules`.
Votes close only in their closing jobs, never on a read: a page shows an open
vote past its closing time as "closing…" until the job has decided it."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, func, select

from app.db import get_or_raise, hold, lock_row
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.infra import events, jobs
from app.models import (
    Account,
    AlgorithmChange,
    AlgorithmProposal,
    AlgorithmVote,
    Community,
    Decision,
    FeedAlgorithmChoice,
    get_row,
    utcnow,
)
from app.services import Ctx, communities
from app.services.ranking import choices, registry

MODES = ("admins", "vote")
CHOICES = ("yes", "no", "abstain")
OPENERS = ("members", "moderators")
MAX_WINDOW_HOURS = 24 * 30
# A window asked for as "now + N hours" is a moment shorter when it is checked.
WINDOW_SLACK = timedelta(minutes=1)


@dataclass(frozen=True)
class VoteRules:
    """A community's floors on its votes. The defaults (a day, a tenth of the
    members, never fewer than two ballots, any member opens) give everyone, in
    any time zone, a day and a night to see a vote and make sure no one passes
    one alone, while a small community is not blocked by a large quorum."""

    min_hours: int
    quorum_percent: int
    openers: str  # "members" | "moderators"
    members: int

    @property
    def min_quorum(self) -> int:
        """The share of members, rounded up; never fewer than two ballots (a
        community of one excepted)."""
        share = math.ceil(self.members * self.quorum_percent / 100)
        return max(share, min(2, self.members), 1)

    @property
    def quorum_explained(self) -> str:
        people = f"{self.members} member{'s' if self.members != 1 else ''}"
        never = ", never fewer than 2" if self.members >= 2 else ""
        n = self.min_quorum
        return f"{n} ballot{'s' if n != 1 else ''} ({self.quorum_percent}% of the {people}{never})"

    @property
    def summary(self) -> str:
        """What pages say about the floors."""
        if self.openers == "members":
            who = (
                "Any member may propose an algorithm; an artifact's author or a "
                "moderator puts it to a vote."
            )
        else:
            who = "Only moderators open votes."
        return (
            f"Votes here stay open at least {self.min_hours} hours and need at least "
            f"{self.quorum_explained}. {who}"
        )


def vote_rules(ctx: Ctx, community: Community) -> VoteRules:
    return VoteRules(
        min_hours=community.vote_min_hours,
        quorum_percent=community.vote_quorum_percent,
        openers=community.vote_openers,
        members=communities.member_count(ctx, community),
    )


def _whole(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def set_vote_rules(
    ctx: Ctx,
    admin: Account,
    community: Community,
    *,
    min_hours: int,
    quorum_percent: int,
    openers: str,
) -> VoteRules:
    """Community admins set the floors; votes already open keep theirs."""
    communities.require_role(ctx, admin, community, "admin")
    if not _whole(min_hours, 1, MAX_WINDOW_HOURS):
        raise Invalid(
            f"The shortest voting window is between 1 and {MAX_WINDOW_HOURS} hours (30 days).",
            code="invalid_min_hours",
        )
    if not _whole(quorum_percent, 0, 100):
        raise Invalid("The quorum share is a whole percentage, 0 to 100.", code="invalid_quorum")
    if openers not in OPENERS:
        raise Invalid("Votes are opened by “members” or “moderators”.", code="invalid_openers")
    community.vote_min_hours, community.vote_quorum_percent = min_hours, quorum_percent
    community.vote_openers = openers
    ctx.db.add(community)
    return vote_rules(ctx, community)


def may_open_votes(ctx: Ctx, account: Account | None, community: Community) -> bool:
    """Who opens votes here: moderators always; active members unless the
    community leaves it to moderators."""
    if communities.can_moderate(ctx, account, community):
        return True
    return (
        account is not None
        and community.vote_openers == "members"
        and communities.is_active_member(ctx, account, community)
    )


def require_may_open_votes(ctx: Ctx, account: Account, community: Community) -> None:
    if may_open_votes(ctx, account, community):
        return
    if communities.is_active_member(ctx, account, community):
        raise Forbidden("In this community only moderators open votes.", code="not_allowed")
    raise Forbidden("Only members can open votes.", code="not_a_member")


def check_floors(rules: VoteRules, window: timedelta, quorum: int) -> None:
    """Refuse a vote shorter or with a smaller quorum than the community allows."""
    if window + WINDOW_SLACK < timedelta(hours=rules.min_hours):
        raise Invalid(
            f"Votes in this community stay open at least {rules.min_hours} hours.",
            code="window_below_floor",
        )
    if quorum < rules.min_quorum:
        raise Invalid(
            f"Votes in this community need at least {rules.quorum_explained}.",
            code="quorum_below_floor",
        )
    if quorum > max(rules.members, 1):
        raise Invalid(
            f"The quorum is at most the community's {rules.members} members.",
            code="invalid_quorum",
        )


def shown_state(vote: AlgorithmProposal | Decision) -> str:
    """A vote's state as pages show it: past its closing time it is "closing…"
    until its closing job has decided it (reads never close anything)."""
    if vote.state == "open" and vote.closes_at <= utcnow():
        return "closing…"
    return vote.state


def set_mode(ctx: Ctx, admin: Account, community: Community, mode: str) -> Community:
    """Admins hand the decision to members ("vote") or take it back ("admins")."""
    communities.require_role(ctx, admin, community, "admin")
    if mode not in MODES:
        raise Invalid("Governance is “admins” or “vote”.", code="invalid_mode")
    community.algorithm_governance = mode
    ctx.db.add(community)
    return community


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
    require_may_open_votes(ctx, member, community)
    version = registry.get_version(ctx, version_id)
    params = choices.checked_params(version, params)
    if not window_hours <= MAX_WINDOW_HOURS:  # the shortest is the community's floor
        raise Invalid("The voting window is at most 30 days.", code="invalid_window")
    if not 0 <= threshold < 1:
        raise Invalid("The threshold is a fraction from 0 to below 1.", code="invalid_threshold")
    rules = vote_rules(ctx, community)
    quorum = rules.min_quorum if quorum is None else quorum
    check_floors(rules, timedelta(hours=window_hours), quorum)
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
    events.emit(ctx, "proposal.opened", proposal=proposal)
    return proposal


def get_proposal(ctx: Ctx, community: Community, proposal_id: int) -> AlgorithmProposal:
    proposal = get_row(ctx.db, AlgorithmProposal, proposal_id)
    if proposal is None or proposal.community_id != community.id:
        raise NotFound("No such proposal.", code="proposal_not_found")
    return proposal


def vote(ctx: Ctx, member: Account, proposal: AlgorithmProposal, choice: str) -> AlgorithmVote:
    """A ballot, until the closing time; its closer waits for it and then counts it."""
    held = lock_row(ctx.db, AlgorithmProposal, proposal.id, shared=True)
    if held is None:
        raise NotFound("No such proposal.", code="proposal_not_found")
    proposal = held
    if proposal.state != "open" or proposal.closes_at <= utcnow():
        raise Conflict("Voting on this proposal has closed.", code="proposal_closed")
    if choice not in CHOICES:
        raise Invalid("Vote yes, no or abstain.", code="invalid_choice")
    community = get_or_raise(ctx.db, Community, proposal.community_id)
    if not communities.is_active_member(ctx, member, community):
        raise Forbidden("Only members can vote.", code="not_a_member")
    hold(ctx.db, f"algorithm-vote:{proposal.id}:{member.id}")  # voting twice at once
    ballot = ctx.db.exec(
        select(AlgorithmVote).where(
            col(AlgorithmVote.proposal_id) == proposal.id,
            col(AlgorithmVote.account_id) == member.id,
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
            select(col(AlgorithmVote.choice), func.count())
            .where(col(AlgorithmVote.proposal_id) == proposal.id)
            .group_by(col(AlgorithmVote.choice))
        ).all()
    )
    return {c: int(counts.get(c, 0)) for c in CHOICES}


def close_if_due(ctx: Ctx, proposal: AlgorithmProposal) -> AlgorithmProposal:
    """Decide a proposal whose window has ended, applying it if it passed: once,
    however many closers race (its row is locked and its state read again)."""
    if proposal.state != "open" or proposal.closes_at > utcnow():
        return proposal
    held = lock_row(ctx.db, AlgorithmProposal, proposal.id)
    if held is None or held.state != "open":  # gone, or decided by another closer
        return held or proposal
    proposal = held
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
        community = get_or_raise(ctx.db, Community, proposal.community_id)
        choice = choices.choice_of(ctx, community=community) or FeedAlgorithmChoice(
            community_id=community.id, version_id=proposal.version_id
        )
        choice.version_id, choice.params, choice.updated_at = (
            proposal.version_id,
            proposal.params,
            utcnow(),
        )
        ctx.db.add(choice)
        change = AlgorithmChange(
            community_id=community.id,
            version_id=proposal.version_id,
            params=proposal.params,
            changed_by_id=proposal.proposer_id,
            tally=proposal.tally,
            reason=proposal.reason or f"member vote #{proposal.id}",
        )
        ctx.db.add(change)
        ctx.db.flush()
        events.emit(ctx, "algorithm.changed", change=change)
    events.emit(ctx, "proposal.closed", proposal=proposal)
    return proposal


def proposals(ctx: Ctx, community: Community) -> list[AlgorithmProposal]:
    """Newest first, as stored: closing is the closing job's (reads never write)."""
    return list(
        ctx.db.exec(
            select(AlgorithmProposal)
            .where(col(AlgorithmProposal.community_id) == community.id)
            .order_by(col(AlgorithmProposal.id).desc())
        )
    )


@jobs.handler("algorithms.close_proposal")
def close_job(ctx: Ctx, payload: dict) -> None:
    proposal = ctx.db.get(AlgorithmProposal, payload["proposal_id"])
    if proposal is not None:
        close_if_due(ctx, proposal)
