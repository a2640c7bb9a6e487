"""The rules of a community's votes (app/services/governance.py), one by one: the
floors (window, quorum) as a pure table, the settings' bounds, who opens a vote,
and how a closed proposal is decided from its ballots. Written to kill the mutants
tests/test_governance.py left (docs/quality.md); that file tests the flows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import col, select

from app.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from app.models import AlgorithmChange, AlgorithmProposal, Job
from app.services import Ctx, accounts, communities, governance
from app.services.governance import VoteRules, check_floors
from app.services.ranking import choices, registry
from tests.conftest import PASSWORD

HOUR = timedelta(hours=1)
SLACK = timedelta(minutes=1)


@contextmanager
def refused(kind: type[DomainError], code: str, detail: str | None = None) -> Iterator[None]:
    with pytest.raises(kind) as caught:
        yield
    assert caught.value.code == code
    if detail is not None:
        assert caught.value.detail == detail


def rules(members: int, percent: int = 10, hours: int = 24) -> VoteRules:
    return VoteRules(min_hours=hours, quorum_percent=percent, openers="members", members=members)


# --- floors: pure ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("members", "percent", "min_quorum"),
    [
        (0, 10, 1),  # an empty community still needs a ballot
        (1, 10, 1),  # a community of one can decide
        (2, 10, 2),  # never fewer than two ballots
        (2, 0, 2),
        (20, 10, 2),
        (21, 10, 3),  # rounded up
        (25, 10, 3),
        (5, 100, 5),
        (7, 50, 4),
    ],
)
def test_the_smallest_quorum(members: int, percent: int, min_quorum: int) -> None:
    assert rules(members, percent).min_quorum == min_quorum


@pytest.mark.parametrize(
    ("window", "quorum", "code"),
    [
        (24 * HOUR, 2, None),
        (24 * HOUR - SLACK, 2, None),  # "now + 24 h" is a moment shorter when checked
        (24 * HOUR - SLACK - timedelta(seconds=1), 2, "window_below_floor"),
        (HOUR, 2, "window_below_floor"),
        (24 * HOUR, 1, "quorum_below_floor"),
        (24 * HOUR, 10, None),  # every member
        (24 * HOUR, 11, "invalid_quorum"),  # more ballots than members
    ],
)
def test_the_floors(window: timedelta, quorum: int, code: str | None) -> None:
    floors = rules(10)
    if code is None:
        check_floors(floors, window, quorum)
    else:
        with refused(Invalid, code):
            check_floors(floors, window, quorum)


def test_the_floors_explain_themselves() -> None:
    with refused(
        Invalid, "window_below_floor", "Votes in this community stay open at least 24 hours."
    ):
        check_floors(rules(10), HOUR, 2)
    with refused(
        Invalid,
        "quorum_below_floor",
        "Votes in this community need at least 2 ballots "
        "(10% of the 10 members, never fewer than 2).",
    ):
        check_floors(rules(10), 24 * HOUR, 1)
    with refused(Invalid, "invalid_quorum", "The quorum is at most the community's 10 members."):
        check_floors(rules(10), 24 * HOUR, 11)


def test_an_empty_community_takes_a_quorum_of_one() -> None:
    check_floors(rules(0), 24 * HOUR, 1)
    with refused(Invalid, "invalid_quorum"):
        check_floors(rules(0), 24 * HOUR, 2)


NOW = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("state", "closes_at", "shown"),
    [
        ("open", NOW + timedelta(seconds=1), "open"),
        ("open", NOW, "closing…"),  # its closing time has come
        ("open", NOW - HOUR, "closing…"),
        ("passed", NOW - HOUR, "passed"),
        ("rejected", NOW - HOUR, "rejected"),
    ],
)
def test_shown_state(
    monkeypatch: pytest.MonkeyPatch, state: str, closes_at: datetime, shown: str
) -> None:
    monkeypatch.setattr(governance, "utcnow", lambda: NOW)
    vote: Any = SimpleNamespace(state=state, closes_at=closes_at)
    assert governance.shown_state(vote) == shown


# --- the settings -----------------------------------------------------------------


@pytest.fixture
def town(ctx: Ctx) -> dict[str, Any]:
    """ada runs "garden" (governed by vote); ben and cara are members, eve is not."""
    people = {n: accounts.register(ctx, n, PASSWORD) for n in ("ada", "ben", "cara", "dan", "eve")}
    garden = communities.create(ctx, people["ada"], "garden")
    for name in ("ben", "cara", "dan"):
        communities.join(ctx, people[name], garden)
    governance.set_mode(ctx, people["ada"], garden, "vote")
    return {**people, "garden": garden, "version": registry.builtin_version(ctx, "bridging").id}


@pytest.mark.parametrize(
    ("values", "code", "detail"),
    [
        ({"min_hours": 1}, None, None),
        ({"min_hours": 720}, None, None),
        ({"min_hours": 0}, "invalid_min_hours", None),
        ({"min_hours": 721}, "invalid_min_hours", None),
        ({"min_hours": 24.0}, "invalid_min_hours", None),  # whole hours
        ({"min_hours": True}, "invalid_min_hours", None),
        ({"quorum_percent": 0}, None, None),
        ({"quorum_percent": 100}, None, None),
        (
            {"quorum_percent": -1},
            "invalid_quorum",
            "The quorum share is a whole percentage, 0 to 100.",
        ),
        ({"quorum_percent": 101}, "invalid_quorum", None),
        ({"openers": "moderators"}, None, None),
        ({"openers": "all"}, "invalid_openers", "Votes are opened by “members” or “moderators”."),
    ],
)
def test_the_bounds_of_the_floors(
    ctx: Ctx, town: dict, values: dict, code: str | None, detail: str | None
) -> None:
    settings = {"min_hours": 24, "quorum_percent": 10, "openers": "members", **values}
    if code is None:
        set_to = governance.set_vote_rules(ctx, town["ada"], town["garden"], **settings)
        assert (set_to.min_hours, set_to.quorum_percent, set_to.openers) == tuple(
            settings[k] for k in ("min_hours", "quorum_percent", "openers")
        )
    else:
        with refused(Invalid, code, detail):
            governance.set_vote_rules(ctx, town["ada"], town["garden"], **settings)


def test_who_opens_votes(ctx: Ctx, town: dict) -> None:
    garden = town["garden"]
    assert governance.may_open_votes(ctx, town["ben"], garden)
    assert not governance.may_open_votes(ctx, town["eve"], garden)
    assert not governance.may_open_votes(ctx, None, garden)
    with refused(Forbidden, "not_a_member", "Only members can open votes."):
        governance.require_may_open_votes(ctx, town["eve"], garden)
    governance.set_vote_rules(
        ctx, town["ada"], garden, min_hours=24, quorum_percent=10, openers="moderators"
    )
    assert not governance.may_open_votes(ctx, town["ben"], garden)
    assert governance.may_open_votes(ctx, town["ada"], garden)
    with refused(Forbidden, "not_allowed", "In this community only moderators open votes."):
        governance.require_may_open_votes(ctx, town["ben"], garden)


def test_a_proposal_is_found_in_its_own_community_only(ctx: Ctx, town: dict) -> None:
    proposal = _propose(ctx, town, quorum=2)
    assert governance.get_proposal(ctx, town["garden"], proposal.id).id == proposal.id
    orchard = communities.create(ctx, town["eve"], "orchard")
    for community, proposal_id in ((orchard, proposal.id), (town["garden"], proposal.id + 1)):
        with refused(NotFound, "proposal_not_found", "No such proposal."):
            governance.get_proposal(ctx, community, proposal_id)


# --- ballots and closing ----------------------------------------------------------


def _propose(ctx: Ctx, town: dict, *, quorum: int, threshold: float = 0.5) -> AlgorithmProposal:
    return governance.propose(
        ctx,
        town["ben"],
        town["garden"],
        town["version"],
        {},
        window_hours=24,
        quorum=quorum,
        threshold=threshold,
    )


def test_ballots_close_at_the_closing_time(
    ctx: Ctx, town: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    proposal = _propose(ctx, town, quorum=2)
    monkeypatch.setattr(governance, "utcnow", lambda: proposal.closes_at - timedelta(seconds=1))
    governance.vote(ctx, town["ben"], proposal, "yes")
    with refused(Invalid, "invalid_choice", "Vote yes, no or abstain."):
        governance.vote(ctx, town["ben"], proposal, "maybe")
    with refused(Forbidden, "not_a_member", "Only members can vote."):
        governance.vote(ctx, town["eve"], proposal, "yes")
    assert governance.close_if_due(ctx, proposal).state == "open"  # not yet
    monkeypatch.setattr(governance, "utcnow", lambda: proposal.closes_at)
    with refused(Conflict, "proposal_closed", "Voting on this proposal has closed."):
        governance.vote(ctx, town["cara"], proposal, "yes")
    assert governance.close_if_due(ctx, proposal).state == "rejected"  # one ballot of two


BALLOTS = ("ben", "cara", "dan", "ada")


@pytest.mark.parametrize(
    ("ballots", "quorum", "threshold", "state"),
    [
        (("yes", "yes"), 2, 0.5, "passed"),
        (("yes", "no"), 2, 0.5, "rejected"),  # half is not more than half
        (("yes", "no"), 2, 0.0, "passed"),
        (("yes",), 2, 0.5, "rejected"),  # the quorum was not met
        (("yes", "abstain"), 2, 0.5, "passed"),  # abstentions count for the quorum only
        (("abstain", "abstain"), 2, 0.5, "rejected"),  # nobody decided
        (("yes", "no", "no"), 2, 0.5, "rejected"),
        (("yes", "yes", "no"), 3, 0.5, "passed"),
        (("yes", "yes", "yes", "no"), 4, 0.7, "passed"),
        (("yes", "yes", "yes", "no"), 4, 0.75, "rejected"),
        (("yes", "yes", "no", "no"), 4, 0.4, "passed"),
        (("yes", "yes", "no", "abstain"), 4, 0.7, "rejected"),  # 2/3 of the decided
        ((), 2, 0.0, "rejected"),
    ],
)
def test_a_proposal_is_decided_by_its_ballots(
    ctx: Ctx,
    town: dict,
    monkeypatch: pytest.MonkeyPatch,
    ballots: tuple[str, ...],
    quorum: int,
    threshold: float,
    state: str,
) -> None:
    proposal = _propose(ctx, town, quorum=quorum, threshold=threshold)
    for name, choice in zip(BALLOTS, ballots, strict=False):
        governance.vote(ctx, town[name], proposal, choice)
    before = choices.choice_of(ctx, community=town["garden"])
    monkeypatch.setattr(governance, "utcnow", lambda: proposal.closes_at + timedelta(seconds=1))
    closed = governance.close_if_due(ctx, proposal)
    assert closed.state == state
    counts = {c: ballots.count(c) for c in ("yes", "no", "abstain")}
    assert json.loads(closed.tally) == {**counts, "quorum": quorum, "threshold": threshold}
    assert governance.tally(ctx, proposal) == counts
    changes = ctx.db.exec(select(AlgorithmChange)).all()
    choice = choices.choice_of(ctx, community=town["garden"])
    if state == "passed":
        assert choice is not None and choice.version_id == town["version"]
        assert [(c.version_id, c.changed_by_id, c.tally) for c in changes] == [
            (town["version"], town["ben"].id, closed.tally)
        ]
        assert changes[0].reason == f"member vote #{proposal.id}"
    else:
        assert changes == [] and choice == before
    assert governance.close_if_due(ctx, closed).state == state  # decided once
    assert len(ctx.db.exec(select(AlgorithmChange)).all()) == len(changes)


def test_a_second_ballot_replaces_the_first(ctx: Ctx, town: dict) -> None:
    proposal = _propose(ctx, town, quorum=2)
    governance.vote(ctx, town["ben"], proposal, "yes")
    governance.vote(ctx, town["ben"], proposal, "no")
    governance.vote(ctx, town["cara"], proposal, "no")
    assert governance.tally(ctx, proposal) == {"yes": 0, "no": 2, "abstain": 0}


def test_a_proposal_is_listed_newest_first(ctx: Ctx, town: dict) -> None:
    first, second = _propose(ctx, town, quorum=2), _propose(ctx, town, quorum=3)
    listed = [p.id for p in governance.proposals(ctx, town["garden"])]
    assert listed == [second.id, first.id]
    rows = ctx.db.exec(select(AlgorithmProposal).order_by(col(AlgorithmProposal.id))).all()
    assert [r.quorum for r in rows] == [2, 3]


# --- opening a proposal -------------------------------------------------------------


def test_the_mode_is_admins_or_vote(ctx: Ctx, town: dict) -> None:
    with refused(Invalid, "invalid_mode", "Governance is “admins” or “vote”."):
        governance.set_mode(ctx, town["ada"], town["garden"], "members")
    governance.set_mode(ctx, town["ada"], town["garden"], "admins")
    with refused(
        Conflict,
        "governed_by_admins",
        "This community's admins choose its algorithm; ask them, or ask them to let members vote.",
    ):
        _propose(ctx, town, quorum=2)


@pytest.mark.parametrize(
    ("values", "code", "detail"),
    [
        ({"window_hours": 720}, None, None),  # 30 days
        ({"window_hours": 720.5}, "invalid_window", "The voting window is at most 30 days."),
        ({"threshold": 0.0}, None, None),
        ({"threshold": 0.99}, None, None),
        ({"threshold": 1.0}, "invalid_threshold", "The threshold is a fraction from 0 to below 1."),
        ({"threshold": 1.5}, "invalid_threshold", None),
        ({"threshold": -0.1}, "invalid_threshold", None),
        ({"reason": "x" * 1000}, None, None),
        ({"reason": "x" * 1001}, "invalid_reason", "Reasons are at most 1,000 characters."),
    ],
)
def test_the_bounds_of_a_proposal(
    ctx: Ctx, town: dict, values: dict, code: str | None, detail: str | None
) -> None:
    def propose() -> AlgorithmProposal:
        return governance.propose(
            ctx, town["ben"], town["garden"], town["version"], {}, **{"quorum": 2, **values}
        )

    if code is None:
        proposal = propose()
        assert (proposal.threshold, proposal.reason) == (
            values.get("threshold", 0.5),
            values.get("reason", ""),
        )
    else:
        with refused(Invalid, code, detail):
            propose()


def test_a_proposal_records_what_it_proposes_and_queues_its_closing(
    ctx: Ctx, town: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(governance, "utcnow", lambda: NOW)
    params = {"iterations": 7}
    proposal = governance.propose(
        ctx, town["ben"], town["garden"], town["version"], params, reason="Fewer rounds"
    )
    assert proposal.closes_at == NOW + timedelta(hours=72)  # the default window
    assert json.loads(proposal.params) == params and proposal.reason == "Fewer rounds"
    assert (proposal.proposer_id, proposal.version_id) == (town["ben"].id, town["version"])
    assert proposal.quorum == 2  # the community's floor when none is asked
    closing = ctx.db.exec(select(Job).where(col(Job.kind) == "algorithms.close_proposal")).one()
    assert json.loads(closing.payload) == {"proposal_id": proposal.id}
    assert closing.run_at == proposal.closes_at


def test_a_passed_proposal_applies_its_parameters(
    ctx: Ctx, town: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    proposal = governance.propose(
        ctx, town["ben"], town["garden"], town["version"], {"iterations": 7}, quorum=2
    )
    for name in ("ben", "cara"):
        governance.vote(ctx, town[name], proposal, "yes")
    monkeypatch.setattr(governance, "utcnow", lambda: proposal.closes_at)
    assert governance.close_if_due(ctx, proposal).state == "passed"
    choice = choices.choice_of(ctx, community=town["garden"])
    assert (choice.version_id, json.loads(choice.params)) == (town["version"], {"iterations": 7})
    change = ctx.db.exec(select(AlgorithmChange)).one()
    assert json.loads(change.params) == {"iterations": 7}


def test_each_proposal_keeps_its_own_ballots(ctx: Ctx, town: dict) -> None:
    first, second = _propose(ctx, town, quorum=2), _propose(ctx, town, quorum=2)
    governance.vote(ctx, town["ben"], first, "yes")
    governance.vote(ctx, town["ben"], second, "no")
    assert governance.tally(ctx, first) == {"yes": 1, "no": 0, "abstain": 0}
    assert governance.tally(ctx, second) == {"yes": 0, "no": 1, "abstain": 0}
