"""Concurrent requests on the real database (both backends): each racing change
runs in its own thread and transaction, released together by a barrier, and the
outcome must be the one some sequential order would have given. On PostgreSQL
the transactions really overlap; on SQLite the write lock serialises them, so
there the same tests check that the sequential answer is kept."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from app.config import Settings
from app.db import open_session, transaction
from app.errors import DomainError
from app.models import Account, ArtifactRevision, ArtifactTransition, Reaction
from app.services import Ctx, accounts, artifacts, communities, posts, reactions
from tests.conftest import PASSWORD


def concurrently(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(0) … work(n-1)`` in n threads that start together; each result
    is what it returned or the exception it raised."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # the test looks at every outcome
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a racing transaction never finished"
    return results


EDITORS = 8
LINES = [f"Point {i}: nobody has looked at this yet." for i in range(EDITORS)]


@pytest.fixture
def town(engine: Engine, settings: Settings) -> tuple[int, list[int]]:
    """An artifact with one line per editor, and the editors (all members)."""
    with transaction(engine) as db:
        ctx = Ctx(db, settings)
        people = [accounts.register(ctx, f"editor{i}", PASSWORD) for i in range(EDITORS)]
        garden = communities.create(ctx, people[0], "garden")
        for person in people[1:]:
            communities.join(ctx, person, garden)
        art = artifacts.create(ctx, people[0], garden, "idea", "Plans", "\n\n".join(LINES))
        db.flush()
        return art.id, [p.id for p in people]


def _history(engine: Engine, artifact_id: int) -> list[ArtifactRevision]:
    with transaction(engine) as db:
        return list(
            db.exec(
                select(ArtifactRevision)
                .where(ArtifactRevision.artifact_id == artifact_id)
                .order_by(ArtifactRevision.id)
            )
        )


def _assert_linear(revs: list[ArtifactRevision]) -> None:
    """One unbroken chain: each revision numbered one more than, and built on, the one before."""
    assert [r.number for r in revs] == list(range(1, len(revs) + 1))
    assert [r.parent_id for r in revs] == [None] + [r.id for r in revs[:-1]]


def test_concurrent_edits_of_different_lines_all_survive(
    engine: Engine, settings: Settings, town: tuple[int, list[int]]
) -> None:
    """Eight members save an edit of their own line, all from revision 1, at once:
    like sequential saves, one applies, the others merge on top, nothing is lost."""
    art_id, people = town
    with transaction(engine) as db:
        base = artifacts.get(Ctx(db, settings), art_id).current_revision_id

    def edit(i: int) -> str:
        with transaction(engine) as db:
            ctx = Ctx(db, settings)
            body = "\n\n".join(
                f"Point {k}: editor {i} fixed this." if k == i else line
                for k, line in enumerate(LINES)
            )
            editor = db.get(Account, people[i])
            return artifacts.revise(ctx, editor, art_id, base, body, message=f"by {i}").outcome

    outcomes = concurrently(EDITORS, edit)
    assert sorted(map(str, outcomes)) == ["applied"] + ["merged"] * (EDITORS - 1)
    revs = _history(engine, art_id)
    _assert_linear(revs)
    expected = "\n\n".join(f"Point {i}: editor {i} fixed this." for i in range(EDITORS))
    assert revs[-1].body == expected
    with transaction(engine) as db:
        art = artifacts.get(Ctx(db, settings), art_id)
        assert (art.body, art.revision_count, art.current_revision_id) == (
            expected,
            EDITORS + 1,
            revs[-1].id,
        )


def test_concurrent_edits_of_the_same_line_conflict_as_sequential_ones_do(
    engine: Engine, settings: Settings, town: tuple[int, list[int]]
) -> None:
    """Everyone rewrites line 0 from revision 1: exactly one edit is saved, every
    other gets the merge conflict (a 409 with both versions), none is lost silently."""
    art_id, people = town
    with transaction(engine) as db:
        base = artifacts.get(Ctx(db, settings), art_id).current_revision_id

    def edit(i: int) -> str:
        with transaction(engine) as db:
            body = "\n\n".join([f"Point 0: editor {i} says so."] + LINES[1:])
            editor = db.get(Account, people[i])
            return artifacts.revise(Ctx(db, settings), editor, art_id, base, body).outcome

    outcomes = concurrently(EDITORS, edit)
    assert [o for o in outcomes if not isinstance(o, artifacts.MergeConflict)] == ["applied"]
    revs = _history(engine, art_id)
    _assert_linear(revs)
    assert len(revs) == 2


def test_concurrent_reverts_keep_one_history(
    engine: Engine, settings: Settings, town: tuple[int, list[int]]
) -> None:
    art_id, people = town
    with transaction(engine) as db:
        ctx = Ctx(db, settings)
        first = artifacts.get(ctx, art_id).current_revision_id
        artifacts.revise(ctx, db.get(Account, people[1]), art_id, first, "vandalised")

    def revert(i: int) -> int:
        with transaction(engine) as db:
            editor = db.get(Account, people[i])
            return artifacts.revert(Ctx(db, settings), editor, art_id, first).number

    numbers = concurrently(4, revert)
    assert all(isinstance(n, int) for n in numbers), numbers
    assert sorted(numbers) == [3, 4, 5, 6]
    revs = _history(engine, art_id)
    _assert_linear(revs)
    assert revs[-1].body == "\n\n".join(LINES)


def test_concurrent_stage_moves_leave_a_consistent_trail(
    engine: Engine, settings: Settings, town: tuple[int, list[int]]
) -> None:
    """Four moves out of "open" at once: each one that is allowed is recorded from
    the stage the one before it left, as if they had come one after the other."""
    art_id, people = town
    with transaction(engine) as db:
        ctx = Ctx(db, settings)
        artifacts.transition(ctx, db.get(Account, people[0]), art_id, "open")
    targets = ["draft", "proposed", "archived", "superseded"]

    def move(i: int) -> str:
        with transaction(engine) as db:
            author = db.get(Account, people[0])  # author and moderator: every move is allowed
            return artifacts.transition(Ctx(db, settings), author, art_id, targets[i]).to_stage

    results = concurrently(len(targets), move)
    assert all(isinstance(r, str | DomainError) for r in results), results
    with transaction(engine) as db:
        trail = list(
            db.exec(
                select(ArtifactTransition)
                .where(ArtifactTransition.artifact_id == art_id)
                .order_by(ArtifactTransition.id)
            )
        )
        stage = artifacts.get(Ctx(db, settings), art_id).stage
    assert [t.from_stage for t in trail] == ["draft"] + [t.to_stage for t in trail[:-1]]
    assert stage == trail[-1].to_stage
    assert len(trail) - 1 == sum(isinstance(r, str) for r in results)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_simultaneous_uses_of_the_setup_link_make_exactly_one_admin(
    backend: str, request: pytest.FixtureRequest
) -> None:
    """Eight browsers submit the first-run form of a real server at once: one
    becomes the admin, the other seven are told the link is used up (403)."""
    from tests.server_process import ServerProcess
    from tests.test_serve_process import client, csrf_token

    database_url = request.getfixturevalue("fresh_postgres") if backend == "postgresql" else None
    with ServerProcess(database_url=database_url, startup_timeout=120) as server:
        link = server.setup_link()
        assert link, server.output()
        path = link[len(server.url) :]
        browsers = [client(server) for _ in range(8)]
        try:
            tokens = [csrf_token(b.get(path)) for b in browsers]

            def submit(i: int) -> tuple[int, str]:
                answer = browsers[i].post(
                    path,
                    data={
                        "csrf_token": tokens[i],
                        "username": f"root{i}",
                        "password": PASSWORD,
                        "community_name": f"town{i}",
                    },
                )
                return answer.status_code, answer.text

            answers = concurrently(8, submit)
            assert sorted(code for code, _ in answers) == [303] + [403] * 7, server.output()
            assert all("used up" in text for code, text in answers if code == 403)
            winner = next(i for i, (code, _) in enumerate(answers) if code == 303)
            admin_page = browsers[winner].get("/admin")
            assert admin_page.status_code == 200
            assert admin_page.text.count("(admin)") == 1
            assert "Traceback" not in server.output()
        finally:
            for b in browsers:
                b.close()


def _as_a_request(engine: Engine, settings: Settings, work: Callable[[Ctx], Any]) -> Any:
    """``work`` in a writing session as a request gets one (app.deps.get_ctx): it
    begins at its first statement, and on SQLite takes the write lock only at its
    first write, so what it read before that may have changed meanwhile."""
    session = open_session(engine, "write")
    try:
        result = work(Ctx(session, settings))
        session.commit()
        return result
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@pytest.mark.parametrize("kinds", [["agree"] * 8, ["agree", "disagree"] * 4])
def test_one_member_reacting_many_times_at_once_keeps_one_reaction(
    engine: Engine, settings: Settings, kinds: list[str]
) -> None:
    """A double click, two tabs, an app retrying: the same member's reactions to one
    post, all at once. Each is answered (none fails on the unique reaction slot),
    and the member is left with one stance, as sequential clicks would leave them."""
    with transaction(engine) as db:
        ctx = Ctx(db, settings)
        ada = accounts.register(ctx, "ada", PASSWORD)
        post_id = posts.create(ctx, ada, "Shall we plant the verge?").id
        ada_id = ada.id

    def react(i: int) -> str:
        def work(ctx: Ctx) -> str:
            member = ctx.db.get(Account, ada_id)
            assert member is not None
            return reactions.react(ctx, member, post_id, kinds[i]).kind

        return _as_a_request(engine, settings, work)

    outcomes = concurrently(len(kinds), react)
    assert all(isinstance(o, str) for o in outcomes), outcomes
    with transaction(engine) as db:
        kept = db.exec(select(Reaction.kind).where(Reaction.post_id == post_id)).all()
    assert len(kept) == 1 and kept[0] in set(kinds)


def _same_act(ctx: Ctx, case: str) -> tuple[int, Callable[[Ctx], object], Any]:
    """A member (returned by id), the one thing they do several times at once in
    ``case``, and the query that counts what it leaves behind."""
    from app.models import (
        AlgorithmProposal,
        AlgorithmVote,
        ArtifactLink,
        Ballot,
        Follow,
        Membership,
        Stance,
        utcnow,
    )
    from app.services import decisions, follows, governance, stances
    from tests.test_governance import A_DAY, _bridging, _proposed_artifact, _town

    ada, ben, cara, garden = _town(ctx)
    uid = ben.id

    def me(c: Ctx) -> Account:
        member = c.db.get(Account, uid)
        assert member is not None
        return member

    if case == "follow":
        return uid, lambda c: follows.follow(c, me(c), ada), select(Follow)
    if case == "join":
        newcomer = accounts.register(ctx, "dora", PASSWORD).id
        garden_row = lambda c: communities.get(c, "garden")  # noqa: E731
        return (
            newcomer,
            lambda c: communities.join(c, c.db.get(Account, newcomer), garden_row(c)),
            select(Membership).where(Membership.account_id == newcomer),
        )
    art = _proposed_artifact(ctx, ben, garden)
    if case == "stance":
        return uid, lambda c: stances.take(c, me(c), "agree", artifact_id=art.id), select(Stance)
    if case == "link":
        other = artifacts.create(ctx, ben, garden, "problem", "Floods", "It floods.\n").id
        link = lambda c: artifacts.link(c, me(c), art.id, other, "addresses")  # noqa: E731
        return uid, link, select(ArtifactLink)
    if case == "ballot":
        vote = decisions.open_vote(ctx, ben, art.id, "consent", utcnow() + A_DAY).id
        return uid, lambda c: decisions.vote(c, me(c), vote, "agree"), select(Ballot)
    governance.set_mode(ctx, ada, garden, "vote")
    proposal = governance.propose(ctx, ben, garden, _bridging(ctx), {}, window_hours=24).id
    assert case == "algorithm vote", case

    def vote_on(c: Ctx) -> object:
        held = c.db.get(AlgorithmProposal, proposal)
        assert held is not None
        return governance.vote(c, me(c), held, "yes")

    return uid, vote_on, select(AlgorithmVote)


@pytest.mark.parametrize("case", ["follow", "join", "stance", "link", "ballot", "algorithm vote"])
def test_one_member_doing_the_same_thing_many_times_at_once_leaves_it_done_once(
    engine: Engine, settings: Settings, case: str
) -> None:
    """Following, joining, taking a stance, linking artifacts and voting, each sent
    several times at once by one member (a double click, two tabs, a retry): every
    request is answered, none fails on the unique row it makes, and the row is
    there once."""
    with transaction(engine) as db:
        _, act, left = _same_act(Ctx(db, settings), case)

    outcomes = concurrently(6, lambda i: _as_a_request(engine, settings, act))
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    with transaction(engine) as db:
        assert len(db.exec(left).all()) == 1
