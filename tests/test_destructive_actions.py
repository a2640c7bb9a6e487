"""Destructive actions ask first (without JavaScript), the only admin of a
community can't walk away from it, and moderators can remove posts from pages."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.errors import Conflict, Forbidden
from app.models import Community, Post
from app.services import accounts, communities, posts
from tests.conftest import PASSWORD
from tests.test_pages import csrf, submit


def log_in(client: TestClient, username: str) -> None:
    client.cookies.clear()
    r = submit(client, "/login", "/login", {"username": username, "password": PASSWORD})
    assert r.status_code == 303, r.text


def confirm(client: TestClient, path: str) -> object:
    """Open a confirmation page like a browser and press its button."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    assert f'action="{path}"' in page.text and 'name="confirm" value="yes"' in page.text
    return client.post(
        path, data={"csrf_token": csrf(page.text), "confirm": "yes"}, follow_redirects=False
    )


# --- 23: the only admin hands over or dissolves ------------------------------------------


def test_the_only_admin_cannot_leave_even_an_empty_community(ctx) -> None:
    root = accounts.register(ctx, "root", PASSWORD)
    garden = communities.create(ctx, root, "garden")
    with pytest.raises(Conflict) as refused:
        communities.leave(ctx, root, garden)
    assert refused.value.code == "last_admin" and "dissolve" in refused.value.detail
    assert communities.is_active_member(ctx, root, garden)


def test_dissolving_deletes_the_community_and_is_for_its_admins(ctx) -> None:
    root = accounts.register(ctx, "root", PASSWORD)
    ada = accounts.register(ctx, "ada", PASSWORD)
    garden = communities.create(ctx, root, "garden")
    communities.join(ctx, ada, garden)
    post = posts.create(ctx, ada, "hello", community="garden")
    with pytest.raises(Forbidden):
        communities.dissolve(ctx, ada, garden)
    post_id, garden_id = post.id, garden.id
    communities.dissolve(ctx, root, garden)
    ctx.db.expire_all()
    assert communities.find(ctx, "garden") is None
    assert ctx.db.get(Post, post_id) is None and ctx.db.get(Community, garden_id) is None


def test_the_api_follows_the_rule_and_dissolves_explicitly(api_user) -> None:
    root, ada = api_user("root"), api_user("ada")
    assert root.post("/api/cg/v1/communities", json={"name": "garden"}).status_code == 201
    r = root.post("/api/cg/v1/communities/garden/leave")
    assert r.status_code == 409 and r.json()["error"] == "last_admin"
    ada.post("/api/cg/v1/communities/garden/join")
    assert ada.delete("/api/cg/v1/communities/garden").status_code == 403
    assert root.delete("/api/cg/v1/communities/garden").status_code == 204
    assert root.get("/api/cg/v1/communities/garden").status_code == 404


def test_the_leave_page_tells_the_only_admin_how_to_hand_over_or_dissolve(
    client: TestClient, new_ctx
) -> None:
    with new_ctx() as ctx:
        root = accounts.register(ctx, "root", PASSWORD)
        ada = accounts.register(ctx, "ada", PASSWORD)
        communities.join(ctx, ada, communities.create(ctx, root, "garden", title="Garden"))
    log_in(client, "root")
    page = client.get("/c/garden/leave").text
    assert "only admin" in page and 'href="/c/garden/members"' in page
    assert 'href="/c/garden/dissolve"' in page and 'action="/c/garden/leave"' not in page
    r = submit(client, "/c/garden", "/c/garden/leave", {"confirm": "yes"})
    assert r.status_code == 409 and "make another member admin" in r.text
    r = confirm(client, "/c/garden/dissolve")
    assert r.status_code == 303 and r.headers["location"] == "/communities"
    assert client.get("/c/garden").status_code == 404


# --- 24: destructive actions ask for confirmation ----------------------------------------


