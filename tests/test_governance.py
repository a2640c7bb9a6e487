"""The votes a community takes: algorithm proposals and artifact decisions.

Their floors (shortest window, smallest quorum, who opens them), who may act,
closing exactly once (also when closers race on PostgreSQL), nothing closing on
a GET, and a vote's adoption going through the same stage change as a manual one.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlmodel import func, select

from app.config import Settings
from app.db import make_engine, transaction
from app.errors import Forbidden, Invalid
from app.infra import jobs
from app.migrate import upgrade
from app.models import (
    AlgorithmChange,
    AlgorithmProposal,
    ArtifactTransition,
    Decision,
    Job,
    OutboxItem,
    utcnow,
)
from app.services import Ctx, accounts, artifacts, communities, decisions, follows, governance
from app.services.ranking import choices, registry
from federation import remote
from tests.conftest import PASSWORD, make_settings
from tests.test_federation_handlers import actor_doc
from tests.test_pages import signup, submit

A_DAY = timedelta(hours=24, minutes=5)


def _town(ctx: Ctx) -> tuple:
    """ada runs "garden"; ben and cara are plain members."""
    ada = accounts.register(ctx, "ada", PASSWORD)
    ben = accounts.register(ctx, "ben", PASSWORD)
    cara = accounts.register(ctx, "cara", PASSWORD)
    garden = communities.create(ctx, ada, "garden")
    communities.join(ctx, ben, garden)
    communities.join(ctx, cara, garden)
    return ada, ben, cara, garden


def _proposed_artifact(ctx: Ctx, author, garden, title: str = "Mill Road floods"):
    art = artifacts.create(ctx, author, garden, "idea", title, "Clear the drains.\n")
    artifacts.transition(ctx, author, art.id, "open")
    artifacts.transition(ctx, author, art.id, "proposed")
    return art


def _bridging(ctx: Ctx) -> int:
    return registry.builtin_version(ctx, "bridging").id


# --- item 11: floors on every vote ------------------------------------------------


def test_a_member_cannot_pass_a_vote_alone(ctx: Ctx) -> None:
    """The reported attack: a 2-second vote with quorum 1, then voting for it."""
    ada, ben, cara, garden = _town(ctx)
    art = _proposed_artifact(ctx, ben, garden)
    with pytest.raises(Invalid, match="24 hours"):
        decisions.open_vote(ctx, ben, art.id, "consent", utcnow() + timedelta(seconds=2), 2)
    with pytest.raises(Invalid, match="at least 2 ballots"):
        decisions.open_vote(ctx, ben, art.id, "consent", utcnow() + A_DAY, quorum=1)
    vote = decisions.open_vote(ctx, ben, art.id, "consent", utcnow() + A_DAY)
    assert vote.quorum == 2  # without a quorum, the community's floor

    governance.set_mode(ctx, ada, garden, "vote")
    with pytest.raises(Invalid, match="24 hours"):
        governance.propose(ctx, ben, garden, _bridging(ctx), {}, window_hours=2 / 3600, quorum=2)
    with pytest.raises(Invalid, match="at least 2 ballots"):
        governance.propose(ctx, ben, garden, _bridging(ctx), {}, window_hours=24, quorum=1)
    proposal = governance.propose(ctx, ben, garden, _bridging(ctx), {}, window_hours=24)
    assert proposal.quorum == 2


def test_the_default_floors_are_a_day_and_a_tenth_of_members_never_fewer_than_two(
    ctx: Ctx,
) -> None:
    ada = accounts.register(ctx, "ada", PASSWORD)
    garden = communities.create(ctx, ada, "garden")
    rules = governance.vote_rules(ctx, garden)
    assert (rules.min_hours, rules.quorum_percent, rules.openers) == (24, 10, "members")
    assert rules.min_quorum == 1  # a community of one can still decide
    for i in range(24):
        communities.join(ctx, accounts.register(ctx, f"m{i}", PASSWORD), garden)
    assert governance.vote_rules(ctx, garden).min_quorum == 3  # 10 % of 25, rounded up
    garden2 = communities.create(ctx, ada, "garden2")
    communities.join(ctx, accounts.register(ctx, "solo", PASSWORD), garden2)
    assert governance.vote_rules(ctx, garden2).min_quorum == 2  # never alone


def test_admins_set_the_floors_and_every_vote_follows_them(ctx: Ctx) -> None:
    ada, ben, cara, garden = _town(ctx)
    with pytest.raises(Forbidden):
        governance.set_vote_rules(
            ctx, ben, garden, min_hours=1, quorum_percent=0, openers="members"
        )
    for bad in ({"min_hours": 0}, {"min_hours": 721}, {"quorum_percent": 101}, {"openers": "all"}):
        values = {"min_hours": 48, "quorum_percent": 50, "openers": "moderators", **bad}
        with pytest.raises(Invalid):
            governance.set_vote_rules(ctx, ada, garden, **values)
    governance.set_vote_rules(
        ctx, ada, garden, min_hours=48, quorum_percent=50, openers="moderators"
    )
    rules = governance.vote_rules(ctx, garden)
    assert (rules.min_hours, rules.quorum_percent, rules.openers) == (48, 50, "moderators")
    assert rules.min_quorum == 2  # half of 3, rounded up

    art = _proposed_artifact(ctx, ben, garden)
    assert not decisions.may_open_vote(ctx, ben, art)  # its author, but only moderators open
    with pytest.raises(Forbidden):
        decisions.open_vote(ctx, ben, art.id, "consent", utcnow() + timedelta(hours=49))
    with pytest.raises(Invalid, match="48 hours"):
        decisions.open_vote(ctx, ada, art.id, "consent", utcnow() + timedelta(hours=47))
    assert decisions.may_open_vote(ctx, ada, art)
    decisions.open_vote(ctx, ada, art.id, "consent", utcnow() + timedelta(hours=49))

    governance.set_mode(ctx, ada, garden, "vote")
    with pytest.raises(Forbidden):
        governance.propose(ctx, ben, garden, _bridging(ctx), {}, window_hours=72)
    with pytest.raises(Invalid, match="48 hours"):
        governance.propose(ctx, ada, garden, _bridging(ctx), {}, window_hours=47)
    assert governance.propose(ctx, ada, garden, _bridging(ctx), {}, window_hours=48).quorum == 2


# --- item 12: only active members act on decisions ---------------------------------


def test_a_removed_member_can_no_longer_open_votes_or_record_outcomes(ctx: Ctx) -> None:
    ada, ben, cara, garden = _town(ctx)
    decided, waiting = _proposed_artifact(ctx, ben, garden), _proposed_artifact(ctx, ben, garden)
    closes = utcnow() + A_DAY
    vote = decisions.open_vote(ctx, ben, decided.id, "consent", closes)
    decisions.vote(ctx, ben, vote.id, "agree")
    decisions.vote(ctx, cara, vote.id, "agree")
    decisions.close(ctx, vote, now=closes)
    assert vote.state == "adopted"

    communities.remove(ctx, ada, garden, "ben")  # still the author and the vote's opener
    with pytest.raises(Forbidden):
        decisions.record_outcome(ctx, ben, vote.id, "We clear the drains.", None)
    with pytest.raises(Forbidden):
        decisions.open_vote(ctx, ben, waiting.id, "consent", closes)
    assert not decisions.may_open_vote(ctx, ben, waiting)
    assert decisions.record_outcome(ctx, ada, vote.id, "We clear the drains.", None).outcome


# --- item 13: adoption by vote is the same stage change as a manual one ------------


def _stage_updates(ctx: Ctx, artifact) -> list[dict]:
    """The Update activities federated for this artifact, oldest first."""
    items = ctx.db.exec(
        select(OutboxItem).where(OutboxItem.activity_type == "Update").order_by(OutboxItem.id)
    )
    bodies = [json.loads(i.body) for i in items]
    return [b for b in bodies if b["object"]["id"] == artifact.uri]


def test_adoption_by_vote_emits_the_same_stage_change_as_a_manual_adoption(ctx: Ctx) -> None:
    ada, ben, cara, garden = _town(ctx)
    follows.follow(ctx, remote.store_actor(ctx, actor_doc("rita")), garden)
    by_hand, by_vote = _proposed_artifact(ctx, ben, garden), _proposed_artifact(ctx, ben, garden)

    before = len(_stage_updates(ctx, by_hand))
    artifacts.transition(ctx, ada, by_hand.id, "adopted", "agreed at the meeting")
    assert len(_stage_updates(ctx, by_hand)) == before + 1
    closes = utcnow() + A_DAY
    vote = decisions.open_vote(ctx, ben, by_vote.id, "consent", closes)
    decisions.vote(ctx, ben, vote.id, "agree")
    decisions.vote(ctx, cara, vote.id, "agree")
    before = len(_stage_updates(ctx, by_vote))
    decisions.close(ctx, vote, now=closes)
    assert vote.state == "adopted" and by_vote.stage == "adopted"
    assert len(_stage_updates(ctx, by_vote)) == before + 1  # followers elsewhere are told

    manual, voted = _stage_updates(ctx, by_hand)[-1], _stage_updates(ctx, by_vote)[-1]
    assert manual["object"]["stage"] == voted["object"]["stage"] == "adopted"
    assert manual["actor"] == voted["actor"] == garden.uri
    moves = artifacts.transitions(ctx, by_vote)
    assert (moves[-1].from_stage, moves[-1].to_stage, moves[-1].actor_id) == (
        "proposed",
        "adopted",
        ben.id,
    )
    assert f"Decision #{vote.id}" in moves[-1].reason


# --- item 2: a GET never closes a vote -----------------------------------------------


@pytest.fixture
def overdue(new_ctx) -> dict:
    """A passing proposal and a passing decision whose closing times have passed,
    their closing jobs still waiting."""
    with new_ctx() as ctx:
        ada, ben, cara, garden = _town(ctx)
        governance.set_mode(ctx, ada, garden, "vote")
        proposal = governance.propose(ctx, ben, garden, _bridging(ctx), {}, window_hours=24)
        governance.vote(ctx, ben, proposal, "yes")
        governance.vote(ctx, cara, proposal, "yes")
        art = _proposed_artifact(ctx, ben, garden)
        decision = decisions.open_vote(ctx, ben, art.id, "consent", utcnow() + A_DAY)
        decisions.vote(ctx, ben, decision.id, "agree")
        decisions.vote(ctx, cara, decision.id, "agree")
        registry.list_modules(ctx)  # built-ins are recorded (their first use writes)
    with new_ctx() as ctx:
        past = utcnow() - timedelta(minutes=1)
        for row in (ctx.db.get(AlgorithmProposal, proposal.id), ctx.db.get(Decision, decision.id)):
            row.closes_at = past
            ctx.db.add(row)
    return {"proposal": proposal.id, "decision": decision.id, "artifact": art.id}


def _writes_during(engine: Engine, fn) -> list[str]:
    """Every INSERT, UPDATE or DELETE the database is sent while ``fn`` runs."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def test_viewing_an_overdue_vote_writes_nothing_and_says_closing(
    client: TestClient,
    engine: Engine,
    settings: Settings,
    new_ctx,
    overdue: dict,
) -> None:
    pages: dict[str, str] = {}

    def look() -> None:
        for path in (
            "/c/garden/algorithm",
            f"/artifacts/{overdue['artifact']}",
            "/api/cg/v1/communities/garden/algorithm-proposals",
            f"/api/cg/v1/artifacts/{overdue['artifact']}/decision",
            "/api/cg/v1/communities/garden/algorithm",
        ):
            r = client.get(path)
            assert r.status_code == 200, (path, r.text)
            pages[path] = r.text

    assert _writes_during(engine, look) == []
    assert "closing…" in pages["/c/garden/algorithm"]
    assert "closing…" in pages[f"/artifacts/{overdue['artifact']}"]
    assert (
        json.loads(pages["/api/cg/v1/communities/garden/algorithm-proposals"])[0]["state"] == "open"
    )
    with new_ctx() as ctx:
        assert ctx.db.get(AlgorithmProposal, overdue["proposal"]).state == "open"
        assert ctx.db.get(Decision, overdue["decision"]).state == "open"
        assert ctx.db.exec(select(func.count()).select_from(AlgorithmChange)).one() == 0

    with new_ctx() as ctx:  # the closing jobs (queued for the closing times) come due
        closers = ["algorithms.close_proposal", "decisions.close"]
        for job in ctx.db.exec(select(Job).where(Job.kind.in_(closers))):
            job.run_at = utcnow()
            ctx.db.add(job)
    assert jobs.run_one(engine, settings, "w").state == "done"
    assert jobs.run_one(engine, settings, "w").state == "done"
    with new_ctx() as ctx:
        assert ctx.db.get(AlgorithmProposal, overdue["proposal"]).state == "passed"
        assert ctx.db.get(Decision, overdue["decision"]).state == "adopted"
        assert artifacts.get(ctx, overdue["artifact"]).stage == "adopted"
    assert "closing…" not in client.get("/c/garden/algorithm").text


