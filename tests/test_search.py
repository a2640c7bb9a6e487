"""Search: full-text over posts, artifacts (and their statements), communities and
members, kept up to date with the rows, newest first with a cursor, and only what
the viewer may see (deleted posts, blocks, suspensions and mutes leave results).
Runs on SQLite (FTS5) and PostgreSQL (tsvector + GIN) alike."""

from __future__ import annotations

import pytest

from app.errors import DomainError
from app.services import (
    Ctx,
    accounts,
    artifacts,
    blocks,
    communities,
    mutes,
    posts,
    search,
    stances,
)
from tests.conftest import PASSWORD


@pytest.fixture
def people(ctx: Ctx):
    ada = accounts.register(ctx, "ada", PASSWORD)
    ben = accounts.register(ctx, "ben", PASSWORD)
    cid = accounts.register(ctx, "cid", PASSWORD)
    garden = communities.create(ctx, ada, "garden")
    for member in (ben, cid):
        communities.join(ctx, member, garden)
    return ada, ben, cid, garden


def _ids(page: search.SearchPage) -> list[int]:
    return [item.id for item in page.items]


def test_posts_are_found_by_their_words_newest_first(ctx: Ctx, people) -> None:
    ada, ben, _, _ = people
    first = posts.create(ctx, ben, "The compost heap needs turning", community="garden")
    second = posts.create(ctx, ben, "Who has a spare COMPOST fork?", community="garden")
    posts.create(ctx, ben, "Nothing about soil here", community="garden")
    assert _ids(search.search(ctx, ada, "compost")) == [second.id, first.id]
    assert _ids(search.search(ctx, ada, "compo")) == [second.id, first.id]  # a prefix
    assert _ids(search.search(ctx, ada, "compost heap")) == [first.id]  # every word
    assert _ids(search.search(ctx, None, "fork")) == [second.id]  # anonymous readers too


def test_an_edit_and_a_deletion_change_what_is_found(ctx: Ctx, people) -> None:
    ada, ben, _, _ = people
    post = posts.create(ctx, ben, "Tomatoes ripen in August", community="garden")
    assert _ids(search.search(ctx, ada, "tomatoes")) == [post.id]
    posts.edit(ctx, ben, post.id, "Pumpkins ripen in October")
    assert _ids(search.search(ctx, ada, "tomatoes")) == []
    assert _ids(search.search(ctx, ada, "pumpkins")) == [post.id]
    posts.delete_post(ctx, ben, post.id)
    assert _ids(search.search(ctx, ada, "pumpkins")) == []
    assert _ids(search.search(ctx, ada, "ripen")) == []


def test_a_rolled_back_write_leaves_nothing_in_the_index(ctx: Ctx, people) -> None:
    ada, ben, _, _ = people
    with pytest.raises(RuntimeError), ctx.db.begin_nested():
        posts.create(ctx, ben, "Ephemeral rhubarb", community="garden")
        raise RuntimeError("rolled back")
    assert _ids(search.search(ctx, ada, "rhubarb")) == []


def test_blocks_suspensions_and_mutes_leave_the_results(ctx: Ctx, people) -> None:
    ada, ben, cid, _ = people
    bens = posts.create(ctx, ben, "Seed swap on Saturday", community="garden")
    cids = posts.create(ctx, cid, "Seed library opens", community="garden")
    assert _ids(search.search(ctx, ada, "seed")) == [cids.id, bens.id]

    blocks.block(ctx, ada, ben)
    assert _ids(search.search(ctx, ada, "seed")) == [cids.id]
    assert _ids(search.search(ctx, cid, "seed")) == [cids.id, bens.id]  # only ada's view
    assert [a.id for a in search.search(ctx, ada, "ben", type="members").items] == []
    blocks.unblock(ctx, ada, ben.uri)

    mutes.mute(ctx, ada, mutes.parse(ctx, "@cid"))
    assert _ids(search.search(ctx, ada, "seed")) == [bens.id]
    assert _ids(search.search(ctx, ben, "seed")) == [cids.id, bens.id]
    assert [a.id for a in search.search(ctx, ada, "cid", type="members").items] == []
    mutes.unmute(ctx, ada, mutes.parse(ctx, "@cid"))

    mutes.mute(ctx, ada, mutes.parse(ctx, f"thread:{bens.id}"))
    assert _ids(search.search(ctx, ada, "seed")) == [cids.id]
    mutes.unmute(ctx, ada, mutes.parse(ctx, f"thread:{bens.id}"))

    accounts.set_active(ctx, cid, False)
    assert _ids(search.search(ctx, ada, "seed")) == [bens.id]
    assert _ids(search.search(ctx, None, "seed")) == [bens.id]


def test_hashtags_are_searched_as_tags(ctx: Ctx, people) -> None:
    ada, ben, _, _ = people
    tagged = posts.create(ctx, ben, "Planting day #Permaculture", community="garden")
    posts.create(ctx, ben, "permaculture, but no tag", community="garden")
    other = posts.create(ctx, ben, "Soil day #permaculture #soil", community="garden")
    assert _ids(search.search(ctx, ada, "#permaculture")) == [other.id, tagged.id]
    assert _ids(search.search(ctx, ada, "#permaculture soil")) == [other.id]
    mutes.mute(ctx, ada, mutes.parse(ctx, "tag:soil"))
    assert _ids(search.search(ctx, ada, "#permaculture")) == [tagged.id]