def test_destructive_forms_do_nothing_without_confirmation(client: TestClient, new_ctx) -> None:
    """Posting delete, remove, suspend, leave or dissolve without ``confirm=yes``
    only leads to the confirmation page; nothing changes."""
    with new_ctx() as ctx:
        root = accounts.register(ctx, "root", PASSWORD, is_admin=True)
        ada = accounts.register(ctx, "ada", PASSWORD)
        garden = communities.create(ctx, root, "garden")
        communities.join(ctx, ada, garden)
        post = posts.create(ctx, ada, "keep me", community="garden")
    log_in(client, "root")
    for action in (
        f"/posts/{post.id}/delete",
        "/c/garden/members/ada/remove",
        "/admin/members/ada/suspend",
        "/c/garden/dissolve",
    ):
        r = submit(client, "/c/garden", action, {})
        assert (r.status_code, r.headers.get("location")) == (303, action), action
        assert "yes" in client.get(action).text  # the page it leads to asks
    log_in(client, "ada")
    r = submit(client, "/c/garden", "/c/garden/leave", {})
    assert (r.status_code, r.headers["location"]) == (303, "/c/garden/leave")
    with new_ctx() as ctx:
        assert not posts.get(ctx, post.id).is_deleted
        ada = accounts.get_local(ctx, "ada")
        assert ada.is_active and communities.is_active_member(
            ctx, ada, communities.get(ctx, "garden")
        )


def test_each_destructive_action_works_from_its_confirmation_page(
    client: TestClient, new_ctx
) -> None:
    with new_ctx() as ctx:
        root = accounts.register(ctx, "root", PASSWORD, is_admin=True)
        ada = accounts.register(ctx, "ada", PASSWORD)
        ben = accounts.register(ctx, "ben", PASSWORD)
        garden = communities.create(ctx, root, "garden")
        for person in (ada, ben):
            communities.join(ctx, person, garden)
        post = posts.create(ctx, ada, "bye", community="garden")
    log_in(client, "ada")
    assert f'href="/posts/{post.id}/edit"' in client.get(f"/posts/{post.id}").text
    assert f'href="/posts/{post.id}/delete"' in client.get(f"/posts/{post.id}/edit").text
    assert confirm(client, f"/posts/{post.id}/delete").status_code == 303
    assert "This post was deleted." in client.get(f"/posts/{post.id}").text
    assert 'href="/c/garden/leave"' in client.get("/c/garden").text
    assert confirm(client, "/c/garden/leave").status_code == 303
    log_in(client, "root")
    assert 'href="/c/garden/members/ben/remove"' in client.get("/c/garden/members").text
    assert confirm(client, "/c/garden/members/ben/remove").status_code == 303
    assert 'href="/admin/members/ben/suspend"' in client.get("/admin").text
    assert confirm(client, "/admin/members/ben/suspend").status_code == 303
    with new_ctx() as ctx:
        c = communities.get(ctx, "garden")
        assert not communities.is_active_member(ctx, accounts.get_local(ctx, "ada"), c)
        ben = accounts.get_local(ctx, "ben", include_suspended=True)
        assert not ben.is_active and communities.membership(ctx, ben, c) is None


# --- 25: moderators and instance admins remove posts from the post's page -----------------


def test_the_delete_action_is_offered_exactly_to_those_allowed(client: TestClient, new_ctx) -> None:
    with new_ctx() as ctx:
        accounts.register(ctx, "root", PASSWORD, is_admin=True)
        mod = accounts.register(ctx, "mod", PASSWORD)
        ada = accounts.register(ctx, "ada", PASSWORD)
        accounts.register(ctx, "ben", PASSWORD)
        garden = communities.create(ctx, mod, "garden")
        communities.join(ctx, ada, garden)
        post = posts.create(ctx, ada, "spam spam", community="garden")
        reply = posts.create(ctx, mod, "please don't", in_reply_to=post.id)
    delete_link = f'href="/posts/{post.id}/delete"'
    reply_link = f'href="/posts/{reply.id}/delete"'
    for moderator in ("mod", "root"):  # the community's moderator, an instance admin
        log_in(client, moderator)
        page = client.get(f"/posts/{post.id}").text
        assert delete_link in page and reply_link in page, moderator
    log_in(client, "ada")  # the author: her post, not the moderator's reply
    page = client.get(f"/posts/{post.id}").text
    assert delete_link in page and reply_link not in page
    log_in(client, "ben")  # neither author nor moderator
    page = client.get(f"/posts/{post.id}").text
    assert delete_link not in page and reply_link not in page
    assert client.get(f"/posts/{post.id}/delete").status_code == 403
    log_in(client, "root")
    assert confirm(client, f"/posts/{post.id}/delete").status_code == 303
    assert "This post was deleted." in client.get(f"/posts/{post.id}").text
