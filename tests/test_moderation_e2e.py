"""A report's whole journey between two real instances: alice on A reports a post
of B's community and forwards it; B's moderator finds it in the community's queue
and removes the post under a rule; the removal reaches A; both public logs show it,
without the post's words.

A runs on SQLite and B on PostgreSQL, so each half runs on one database here; the
other pairings are in test_flag_federation.py and test_group_moderation_federation.py.
"""

from __future__ import annotations

import pytest

from tests.peers import Instance, eventually


@pytest.mark.slow
def test_a_forwarded_report_is_acted_on_there_and_both_logs_show_it(fresh_postgres: str) -> None:
    with Instance() as a, Instance(database_url=fresh_postgres) as b:
        b.register("bob")
        b.register("carol")
        assert b.api("POST", "/communities", "bob", json={"name": "garden"}).status_code == 201
        rules = b.api("PUT", "/communities/garden/rules", "bob", json={"rules": ["No spam."]})
        rule = rules.json()["items"][0]["id"]
        assert b.api("POST", "/communities/garden/join", "carol").status_code in (200, 201)

        a.register("alice")
        r = a.api("POST", "/follows", "alice", json={"target": f"garden@{b.domain}"})
        assert r.status_code == 202, r.text
        eventually(
            lambda: a.sql("SELECT state FROM follows") == [("accepted",)], what="A in garden"
        )
        words = "Miracle pills, cheap"
        original = b.api("POST", "/posts", "carol", json={"text": words, "community": "garden"})
        assert original.status_code == 201, original.text
        uri = original.json()["uri"]
        [(copy_id,)] = eventually(
            lambda: a.sql("SELECT id FROM posts WHERE uri = :u", u=uri) or None,
            what="carol's post on A",
        )

        # alice reports it on A and forwards it to B
        report = {"target": {"type": "post", "id": copy_id}, "comment": "spam", "forward": True}
        r = a.api("POST", "/reports", "alice", json=report)
        assert r.status_code == 201, r.text

        # B's moderator sees it in garden's queue, from A's domain, naming nobody
        def queued() -> list[dict] | None:
            answer = b.api("GET", "/moderation/queue?scope=community:garden", "bob")
            assert answer.status_code == 200, answer.text
            return answer.json()["items"] or None

        [entry] = eventually(queued, what="the report in B's queue")
        assert (entry["target_type"], entry["target_id"]) == ("post", original.json()["id"])
        [filed] = entry["reports"]
        assert "alice" not in str(filed) and a.domain in str(filed)
        [(report_id,)] = b.sql("SELECT id FROM reports")
        # carol, not a moderator, cannot act on it
        act = {
            "report": report_id,
            "target": {"type": "post", "id": entry["target_id"]},
            "action": "remove",
            "rule": rule,
            "reason": "Selling pills.",
        }
        assert b.api("POST", "/moderation/actions", "carol", json=act).status_code == 403
        assert b.sql("SELECT count(*) FROM moderation_actions") == [(0,)]
        r = b.api("POST", "/moderation/actions", "bob", json=act)
        assert r.status_code == 201, r.text
        assert b.sql("SELECT state FROM reports") == [("actioned",)]

        # the removal reaches A, and each instance's log of garden says so
        eventually(
            lambda: a.api("GET", f"/posts/{copy_id}").json().get("deleted") is True,
            what="the removal on A",
        )
        logs = {
            "B": lambda: b.api("GET", "/communities/garden/modlog").json()["items"],
            "A": lambda: a.api("GET", f"/communities/garden@{b.domain}/modlog").json()["items"],
        }
        for where, read in logs.items():
            [logged] = eventually(read, what=f"{where}'s log")
            assert logged["action"] == "remove", where
            assert "No spam." in str(logged) and "Selling pills." in str(logged), where
            assert "pills, cheap" not in str(logged).lower(), where  # never the content
        page = a.http().get(f"/c/garden@{b.domain}/modlog")
        assert page.status_code == 200 and "Selling pills." in page.text
