"""Artifacts: revisions, merges, stances, the common-ground map and decisions."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlmodel import select

from app.errors import Conflict, Forbidden, Invalid
from app.models import ArtifactRevision, Job, utcnow
from app.services import Ctx, accounts, artifacts, commonground, communities, decisions, stances
from app.services.artifacts import MergeConflict, content_hash
from app.services.textmerge import attribute, merge3, word_diff
from tests.conftest import PASSWORD

BODY = "# Flooding on Mill Road\n\nThe drains overflow.\n\nNobody clears the leaves.\n"


@pytest.fixture
def town(ctx: Ctx):
    ada = accounts.register(ctx, "ada", PASSWORD)
    ben = accounts.register(ctx, "ben", PASSWORD)
    garden = communities.create(ctx, ada, "garden")
    communities.join(ctx, ben, garden)
    art = artifacts.create(ctx, ada, garden, "problem", "Mill Road floods", BODY, ["water"])
    return ada, ben, garden, art


def test_revision_chain_links_parents_and_hashes_content(ctx: Ctx, town) -> None:
    ada, ben, _, art = town
    r1 = art.current_revision_id
    r2 = artifacts.revise(ctx, ben, art.id, r1, BODY + "\nIt smells.\n", message="smell").revision
    r3 = artifacts.revise(ctx, ada, art.id, r2.id, BODY.replace("drains", "gutters")).revision
    chain = list(reversed(artifacts.revisions(ctx, art)))
    assert [r.id for r in chain] == [r1, r2.id, r3.id]
    assert [r.parent_id for r in chain] == [None, r1, r2.id]
    assert [r.number for r in chain] == [1, 2, 3]
    assert all(r.sha256 == content_hash(r.title, r.body) for r in chain)
    assert chain[1].author_id == ben.id and chain[1].message == "smell"
    assert art.revision_count == 3 and art.body == r3.body


def test_revert_makes_a_new_revision_with_the_old_text(ctx: Ctx, town) -> None:
    ada, ben, _, art = town
    first = art.current_revision_id
    artifacts.revise(ctx, ben, art.id, first, "vandalised")
    back = artifacts.revert(ctx, ada, art.id, first)
    assert back.body == BODY and back.change == "revert" and back.number == 3
    assert art.body == BODY and art.revision_count == 3  # history is kept, not rewritten


def test_stale_edits_on_different_lines_merge_cleanly(ctx: Ctx, town) -> None:
    ada, ben, _, art = town
    base = art.current_revision_id
    artifacts.revise(ctx, ada, art.id, base, BODY.replace("overflow", "overflow in storms"))
    result = artifacts.revise(
        ctx, ben, art.id, base, BODY.replace("Nobody clears", "The council rarely clears")
    )
    assert result.outcome == "merged"
    assert "overflow in storms" in art.body and "The council rarely clears" in art.body
    assert result.revision.change == "merge"


def test_conflicting_edits_are_detected_and_nothing_is_lost(ctx: Ctx, town) -> None:
    ada, ben, _, art = town
    base = art.current_revision_id
    artifacts.revise(ctx, ada, art.id, base, BODY.replace("drains overflow", "drains are fine"))
    mine = BODY.replace("drains overflow", "drains are blocked")
    with pytest.raises(MergeConflict) as conflict:
        artifacts.revise(ctx, ben, art.id, base, mine)
    detail = conflict.value.detail
    assert detail["yours"]["body"] == mine  # the editor keeps what they wrote
    assert "drains are fine" in detail["current"]["body"]
    assert detail["conflicts"][0]["yours"].strip() == "The drains are blocked."
    assert "drains are fine" in art.body and art.revision_count == 2  # nothing overwritten


def test_unknown_base_revisions_are_refused(ctx: Ctx, town) -> None:
    _, ben, garden, art = town
    other = artifacts.create(ctx, ben, garden, "idea", "Rain gardens", "Plant them.")
    with pytest.raises(Invalid, match="base revision"):
        artifacts.revise(ctx, ben, art.id, other.current_revision_id, "x")
    with pytest.raises(Invalid, match="base revision"):
        artifacts.revise(ctx, ben, art.id, 999_999, "x")


def test_three_way_merge_cases() -> None:
    base = "a\nb\nc\n"
    assert merge3(base, "A\nb\nc\n", "a\nb\nC\n").text == "A\nb\nC\n"
    assert merge3(base, "a\nb\nc\nd\n", "z\na\nb\nc\n").text == "z\na\nb\nc\nd\n"
    assert merge3(base, "a\nx\nc\n", "a\nx\nc\n").text == "a\nx\nc\n"  # same change twice
    assert not merge3(base, "a\nx\nc\n", "a\ny\nc\n").clean


def test_word_diff_and_attribution() -> None:
    ops = word_diff("the drains overflow", "the gutters overflow")
    assert [(o.kind, o.text) for o in ops] == [
        ("equal", "the "),
        ("delete", "drains"),
        ("insert", "gutters"),
        ("equal", " overflow"),
    ]
    shares = attribute([(1, "one two three"), (2, "one two three four five"), (1, "one five")])
    assert shares == {1: 1, 2: 1}


def test_contributors_are_credited_with_their_share_of_the_text(ctx: Ctx, town) -> None:
    ada, ben, _, art = town
    artifacts.revise(ctx, ben, art.id, art.current_revision_id, BODY + "\n" + "rain " * 40)
    shares = dict((a.username, round(s, 2)) for a, s in artifacts.contributors(ctx, art))
    assert shares["ben"] > shares["ada"] > 0 and abs(sum(shares.values()) - 1) < 0.02


def test_stage_transitions_follow_roles_and_are_recorded(ctx: Ctx, town) -> None:
    ada, ben, _, art = town
    with pytest.raises(Forbidden):
        artifacts.transition(ctx, ben, art.id, "open")  # only the author (or a moderator)
    artifacts.transition(ctx, ada, art.id, "open", "ready for comments")
    artifacts.transition(ctx, ben, art.id, "proposed", "let's decide")
    with pytest.raises(Forbidden):
        artifacts.transition(ctx, ben, art.id, "adopted")
    with pytest.raises(Invalid, match="can't go"):
        artifacts.transition(ctx, ada, art.id, "implemented")
    moves = [(t.from_stage, t.to_stage, t.reason) for t in artifacts.transitions(ctx, art)]
    assert moves == [("draft", "open", "ready for comments"), ("open", "proposed", "let's decide")]


def test_links_have_backlinks(ctx: Ctx, town) -> None:
    ada, ben, garden, art = town
    idea = artifacts.create(ctx, ben, garden, "solution", "Rain gardens", "Plant them.")
    artifacts.link(ctx, ben, idea.id, art.id, "addresses")
    assert [(e.kind, a.id) for e, a in artifacts.links_of(ctx, art)["backlinks"]] == [
        ("addresses", idea.id)
    ]
    with pytest.raises(Invalid):
        artifacts.link(ctx, ben, idea.id, art.id, "likes")


def test_one_current_stance_with_history(ctx: Ctx, town) -> None:
    _, ben, _, art = town
    stances.take(ctx, ben, "agree", artifact_id=art.id)
    stances.take(ctx, ben, "disagree", artifact_id=art.id, reason="it's the leaves")
    assert stances.tally(ctx, art)["artifact"] == {"agree": 0, "disagree": 1, "pass": 0}
    assert [h.stance for h in stances.history(ctx, ben, f"a:{art.id}")] == ["agree", "disagree"]


def test_group_informed_consensus_matches_a_hand_computed_case() -> None:
    # group 1: 3 of 4 agree; group 2: 1 of 2 agree → (4/6) * (2/4) = 1/3
    assert commonground.group_informed_consensus([(3, 4), (1, 2)]) == pytest.approx(1 / 3)
    assert commonground.group_informed_consensus([(0, 0)]) == pytest.approx(1 / 2)


def _two_factions(rng: np.random.Generator, per_side: int = 30) -> np.ndarray:
    """Statements 0-4 side A agrees with, 5-9 side B, 10-11 everyone agrees with."""
    rows = []
    for side in (0, 1):
        for _ in range(per_side):
            row = []
            for s in range(12):
                mine = (s < 5) == (side == 0)
                p_agree = 0.9 if s >= 10 else (0.9 if mine else 0.05)
                row.append(1.0 if rng.random() < p_agree else -1.0)
            rows.append(row)
    return np.array(rows)


def test_opinion_groups_recover_two_factions() -> None:
    matrix = _two_factions(np.random.default_rng(7))
    labels, _ = commonground.opinion_groups(matrix)
    side_a, side_b = labels[:30], labels[30:]
    main_a = np.bincount(side_a).argmax()
    main_b = np.bincount(side_b).argmax()
    assert main_a != main_b
    # random stances make the odd person ambiguous; nearly everyone lands with their side
    assert (side_a == main_a).mean() >= 0.95 and (side_b == main_b).mean() >= 0.95


def test_bridging_statements_rank_first_in_the_map(ctx: Ctx, town) -> None:
    ada, _, garden, art = town
    rng = np.random.default_rng(3)
    matrix = _two_factions(rng, per_side=12)
    texts = [f"faction statement {i}" for i in range(10)] + ["Clear the drains", "Plant trees"]
    ids = [stances.add_statement(ctx, ada, art.id, t).id for t in texts]
    for i, row in enumerate(matrix):
        person = accounts.register(ctx, f"p{i}", PASSWORD)
        communities.join(ctx, person, garden)
        for sid, value in zip(ids, row, strict=True):
            stance = "agree" if value > 0 else "disagree"
            stances.take(ctx, person, stance, statement_id=sid)
    data = commonground.compute(ctx, art)
    assert len(data["groups"]) >= 2 and data["participants"] == 24
    for group in {p["group"] for p in data["points"]}:  # no group mixes the two factions
        sides = {i < 12 for i, p in enumerate(data["points"]) if p["group"] == group}
        assert len(sides) == 1
    top_two = {s["text"] for s in data["consensus"][:2]}
    assert top_two == {"Clear the drains", "Plant trees"}
    assert data["divisive"][0]["text"].startswith("faction statement")
    assert "(agrees + 1) / (seen + 2)" in data["method"]


def test_stances_schedule_one_recomputation(ctx: Ctx, town) -> None:
    ada, ben, _, art = town
    s1 = stances.add_statement(ctx, ada, art.id, "Drains need clearing")
    stances.take(ctx, ben, "agree", statement_id=s1.id)
    stances.take(ctx, ada, "agree", statement_id=s1.id)
    waiting = ctx.db.exec(select(Job).where(Job.kind == "artifacts.map")).all()
    assert len(waiting) == 1 and waiting[0].run_at > utcnow()


def _proposed(ctx: Ctx, town):
    ada, ben, garden, art = town
    artifacts.transition(ctx, ada, art.id, "open")
    artifacts.transition(ctx, ada, art.id, "proposed")
    return ada, ben, garden, art


def test_decision_lifecycle_quorum_block_outcome_and_review(ctx: Ctx, town) -> None:
    ada, ben, garden, art = _proposed(ctx, town)
    closes = utcnow() + timedelta(hours=25)  # the community's floor is a day
    vote = decisions.open_vote(ctx, ada, art.id, "consent", closes, quorum=2)
    decisions.vote(ctx, ada, vote.id, "agree")
    decisions.close(ctx, vote)  # not due yet: nothing happens
    assert vote.state == "open"
    decisions.close(ctx, vote, now=closes)
    assert vote.state == "no_quorum" and art.stage == "proposed"

    second = decisions.open_vote(ctx, ada, art.id, "consent", closes, quorum=2)
    decisions.vote(ctx, ada, second.id, "agree")
    with pytest.raises(Invalid, match="reason"):
        decisions.vote(ctx, ben, second.id, "block")
    decisions.vote(ctx, ben, second.id, "block", "the drains are the council's job")
    decisions.close(ctx, second, now=closes)
    assert second.state == "rejected"

    third = decisions.open_vote(ctx, ada, art.id, "consensus", closes, quorum=2)
    decisions.vote(ctx, ada, third.id, "agree")
    decisions.vote(ctx, ben, third.id, "abstain")
    decisions.close(ctx, third, now=closes)
    assert third.state == "adopted" and art.stage == "adopted"
    with pytest.raises(Conflict):
        decisions.vote(ctx, ben, third.id, "agree")
    review = utcnow() + timedelta(days=90)
    decisions.record_outcome(ctx, ada, third.id, "We clear the drains monthly.", review)
    assert "## Outcome" in art.body and art.review_at == review
    assert artifacts.revisions(ctx, art)[0].change == "outcome"
    assert artifacts.due_for_review(ctx, garden) == []
    art.review_at = utcnow() - timedelta(minutes=1)
    assert artifacts.due_for_review(ctx, garden) == [art]


def test_the_closing_job_is_queued_for_the_closing_time(ctx: Ctx, town) -> None:
    ada, *_, art = _proposed(ctx, town)
    closes = utcnow() + timedelta(hours=26)
    vote = decisions.open_vote(ctx, ada, art.id, "consent", closes)
    job = ctx.db.exec(select(Job).where(Job.kind == "decisions.close")).one()
    assert job.run_at == closes and f'"decision": {vote.id}' in job.payload


def test_export_has_the_whole_history(ctx: Ctx, town) -> None:
    ada, ben, _, art = town
    artifacts.revise(ctx, ben, art.id, art.current_revision_id, BODY + "\nMore.\n", message="m")
    markdown, data = artifacts.export(ctx, art)
    assert markdown.startswith("# Mill Road floods") and "r2" in markdown
    assert [r["number"] for r in data["revisions"]] == [1, 2]
    assert data["revisions"][1]["author"] == "@ben@127.0.0.1:8000"
    assert ctx.db.exec(select(ArtifactRevision)).all()


def test_artifacts_are_feed_candidates_ranked_by_the_communitys_module(ctx: Ctx, town) -> None:
    from app.services.ranking import artifact_items, choices, feeds, registry

    ada, ben, garden, quiet = town
    busy = artifacts.create(ctx, ben, garden, "idea", "Rain gardens", "Plant them.")
    for i in range(3):
        person = accounts.register(ctx, f"helper{i}", PASSWORD)
        communities.join(ctx, person, garden)
        artifacts.revise(ctx, person, busy.id, busy.current_revision_id, f"Plant them. {i}")
    items = artifact_items.items_for(ctx, [busy])
    assert items[0]["kind"] == "artifact" and items[0]["contributors"] == 4
    assert items[0]["stage"] == "draft" and items[0]["revision_count"] == 4
    feed = feeds.community_artifacts(ctx, garden, ada)
    assert feed.algorithm.lower().startswith("chronological")
    assert [i.artifact.id for i in feed.items] == [busy.id, quiet.id]  # newest first
    discussion = registry.builtin_version(ctx, "recent_discussion")
    choices.set_community_algorithm(ctx, ada, garden, discussion.id, {})
    feed = feeds.community_artifacts(ctx, garden, ada)
    assert feed.items[0].artifact.id == busy.id
    assert feed.items[0].why["distinct repliers"] == 4  # contributors count as repliers
    assert feed.notice is None


LONGEST_FIRST = '''"""Artifacts with the most text first: easy to tell from newest first."""
NAME = "Longest first"
PARAMETERS = {}


def rank(items, context, params):
    return [(it["id"], float(len(it["text"])), {"characters": len(it["text"])}) for it in items]
'''


def test_a_submitted_module_ranks_artifacts_in_the_background(
    ctx: Ctx,
    town,
    sandbox_required: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Page loads never wait on untrusted code: they serve the stored order (or
    newest first, saying so), and a job runs the module."""
    from app.services.ranking import choices, feeds, rankers, registry, snapshots

    ada, ben, garden, long_one = town  # BODY is long
    short = artifacts.create(ctx, ben, garden, "idea", "Leaves", "Rake them.")
    version = registry.submit(ctx, ada, LONGEST_FIRST)
    choices.set_community_algorithm(ctx, ada, garden, version.id, {})
    runs: list[int] = []
    real_run = rankers.run
    monkeypatch.setattr(rankers, "run", lambda *a, **k: runs.append(1) or real_run(*a, **k))

    feed = feeds.community_artifacts(ctx, garden, ada)
    assert "in the background" in feed.notice
    assert [i.artifact.id for i in feed.items] == [short.id, long_one.id]  # newest first
    queued = ctx.db.exec(select(Job).where(Job.kind == snapshots.ARTIFACTS_KIND)).all()
    assert len(queued) == 1 and runs == []

    feeds.rank_community_artifacts(ctx, {"community_id": garden.id})
    assert runs == [1]
    feed = feeds.community_artifacts(ctx, garden, ada)
    assert feed.notice is None and runs == [1]  # served from the snapshot
    assert [i.artifact.id for i in feed.items] == [long_one.id, short.id]
    assert feed.items[0].why["characters"] > feed.items[1].why["characters"]

    artifacts.revise(ctx, ben, short.id, short.current_revision_id, "Rake them. Compost them.")
    feed = feeds.community_artifacts(ctx, garden, ada)
    assert feed.items[0].artifact.id == short.id
    assert feed.items[0].why == {"changed since the last ranking": 1.0}
    assert runs == [1]
