"""The artifact endpoints of the JSON API, including bad input that stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import func, select

from app.models import Artifact, ArtifactRevision, ArtifactTransition

BODY = "Leaves block the drains.\n\nThe road floods after rain.\n"


@pytest.fixture
def world(api_user):
    ada, ben = api_user("ada"), api_user("ben")
    assert ada.post("/api/cg/v1/communities", {"name": "garden"}).status_code == 201
    assert ben.post("/api/cg/v1/communities/garden/join").status_code == 200
    r = ada.post(
        "/api/cg/v1/artifacts",
        {
            "community": "garden",
            "kind": "problem",
            "title": "Floods",
            "body": BODY,
            "tags": ["water"],
        },
    )
    assert r.status_code == 201, r.text
    return ada, ben, r.json()


def rows(new_ctx, model) -> int:
    with new_ctx() as ctx:
        return ctx.db.exec(select(func.count()).select_from(model)).one()


def test_create_read_revise_merge_and_diff(world) -> None:
    ada, ben, art = world
    assert (art["kind"], art["stage"], art["tags"], art["revision_count"]) == (
        "problem", "draft", ["water"], 1,
    )  # fmt: skip
    base = art["revision"]
    r = ada.post(
        f"/api/cg/v1/artifacts/{art['id']}/revisions",
        {"base_revision": base, "body": BODY.replace("Leaves", "Autumn leaves"), "message": "m"},
    )
    assert r.status_code == 201 and r.json()["outcome"] == "applied"
    r = ben.post(
        f"/api/cg/v1/artifacts/{art['id']}/revisions",
        {"base_revision": base, "body": BODY.replace("after rain", "after heavy rain")},
    )
    assert r.status_code == 201 and r.json()["outcome"] == "merged"
    merged = r.json()["artifact"]
    assert "Autumn leaves" in merged["body"] and "heavy rain" in merged["body"]
    revs = ada.get(f"/api/cg/v1/artifacts/{art['id']}/revisions").json()
    assert [x["number"] for x in revs] == [3, 2, 1] and revs[0]["change"] == "merge"
    d = ada.get(
        f"/api/cg/v1/artifacts/{art['id']}/diff",
        params={"from": revs[2]["id"], "to": revs[0]["id"]},
    )
    ops = d.json()["body"]
    assert {"op": "insert", "text": "Autumn "} in ops or any(
        o["op"] == "insert" and "Autumn" in o["text"] for o in ops
    )
    assert d.json()["words_added"] >= 2


def test_a_conflict_answers_409_with_both_versions_and_stores_nothing(world, new_ctx) -> None:
    ada, ben, art = world
    base = art["revision"]
    ada.post(
        f"/api/cg/v1/artifacts/{art['id']}/revisions",
        {"base_revision": base, "body": BODY.replace("Leaves block", "Plastic blocks")},
    )
    before = rows(new_ctx, ArtifactRevision)
    mine = BODY.replace("Leaves block", "Roots block")
    r = ben.post(
        f"/api/cg/v1/artifacts/{art['id']}/revisions", {"base_revision": base, "body": mine}
    )
    assert r.status_code == 409 and r.json()["error"] == "merge_conflict"
    detail = r.json()["detail"]
    assert detail["yours"]["body"] == mine and "Plastic" in detail["current"]["body"]
    assert rows(new_ctx, ArtifactRevision) == before


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"body": "x" * 100_001}, 422, "validation_error"),
        ({"base_revision": 999_999}, 422, "unknown_base"),
        ({"base_revision": 0}, 422, "validation_error"),
        ({"body": "ok\x00"}, 422, "validation_error"),
        ({"title": ""}, 422, "validation_error"),
    ],
)
def test_bad_revisions_get_a_clear_error_and_store_nothing(
    world,
    new_ctx,
    payload: dict,
    status: int,
    code: str,
) -> None:
    ada, _, art = world
    before = rows(new_ctx, ArtifactRevision)
    body = {"base_revision": art["revision"], "body": "new text", **payload}
    r = ada.post(f"/api/cg/v1/artifacts/{art['id']}/revisions", body)
    assert r.status_code == status and r.json()["error"] == code, r.text
    assert rows(new_ctx, ArtifactRevision) == before


def test_oversized_artifacts_are_refused(api_user, new_ctx) -> None:
    ada = api_user("ada")
    ada.post("/api/cg/v1/communities", {"name": "garden"})
    r = ada.post(
        "/api/cg/v1/artifacts",
        {"community": "garden", "kind": "idea", "title": "t", "body": "x" * 100_001},
    )
    assert r.status_code == 422
    r = ada.post("/api/cg/v1/artifacts", {"community": "garden", "kind": "rumour", "title": "t"})
    assert r.status_code == 422
    assert rows(new_ctx, Artifact) == 0


def test_stage_moves_follow_roles(world, new_ctx) -> None:
    ada, ben, art = world
    r = ben.post(f"/api/cg/v1/artifacts/{art['id']}/stage", {"stage": "open"})
    assert r.status_code == 403 and r.json()["error"] == "transition_not_allowed"
    assert rows(new_ctx, ArtifactTransition) == 0
    assert (
        ada.post(
            f"/api/cg/v1/artifacts/{art['id']}/stage", {"stage": "open", "reason": "go"}
        ).json()["stage"]
        == "open"
    )
    moves = ada.get(f"/api/cg/v1/artifacts/{art['id']}/transitions").json()
    assert [(m["from_stage"], m["to_stage"], m["reason"]) for m in moves] == [
        ("draft", "open", "go")
    ]


def test_statements_stances_and_map(world) -> None:
    ada, ben, art = world
    s = ada.post(
        f"/api/cg/v1/artifacts/{art['id']}/statements", {"text": "The council should clear drains"}
    )
    assert s.status_code == 201
    sid = s.json()["id"]
    assert ben.put(f"/api/cg/v1/statements/{sid}/stance", {"stance": "agree"}).status_code == 200
    r = ben.put(
        f"/api/cg/v1/artifacts/{art['id']}/stance", {"stance": "disagree", "reason": "it's fine"}
    )
    assert r.json()["stance"] == "disagree"
    listed = ada.get(f"/api/cg/v1/artifacts/{art['id']}/statements").json()
    assert listed[0]["stances"] == {"agree": 1, "disagree": 0, "pass": 0}
    assert ben.put(f"/api/cg/v1/statements/{sid}/stance", {"stance": "maybe"}).status_code == 422
    m = ada.get(f"/api/cg/v1/artifacts/{art['id']}/map").json()
    assert "method" in m and "groups" in m and "consensus" in m and "divisive" in m


def test_links_revert_export_and_contributors(world) -> None:
    ada, ben, art = world
    other = ben.post(
        "/api/cg/v1/artifacts", {"community": "garden", "kind": "solution", "title": "Rain gardens"}
    ).json()
    r = ben.post(
        f"/api/cg/v1/artifacts/{other['id']}/links", {"target": art["id"], "kind": "addresses"}
    )
    assert r.status_code == 201
    back = ada.get(f"/api/cg/v1/artifacts/{art['id']}/links").json()["backlinks"]
    assert [(b["kind"], b["source"]) for b in back] == [("addresses", other["id"])]
    first = art["revision"]
    ada.post(
        f"/api/cg/v1/artifacts/{art['id']}/revisions", {"base_revision": first, "body": "oops"}
    )
    r = ada.post(f"/api/cg/v1/artifacts/{art['id']}/revert", {"revision": first})
    assert r.status_code == 201 and r.json()["body"] == BODY and r.json()["change"] == "revert"
    md = ada.get(f"/api/cg/v1/artifacts/{art['id']}/export", params={"format": "markdown"})
    assert md.headers["content-type"].startswith("text/markdown") and "## History" in md.text
    data = ada.get(f"/api/cg/v1/artifacts/{art['id']}/export").json()
    assert len(data["revisions"]) == 3
    people = ada.get(f"/api/cg/v1/artifacts/{art['id']}/contributors").json()
    assert people[0]["person"]["handle"] == "ada@127.0.0.1:8000" and people[0]["share"] == 1.0


def test_decision_through_the_api(world) -> None:
    ada, ben, art = world
    ada.post(f"/api/cg/v1/artifacts/{art['id']}/stage", {"stage": "open"})
    r = ada.post(
        f"/api/cg/v1/artifacts/{art['id']}/decisions",
        {"method": "consent", "closes_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()},
    )
    assert r.status_code == 422 and r.json()["error"] == "not_proposed"
    ada.post(f"/api/cg/v1/artifacts/{art['id']}/stage", {"stage": "proposed"})
    closes = (datetime.now(UTC) + timedelta(hours=24)).isoformat()  # the floor, exactly
    r = ada.post(
        f"/api/cg/v1/artifacts/{art['id']}/decisions",
        {"method": "consent", "closes_at": closes, "quorum": 2},
    )
    assert r.status_code == 201, r.text
    vote = r.json()
    r = ben.post(f"/api/cg/v1/decisions/{vote['id']}/ballots", {"choice": "agree"})
    assert r.json()["tally"]["agree"] == 1
    assert (
        ben.post(f"/api/cg/v1/decisions/{vote['id']}/ballots", {"choice": "veto"}).status_code
        == 422
    )
    assert ada.get(f"/api/cg/v1/artifacts/{art['id']}/decision").json()["state"] == "open"


def test_the_artifact_feed_says_why(world) -> None:
    ada, _, art = world
    feed = ada.get("/api/cg/v1/communities/garden/artifacts/feed").json()
    assert feed["algorithm"].lower().startswith("chronological") and feed["sha256"]
    item = feed["items"][0]
    assert (item["id"], item["kind"], item["artifact"]["title"]) == (
        art["uri"],
        "artifact",
        "Floods",
    )
    assert item["why"]["factors"]
