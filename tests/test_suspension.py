"""Suspended members, and remote actors an admin blocked (their domain) or that
deleted themselves: their posts leave every feed, thread and tag page, on pages
and in the API alike, and come back when the member is restored."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.errors import NotFound
from app.services import Ctx, accounts, communities, follows, peers, posts
from app.services.ranking import feeds
from federation import remote
from tests.conftest import PASSWORD
from tests.test_federation_handlers import PEER, actor_doc, apply, create
from tests.test_pages import signup, submit


def _ids(page: feeds.FeedPage) -> set[int]:
    return {item.post.id for item in page.items}


@pytest.fixture
def garden(ctx: Ctx):
    """ada runs the garden; ben (to be suspended) and carol are members, and
    carol follows ben."""
    ada = accounts.register(ctx, "ada", PASSWORD, is_admin=True)
    ben = accounts.register(ctx, "ben", PASSWORD)
    carol = accounts.register(ctx, "carol", PASSWORD)
    garden = communities.create(ctx, ada, "garden")
    communities.join(ctx, ben, garden)
    communities.join(ctx, carol, garden)
    follows.follow(ctx, carol, ben)
    return ada, ben, carol, garden


def test_a_suspended_members_posts_leave_feeds_threads_and_tag_pages(ctx: Ctx, garden) -> None:
    ada, ben, carol, group = garden
    root = posts.create(ctx, ada, "Who mends the fence?", community="garden")
    reply = posts.create(ctx, ben, "I will, #fences are my thing.", in_reply_to=root.id)
    own = posts.create(ctx, ben, "Ben's thread about #fences", community="garden")
    loose = posts.create(ctx, ben, "A post of ben's outside any community #fences")
    answer = posts.create(ctx, carol, "Thanks ben!", in_reply_to=reply.id)

    def seen(viewer) -> set[int]:
        out = _ids(feeds.community(ctx, group, viewer)) | _ids(feeds.tag(ctx, "fences", viewer))
        out |= _ids(feeds.profile(ctx, ben, viewer))
        if viewer is not None:
            out |= _ids(feeds.home(ctx, viewer))
        return out | {p.id for p in posts.thread(ctx, root, viewer=viewer)[1]}

    for viewer in (None, carol, ada):
        assert {reply.id, own.id, loose.id} <= seen(viewer)

    accounts.set_active(ctx, ben, False)
    for viewer in (None, carol, ada):
        assert not {reply.id, own.id, loose.id} & seen(viewer)
    # other people's replies stay in the thread, and the thread of a suspended
    # member's post is gone as the post is
    assert [p.id for p in posts.thread(ctx, root, viewer=carol)[1]] == [answer.id]
    with pytest.raises(NotFound):
        posts.thread(ctx, own, viewer=carol)
    with pytest.raises(NotFound):
        posts.get_visible(ctx, own.id)

    accounts.set_active(ctx, ben, True)
    assert {reply.id, own.id, loose.id} <= seen(carol)
    assert posts.get_visible(ctx, own.id).id == own.id


def test_posts_of_remote_actors_on_a_blocked_domain_or_deleted_are_hidden(ctx: Ctx) -> None:
    admin = accounts.register(ctx, "root", PASSWORD, is_admin=True)
    root = posts.create(ctx, admin, "What do you grow? #seeds")
    remote.store_actor(ctx, actor_doc("rita"))
    apply(ctx, create(1, content="<p>Beans, #seeds</p>", tag=[_hashtag("seeds")]))
    apply(ctx, create(2, inReplyTo=root.uri))
    top, reply = (
        posts.find_by_uri(ctx, f"{PEER}/notes/1"),
        posts.find_by_uri(ctx, f"{PEER}/notes/2"),
    )
    assert top.id in _ids(feeds.tag(ctx, "seeds", None))
    assert [p.id for p in posts.thread(ctx, root)[1]] == [reply.id]

    peers.set_blocked(ctx, admin, "peer.example", True)
    assert top.id not in _ids(feeds.tag(ctx, "seeds", None))
    assert top.id not in _ids(feeds.tag(ctx, "seeds", admin))
    assert posts.thread(ctx, root, viewer=admin)[1] == []

    peers.set_blocked(ctx, admin, "peer.example", False)
    assert top.id in _ids(feeds.tag(ctx, "seeds", None))
    remote.deactivate(ctx, f"{PEER}/users/rita")  # rita deleted her account
    assert top.id not in _ids(feeds.tag(ctx, "seeds", None))
    assert posts.thread(ctx, root)[1] == []


def _hashtag(name: str) -> dict:
    return {"type": "Hashtag", "name": f"#{name}", "href": f"{PEER}/tags/{name}"}


def test_pages_and_api_hide_a_suspended_members_posts(client: TestClient, new_ctx) -> None:
    with new_ctx() as ctx:
        admin = accounts.register(ctx, "root", PASSWORD, is_admin=True)
        ben = accounts.register(ctx, "ben", PASSWORD)
        garden = communities.create(ctx, admin, "garden")
        communities.join(ctx, ben, garden)
        root = posts.create(ctx, admin, "Who mends the fence?", community="garden")
        reply = posts.create(ctx, ben, "Ben-reply-text #fences", in_reply_to=root.id)
        own = posts.create(ctx, ben, "Ben-thread-text #fences", community="garden")
        root_id, reply_id, own_id = root.id, reply.id, own.id
    signup(client, "carol")
    pages = ["/c/garden", "/tags/fences", f"/posts/{root_id}", "/"]
    assert all("Ben-reply-text" in client.get(p).text for p in pages[1:3])
    submit(client, "/", "/logout", {})
    submit(client, "/login", "/login", {"username": "root", "password": PASSWORD})
    suspended = submit(client, "/admin", "/admin/members/ben/suspend", {"confirm": "yes"})
    assert suspended.status_code == 303

    for page in pages:
        r = client.get(page)
        assert r.status_code == 200, page
        assert "Ben-reply-text" not in r.text and "Ben-thread-text" not in r.text, page
    assert client.get(f"/posts/{own_id}").status_code == 404
    api = {
        "/api/cg/v1/feed/tags/fences": "items",
        "/api/cg/v1/communities/garden/feed": "items",
    }
    for path, key in api.items():
        r = client.get(path)
        assert r.status_code == 200, r.text
        assert not {i["post"]["id"] for i in r.json()[key]} & {reply_id, own_id}, path
    thread = client.get(f"/api/cg/v1/posts/{root_id}/thread").json()
    assert thread["replies"] == []
    assert client.get(f"/api/cg/v1/posts/{own_id}").status_code == 404
    assert client.get(f"/api/cg/v1/posts/{own_id}/thread").status_code == 404
