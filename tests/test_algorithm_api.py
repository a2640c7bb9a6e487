"""Choosing and submitting ranking modules through the API, and feeds that use them."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.models import AlgorithmProposal, Job, utcnow

AGREED = '''"""Most agreed first."""
NAME = "Most agreed"
PARAMETERS = {"weight": 1.0}


def rank(items, context, params):
    return [(it["id"], params["weight"] * it["reactions"]["agree"],
             {"agrees": it["reactions"]["agree"]}) for it in items]
'''

needs_sandbox = pytest.mark.usefixtures("sandbox_required")


@pytest.fixture
def garden(api_user):
    alice, bob = api_user("alice"), api_user("bob")
    alice.post("/api/cg/v1/communities", {"name": "garden"})
    bob.post("/api/cg/v1/communities/garden/join")
    first = alice.post("/api/cg/v1/posts", {"text": "older, loved", "community": "garden"}).json()
    second = alice.post(
        "/api/cg/v1/posts", {"text": "newer, ignored", "community": "garden"}
    ).json()
    bob.post(f"/api/cg/v1/posts/{first['id']}/reactions", {"kind": "agree"})
    return {"alice": alice, "bob": bob, "first": first, "second": second}


def builtin(api, key_name: str) -> dict:
    return next(a for a in api.get("/api/cg/v1/algorithms").json() if a["name"] == key_name)


def test_builtins_are_listed_with_source_and_hash(garden) -> None:
    alice = garden["alice"]
    names = {a["name"] for a in alice.get("/api/cg/v1/algorithms").json()}
    assert {
        "Chronological",
        "Recent discussion",
        "Bridging",
        "Questions that need answers",
    } <= names
    bridging = builtin(alice, "Bridging")
    source = alice.client.get(bridging["source_url"].split("8000", 1)[1])
    assert source.headers["content-type"].startswith("text/x-python")
    import hashlib

    assert hashlib.sha256(source.content).hexdigest() == bridging["latest"]["sha256"]


def test_default_feed_is_chronological_with_version_and_hash(garden) -> None:
    feed = garden["alice"].get("/api/cg/v1/communities/garden/feed").json()
    assert feed["algorithm"] == "Chronological" and len(feed["sha256"]) == 64
    assert [i["post"]["id"] for i in feed["items"]] == [
        garden["second"]["id"],
        garden["first"]["id"],
    ]
    assert feed["items"][0]["why"]["sha256"] == feed["sha256"]


def test_community_admin_switches_the_algorithm_with_a_changelog(garden) -> None:
    alice, bob = garden["alice"], garden["bob"]
    recent = builtin(alice, "Recent discussion")["latest"]["version_id"]
    r = bob.put("/api/cg/v1/communities/garden/algorithm", {"algorithm": recent})
    assert r.status_code == 403
    r = alice.put(
        "/api/cg/v1/communities/garden/algorithm",
        {
            "algorithm": recent,
            "params": {"half_life_hours": 2.0},
            "reason": "favour live conversations",
        },
    )
    assert r.status_code == 200
    state = alice.get("/api/cg/v1/communities/garden/algorithm").json()
    assert state["active"]["version_id"] == recent and state["active"]["params"] == {
        "half_life_hours": 2.0
    }
    assert state["changelog"][0]["reason"] == "favour live conversations"
    assert state["changelog"][0]["changed_by"].endswith("/users/alice")
    feed = alice.get("/api/cg/v1/communities/garden/feed").json()
    assert feed["algorithm"] == "Recent discussion"
    assert "recency" in feed["items"][0]["why"]["factors"]
    bad = alice.put(
        "/api/cg/v1/communities/garden/algorithm",
        {"algorithm": recent, "params": {"half_life_hours": "soon"}},
    )
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_params"


def test_members_pick_only_approved_algorithms(garden, api_user) -> None:
    bob = garden["bob"]
    bridging = builtin(bob, "Bridging")["latest"]["version_id"]
    r = bob.put("/api/cg/v1/me/feed-algorithm", {"algorithm": bridging})
    assert r.status_code == 200
    assert bob.get("/api/cg/v1/feed/home").json()["algorithm"] == "Bridging"
    assert bob.put("/api/cg/v1/me/feed-algorithm", {"algorithm": 999999}).status_code == 404


def test_lint_failures_list_each_finding(garden) -> None:
    r = garden["alice"].post("/api/cg/v1/algorithms", {"source": "import os\nNAME = 1\n"})
    assert r.status_code == 422 and r.json()["error"] == "lint_failed"
    findings = r.json()["detail"]
    assert any(f["line"] == 1 and "'os' is not allowed" in f["message"] for f in findings)
    assert any("rank" in f["message"] for f in findings)


@needs_sandbox
def test_submit_fork_choose_and_rank(garden, engine, settings) -> None:
    from app.infra import jobs

    alice, bob = garden["alice"], garden["bob"]
    r = bob.post("/api/cg/v1/algorithms", {"source": AGREED})
    assert r.status_code == 201, r.text
    module = r.json()
    assert module["name"] == "Most agreed" and module["report"]["dry_run"]["errors"] == []
    assert module["report"]["dry_run"]["latency_ms"]["p50"] > 0
    # alice forks it: a new module that remembers its parent's hash
    fork = alice.post(
        "/api/cg/v1/algorithms",
        {
            "source": AGREED.replace('"Most agreed"', '"Most agreed, fork"'),
            "forked_from": module["latest"]["version_id"],
        },
    )
    assert fork.status_code == 201
    assert fork.json()["id"] != module["id"]
    assert fork.json()["latest"]["forked_from_sha256"] == module["latest"]["sha256"]
    # bob's own next version stays in his module
    v2 = bob.post(
        "/api/cg/v1/algorithms",
        {"source": AGREED + "\n# v2\n", "forked_from": module["latest"]["version_id"]},
    ).json()
    assert v2["id"] == module["id"] and v2["latest"]["version"] == 2
    # the community adopts bob's module; pages never wait for it: the first view is
    # newest first while a background job ranks, then the stored ranking is served
    alice.put("/api/cg/v1/communities/garden/algorithm", {"algorithm": v2["latest"]["version_id"]})
    feed = bob.get("/api/cg/v1/communities/garden/feed").json()
    assert "in the background" in feed["notice"]
    assert [i["post"]["id"] for i in feed["items"]] == [
        garden["second"]["id"],
        garden["first"]["id"],
    ]
    assert jobs.run_one(engine, settings, "w").state == "done"
    feed = bob.get("/api/cg/v1/communities/garden/feed").json()
    assert feed["notice"] is None
    assert feed["algorithm"] == "Most agreed" and feed["version"] == 2
    assert [i["post"]["id"] for i in feed["items"]] == [
        garden["first"]["id"],
        garden["second"]["id"],
    ]
    assert feed["items"][0]["why"]["factors"] == {"agrees": 1.0}
    # a thread newer than the ranking is shown on top, and a re-ranking is queued
    new = alice.post("/api/cg/v1/posts", {"text": "fresh", "community": "garden"}).json()
    feed = bob.get("/api/cg/v1/communities/garden/feed").json()
    assert feed["items"][0]["post"]["id"] == new["id"]
    assert feed["items"][0]["why"]["factors"] == {"newer than the last ranking": 1.0}
    assert jobs.run_one(engine, settings, "w").state == "done"


@needs_sandbox
def test_a_failing_module_falls_back_visibly_and_is_counted(garden, engine, settings) -> None:
    from app.infra import jobs

    alice = garden["alice"]
    flaky = AGREED.replace(
        'it["reactions"]["agree"],',
        'it["reactions"]["agree"] / (1 - 1) if it["text"].startswith("older") else 0,',
    )
    r = alice.post("/api/cg/v1/algorithms", {"source": flaky})
    assert r.status_code == 201, r.text  # fixtures don't start with "older": the dry run passes
    version_id = r.json()["latest"]["version_id"]
    alice.put("/api/cg/v1/communities/garden/algorithm", {"algorithm": version_id})
    alice.get("/api/cg/v1/communities/garden/feed")  # queues the background ranking
    assert jobs.run_one(engine, settings, "w").state == "done"  # the failure is recorded
    feed = alice.get("/api/cg/v1/communities/garden/feed").json()
    assert "showing newest first" in feed["notice"]
    assert [i["post"]["id"] for i in feed["items"]] == [
        garden["second"]["id"],
        garden["first"]["id"],
    ]
    stats = alice.get(f"/api/cg/v1/algorithms/{r.json()['id']}").json()["errors"]
    assert stats["last_24h"] == {"error": 1} and "ZeroDivisionError" in stats["last_error"]
    # a member previewing their home feed under it sees the same, inline
    preview = alice.get("/api/cg/v1/feed/home", params={"algorithm": version_id}).json()
    assert "could not rank" in preview["notice"]


def _expire(new_ctx, proposal_id: int) -> None:
    """Let the voting window pass (its closing job waits for the closing time)."""
    from datetime import timedelta

    from app.models import AlgorithmProposal, utcnow

    with new_ctx() as ctx:
        proposal = ctx.db.get(AlgorithmProposal, proposal_id)
        proposal.closes_at = utcnow() - timedelta(seconds=1)
        ctx.db.add(proposal)


def _close(new_ctx, engine, settings, proposal_id: int) -> None:
    """Let the voting window pass and the closing job run (reads never close a vote)."""
    from app.infra import jobs

    _expire(new_ctx, proposal_id)
    with new_ctx() as ctx:  # the job was queued for the closing time; make it due now
        for job in ctx.db.exec(select(Job).where(Job.kind == "algorithms.close_proposal")):
            job.run_at = utcnow()
            ctx.db.add(job)
    assert jobs.run_one(engine, settings, "w").state == "done"


def test_member_vote_lifecycle(garden, api_user, new_ctx, engine, settings) -> None:
    alice, bob = garden["alice"], garden["bob"]
    carol = api_user("carol")
    carol.post("/api/cg/v1/communities/garden/join")
    bridging = builtin(alice, "Bridging")["latest"]["version_id"]
    assert (
        bob.post(
            "/api/cg/v1/communities/garden/algorithm-proposals", {"algorithm": bridging}
        ).json()["error"]
        == "governed_by_admins"
    )
    assert (
        bob.put("/api/cg/v1/communities/garden/algorithm-governance", {"mode": "vote"}).status_code
        == 403
    )
    assert (
        alice.put("/api/cg/v1/communities/garden/algorithm-governance", {"mode": "vote"}).json()[
            "mode"
        ]
        == "vote"
    )
    r = alice.put("/api/cg/v1/communities/garden/algorithm", {"algorithm": bridging})
    assert r.status_code == 403 and r.json()["error"] == "governed_by_vote"

    r = bob.post(
        "/api/cg/v1/communities/garden/algorithm-proposals",
        {
            "algorithm": bridging,
            "reason": "find common ground",
            "quorum": 2,
            "threshold": 0.5,
            "window_hours": 24,
        },
    )
    assert r.status_code == 201 and r.json()["state"] == "open"
    pid = r.json()["id"]
    votes = f"/api/cg/v1/communities/garden/algorithm-proposals/{pid}/votes"
    assert bob.post(votes, {"choice": "yes"}).json()["tally"]["yes"] == 1
    assert carol.post(votes, {"choice": "no"}).json()["tally"] == {"yes": 1, "no": 1, "abstain": 0}
    assert carol.post(votes, {"choice": "yes"}).json()["tally"]["yes"] == 2  # changed her mind
    outsider = api_user("dave")
    assert outsider.post(votes, {"choice": "no"}).status_code == 403
    assert (
        alice.get("/api/cg/v1/communities/garden/algorithm").json()["active"]["name"]
        == "Chronological"
    )  # nothing changes before the window closes

    _expire(new_ctx, pid)
    proposals = alice.get("/api/cg/v1/communities/garden/algorithm-proposals").json()
    assert proposals[0]["state"] == "open"  # until its closing job has run
    assert bob.post(votes, {"choice": "no"}).json()["error"] == "proposal_closed"
    _close(new_ctx, engine, settings, pid)
    proposals = alice.get("/api/cg/v1/communities/garden/algorithm-proposals").json()
    assert proposals[0]["state"] == "passed"
    state = alice.get("/api/cg/v1/communities/garden/algorithm").json()
    assert state["active"]["version_id"] == bridging
    assert state["changelog"][0]["reason"] == "find common ground"
    assert state["changelog"][0]["tally"] == {
        "yes": 2,
        "no": 0,
        "abstain": 0,
        "quorum": 2,
        "threshold": 0.5,
    }
    assert bob.post(votes, {"choice": "no"}).json()["error"] == "proposal_closed"
    assert alice.get("/api/cg/v1/communities/garden/feed").json()["algorithm"] == "Bridging"


def test_a_proposal_without_quorum_is_rejected(garden, new_ctx, engine, settings) -> None:
    alice, bob = garden["alice"], garden["bob"]
    alice.put("/api/cg/v1/communities/garden/algorithm-governance", {"mode": "vote"})
    recent = builtin(alice, "Recent discussion")["latest"]["version_id"]
    pid = bob.post(
        "/api/cg/v1/communities/garden/algorithm-proposals", {"algorithm": recent, "quorum": 2}
    ).json()["id"]
    bob.post(f"/api/cg/v1/communities/garden/algorithm-proposals/{pid}/votes", {"choice": "yes"})
    _close(new_ctx, engine, settings, pid)
    proposal = alice.get("/api/cg/v1/communities/garden/algorithm-proposals").json()[0]
    assert proposal["state"] == "rejected" and proposal["tally"]["yes"] == 1
    assert (
        alice.get("/api/cg/v1/communities/garden/algorithm").json()["active"]["name"]
        == "Chronological"
    )
    bad = bob.post(
        "/api/cg/v1/communities/garden/algorithm-proposals", {"algorithm": recent, "quorum": 50}
    )
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_quorum"


def test_the_worker_closes_proposals_on_time(garden, new_ctx, engine, settings) -> None:
    from app.infra import jobs

    alice, bob = garden["alice"], garden["bob"]
    alice.put("/api/cg/v1/communities/garden/algorithm-governance", {"mode": "vote"})
    needs = builtin(alice, "Questions that need answers")["latest"]["version_id"]
    pid = bob.post(
        "/api/cg/v1/communities/garden/algorithm-proposals", {"algorithm": needs, "quorum": 2}
    ).json()["id"]
    for member in (alice, bob):
        member.post(
            f"/api/cg/v1/communities/garden/algorithm-proposals/{pid}/votes", {"choice": "yes"}
        )
    _expire(new_ctx, pid)
    with new_ctx() as ctx:  # the job was queued for the closing time; make it due now
        for job in ctx.db.exec(select(Job).where(Job.kind == "algorithms.close_proposal")):
            job.run_at = utcnow()
            ctx.db.add(job)
    assert jobs.run_one(engine, settings, "w").state == "done"
    with new_ctx() as ctx:
        assert ctx.db.get(AlgorithmProposal, pid).state == "passed"


def test_rankings_are_cached_by_their_exact_inputs(garden, monkeypatch) -> None:
    from app.services.ranking import rankers

    calls = []
    real_run = rankers.run
    monkeypatch.setattr(rankers, "run", lambda *a, **k: calls.append(1) or real_run(*a, **k))
    monkeypatch.setattr(rankers, "CACHE", rankers.RankingCache())
    alice, bob = garden["alice"], garden["bob"]
    recent = builtin(alice, "Recent discussion")["latest"]["version_id"]
    alice.put("/api/cg/v1/communities/garden/algorithm", {"algorithm": recent})
    first = alice.get("/api/cg/v1/communities/garden/feed").json()
    again = alice.get("/api/cg/v1/communities/garden/feed").json()
    assert len(calls) == 1 and first["items"] == again["items"]
    bob.post(f"/api/cg/v1/posts/{garden['second']['id']}/reactions", {"kind": "like"})
    alice.get("/api/cg/v1/communities/garden/feed")
    assert len(calls) == 2  # new input, new ranking


def test_kendall_tau_by_hand() -> None:
    from app.services.ranking.comparison import kendall_tau

    assert kendall_tau(["a", "b", "c"], ["a", "b", "c"]) == 1.0
    assert kendall_tau(["a", "b", "c"], ["c", "b", "a"]) == -1.0
    # pairs ab ac bc: a<b kept, a<c kept, b<c flipped -> (2 - 1) / 3
    assert kendall_tau(["a", "b", "c"], ["a", "c", "b"]) == pytest.approx(1 / 3)
    assert kendall_tau(["a"], ["a"]) is None


def test_diff_and_preview(garden) -> None:
    alice = garden["alice"]
    chrono = builtin(alice, "Chronological")["latest"]["version_id"]
    recent = builtin(alice, "Recent discussion")["latest"]["version_id"]
    diff = alice.get("/api/cg/v1/algorithm-diff", params={"from": chrono, "to": recent})
    assert diff.status_code == 200 and diff.text.startswith("--- v1")
    assert '+NAME = "Recent discussion"' in diff.text and '-NAME = "Chronological"' in diff.text
    preview = alice.get("/api/cg/v1/feed/home", params={"algorithm": recent}).json()
    assert preview["algorithm"] == "Recent discussion"
    assert alice.get("/api/cg/v1/feed/home").json()["algorithm"] == "Chronological"  # unchanged


@needs_sandbox
def test_submission_report_compares_with_the_community(garden) -> None:
    bob = garden["bob"]
    r = bob.post("/api/cg/v1/algorithms", {"source": AGREED, "community": "garden"})
    assert r.status_code == 201, r.text
    diff = r.json()["report"]["ranking_diff"]
    assert diff["community"] == "garden" and diff["candidates"] == 2
    assert diff["overlap_at_20"] == 1.0 and diff["kendall_tau"] == -1.0  # same two, swapped
    assert diff["moved_in"] == [] and diff["moved_out"] == []


@needs_sandbox
def test_submit_answers_id_version_sha256_and_report_at_the_top_level(garden) -> None:
    """The stable interface of docs/algorithms.md: a submission answers
    {id, version, sha256, report, ...}; ``latest`` stays for older clients."""
    import hashlib

    r = garden["alice"].post("/api/cg/v1/algorithms", {"source": AGREED})
    assert r.status_code == 201, r.text
    body = r.json()
    assert isinstance(body["id"], int) and body["version"] == 1
    assert body["sha256"] == hashlib.sha256(AGREED.encode()).hexdigest()
    assert body["report"]["dry_run"]
    assert (body["latest"]["version"], body["latest"]["sha256"]) == (1, body["sha256"])
    again = (
        garden["alice"]
        .post(
            "/api/cg/v1/algorithms",
            {"source": AGREED + "\n# v2\n", "forked_from": body["latest"]["version_id"]},
        )
        .json()
    )
    assert (again["id"], again["version"]) == (body["id"], 2)
    assert again["sha256"] == again["latest"]["sha256"] != body["sha256"]
