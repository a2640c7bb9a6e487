"""Communities as Group accounts in the Mastodon client API (docs/mastodon-api.md,
"Communities as Group accounts"): a community is an Account with ``group: true``;
following it joins, unfollowing leaves; its posts reach home as its boosts; a
status that mentions it first is posted into it."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, func, select

from app.mastodon import ids
from app.models import Community, CommunityBan, Membership, Post, utcnow
from app.services import posts
from tests.test_mastodon_accounts import RELATIONSHIP_FIELDS, check_account

BASE = "http://127.0.0.1:8000"
DOMAIN = "127.0.0.1:8000"


def _community(owner, name: str = "garden", **fields) -> None:
    body = {"name": name, "title": "The Garden", "description": "Beds & paths\nfor all", **fields}
    r = owner.post("/api/cg/v1/communities", json=body)
    assert r.status_code == 201, r.text


def _group(client: TestClient, acct: str = "garden") -> dict:
    r = client.get("/api/v1/accounts/lookup", params={"acct": acct})
    assert r.status_code == 200, r.text
    return r.json()


def _members(who, name: str = "garden") -> set[str]:
    """The active members, as ``who`` (any member with a token) reads them."""
    return {m["username"] for m in who.get(f"/api/cg/v1/communities/{name}/members").json()}


def _remote_community(new_ctx, name: str = "lemmings", policy: str = "open") -> int:
    with new_ctx() as ctx:
        c = Community(
            name=name,
            name_key=name,
            domain="lemmy.example",
            uri=f"https://lemmy.example/c/{name}",
            title="Lemmings",
            join_policy=policy,
        )
        ctx.db.add(c)
        ctx.db.flush()
        return c.id


# --- the Group account --------------------------------------------------------------


def test_a_community_is_a_group_account(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    _community(alice)
    alice.post("/api/cg/v1/posts", json={"text": "first bed dug", "community": "garden"})
    alice.post("/api/cg/v1/posts", json={"text": "not in the garden"})
    group = _group(client)
    check_account(group)
    assert group["group"] is True and group["locked"] is False and group["bot"] is False
    assert group["username"] == "garden" and group["acct"] == "garden"
    assert group["display_name"] == "The Garden"
    assert group["note"] == "<p>Beds &amp; paths<br>for all</p>"
    assert group["url"] == f"{BASE}/c/garden" and group["uri"] == f"{BASE}/c/garden"
    assert group["followers_count"] == 1  # alice, its admin
    assert group["statuses_count"] == 1 and group["following_count"] == 0
    assert group["last_status_at"] is not None
    assert client.get(f"/api/v1/accounts/{group['id']}").json() == group
    assert _group(client, f"@garden@{DOMAIN}")["id"] == group["id"]
    me = alice.get("/api/v1/accounts/verify_credentials").json()
    assert me["id"] != group["id"] and me["group"] is False


def test_a_community_that_approves_members_is_locked(client: TestClient, api_user) -> None:
    _community(api_user("alice"), "quiet", join_policy="approval")
    assert _group(client, "quiet")["locked"] is True


def test_group_account_ids_are_disjoint_from_member_ids_and_stable(
    client: TestClient, api_user, new_ctx
) -> None:
    _community(api_user("alice"))
    group = _group(client)
    with new_ctx() as ctx:
        c = ctx.db.exec(select(Community).where(col(Community.name) == "garden")).one()
    assert group["id"] == str(ids.GROUP_ACCOUNT_BASE + c.id) == ids.group_account_id(c)
    assert int(group["id"]) > 2**31 and int(group["id"]) < 2**53  # safe in JavaScript too
    assert _group(client)["id"] == group["id"]
    unknown = str(ids.GROUP_ACCOUNT_BASE + c.id + 1)
    for path in ("", "/statuses", "/followers"):
        r = client.get(f"/api/v1/accounts/{unknown}{path}")
        assert r.status_code == 404 and r.json() == {"error": "Record not found"}


def test_a_remote_community_is_a_group_named_with_its_domain(
    client: TestClient, api_user, new_ctx
) -> None:
    api_user("alice")
    _remote_community(new_ctx)
    group = _group(client, "lemmings@lemmy.example")
    assert group["acct"] == "lemmings@lemmy.example" and group["group"] is True
    assert group["url"] == "https://lemmy.example/c/lemmings"


def test_account_search_finds_groups(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    _community(alice)
    group = _group(client)
    found = alice.get("/api/v1/accounts/search", params={"q": "garden"}).json()
    assert group["id"] in [a["id"] for a in found]
    exact = alice.get("/api/v1/accounts/search", params={"q": "@garden"}).json()
    assert [a["id"] for a in exact] == [group["id"]]


# --- following is joining -------------------------------------------------------------


def test_following_a_group_joins_it_and_unfollowing_leaves(client: TestClient, api_user) -> None:
    _community(api_user("alice"))
    bob = api_user("bob")
    gid = _group(client)["id"]
    before = bob.get("/api/v1/accounts/relationships", params={"id[]": gid}).json()
    assert [r["following"] for r in before] == [False]
    r = bob.post(f"/api/v1/accounts/{gid}/follow")
    assert r.status_code == 200, r.text
    rel = r.json()
    assert set(RELATIONSHIP_FIELDS) <= set(rel)
    assert rel["id"] == gid and rel["following"] is True and rel["requested"] is False
    assert "bob" in _members(bob)
    assert _group(client)["followers_count"] == 2
    (now,) = bob.get("/api/v1/accounts/relationships", params={"id[]": gid}).json()
    assert now["following"] is True and now["showing_reblogs"] is True
    alice_id = _group(client, "alice")["id"]
    mixed = bob.get("/api/v1/accounts/relationships", params={"id[]": [alice_id, gid, "x"]})
    assert [(r["id"], r["following"]) for r in mixed.json()] == [(alice_id, False), (gid, True)]
    assert bob.post(f"/api/v1/accounts/{gid}/follow").json()["following"] is True  # twice: harmless
    r = bob.post(f"/api/v1/accounts/{gid}/unfollow")
    assert r.status_code == 200 and r.json()["following"] is False
    assert "bob" not in _members(bob)
    r = bob.post(f"/api/v1/accounts/{gid}/unfollow")  # not a member: answered the same
    assert r.status_code == 200 and r.json()["following"] is False


def test_following_a_locked_group_asks_to_join(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    _community(alice, "quiet", join_policy="approval")
    bob = api_user("bob")
    gid = _group(client, "quiet")["id"]
    rel = bob.post(f"/api/v1/accounts/{gid}/follow").json()
    assert rel["following"] is False and rel["requested"] is True
    r = alice.post("/api/cg/v1/communities/quiet/members/bob/approve")
    assert r.status_code == 200, r.text
    (rel,) = bob.get("/api/v1/accounts/relationships", params={"id[]": gid}).json()
    assert rel["following"] is True and rel["requested"] is False


def test_following_a_remote_group_waits_for_its_answer(
    client: TestClient, api_user, new_ctx
) -> None:
    bob = api_user("bob")
    _remote_community(new_ctx)
    gid = _group(client, "lemmings@lemmy.example")["id"]
    rel = bob.post(f"/api/v1/accounts/{gid}/follow").json()
    assert rel["requested"] is True and rel["following"] is False
    rel = bob.post(f"/api/v1/accounts/{gid}/unfollow").json()
    assert rel["requested"] is False and rel["following"] is False


def test_a_banned_member_cannot_follow_the_group(client: TestClient, api_user, new_ctx) -> None:
    _community(api_user("alice"))
    bob = api_user("bob")
    gid = _group(client)["id"]
    me = bob.get("/api/v1/accounts/verify_credentials").json()
    with new_ctx() as ctx:
        c = ctx.db.exec(select(Community).where(col(Community.name) == "garden")).one()
        ban = CommunityBan(community_id=c.id, account_id=int(me["id"]))
        ban.expires_at = utcnow() + timedelta(days=1)
        ctx.db.add(ban)
    r = bob.post(f"/api/v1/accounts/{gid}/follow")
    assert r.status_code == 403
    assert r.json() == {"error": "You are banned from “The Garden”."}
    assert "bob" not in _members(bob)
    (rel,) = bob.get("/api/v1/accounts/relationships", params={"id[]": gid}).json()
    assert rel["following"] is False and rel["requested"] is False


def test_the_only_admin_cannot_unfollow_their_group(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    _community(alice)
    gid = _group(client)["id"]
    r = alice.post(f"/api/v1/accounts/{gid}/unfollow")
    assert r.status_code == 409 and "only admin" in r.json()["error"]
    assert "alice" in _members(alice)


def test_follow_with_a_read_token_or_none_is_refused(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    _community(alice)
    api_user("bob")
    gid = _group(client)["id"]
    r = client.post(f"/api/v1/accounts/{gid}/follow")
    assert r.status_code == 401 and set(r.json()) == {"error"}
    made = client.post(
        "/api/cg/v1/tokens",
        json={"username": "bob", "password": "correct horse battery", "scope": "read"},
    )
    assert made.status_code == 201, made.text
    read = {"Authorization": f"Bearer {made.json()['token']}"}
    r = client.post(f"/api/v1/accounts/{gid}/follow", headers=read)
    assert r.status_code == 403 and set(r.json()) == {"error"}
    assert _members(alice) == {"alice"}


# --- the Group's statuses and members ----------------------------------------------------


def test_a_groups_statuses_are_its_boosts_newest_first_and_paged(
    client: TestClient, api_user
) -> None:
    alice = api_user("alice")
    _community(alice)
    made = [
        alice.post("/api/cg/v1/posts", json={"text": f"bed {i}", "community": "garden"}).json()
        for i in range(3)
    ]
    alice.post("/api/cg/v1/posts", json={"text": "a reply", "in_reply_to": made[0]["id"]})
    alice.post("/api/cg/v1/posts", json={"text": "elsewhere"})
    group = _group(client)
    r = client.get(f"/api/v1/accounts/{group['id']}/statuses", params={"exclude_replies": "true"})
    assert r.status_code == 200, r.text
    page = r.json()
    assert [s["reblog"]["uri"] for s in page] == [p["uri"] for p in reversed(made)]
    for s in page:
        assert s["account"]["id"] == group["id"] and s["reblog"]["account"]["username"] == "alice"
        assert int(s["id"]) == int(s["reblog"]["id"]) + 1
    everything = client.get(f"/api/v1/accounts/{group['id']}/statuses").json()
    assert len(everything) == 4 and everything[0]["reblog"]["content"] == "<p>a reply</p>"
    first = client.get(f"/api/v1/accounts/{group['id']}/statuses", params={"limit": 2})
    assert len(first.json()) == 2 and 'rel="next"' in first.headers["Link"]
    older = client.get(
        f"/api/v1/accounts/{group['id']}/statuses", params={"max_id": first.json()[-1]["id"]}
    ).json()
    assert [s["id"] for s in first.json() + older] == [s["id"] for s in everything]


def test_a_groups_followers_are_its_members(client: TestClient, api_user) -> None:
    _community(api_user("alice"))
    for name in ("bob", "carol"):
        api_user(name).post(f"/api/v1/accounts/{_group(client)['id']}/follow")
    gid = _group(client)["id"]
    r = client.get(f"/api/v1/accounts/{gid}/followers")
    assert r.status_code == 200, r.text
    assert [a["username"] for a in r.json()] == ["carol", "bob", "alice"]  # newest first
    first = client.get(f"/api/v1/accounts/{gid}/followers", params={"limit": 1})
    assert [a["username"] for a in first.json()] == ["carol"]
    nxt = first.headers["Link"].split(";")[0].strip("<>")
    assert [a["username"] for a in client.get(nxt).json()] == ["bob"]  # limit=1 is kept
    assert client.get(f"/api/v1/accounts/{gid}/following").json() == []


# --- home: the Group's boosts ------------------------------------------------------------


def test_community_posts_reach_home_as_the_groups_boosts(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    _community(alice)
    bob = api_user("bob")
    group = _group(client)
    bob.post(f"/api/v1/accounts/{group['id']}/follow")
    own = bob.post("/api/v1/statuses", json={"status": "my own note"}).json()
    in_garden = alice.post(
        "/api/cg/v1/posts", json={"text": "tomatoes are in", "community": "garden"}
    ).json()
    later = bob.post("/api/v1/statuses", json={"status": "a later note"}).json()
    r = bob.get("/api/v1/timelines/home")
    assert r.status_code == 200, r.text
    home = r.json()
    assert [s["id"] for s in home][0] == later["id"] and home[-1]["id"] == own["id"]
    boost = home[1]
    assert boost["reblog"]["uri"] == in_garden["uri"] and boost["reblog"]["reblog"] is None
    assert boost["account"]["id"] == group["id"] and boost["account"]["group"] is True
    assert boost["content"] == "" and boost["media_attachments"] == [] and boost["mentions"] == []
    assert boost["created_at"] == boost["reblog"]["created_at"]
    assert int(own["id"]) < int(boost["id"]) < int(later["id"])  # time order
    assert int(boost["id"]) == int(boost["reblog"]["id"]) + 1
    assert home[0]["reblog"] is None and home[2]["reblog"] is None
    # paging from the boost neither repeats its post nor skips anything
    below = bob.get("/api/v1/timelines/home", params={"max_id": boost["id"]}).json()
    assert [s["id"] for s in below] == [own["id"]]
    above = bob.get("/api/v1/timelines/home", params={"min_id": boost["id"]}).json()
    assert [s["id"] for s in above] == [later["id"]]
    since = bob.get("/api/v1/timelines/home", params={"since_id": own["id"]}).json()
    assert [s["id"] for s in since] == [later["id"], boost["id"]]


def test_a_post_that_reaches_home_through_its_author_stays_itself(
    client: TestClient, api_user
) -> None:
    alice = api_user("alice")
    _community(alice)
    carol = api_user("carol")  # follows alice, not a member of the garden
    carol.post(
        f"/api/v1/accounts/{alice.get('/api/v1/accounts/verify_credentials').json()['id']}/follow"
    )
    made = alice.post("/api/cg/v1/posts", json={"text": "in the garden", "community": "garden"})
    (shown,) = carol.get("/api/v1/timelines/home").json()
    assert shown["uri"] == made.json()["uri"] and shown["reblog"] is None
    assert shown["account"]["username"] == "alice"


def test_a_boost_id_answers_the_boost_and_acts_on_its_post(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    _community(alice)
    bob = api_user("bob")
    bob.post(f"/api/v1/accounts/{_group(client)['id']}/follow")
    alice.post("/api/cg/v1/posts", json={"text": "tomatoes are in", "community": "garden"})
    (boost,) = bob.get("/api/v1/timelines/home").json()
    r = bob.get(f"/api/v1/statuses/{boost['id']}")
    assert r.status_code == 200, r.text
    assert r.json()["id"] == boost["id"] and r.json()["reblog"]["id"] == boost["reblog"]["id"]
    liked = bob.post(f"/api/v1/statuses/{boost['id']}/favourite")
    assert liked.status_code == 200, liked.text
    post = bob.get(f"/api/v1/statuses/{boost['reblog']['id']}").json()
    assert post["favourited"] is True and post["favourites_count"] == 1
    # the boost is the Group's: not deleted or edited through its id
    mine = alice.get(f"/api/v1/statuses/{boost['id']}")
    assert mine.status_code == 200
    for method in ("DELETE", "PUT"):
        r = alice.client.request(
            method, f"/api/v1/statuses/{boost['id']}", json={"status": "x"}, headers=alice.headers
        )
        assert r.status_code == 404 and r.json() == {"error": "Record not found"}
    assert alice.get(f"/api/v1/statuses/{boost['reblog']['id']}").json()["content"] != ""
    # a post outside any community has no boost: its id + 1 is nobody's
    plain = bob.post("/api/v1/statuses", json={"status": "mine"}).json()
    r = bob.get(f"/api/v1/statuses/{int(plain['id']) + 1}")
    assert r.status_code == 404 and r.json() == {"error": "Record not found"}


def test_every_status_id_ends_in_two_zero_bits_so_boost_ids_never_collide(ctx) -> None:
    from app.services import accounts

    alice = accounts.register(ctx, "alice", "correct horse battery")
    made = [posts.create(ctx, alice, f"post {i}") for i in range(5)]
    assert all(p.status_id is not None and p.status_id % 4 == 0 for p in made)
    assert all(ids.boost_id(p) == str(p.status_id + 1) for p in made if p.status_id)
    assert all(ids.is_boost_id(ids.boost_id(p)) for p in made)
    assert not any(ids.is_boost_id(ids.status_id(p)) for p in made)


# --- posting into a community by mentioning it first -----------------------------------


def _garden_posts(client: TestClient) -> list[dict]:
    return [i["post"] for i in client.get("/api/cg/v1/communities/garden/feed").json()["items"]]


def test_a_status_that_mentions_the_group_first_is_posted_into_it(
    client: TestClient, api_user
) -> None:
    _community(api_user("alice"))
    bob = api_user("bob")
    group = _group(client)
    bob.post(f"/api/v1/accounts/{group['id']}/follow")
    r = bob.post("/api/v1/statuses", json={"status": "@garden Tomatoes\nThey are ripe, come by."})
    assert r.status_code == 200, r.text
    status = r.json()
    (native,) = _garden_posts(client)
    assert native["uri"] == status["uri"]
    assert native["title"] == "Tomatoes" and native["text"] == "They are ripe, come by."
    assert native["community"]["name"] == "garden"
    assert status["content"].startswith("<p><strong>Tomatoes</strong></p>")
    r = bob.post("/api/v1/statuses", data={"status": f"@garden@{DOMAIN} just one line"})
    assert r.status_code == 200, r.text
    newest = _garden_posts(client)[0]
    assert newest["title"] is None and newest["text"] == "just one line"
    home = bob.get("/api/v1/timelines/home").json()
    assert [s["reblog"]["uri"] for s in home] == [newest["uri"], native["uri"]]
    assert {s["account"]["id"] for s in home} == {group["id"]}


def test_a_mention_of_a_person_first_is_an_ordinary_status(client: TestClient, api_user) -> None:
    _community(api_user("alice"))
    bob = api_user("bob")
    r = bob.post("/api/v1/statuses", json={"status": "@alice hello\nthere"})
    assert r.status_code == 200, r.text
    assert _garden_posts(client) == []
    assert "@" in r.json()["content"] and "<strong>" not in r.json()["content"]


def test_posting_into_a_group_one_is_not_a_member_of_is_refused(
    client: TestClient, api_user, new_ctx
) -> None:
    _community(api_user("alice"))
    carol = api_user("carol")
    r = carol.post("/api/v1/statuses", json={"status": "@garden Hello\nlet me in"})
    assert r.status_code == 403
    assert r.json() == {"error": "Join “The Garden” to post there."}
    r = carol.post("/api/v1/statuses", json={"status": "@garden " + "x" * 300 + "\nbody"})
    assert r.status_code in (403, 422) and set(r.json()) == {"error"}
    with new_ctx() as ctx:
        assert ctx.db.exec(select(func.count()).select_from(Post)).one() == 0
        assert ctx.db.exec(select(func.count()).select_from(Membership)).one() == 1


def test_a_too_long_title_is_refused_and_nothing_is_posted(
    client: TestClient, api_user, new_ctx
) -> None:
    _community(api_user("alice"))
    bob = api_user("bob")
    bob.post(f"/api/v1/accounts/{_group(client)['id']}/follow")
    r = bob.post("/api/v1/statuses", json={"status": "@garden " + "x" * 300 + "\nbody"})
    assert r.status_code == 422 and r.json() == {"error": "Titles are at most 200 characters."}
    r = bob.post("/api/v1/statuses", json={"status": "@garden"})
    assert r.status_code == 422 and set(r.json()) == {"error"}
    with new_ctx() as ctx:
        assert ctx.db.exec(select(func.count()).select_from(Post)).one() == 0


# --- a real client against a real server -------------------------------------------------


@pytest.mark.slow
def test_mastodon_py_joins_a_community_and_posts_into_it() -> None:
    """Mastodon.py: look the community up as an account, follow it (join), post
    ``@garden first line`` then a body, and find the post in the community (the
    native API) and in home as the Group's boost."""
    mastodon = pytest.importorskip("mastodon")  # Mastodon.py, in the dev extras
    from tests.server_process import ServerProcess
    from tests.test_mastodon_client import _token

    with ServerProcess() as server:
        owner = {"Authorization": f"Bearer {_token(server, 'alice')}"}
        made = httpx.post(
            f"{server.url}/api/cg/v1/communities",
            json={"name": "garden", "title": "The Garden", "join_policy": "open"},
            headers=owner,
            timeout=30,
        )
        assert made.status_code == 201, made.text
        api = mastodon.Mastodon(access_token=_token(server, "bob"), api_base_url=server.url)

        group = api.account_lookup("garden")
        assert group["group"] is True and group["display_name"] == "The Garden"
        relationship = api.account_follow(group["id"])
        assert relationship["following"] is True
        assert api.account_relationships(group["id"])[0]["following"] is True

        status = api.status_post("@garden Tomatoes are in\nCome by the shed before noon.")
        feed = httpx.get(f"{server.url}/api/cg/v1/communities/garden/feed", timeout=30).json()
        (item,) = feed["items"]
        assert item["post"]["uri"] == status["uri"]
        assert item["post"]["title"] == "Tomatoes are in"
        assert item["post"]["text"] == "Come by the shed before noon."
        assert item["post"]["author"]["username"] == "bob"

        (boost,) = api.timeline_home()
        assert boost["reblog"]["id"] == status["id"]
        assert boost["account"]["id"] == group["id"] and boost["account"]["group"] is True
        assert api.status(boost["id"])["reblog"]["id"] == status["id"]
        assert [s["id"] for s in api.account_statuses(group["id"])] == [boost["id"]]
        assert [a["acct"] for a in api.account_followers(group["id"])] == ["bob", "alice"]

        assert api.account_unfollow(group["id"])["following"] is False
        (own,) = api.timeline_home()  # left: bob's own post is his, no longer the Group's boost
        assert own["id"] == status["id"] and own["reblog"] is None