def test_a_vote_past_its_closing_time_takes_no_more_ballots(new_ctx, overdue: dict) -> None:
    from app.errors import Conflict

    with new_ctx() as ctx:
        dan = accounts.register(ctx, "dan", PASSWORD)
        communities.join(ctx, dan, communities.get(ctx, "garden"))
    with new_ctx() as ctx, pytest.raises(Conflict):
        proposal = ctx.db.get(AlgorithmProposal, overdue["proposal"])
        governance.vote(ctx, accounts.get_local(ctx, "dan"), proposal, "no")
    with new_ctx() as ctx, pytest.raises(Conflict):
        decisions.vote(ctx, accounts.get_local(ctx, "dan"), overdue["decision"], "block", "no")


# --- item 4: closers racing on PostgreSQL close once ---------------------------------


@pytest.fixture
def postgres(fresh_postgres: str, tmp_path: Path) -> Iterator[tuple[Engine, Settings]]:
    upgrade(fresh_postgres)
    engine = make_engine(fresh_postgres)
    yield engine, make_settings(tmp_path, fresh_postgres)
    engine.dispose()


def _race(engine: Engine, settings: Settings, load, close, n: int = 4) -> list[BaseException]:
    """``n`` closers, each in its own transaction, load the row, then close it together."""
    barrier = threading.Barrier(n, timeout=30)
    errors: list[BaseException] = []

    def closer() -> None:
        try:
            with transaction(engine) as db:
                ctx = Ctx(db, settings)
                row = load(ctx)
                barrier.wait()
                close(ctx, row)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=closer) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def test_racing_closers_apply_a_proposal_once(postgres: tuple[Engine, Settings]) -> None:
    engine, settings = postgres
    with transaction(engine) as db:
        ctx = Ctx(db, settings)
        ada, ben, cara, garden = _town(ctx)
        recent = registry.builtin_version(ctx, "recent_discussion").id
        choices.set_community_algorithm(ctx, ada, garden, recent, {}, "before the vote")
        governance.set_mode(ctx, ada, garden, "vote")
        proposal = governance.propose(ctx, ben, garden, _bridging(ctx), {}, window_hours=24)
        governance.vote(ctx, ben, proposal, "yes")
        governance.vote(ctx, cara, proposal, "yes")
        proposal.closes_at = utcnow() - timedelta(seconds=1)
        db.add(proposal)

    errors = _race(
        engine,
        settings,
        lambda ctx: ctx.db.get(AlgorithmProposal, proposal.id),
        governance.close_if_due,
    )
    assert errors == []
    with transaction(engine) as db:
        assert db.get(AlgorithmProposal, proposal.id).state == "passed"
        changes = db.exec(select(AlgorithmChange).order_by(AlgorithmChange.id)).all()
        assert [c.reason for c in changes] == ["before the vote", f"member vote #{proposal.id}"]


