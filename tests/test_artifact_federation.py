"""Artifacts across two real instances: a member of B proposes a revision to an
artifact on A, A applies and attributes it, B receives the Update, and B's
stances count in A's common-ground map."""

from __future__ import annotations

import pytest

from tests.peers import Instance, eventually

pytestmark = pytest.mark.slow
BODY = "Leaves block the drains.\n\nThe road floods after rain.\n"


def test_remote_revision_stances_and_updates_between_instances() -> None:
    with Instance() as a, Instance() as b:
        a.register("ada")
        assert a.api("POST", "/communities", "ada", json={"name": "garden"}).status_code == 201
        b.register("bea")
        r = b.api("POST", "/follows", "bea", json={"target": f"garden@{a.domain}"})
        assert r.status_code == 202, r.text
        eventually(
            lambda: a.sql("SELECT count(*) FROM follows WHERE state = 'accepted'") == [(1,)],
            what="A to accept B's follow",
        )
        eventually(b.queue_idle, what="B to process the Accept")

        art = a.api(
            "POST",
            "/artifacts",
            "ada",
            json={"community": "garden", "kind": "problem", "title": "Floods", "body": BODY},
        ).json()
        for text in ("The council should clear the drains", "Residents can sweep leaves"):
            r = a.api("POST", f"/artifacts/{art['id']}/statements", "ada", json={"text": text})
            assert r.status_code == 201, r.text

        # B keeps a copy, with the statements, as a Page published by A's Group.
        def copy_on_b() -> tuple | None:
            rows = b.sql("SELECT id, revision_count FROM artifacts WHERE uri = :u", u=art["uri"])
            statements = b.sql(
                "SELECT count(*) FROM statements s JOIN artifacts a ON a.id = s.artifact_id "
                "WHERE a.uri = :u",
                u=art["uri"],
            )
            return rows[0] if rows and statements == [(2,)] else None

        copy_id, _ = eventually(copy_on_b, what="the artifact and its statements on B")
        copy = b.api("GET", f"/artifacts/{copy_id}").json()
        assert copy["title"] == "Floods" and copy["body"] == BODY and copy["kind"] == "problem"

        # A member of B proposes a revision; A applies it, attributed to bea@B.
        edited = BODY.replace("after rain", "after heavy rain")
        r = b.api(
            "POST",
            f"/artifacts/{copy_id}/revisions",
            "bea",
            json={"base_revision": copy["revision"], "body": edited, "message": "be precise"},
        )
        assert r.status_code == 202 and r.json()["outcome"] == "proposed", r.text
        eventually(
            lambda: a.api("GET", f"/artifacts/{art['id']}").json()["body"] == edited,
            what="A to apply B's revision",
        )
        latest = a.api("GET", f"/artifacts/{art['id']}/revisions").json()[0]
        assert latest["author"]["handle"] == f"bea@{b.domain}"
        assert latest["message"] == "be precise" and latest["number"] == 2

        # ...and B receives the Update.
        eventually(
            lambda: b.api("GET", f"/artifacts/{copy_id}").json()["body"] == edited,
            what="the Update on B",
        )
        assert b.api("GET", f"/artifacts/{copy_id}").json()["revision_count"] == 2

        # B's stances count in A's map, with their origin.
        statements = b.api("GET", f"/artifacts/{copy_id}/statements").json()
        for s, stance in zip(statements, ("agree", "disagree"), strict=True):
            r = b.api("PUT", f"/statements/{s['id']}/stance", "bea", json={"stance": stance})
            assert r.status_code == 200, r.text
        eventually(
            lambda: (
                [s["stances"] for s in a.api("GET", f"/artifacts/{art['id']}/statements").json()]
                == [{"agree": 1, "disagree": 0, "pass": 0}, {"agree": 0, "disagree": 1, "pass": 0}]
            ),
            what="B's stances on A",
        )
        eventually(
            lambda: a.api("GET", f"/artifacts/{art['id']}/map").json()["participants"] == 1,
            what="A's map to count B's member",
        )
        groups = a.api("GET", f"/artifacts/{art['id']}/map").json()["groups"]
        assert sum(g["remote"] for g in groups) == 1
