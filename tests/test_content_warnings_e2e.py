"""A content warning travels both ways between two real instances: each side's
member writes one (``summary`` + ``sensitive: true`` in the Note, as Mastodon
sends), and the other side shows the body behind it."""

from __future__ import annotations

import re

import pytest

from tests.peers import Instance, eventually

pytestmark = pytest.mark.slow


def _home_item(instance: Instance, user: str, uri: str) -> dict | None:
    items = instance.api("GET", "/feed/home", user).json()["items"]
    return next((i["post"] for i in items if i["post"]["uri"] == uri), None)


def _follow(instance: Instance, user: str, target: str) -> None:
    r = instance.api("POST", "/follows", user, json={"target": target})
    assert r.status_code == 202, r.text
    eventually(
        lambda: instance.api("GET", "/me/following", user).json(),
        what=f"{target} to accept {user}'s follow",
    )


def test_a_warning_travels_both_ways() -> None:
    with Instance() as a, Instance() as b:
        a.register("alice")
        b.register("bob")
        _follow(b, "bob", f"alice@{a.domain}")
        _follow(a, "alice", f"bob@{b.domain}")

        r = a.api(
            "POST", "/posts", "alice", json={"text": "The butler did it", "summary": "Spoilers"}
        )
        assert r.status_code == 201, r.text
        on_b = eventually(lambda: _home_item(b, "bob", r.json()["uri"]), what="alice's post on B")
        assert on_b["content_warning"] == "Spoilers" and "butler" in on_b["text"]
        with b.http() as http:
            page = http.get(f"/posts/{on_b['id']}").text
        assert re.search(
            r'<details class="content-warning">\s*<summary>Spoilers</summary>'
            r"(?:(?!</details>).)*butler",
            page,
            re.S,
        ), page

        r = b.api("POST", "/posts", "bob", json={"text": "gory details", "sensitive": True})
        assert r.status_code == 201, r.text
        on_a = eventually(lambda: _home_item(a, "alice", r.json()["uri"]), what="bob's post on A")
        assert on_a["content_warning"] == "Sensitive content" and "gory" in on_a["text"]