def test_racing_closers_decide_a_vote_once(postgres: tuple[Engine, Settings]) -> None:
    engine, settings = postgres
    with transaction(engine) as db:
        ctx = Ctx(db, settings)
        ada, ben, cara, garden = _town(ctx)
        art = _proposed_artifact(ctx, ben, garden)
        vote = decisions.open_vote(ctx, ben, art.id, "consent", utcnow() + A_DAY)
        decisions.vote(ctx, ben, vote.id, "agree")
        decisions.vote(ctx, cara, vote.id, "agree")
        vote.closes_at = utcnow() - timedelta(seconds=1)
        db.add(vote)

    in_hand: list = []

    def load(ctx: Ctx) -> Decision:
        """The decision, with its artifact in hand too (so a stale stage can't hide)."""
        decision = ctx.db.get(Decision, vote.id)
        in_hand.append(artifacts.get(ctx, decision.artifact_id))
        return decision

    errors = _race(engine, settings, load, decisions.close)
    assert errors == []
    with transaction(engine) as db:
        assert db.get(Decision, vote.id).state == "adopted"
        adoptions = db.exec(
            select(ArtifactTransition).where(
                ArtifactTransition.artifact_id == art.id, ArtifactTransition.to_stage == "adopted"
            )
        ).all()
        assert len(adoptions) == 1


