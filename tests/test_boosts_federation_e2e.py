"""Two real instances: a member on A boosts a post of a member on B. B records the
boost (the post's count), a follower on B of the A member sees it in their
Mastodon home, and the unboost takes it away (docs/federation.md, "Boosts")."""

from __future__ import annotations

import pytest

from tests.peers import Instance, eventually

pytestmark = pytest.mark.slow
AS2 = {"Accept": "application/activity+json"}


def _follow(instance: Instance, user: str, target: str) -> None:
    r = instance.api("POST", "/follows", user, json={"target": target})
    assert r.status_code in (201, 202), r.text
    eventually(
        lambda: any(
            f["target"].endswith(target.split("@")[0])
            for f in instance.api("GET", "/me/following", user).json()
        ),
        what=f"{user} to follow {target}",
    )


def _mastodon(instance: Instance, method: str, path: str, user: str, **kw):
    with instance.http() as http:
        return http.request(method, f"/api/v1{path}", headers=instance.auth(user), **kw)


def _scenario(a: Instance, b: Instance) -> None:
    a.register("alice")
    b.register("bob")
    b.register("carol")
    _follow(a, "alice", f"bob@{b.domain}")  # so bob's post reaches A
    _follow(b, "carol", f"alice@{a.domain}")  # so alice's boost reaches carol on B

    r = b.api("POST", "/posts", "bob", json={"text": "A post worth boosting"})
    assert r.status_code == 201, r.text
    original = r.json()

    def on_a() -> dict | None:
        home = _mastodon(a, "GET", "/timelines/home", "alice").json()
        return next((s for s in home if s["uri"] == original["uri"]), None)

    copy = eventually(on_a, what="bob's post on A")
    boost = _mastodon(a, "POST", f"/statuses/{copy['id']}/reblog", "alice")
    assert boost.status_code == 200, boost.text
    announce_id = boost.json()["uri"]
    # the Announce is dereferenceable at its id while the boost stands
    with a.http() as http:
        doc = http.get(announce_id.removeprefix(a.url), headers=AS2)
    assert doc.status_code == 200, doc.text
    assert doc.json()["type"] == "Announce" and doc.json()["object"] == original["uri"]

    # B counts the boost on bob's post, and carol's home on B shows alice's boost
    eventually(
        lambda: b.api("GET", f"/posts/{original['id']}").json()["boosts"] == 1,
        what="the boost counted on B",
    )

    def boost_in_carols_home() -> dict | None:
        home = _mastodon(b, "GET", "/timelines/home", "carol").json()
        return next((s for s in home if s["reblog"] and s["uri"] == announce_id), None)

    seen = eventually(boost_in_carols_home, what="alice's boost in carol's home on B")
    assert seen["account"]["acct"] == f"alice@{a.domain}"
    assert seen["reblog"]["uri"] == original["uri"]
    assert seen["reblog"]["reblogs_count"] == 1
    assert int(seen["id"]) % 4 == 2

    # the unboost on A takes it away on B
    r = _mastodon(a, "POST", f"/statuses/{copy['id']}/unreblog", "alice")
    assert r.status_code == 200 and r.json()["reblogged"] is False, r.text
    eventually(
        lambda: b.api("GET", f"/posts/{original['id']}").json()["boosts"] == 0,
        what="the unboost on B",
    )
    assert boost_in_carols_home() is None
    with a.http() as http:
        assert http.get(announce_id.removeprefix(a.url), headers=AS2).status_code == 404


def test_a_boost_federates_and_is_undone() -> None:
    with Instance() as a, Instance() as b:
        _scenario(a, b)


def test_a_boost_federates_between_sqlite_and_postgresql(fresh_postgres: str) -> None:
    with Instance() as a, Instance(database_url=fresh_postgres) as b:
        _scenario(a, b)
