"""Notifications in the Mastodon client API (docs/mastodon-api.md, "Notifications")."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from app.mastodon.notifications import STANDARD, TYPES
from app.services.notifications import KINDS
from tests.conftest import PASSWORD

ACCOUNT_FIELDS = ("id", "username", "acct", "display_name", "followers_count", "avatar", "url")


def status_of(user, text: str) -> dict:
    r = user.post("/api/v1/statuses", json={"status": text})
    assert r.status_code == 200, r.text
    return r.json()


def account_id(user) -> str:
    return user.get("/api/v1/accounts/verify_credentials").json()["id"]


def listed(user, query: str = "") -> list[dict]:
    r = user.get("/api/v1/notifications" + query)
    assert r.status_code == 200, r.text
    return r.json()


def busy_morning(alice, bob) -> dict:
    """Bob follows Alice, likes her post, replies to it and mentions her."""
    post = status_of(alice, "my garden")
    assert bob.post(f"/api/v1/accounts/{account_id(alice)}/follow").status_code == 200
    assert bob.post(f"/api/v1/statuses/{post['id']}/favourite").status_code == 200
    reply = bob.post(
        "/api/v1/statuses", json={"status": "lovely", "in_reply_to_id": post["id"]}
    ).json()
    mention = status_of(bob, "look @alice")
    return {"post": post, "reply": reply, "mention": mention}


def test_every_kind_has_a_mastodon_type() -> None:
    assert set(TYPES) == set(KINDS)
    assert STANDARD == ["favourite", "follow", "mention", "reblog"]


def test_standard_types_with_account_and_status(client: TestClient, api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    made = busy_morning(alice, bob)
    notes = listed(alice)
    assert [n["type"] for n in notes] == ["mention", "mention", "favourite", "follow"]
    ids = [int(n["id"]) for n in notes]
    assert ids == sorted(ids, reverse=True)
    for n in notes:
        assert isinstance(n["id"], str) and n["created_at"].endswith("Z") and n["group_key"]
        for key in ACCOUNT_FIELDS:
            assert key in n["account"], key
        assert n["account"]["acct"] == "bob"
        assert "commonground" not in n
    mention, reply, like, follow = notes
    assert mention["status"]["id"] == made["mention"]["id"]
    assert reply["status"]["id"] == made["reply"]["id"]  # the reply, not the post replied to
    assert reply["status"]["in_reply_to_id"] == made["post"]["id"]
    assert like["status"]["id"] == made["post"]["id"] and like["status"]["favourites_count"] == 1
    assert follow["status"] is None
    assert listed(bob) == []  # nobody told Bob anything
    assert client.get("/api/v1/notifications").status_code == 401


def test_grouped_notification_names_the_latest_actor(client: TestClient, api_user) -> None:
    alice, bob, cara = api_user("alice"), api_user("bob"), api_user("cara")
    post = status_of(alice, "hello")
    bob.post(f"/api/v1/statuses/{post['id']}/favourite")
    cara.post(f"/api/v1/statuses/{post['id']}/favourite")
    (like,) = listed(alice)
    assert like["type"] == "favourite" and like["account"]["acct"] == "cara"
    assert like["status"]["favourites_count"] == 2


def test_commonground_kinds_only_when_asked(client: TestClient, api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    native = alice.post("/api/cg/v1/posts", {"text": "we should plant trees"}).json()
    r = bob.post(f"/api/cg/v1/posts/{native['id']}/reactions", {"kind": "agree"})
    assert r.status_code == 200, r.text
    assert listed(alice) == []  # apps that do not know the type never see it
    (stance,) = listed(alice, "?types[]=commonground.stance")
    assert stance["type"] == "commonground.stance"
    assert stance["account"]["acct"] == "bob"
    assert stance["status"]["content"].find("plant trees") >= 0
    extra = stance["commonground"]
    assert extra["kind"] == "stance" and extra["verb"] == "agree"
    assert extra["summary"] == "bob agreed with your post" and extra["actors_count"] == 1
    assert extra["read"] is False and extra["artifact"] is None
    both = listed(alice, "?types[]=commonground.stance&types[]=follow&types[]=reblog")
    assert [n["type"] for n in both] == ["commonground.stance"]
    assert listed(alice, "?types[]=commonground.stance&exclude_types[]=commonground.stance") == []
    assert listed(alice, "?types[]=nonsense") == []  # unknown types match nothing, as Mastodon


def test_join_request_is_commonground_kind(client: TestClient, api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    r = alice.post("/api/cg/v1/communities", {"name": "garden", "join_policy": "approval"})
    assert r.status_code == 201, r.text
    assert bob.post("/api/cg/v1/communities/garden/join").status_code == 200
    assert listed(alice) == []  # not Mastodon's follow_request: that asks to follow Alice
    (asked,) = listed(alice, "?types[]=commonground.join_request")
    assert asked["account"]["acct"] == "bob" and asked["status"] is None
    extra = asked["commonground"]
    assert extra["kind"] == "follow_request" and extra["verb"] == "join"
    assert extra["community"]["name"] == "garden"
    assert extra["community"]["url"] == "http://127.0.0.1:8000/c/garden"
    assert extra["pending_account_ids"] == [account_id(bob)]


def test_exclude_types_and_account_id(client: TestClient, api_user) -> None:
    alice, bob, cara = api_user("alice"), api_user("bob"), api_user("cara")
    busy_morning(alice, bob)
    cara.post(f"/api/v1/accounts/{account_id(alice)}/follow")
    assert [n["type"] for n in listed(alice, "?exclude_types[]=mention")] == [
        "favourite",
        "follow",
    ]
    (follows,) = listed(alice, "?types[]=follow")  # unread follows group into one
    assert follows["account"]["acct"] == "cara"
    by_cara = listed(alice, f"?account_id={account_id(cara)}")
    assert [n["type"] for n in by_cara] == ["follow"]
    by_bob = listed(alice, f"?account_id={account_id(bob)}")  # Bob is in the follow group too
    assert [n["type"] for n in by_bob] == ["mention", "mention", "favourite", "follow"]
    json_body = alice.client.request(
        "GET",
        "/api/v1/notifications",
        json={"types": ["favourite", "follow"], "account_id": int(account_id(bob))},
        headers=alice.headers,
    ).json()
    assert [n["type"] for n in json_body] == ["favourite", "follow"]


def _link(r) -> dict[str, str]:
    out = {}
    for part in r.headers["Link"].split(", "):
        url, rel = part.split("; ")
        out[rel.removeprefix('rel="').removesuffix('"')] = url.strip("<>")
    return out


def test_pages_by_id_with_link_headers(client: TestClient, api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    busy_morning(alice, bob)
    everything = [n["id"] for n in listed(alice)]
    r = alice.get("/api/v1/notifications?limit=2&types[]=mention&types[]=favourite")
    first = [n["id"] for n in r.json()]
    assert first == everything[:2]
    links = _link(r)
    assert links["next"].startswith("http://127.0.0.1:8000/api/v1/notifications?")
    assert "types%5B%5D=favourite" in links["next"]  # the filter is kept
    nxt = urlsplit(links["next"])
    second = alice.get(f"{nxt.path}?{nxt.query}").json()
    assert [n["id"] for n in second] == [everything[2]]
    assert [n["id"] for n in listed(alice, f"?since_id={everything[2]}")] == everything[:2]
    assert [n["id"] for n in listed(alice, f"?min_id={everything[3]}&limit=1")] == [everything[2]]
    assert [n["id"] for n in listed(alice, f"?max_id={everything[0]}&limit=40")] == everything[1:]
    assert "Link" not in alice.get(f"/api/v1/notifications?max_id={everything[-1]}").headers


def test_one_dismiss_and_clear(client: TestClient, api_user) -> None:
    alice, bob, cara = api_user("alice"), api_user("bob"), api_user("cara")
    made = busy_morning(alice, bob)
    notes = listed(alice)
    like = next(n for n in notes if n["type"] == "favourite")
    r = alice.get(f"/api/v1/notifications/{like['id']}")
    assert r.status_code == 200 and r.json() == like
    r = bob.get(f"/api/v1/notifications/{like['id']}")  # not Bob's
    assert r.status_code == 404 and r.json() == {"error": "Record not found"}
    assert bob.post(f"/api/v1/notifications/{like['id']}/dismiss").status_code == 404
    r = alice.post(f"/api/v1/notifications/{like['id']}/dismiss")
    assert r.status_code == 200 and r.json() == {}
    assert alice.get(f"/api/v1/notifications/{like['id']}").status_code == 404
    assert alice.post(f"/api/v1/notifications/{like['id']}/dismiss").status_code == 404
    assert like["id"] not in [n["id"] for n in listed(alice)]
    cara.post(f"/api/v1/statuses/{made['post']['id']}/favourite")  # a new like: a new one
    again = [n for n in listed(alice) if n["type"] == "favourite"]
    assert [n["account"]["acct"] for n in again] == ["cara"] and again[0]["id"] != like["id"]
    assert alice.get(f"/api/v1/notifications/{like['id']}").status_code == 404  # stays dismissed
    r = alice.post("/api/v1/notifications/clear")
    assert r.status_code == 200 and r.json() == {}
    assert listed(alice) == [] and listed(alice, "?types[]=commonground.stance") == []
    assert alice.get("/api/v1/notifications/unread_count").json() == {"count": 0}


def test_unread_count(client: TestClient, api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    assert alice.get("/api/v1/notifications/unread_count").json() == {"count": 0}
    busy_morning(alice, bob)
    assert alice.get("/api/v1/notifications/unread_count").json() == {"count": 4}
    assert client.get("/api/v1/notifications/unread_count").status_code == 401


def test_bad_input_is_refused(client: TestClient, api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    busy_morning(alice, bob)
    many = "&".join(f"types[]=t{i}" for i in range(51))
    for query in (f"?{many}", "?account_id=abc", "?max_id=-1", "?types[]=" + "x" * 51):
        r = alice.get("/api/v1/notifications" + query)
        assert r.status_code == 422, (query, r.text)
        assert set(r.json()) == {"error"}, query
    for value in ("abc", "0", "99999999999999999999", "4294967296"):
        r = alice.get(f"/api/v1/notifications/{value}")
        assert r.status_code == 404 and r.json() == {"error": "Record not found"}
    r = client.post(
        "/api/cg/v1/tokens", json={"username": "alice", "password": PASSWORD, "scope": "read"}
    )
    reader = {"Authorization": f"Bearer {r.json()['token']}"}
    assert client.get("/api/v1/notifications", headers=reader).status_code == 200
    r = client.post("/api/v1/notifications/clear", headers=reader)
    assert r.status_code == 403 and set(r.json()) == {"error"}
    assert len(listed(alice)) == 4  # nothing was cleared


def test_a_boost_tells_the_author_as_a_reblog(client: TestClient, api_user) -> None:
    alice, bob, carl = api_user("alice"), api_user("bob"), api_user("carl")
    post = status_of(alice, "worth sharing")
    assert bob.post(f"/api/v1/statuses/{post['id']}/reblog").status_code == 200
    assert carl.post(f"/api/v1/statuses/{post['id']}/reblog").status_code == 200
    [note] = listed(alice, "?types[]=reblog")
    assert note["type"] == "reblog" and note["status"]["id"] == post["id"]
    assert note["account"]["username"] == "carl"  # the latest booster of the group
    assert [n["type"] for n in listed(alice)] == ["reblog"]
    # one's own boost tells no one; the web list says it in words
    assert alice.post(f"/api/v1/statuses/{post['id']}/reblog").status_code == 200
    assert listed(alice, "?types[]=reblog")[0]["account"]["username"] == "carl"
    page = client.get("/api/cg/v1/notifications", headers=alice.headers).json()
    assert page["items"][0]["kind"] == "boost"
    assert "boosted your post" in page["items"][0]["summary"]
