"""Two real instances: a community's history reaches a follower who arrives later.

B's community had no remote followers when its threads were posted, so nothing
was sent at the time; A's member follows it afterwards and the backfill on the
accepted follow reads the community's outbox, derived from its posts.
"""

from __future__ import annotations

import pytest

from tests.peers import Instance, eventually

pytestmark = pytest.mark.slow


def _home_uris(instance: Instance, user: str) -> set[str]:
    return {i["id"] for i in instance.api("GET", "/feed/home", user).json()["items"]}


def test_a_new_remote_follower_sees_the_communitys_earlier_threads() -> None:
    with Instance() as a, Instance() as b:
        b.register("bob")
        b.register("cleo")
        assert b.api("POST", "/communities", "bob", json={"name": "garden"}).status_code == 201
        assert b.api("POST", "/communities/garden/join", "cleo").status_code in (200, 201)
        threads = []
        for title in ("Seed swap", "Compost bins", "Rain barrels"):
            r = b.api(
                "POST",
                "/posts",
                "bob",
                json={"text": f"About {title.lower()}", "title": title, "community": "garden"},
            )
            assert r.status_code == 201, r.text
            threads.append(r.json())
        r = b.api(
            "POST", "/posts", "cleo", json={"text": "Count me in", "in_reply_to": threads[0]["id"]}
        )
        assert r.status_code == 201, r.text
        reply = r.json()
        eventually(b.queue_idle, what="B's queue to drain")
        assert b.sql("SELECT count(*) FROM outbox_items WHERE activity_type = 'Announce'") == [(0,)]

        a.register("alice")
        r = a.api("POST", "/follows", "alice", json={"target": f"garden@{b.domain}"})
        assert r.status_code == 202, r.text
        wanted = {t["uri"] for t in threads}
        eventually(
            lambda: wanted <= _home_uris(a, "alice"), what="B's earlier threads on A", timeout=90
        )
        copy = next(
            i["post"]
            for i in a.api("GET", "/feed/home", "alice").json()["items"]
            if i["id"] == threads[0]["uri"]
        )
        assert copy["title"] == "Seed swap" and copy["community"]["url"] == f"{b.url}/c/garden"
        thread = eventually(
            lambda: [
                p
                for p in a.api("GET", f"/posts/{copy['id']}/thread").json()["replies"]
                if p["uri"] == reply["uri"]
            ],
            what="the earlier reply on A",
        )
        assert thread[0]["author"]["username"] == "cleo"
