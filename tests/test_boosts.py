"""Members' boosts (app/services/boosts.py), the one place of their rules, and the
native API's PUT/DELETE /api/cg/v1/posts/{id}/boost, on both databases."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.errors import Forbidden, Gone, NotFound
from app.models import Boost, Post
from app.services import Ctx, accounts, blocks, boosts, posts

PASSWORD = "correct horse battery"


def _members(ctx: Ctx, *names: str):
    return [accounts.register(ctx, n, PASSWORD) for n in names]


def test_boost_twice_is_once_counted_and_undone(ctx: Ctx) -> None:
    alice, bob, carol = _members(ctx, "alice", "bob", "carol")
    post = posts.create(ctx, alice, "worth sharing")
    other = posts.create(ctx, alice, "not boosted")
    first = boosts.boost(ctx, bob, post)
    again = boosts.boost(ctx, bob, post)
    assert again.id == first.id
    boosts.boost(ctx, carol, post)
    assert boosts.counts(ctx, [post.id, other.id]) == {post.id: 2}
    assert boosts.mine(ctx, bob, [post.id, other.id]) == {post.id}
    assert boosts.mine(ctx, alice, [post.id]) == set()
    assert boosts.mine(ctx, None, [post.id]) == set()
    assert [a.username for a in boosts.boosters(ctx, post.id)] == ["carol", "bob"]
    boosts.unboost(ctx, bob, post)
    boosts.unboost(ctx, bob, post)  # again: nothing left to undo
    assert boosts.counts(ctx, [post.id]) == {post.id: 1}
    assert boosts.mine(ctx, bob, [post.id]) == set()


def test_a_boost_has_its_own_time_sortable_status_id(ctx: Ctx) -> None:
    alice, bob = _members(ctx, "alice", "bob")
    post = posts.create(ctx, alice, "older")
    later = posts.create(ctx, alice, "newer")
    made = boosts.boost(ctx, bob, post)
    assert made.status_id is not None and made.status_id % 4 == 2
    assert made.status_id > (later.status_id or 0) > (post.status_id or 0)
    assert boosts.by_status_id(ctx, made.status_id).id == made.id
    assert boosts.post_of(ctx, made).id == post.id
    assert made.uri.startswith(ctx.base_url + "/activities/")
    with pytest.raises(NotFound):
        boosts.by_status_id(ctx, made.status_id + 4)


def test_no_boost_of_a_deleted_post_or_by_someone_the_author_blocked(ctx: Ctx) -> None:
    alice, bob = _members(ctx, "alice", "bob")
    post = posts.create(ctx, alice, "soon gone")
    blocks.block(ctx, alice, bob)
    with pytest.raises(Forbidden):
        boosts.boost(ctx, bob, post)
    posts.delete_post(ctx, alice, post.id)
    carol = _members(ctx, "carol")[0]
    with pytest.raises(Gone):
        boosts.boost(ctx, carol, ctx.db.get(Post, post.id))
    assert ctx.db.exec(select(Boost)).all() == []


def test_the_booster_of_a_suspended_account_is_not_found(ctx: Ctx) -> None:
    alice, bob = _members(ctx, "alice", "bob")
    post = posts.create(ctx, alice, "shared")
    made = boosts.boost(ctx, bob, post)
    bob.is_active = False
    ctx.db.add(bob)
    ctx.db.flush()
    with pytest.raises(NotFound):
        boosts.by_status_id(ctx, made.status_id or 0)
    assert boosts.boosters(ctx, post.id) == []


def test_an_erased_account_leaves_no_boosts(ctx: Ctx) -> None:
    from app.services import account_deletion

    alice, bob = _members(ctx, "alice", "bob")
    post = posts.create(ctx, alice, "shared, then the booster leaves")
    boosts.boost(ctx, bob, post)
    account_deletion.erase(ctx, bob)
    assert boosts.counts(ctx, [post.id]) == {}


def test_native_api_boost_and_unboost(client: TestClient, api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    r = alice.post("/api/cg/v1/posts", json={"text": "native"})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert r.json()["boosts"] == 0
    r = bob.put(f"/api/cg/v1/posts/{pid}/boost")
    assert r.status_code == 204, r.text
    assert bob.put(f"/api/cg/v1/posts/{pid}/boost").status_code == 204
    shown = bob.get(f"/api/cg/v1/posts/{pid}").json()
    assert shown["boosts"] == 1 and shown["boosted"] is True
    assert alice.get(f"/api/cg/v1/posts/{pid}").json()["boosted"] is False
    assert bob.delete(f"/api/cg/v1/posts/{pid}/boost").status_code == 204
    assert bob.get(f"/api/cg/v1/posts/{pid}").json()["boosts"] == 0
    # unknown post, no token
    r = bob.put("/api/cg/v1/posts/999999/boost")
    assert r.status_code == 404 and "error" in r.json()
    assert client.put(f"/api/cg/v1/posts/{pid}/boost").status_code == 401
    # a deleted post can't be boosted
    assert alice.delete(f"/api/cg/v1/posts/{pid}").status_code == 204
    r = bob.put(f"/api/cg/v1/posts/{pid}/boost")
    assert r.status_code == 410, r.text


def test_the_boost_button_on_a_post_toggles(client: TestClient) -> None:
    import re

    from tests.test_pages import signup, submit

    signup(client, "alice")
    r = submit(client, "/compose", "/compose", {"text": "press boost"})
    page = r.headers["location"]
    pid = page.rsplit("/", 1)[1]
    button = (
        r'action="/posts/{pid}/boost".*?aria-pressed="{pressed}"[^>]*>'
        r'⟲ Boost <span class="count">{n}<'
    )
    shown = client.get(page).text
    assert re.search(button.format(pid=pid, pressed="false", n=0), shown, re.S)
    r = submit(client, page, f"/posts/{pid}/boost", {"back": page})
    assert r.status_code == 303 and r.headers["location"].endswith(f"{page}#p{pid}")
    shown = client.get(page).text
    assert re.search(button.format(pid=pid, pressed="true", n=1), shown, re.S)
    submit(client, page, f"/posts/{pid}/boost", {})
    assert re.search(button.format(pid=pid, pressed="false", n=0), client.get(page).text, re.S)
    # without the CSRF token nothing changes
    r = client.post(f"/posts/{pid}/boost", data={}, follow_redirects=False)
    assert r.status_code in (400, 403)
    assert re.search(button.format(pid=pid, pressed="false", n=0), client.get(page).text, re.S)
