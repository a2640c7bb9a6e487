"""Errors without data: a module's failure text can carry the viewer's data (here,
whom alice follows, put in an exception's message, or smuggled out as a bogus
item id or factor name). Its public page and API show counts, error classes
and line numbers, never that text."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("sandbox_required")

SECRET = "hushfriend"
RAISES = '''"""Leaky."""
NAME = "leaky"
PARAMETERS = {}


def rank(items, context, params):
    if context["following"]:
        raise ValueError("viewer follows " + ", ".join(context["following"]))
    return [(it["id"], 1.0, {}) for it in items]
'''
SMUGGLES = '''"""Leaky ids."""
NAME = "leaky ids"
PARAMETERS = {}


def rank(items, context, params):
    if context["following"]:
        return [(" ".join(context["following"]), 1.0, {})]
    return [(it["id"], 1.0, {}) for it in items]
'''


@pytest.mark.parametrize(
    ("source", "shown"),
    [(RAISES, ["error", "ValueError", "line 8"]), (SMUGGLES, ["contract"])],
    ids=["exception text", "bogus item id"],
)
def test_viewer_data_in_error_text_is_not_shown(api_user, client, source, shown) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    api_user(SECRET)
    assert alice.post("/api/cg/v1/follows", {"target": SECRET}).status_code == 201
    alice.post("/api/cg/v1/communities", {"name": "garden"})
    alice.post("/api/cg/v1/posts", {"text": "hello", "community": "garden"})
    r = alice.post("/api/cg/v1/algorithms", {"source": source})
    assert r.status_code == 201, r.text
    module_id, version_id = r.json()["id"], r.json()["latest"]["version_id"]
    alice.put("/api/cg/v1/communities/garden/algorithm", {"algorithm": version_id})
    feed = alice.get("/api/cg/v1/feed/home", params={"algorithm": version_id}).json()
    assert "could not rank" in feed["notice"]  # alice's own call failed: fallback
    api = bob.get(f"/api/cg/v1/algorithms/{module_id}").text
    page = client.get(f"/algorithms/{module_id}").text  # anyone, logged out
    for seen in (api, page):
        assert SECRET not in seen
        for word in shown:
            assert word in seen, (word, seen[:2000])
