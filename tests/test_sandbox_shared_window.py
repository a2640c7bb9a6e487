"""The app sends a window to the sandbox once and each viewer's part per call:
three members whose home feeds have the same candidates, ranked by a submitted
module, are served from one window decoded once in the zygote (sent by the
second call that names it), and each gets an answer about themselves only,
even though the module mutates what it is given (the window reaches each child
copy-on-write)."""

from __future__ import annotations

import pytest

from algorithms.sandbox import Zygote
from app.services.ranking import rankers

pytestmark = pytest.mark.usefixtures("sandbox_required")

PROBE = '''"""Reports who it ranks for, and spoils what it is given."""
NAME = "window probe"
PARAMETERS = {}


def rank(items, context, params):
    spoiled = items[0]["text"].startswith("spoiled by")
    for item in items:
        item["text"] = "spoiled by " + str(context["viewer"])
    context["ratings"].append(["https://x.example/users/ghost", items[0]["id"], 1])
    why = {
        ("viewer " + str(context["viewer"]))[:200]: 1,
        "following": len(context["following"]),
        "ratings": len(context["ratings"]),
        "items": len(items),
        "spoiled window seen": int(spoiled),
    }
    return [(item["id"], 1.0, why) for item in items]
'''


@pytest.fixture
def garden(api_user):
    alice, bob, carol = api_user("alice"), api_user("bob"), api_user("carol")
    alice.post("/api/cg/v1/communities", {"name": "garden"})
    bob.post("/api/cg/v1/communities/garden/join")
    carol.post("/api/cg/v1/communities/garden/join")
    posts = [
        alice.post("/api/cg/v1/posts", {"text": f"post {n}", "community": "garden"}).json()
        for n in range(3)
    ]
    r = alice.post(f"/api/cg/v1/posts/{posts[0]['id']}/reactions", {"kind": "agree"})
    assert r.status_code in (200, 201), r.text
    # carol has no posts: bob follows her, so his context differs, not his window
    assert bob.post("/api/cg/v1/follows", {"target": "carol"}).status_code in (200, 201)
    return {"alice": alice, "bob": bob, "carol": carol, "posts": posts}


def factors(feed: dict) -> list[dict]:
    return [item["why"]["factors"] for item in feed["items"]]


def test_two_viewers_share_one_window_and_get_their_own_answers(garden, monkeypatch) -> None:
    r = garden["alice"].post("/api/cg/v1/algorithms", {"source": PROBE})
    assert r.status_code == 201, r.text
    version_id = r.json()["latest"]["version_id"]
    sent: list[tuple[str, int, list]] = []
    original = Zygote._send_window

    def spy(self, key, items, context, seconds):
        sent.append((key, len(items), list(context.get("ratings", []))))
        return original(self, key, items, context, seconds)

    monkeypatch.setattr(Zygote, "_send_window", spy)
    # rankings cached by an earlier test (same ids and viewers in another database)
    # would answer without running the module at all
    monkeypatch.setattr(rankers, "CACHE", rankers.RankingCache())
    feeds = {}
    for name in ("alice", "bob", "carol"):
        r = garden[name].get("/api/cg/v1/feed/home", params={"algorithm": version_id})
        assert r.status_code == 200, r.text
        assert not r.json().get("notice"), r.json()["notice"]
        feeds[name] = r.json()

    # alice's call sends the candidates inline (a window seen once); bob's sends
    # the window (3 candidates, 1 rating); carol's only names it
    assert len(sent) == 1, sent
    key, n_items, ratings = sent[0]
    assert key.startswith("posts:") and n_items == 3 and len(ratings) == 1
    live = [z for z in rankers.sandbox_pool()._zygotes.values() if key in z.windows]
    assert len(live) == 1

    for name, following in (("alice", 0), ("bob", 1), ("carol", 0)):
        feed = feeds[name]
        assert {i["post"]["id"] for i in feed["items"]} == {p["id"] for p in garden["posts"]}
        for why in factors(feed):
            viewers = [f for f in why if f.startswith("viewer ")]
            assert len(viewers) == 1 and viewers[0].endswith(f"/users/{name}"), why
            assert why["following"] == following
            assert why["items"] == 3
            assert why["ratings"] == 2  # the one real rating plus this call's own append
            assert why["spoiled window seen"] == 0  # bob's child spoiled only its copy
    for name, others in (("bob", ("alice", "carol")), ("carol", ("alice", "bob"))):
        named = [f for why in factors(feeds[name]) for f in why]
        assert not any(other in f for other in others for f in named), named