def test_pages_follow_the_cursor_to_the_end(ctx: Ctx, people) -> None:
    ada, ben, _, _ = people
    made = [posts.create(ctx, ben, f"Bean row {i}", community="garden").id for i in range(5)]
    seen: list[int] = []
    cursor = None
    for _ in range(5):
        page = search.search(ctx, ada, "bean", cursor=cursor, limit=2)
        seen += _ids(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == list(reversed(made))


def test_artifacts_communities_and_members_are_searched(ctx: Ctx, people) -> None:
    ada, ben, _, garden = people
    plan = artifacts.create(ctx, ada, garden, "idea", "Rainwater tanks", "Collect roof runoff")
    other = artifacts.create(ctx, ada, garden, "idea", "Bike shed", "Somewhere dry")
    stances.add_statement(ctx, ben, other.id, "Gutters would feed it")
    assert _ids(search.search(ctx, ben, "runoff", type="artifacts")) == [plan.id]
    assert _ids(search.search(ctx, ben, "gutters", type="artifacts")) == [other.id]
    communities.create(ctx, ben, "orchard", title="Old Orchard", description="Apple trees")
    found = search.search(ctx, ada, "apple", type="communities").items
    assert [c.name for c in found] == ["orchard"]
    assert [a.username for a in search.search(ctx, ada, "be", type="members").items] == ["ben"]
    assert _ids(search.search(ctx, ada, "gutters", type="posts")) == []
    assert garden.id in _ids(search.search(ctx, ada, "garden", type="communities"))


@pytest.mark.parametrize(
    ("q", "kind", "cursor", "code"),
    [
        ("", "posts", None, "empty_query"),
        ("   ", "posts", None, "empty_query"),
        ("!!!", "posts", None, "empty_query"),
        ("x" * 501, "posts", None, "query_too_long"),
        ("seed", "recipes", None, "invalid_type"),
        ("seed", "posts", "not-a-cursor", "invalid_cursor"),
        ("seed", "posts", "czE6LTE", "invalid_cursor"),  # s1:-1
    ],
)
def test_bad_searches_are_refused_clearly(ctx: Ctx, people, q, kind, cursor, code) -> None:
    ada = people[0]
    with pytest.raises(DomainError) as refused:
        search.search(ctx, ada, q, type=kind, cursor=cursor)
    assert refused.value.code == code
    assert 400 <= refused.value.status < 500


def test_query_syntax_is_never_passed_through(ctx: Ctx, people) -> None:
    """FTS5 and tsquery operators in what was typed are words, not syntax."""
    ada, ben, _, _ = people
    post = posts.create(ctx, ben, "NEAR the OR gate, a star", community="garden")
    for q in ['"near', "near*", "NEAR(or gate)", "or & | ! star:*", "gate')--", "a:b"]:
        page = search.search(ctx, ada, q)
        assert _ids(page) in ([post.id], []), q
    assert _ids(search.search(ctx, ada, "NEAR(or gate)")) == [post.id]


def test_search_through_the_api(api_user) -> None:
    ada, ben = api_user("ada"), api_user("ben")
    made = [
        ben.post("/api/cg/v1/posts", json={"text": f"Hedge laying {i}"}).json() for i in range(3)
    ]
    r = ada.get("/api/cg/v1/search", params={"q": "hedge", "limit": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "posts"
    assert [p["id"] for p in body["items"]] == [made[2]["id"], made[1]["id"]]
    rest = ada.get("/api/cg/v1/search", params={"q": "hedge", "cursor": body["next_cursor"]}).json()
    assert [p["id"] for p in rest["items"]] == [made[0]["id"]] and rest["next_cursor"] is None
    members = ada.get("/api/cg/v1/search", params={"q": "ben", "type": "members"}).json()
    assert [m["handle"] for m in members["items"]] == ["ben"]
    handle = ada.get("/api/cg/v1/search", params={"q": "@ben"}).json()  # a handle names them
    assert handle["type"] == "members" and [m["uri"] for m in handle["items"]] == [
        "http://127.0.0.1:8000/users/ben"
    ]
    assert ada.post("/api/cg/v1/mutes", json={"target": "ben"}).status_code == 201
    assert ada.get("/api/cg/v1/search", params={"q": "hedge"}).json()["items"] == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"q": ""}, "empty_query"),
        ({"q": "x" * 501}, "query_too_long"),
        ({"q": "seed", "type": "recipes"}, "invalid_type"),
        ({"q": "seed", "cursor": "%%%"}, "invalid_cursor"),
    ],
)
def test_bad_searches_through_the_api_are_4xx(client, params, code) -> None:
    r = client.get("/api/cg/v1/search", params=params)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"] == code


def test_the_search_page_and_the_header_box(client) -> None:
    from tests.test_pages import signup, submit

    signup(client, "ada")
    home = client.get("/").text
    assert 'action="/search"' in home and 'name="q"' in home  # in the header, on every page
    submit(client, "/compose", "/compose", {"text": "Apple pressing on Sunday #cider"})
    page = client.get("/search", params={"q": "apple"})
    assert page.status_code == 200 and "Apple pressing" in page.text
    assert "Apple pressing" in client.get("/search", params={"q": "#cider"}).text
    assert "Nothing found." in client.get("/search", params={"q": "pears"}).text
    refused = client.get("/search", params={"q": "x" * 501})
    assert refused.status_code == 422 and "at most 500" in refused.text
    found = client.get("/search", params={"q": "ada", "type": "members"}).text
    assert 'href="/@ada"' in found
