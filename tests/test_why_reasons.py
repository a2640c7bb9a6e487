""" "Why am I seeing this?" says how a post got into my feed (the candidate source),
in words and in the API, beside the module's score: a follow, a community I
joined or follow, a reply in a thread I started, a post the community relayed
from another server. Host-side knowledge: the ranking module is not asked."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.services import accounts, communities, follows, posts
from federation import handlers, remote
from tests.conftest import PASSWORD
from tests.test_federation_handlers import PEER, actor_doc, create
from tests.test_pages import submit


def _reasons(feed: dict) -> dict[str, list[dict]]:
    return {item["post"]["text"]: item["why"]["reasons"] for item in feed["items"]}


def _kinds(reasons: list[dict]) -> set[str]:
    return {r["kind"] for r in reasons}


def test_each_home_item_says_how_it_reached_me(client: TestClient, api_user, new_ctx) -> None:
    alice, bob, carol = api_user("alice"), api_user("bob"), api_user("carol")
    carol.post("/api/cg/v1/communities", {"name": "garden"})
    alice.post("/api/cg/v1/communities/garden/join")
    bob.post("/api/cg/v1/communities", {"name": "river"})
    carol.post("/api/cg/v1/communities/river/join")
    alice.post("/api/cg/v1/follows", {"target": "river"})
    alice.post("/api/cg/v1/follows", {"target": "bob"})
    mine = alice.post("/api/cg/v1/posts", {"text": "my question"}).json()
    carol.post("/api/cg/v1/posts", {"text": "an answer", "in_reply_to": mine["id"]})
    bob.post("/api/cg/v1/posts", {"text": "bob alone"})
    carol.post("/api/cg/v1/posts", {"text": "in the garden", "community": "garden"})
    carol.post("/api/cg/v1/posts", {"text": "by the river", "community": "river"})
    with new_ctx() as ctx:  # a member on another server posts in garden
        rita = remote.store_actor(ctx, actor_doc("rita"))
        follows.follow(ctx, rita, communities.get(ctx, "garden"))
        handlers.process(
            ctx,
            create(1, audience=communities.get(ctx, "garden").uri, content="<p>from afar</p>"),
            handlers.Budget(),
        )

    feed = alice.get("/api/cg/v1/feed/home").json()
    reasons = _reasons(feed)
    assert _kinds(reasons["my question"]) == {"own"}
    assert _kinds(reasons["an answer"]) == {"reply"}
    assert reasons["an answer"][0]["text"] == "A reply in a thread you started."
    assert _kinds(reasons["bob alone"]) == {"follow"}
    assert reasons["bob alone"][0]["text"] == "You follow @bob."
    assert reasons["bob alone"][0]["via"].endswith("/users/bob")
    garden = reasons["in the garden"]
    assert [r["text"] for r in garden] == ["Posted in garden, which you joined."]
    assert garden[0]["via"].endswith("/c/garden")
    assert [r["text"] for r in reasons["by the river"]] == ["Posted in river, which you follow."]
    afar = reasons["from afar"]
    assert _kinds(afar) == {"community", "boost"}
    boost = next(r for r in afar if r["kind"] == "boost")
    assert boost["text"] == "Boosted by garden from rita@peer.example."
    assert boost["via"].endswith("/c/garden")
    # the module's own explanation is still there beside the reasons
    item = feed["items"][0]["why"]
    assert item["algorithm"] and "score" in item and item["factors"]


def test_other_feeds_say_where_their_items_come_from(client: TestClient, api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    bob.post("/api/cg/v1/communities", {"name": "garden"})
    bob.post("/api/cg/v1/posts", {"text": "seeds #swap", "community": "garden"})
    tag = alice.get("/api/cg/v1/feed/tags/swap").json()
    assert [r["text"] for r in _reasons(tag)["seeds #swap"]] == ["Tagged #swap."]
    group = alice.get("/api/cg/v1/communities/garden/feed").json()
    assert [r["kind"] for r in _reasons(group)["seeds #swap"]] == ["community"]
    anonymous = client.get("/api/cg/v1/communities/garden/feed").json()
    assert [r["text"] for r in _reasons(anonymous)["seeds #swap"]] == ["A thread in garden."]


def test_the_page_shows_the_reasons_and_a_chronological_time_as_a_date(
    client: TestClient, new_ctx
) -> None:
    with new_ctx() as ctx:
        alice = accounts.register(ctx, "alice", PASSWORD)
        bob = accounts.register(ctx, "bob", PASSWORD)
        follows.accepted(ctx, follows.follow(ctx, alice, bob))
        posts.create(ctx, bob, "hello from bob")
    submit(client, "/login", "/login", {"username": "alice", "password": PASSWORD})
    page = client.get("/").text
    why = page[page.index("Why am I seeing this?") :]
    why = why[: why.index("</details>")]
    assert "You follow @bob." in why
    assert "unix time" not in why and "posted at" in why.lower()
    assert str(PEER) not in why  # nothing of other tests' peers leaks in