# --- the API and the pages ----------------------------------------------------------


def test_admins_read_and_set_the_floors_through_the_api(api_user) -> None:
    ada, ben = api_user("ada"), api_user("ben")
    ada.post("/api/cg/v1/communities", {"name": "garden"})
    ben.post("/api/cg/v1/communities/garden/join")
    rules = ben.get("/api/cg/v1/communities/garden/vote-rules").json()
    assert rules == {
        "min_hours": 24,
        "quorum_percent": 10,
        "openers": "members",
        "members": 2,
        "min_quorum": 2,
    }
    change = {"min_hours": 48, "quorum_percent": 50, "openers": "moderators"}
    r = ben.put("/api/cg/v1/communities/garden/vote-rules", change)
    assert r.status_code == 403 and r.json()["error"] == "insufficient_role"
    r = ada.put("/api/cg/v1/communities/garden/vote-rules", {**change, "min_hours": 0})
    assert r.status_code == 422
    r = ada.put("/api/cg/v1/communities/garden/vote-rules", change)
    assert r.status_code == 200 and r.json()["min_hours"] == 48
    assert ben.get("/api/cg/v1/communities/garden/vote-rules").json()["openers"] == "moderators"


def test_the_vote_forms_state_the_floors(client: TestClient, new_ctx) -> None:
    signup(client, "ada")
    with new_ctx() as ctx:
        ada = accounts.get_local(ctx, "ada")
        garden = communities.create(ctx, ada, "garden")
        for name in ("ben", "cara"):
            communities.join(ctx, accounts.register(ctx, name, PASSWORD), garden)
        governance.set_mode(ctx, ada, garden, "vote")
        art = _proposed_artifact(ctx, ada, garden)
    floors = "stay open at least 24 hours and need at least 2 ballots"
    for page in (client.get("/c/garden/algorithm").text, client.get(f"/artifacts/{art.id}").text):
        assert floors in page and "10% of the 3 members" in page
    artifact_page = client.get(f"/artifacts/{art.id}").text
    assert re.search(r'name="hours" type="number" min="24"', artifact_page)
    assert re.search(r'name="quorum" type="number" min="2"', artifact_page)
    algorithm_page = client.get("/c/garden/algorithm").text
    assert re.search(r'name="window_hours" type="number" step="any" min="24"', algorithm_page)


