"""Remote lookup from search, with two real servers: typing ``name@domain`` finds
the member over WebFinger and offers to follow; a post's URL fetches and stores the
post through the federation object store, after which its words are searchable
too; what does not exist is a clear 404."""

from __future__ import annotations

import pytest

from tests.peers import Instance, eventually

pytestmark = pytest.mark.slow


def test_a_remote_handle_and_a_post_url_are_found_over_the_network() -> None:
    with Instance() as a, Instance() as b:
        b.register("bob")
        b.register("cat")  # her post is looked up by URL: nobody here knows her yet
        r = b.api("POST", "/posts", "cat", json={"text": "Quince jelly, slowly"})
        assert r.status_code == 201, r.text
        post_uri = r.json()["uri"]
        a.register("alice")

        by_url = a.api("GET", "/search", "alice", params={"q": post_uri, "resolve": "true"})
        assert by_url.status_code == 200, by_url.text
        assert by_url.json()["type"] == "posts"
        [post] = by_url.json()["items"]
        assert post["uri"] == post_uri and "Quince" in post["text"]
        words = a.api("GET", "/search", "alice", params={"q": "quince jelly"}).json()
        assert [p["uri"] for p in words["items"]] == [post_uri]  # indexed as it was stored
        assert post["author"]["domain"] == b.domain  # its author was fetched with it

        with a.http() as anonymous:  # only members make this server fetch from others
            r = anonymous.get(
                "/api/cg/v1/search", params={"q": f"bob@{b.domain}", "resolve": "true"}
            )
        assert r.status_code == 200 and r.json()["items"] == []
        before = a.api("GET", "/search", "alice", params={"q": f"bob@{b.domain}"})
        assert before.status_code == 200 and before.json()["items"] == []  # not known yet

        found = a.api("GET", "/search", "alice", params={"q": f"bob@{b.domain}", "resolve": "true"})
        assert found.status_code == 200, found.text
        assert found.json()["type"] == "members"
        [bob] = found.json()["items"]
        assert bob["handle"] == f"bob@{b.domain}" and bob["uri"] == f"{b.url}/users/bob"
        follow = a.api("POST", "/follows", "alice", json={"target": bob["uri"]})
        assert follow.status_code == 202, follow.text  # the offer to follow works
        eventually(
            lambda: any(
                f["target"] == bob["uri"] for f in a.api("GET", "/me/following", "alice").json()
            ),
            what="bob's server to accept the follow",
        )

        with a.http() as anonymous:
            page = anonymous.get("/search", params={"q": f"bob@{b.domain}"})
        assert page.status_code == 200 and f"{b.url}/users/bob" in page.text

        missing = a.api(
            "GET", "/search", "alice", params={"q": f"nobody@{b.domain}", "resolve": "true"}
        )
        assert missing.status_code == 404 and missing.json()["error"] == "target_not_found"