def test_admins_edit_the_floors_on_the_settings_page(client: TestClient, new_ctx) -> None:
    signup(client, "ada")
    submit(client, "/communities/new", "/communities/new", {"name": "garden"})
    page = client.get("/c/garden/settings").text
    assert "Voting rules" in page and 'name="min_hours"' in page
    good = {"min_hours": "48", "quorum_percent": "25", "openers": "moderators"}
    r = submit(client, "/c/garden/settings", "/c/garden/vote-rules", good)
    assert r.status_code == 303
    page = client.get("/c/garden/settings").text
    assert 'value="48"' in page and 'value="25"' in page
    assert "stay open at least 48 hours" in page and "Only moderators open votes." in page
    r = submit(client, "/c/garden/settings", "/c/garden/vote-rules", {**good, "min_hours": "0"})
    assert r.status_code == 422 and "between 1 and 720 hours" in r.text
    with new_ctx() as ctx:
        assert governance.vote_rules(ctx, communities.get(ctx, "garden")).min_hours == 48


def test_only_who_may_open_a_vote_is_offered_it(client: TestClient, new_ctx) -> None:
    signup(client, "ben")
    with new_ctx() as ctx:
        ada = accounts.register(ctx, "ada", PASSWORD)
        garden = communities.create(ctx, ada, "garden")
        ben = accounts.get_local(ctx, "ben")
        communities.join(ctx, ben, garden)
        adas, bens = _proposed_artifact(ctx, ada, garden), _proposed_artifact(ctx, ben, garden)
    offer = "Put it to a vote"
    assert offer not in client.get(f"/artifacts/{adas.id}").text  # a plain member, not its author
    assert offer in client.get(f"/artifacts/{bens.id}").text  # its author
    with new_ctx() as ctx:
        governance.set_vote_rules(
            ctx, ada, communities.get(ctx, "garden"), min_hours=24, quorum_percent=10,
            openers="moderators",
        )  # fmt: skip
    assert offer not in client.get(f"/artifacts/{bens.id}").text
    r = submit(
        client,
        f"/artifacts/{bens.id}",
        f"/artifacts/{bens.id}/decisions",
        {"method": "consent", "hours": "72", "quorum": "2"},
    )
    assert r.status_code == 403
    with new_ctx() as ctx:
        communities.set_role(ctx, ada, communities.get(ctx, "garden"), "ben", "moderator")
    assert offer in client.get(f"/artifacts/{adas.id}").text
