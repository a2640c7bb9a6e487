"""Ranked feeds, "why" and stances in the Mastodon client API (docs/mastodon-api.md,
"Ranked feeds" and "Stances"): the member's and their communities' ranked feeds
as lists, in the server's order with the ranking's own cursor; the instance's
ranking as trending statuses; every status's ``commonground`` object."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from app.mastodon import ids
from app.services import reactions, stances
from tests.server_process import ServerProcess

BASE = "http://127.0.0.1:8000"
QUESTIONS = "Questions that need answers"


def _links(r) -> dict[str, str]:
    out = {}
    for part in r.headers.get("link", "").split(", "):
        if part:
            url, rel = part.split("; ")
            out[rel.removeprefix('rel="').removesuffix('"')] = url.strip("<>")
    return out


def _algorithm(api, name: str) -> dict:
    """A module as the native API's algorithm registry lists it (with its latest version)."""
    return next(a for a in api.get("/api/cg/v1/algorithms").json() if a["name"] == name)


@pytest.fixture
def garden(api_user):
    """A community ranked by "Questions that need answers": its one question, the
    oldest thread, comes first; the others follow newest first."""
    alice, bob = api_user("alice"), api_user("bob")
    alice.post("/api/cg/v1/communities", {"name": "garden", "title": "The Garden"})
    bob.post("/api/cg/v1/communities/garden/join")
    question = alice.post(
        "/api/cg/v1/posts", {"text": "what should I plant?", "community": "garden"}
    ).json()
    plain = [
        alice.post("/api/cg/v1/posts", {"text": f"plain {i}", "community": "garden"}).json()
        for i in range(4)
    ]
    version = _algorithm(alice, QUESTIONS)["latest"]["version_id"]
    r = alice.put("/api/cg/v1/communities/garden/algorithm", {"algorithm": version})
    assert r.status_code == 200, r.text
    # the native feed's order: the expected order of the list timeline
    native = alice.get("/api/cg/v1/communities/garden/feed").json()
    order = [i["post"]["id"] for i in native["items"]]
    assert order == [question["id"], *[p["id"] for p in reversed(plain)]]
    return {"alice": alice, "bob": bob, "native": native, "version": version}


def _garden_list(api) -> dict:
    return next(entry for entry in api.get("/api/v1/lists").json() if "Garden" in entry["title"])


def _walk(client: TestClient, headers: dict, url: str) -> list[dict]:
    """Follow ``next`` links from ``url`` until a page is empty or has none."""
    seen: list[dict] = []
    for _ in range(20):
        r = client.get(url.removeprefix(BASE), headers=headers)
        assert r.status_code == 200, r.text
        seen += r.json()
        links = _links(r)
        if not r.json() or "next" not in links:
            break
        assert links["next"].startswith(BASE + "/api/v1/")
        url = links["next"]
    return seen


def test_lists_are_the_ranked_home_and_each_community(garden) -> None:
    alice, bob = garden["alice"], garden["bob"]
    r = bob.put("/api/cg/v1/me/feed-algorithm", {"algorithm": garden["version"]})
    assert r.status_code == 200, r.text
    lists = bob.get("/api/v1/lists").json()
    assert lists[0] == {
        "id": "home",
        "title": f"Ranked: {QUESTIONS}",
        "replies_policy": "followed",
        "exclusive": False,
    }
    garden_list = lists[1]
    assert garden_list["title"] == f"The Garden · {QUESTIONS}"
    assert garden_list["id"].startswith("community-") and garden_list["replies_policy"] == "none"
    assert len(lists) == 2
    # alice never chose: her home is the default; the same community list, same id
    mine = alice.get("/api/v1/lists").json()
    assert mine[0]["title"] == "Ranked: Chronological" and mine[1] == garden_list
    assert bob.get(f"/api/v1/lists/{garden_list['id']}").json() == garden_list
    assert bob.get("/api/v1/lists/home").json() == lists[0]
    assert bob.get(f"/api/v1/lists/{garden_list['id']}/accounts").json() == []
    assert bob.client.get("/api/v1/lists").status_code == 401


def test_lists_cannot_be_made_or_changed(garden) -> None:
    bob = garden["bob"]
    list_id = _garden_list(bob)["id"]
    for method, path, body in (
        ("POST", "/api/v1/lists", {"title": "friends"}),
        ("PUT", f"/api/v1/lists/{list_id}", {"title": "renamed"}),
        ("DELETE", f"/api/v1/lists/{list_id}", None),
        ("POST", f"/api/v1/lists/{list_id}/accounts", {"account_ids": ["1"]}),
        ("DELETE", f"/api/v1/lists/{list_id}/accounts", {"account_ids": ["1"]}),
    ):
        r = bob.client.request(method, path, json=body, headers=bob.headers)
        assert r.status_code == 422, (method, path, r.text)
        assert "ranked feeds" in r.json()["error"], r.json()
    assert [entry["title"] for entry in bob.get("/api/v1/lists").json()][1:] == [
        f"The Garden · {QUESTIONS}"
    ]


def test_bad_list_ids_are_not_found(garden, api_user) -> None:
    bob, carol = garden["bob"], api_user("carol")
    list_id = _garden_list(bob)["id"]
    for bad in ("nope", "community-", "community-abc", "community-999999", "community--1", "1"):
        for path in (f"/api/v1/lists/{bad}", f"/api/v1/timelines/list/{bad}"):
            r = bob.get(path)
            assert r.status_code == 404 and r.json() == {"error": "Record not found"}, (path, r)
    # a community's list is its members': carol is not one
    assert carol.get(f"/api/v1/lists/{list_id}").status_code == 404
    assert carol.get(f"/api/v1/timelines/list/{list_id}").status_code == 404


def test_list_timeline_is_in_server_order_with_why(garden) -> None:
    bob, native = garden["bob"], garden["native"]
    list_id = _garden_list(bob)["id"]
    r = bob.get(f"/api/v1/timelines/list/{list_id}")
    assert r.status_code == 200, r.text
    shown = r.json()
    assert [s["uri"] for s in shown] == [i["post"]["uri"] for i in native["items"]]
    ids = [int(s["id"]) for s in shown]
    assert ids != sorted(ids, reverse=True)  # rank order, not id order
    sha = _algorithm(bob, QUESTIONS)["latest"]["sha256"]
    assert native["sha256"] == sha
    for status, item in zip(shown, native["items"], strict=True):
        why = status["commonground"]["why"]
        assert why["algorithm"] == QUESTIONS and why["sha256"] == sha
        assert why["version"] == item["why"]["version"]
        assert why["score"] == pytest.approx(item["why"]["score"], rel=1e-3)
        assert set(why["factors"]) == set(item["why"]["factors"])
        assert why["reasons"] == item["why"]["reasons"]
        assert status["commonground"]["stances"] == {"agree": 0, "disagree": 0, "pass": 0}
    assert shown[0]["commonground"]["why"]["factors"]["is a question"] == 1.0
    assert shown[0]["commonground"]["why"]["reasons"][0]["kind"] == "community"


def test_list_timeline_pages_follow_the_ranking(garden) -> None:
    bob, native = garden["bob"], garden["native"]
    list_id = _garden_list(bob)["id"]
    first = bob.get(f"/api/v1/timelines/list/{list_id}", params={"limit": 2})
    assert len(first.json()) == 2
    links = _links(first)
    cursor = parse_qs(urlsplit(links["next"]).query)["max_id"][0]
    assert not cursor.isdigit()  # the ranking's own cursor: an id can't say "rank 3"
    assert parse_qs(urlsplit(links["next"]).query)["limit"] == ["2"]
    walked = _walk(bob.client, bob.headers, f"/api/v1/timelines/list/{list_id}?limit=2")
    assert [s["uri"] for s in walked] == [i["post"]["uri"] for i in native["items"]]
    # a client that sends a status id as max_id gets what ranks after that status
    shown = bob.get(f"/api/v1/timelines/list/{list_id}").json()
    after = bob.get(
        f"/api/v1/timelines/list/{list_id}", params={"max_id": shown[1]["id"], "limit": 2}
    ).json()
    assert [s["id"] for s in after] == [shown[2]["id"], shown[3]["id"]]
    # since_id / min_id: those newer than it, still in rank order
    for name in ("since_id", "min_id"):
        newer = bob.get(f"/api/v1/timelines/list/{list_id}", params={name: shown[2]["id"]})
        assert [s["id"] for s in newer.json()] == [shown[1]["id"]], name
    nothing = bob.get(f"/api/v1/timelines/list/{list_id}", params={"since_id": shown[1]["id"]})
    assert nothing.json() == []
    bad = bob.get(f"/api/v1/timelines/list/{list_id}", params={"max_id": "not-a-cursor"})
    assert bad.status_code == 400 and set(bad.json()) == {"error"}


def test_home_list_is_the_members_ranked_home(garden) -> None:
    bob = garden["bob"]
    bob.put("/api/cg/v1/me/feed-algorithm", {"algorithm": garden["version"]})
    native = bob.get("/api/cg/v1/feed/home").json()
    assert native["algorithm"] == QUESTIONS
    shown = bob.get("/api/v1/timelines/list/home").json()
    assert [s["uri"] for s in shown] == [i["post"]["uri"] for i in native["items"]]
    assert {s["commonground"]["why"]["sha256"] for s in shown} == {native["sha256"]}


def test_trending_statuses_are_the_instance_ranking(garden, client: TestClient) -> None:
    r = client.get("/api/v1/trends/statuses", params={"limit": 2})
    assert r.status_code == 200, r.text
    first = r.json()
    chronological = _algorithm(garden["alice"], "Chronological")["latest"]["sha256"]
    assert [s["commonground"]["why"]["sha256"] for s in first] == [chronological] * 2
    assert [s["commonground"]["why"]["algorithm"] for s in first] == ["Chronological"] * 2
    nxt = _links(r)["next"]
    assert parse_qs(urlsplit(nxt).query)["offset"] == ["2"]
    second = client.get(nxt.removeprefix(BASE)).json()
    rest = client.get("/api/v1/trends/statuses", params={"offset": 4, "limit": 40}).json()
    every = [s["id"] for s in first + second + rest]
    assert len(every) == 5 and len(set(every)) == 5
    assert every == [s["id"] for s in client.get("/api/v1/trends/statuses").json()]
    assert client.get("/api/v1/trends/statuses", params={"offset": 5}).json() == []
    assert client.get("/api/v1/trends/statuses", params={"offset": "x"}).status_code == 200


def test_ordinary_statuses_carry_stances_but_no_why(api_user) -> None:
    alice = api_user("alice")
    made = alice.post("/api/v1/statuses", json={"status": "a thought"}).json()
    assert made["commonground"] == {
        "why": None,
        "stances": {"agree": 0, "disagree": 0, "pass": 0},
        "my_stance": None,
    }
    home = alice.get("/api/v1/timelines/home").json()
    assert home[0]["commonground"]["why"] is None


def test_stance_set_change_and_withdraw(api_user) -> None:
    assert set(reactions.STANCES) == set(stances.STANCES)  # one vocabulary
    alice, bob = api_user("alice"), api_user("bob")
    made = alice.post("/api/v1/statuses", json={"status": "we should plant trees"}).json()
    url = f"/api/v1/statuses/{made['id']}/commonground/stance"
    r = bob.post(url, json={"stance": "agree"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == made["id"]
    assert r.json()["commonground"]["my_stance"] == "agree"
    assert r.json()["commonground"]["stances"] == {"agree": 1, "disagree": 0, "pass": 0}
    r = bob.client.post(url, data={"stance": "disagree"}, headers=bob.headers)  # a form
    assert r.json()["commonground"]["stances"] == {"agree": 0, "disagree": 1, "pass": 0}
    liked = bob.post(f"/api/v1/statuses/{made['id']}/favourite").json()  # a like stays a like
    assert liked["favourited"] is True and liked["commonground"]["my_stance"] == "disagree"
    seen = alice.get(f"/api/v1/statuses/{made['id']}").json()["commonground"]
    assert seen["my_stance"] is None and seen["stances"]["disagree"] == 1
    for withdraw in ("none", ""):
        bob.post(url, json={"stance": "pass"})
        r = bob.post(url, json={"stance": withdraw})
        assert r.status_code == 200, r.text
        assert r.json()["commonground"]["my_stance"] is None
        assert r.json()["commonground"]["stances"] == {"agree": 0, "disagree": 0, "pass": 0}
    assert r.json()["favourited"] is True


def test_bad_stances_are_refused_and_store_nothing(api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    made = alice.post("/api/v1/statuses", json={"status": "we should plant trees"}).json()
    url = f"/api/v1/statuses/{made['id']}/commonground/stance"
    bob.post(url, json={"stance": "agree"})
    for body in ({"stance": "like"}, {"stance": "maybe"}, {}, {"stance": ["agree"]}):
        r = bob.post(url, json=body)
        assert r.status_code == 422, (body, r.text)
        assert set(r.json()) == {"error"} and "stance" in r.json()["error"], r.json()
    after = bob.get(f"/api/v1/statuses/{made['id']}").json()
    assert after["commonground"]["my_stance"] == "agree" and after["favourited"] is False
    assert (
        bob.post(
            "/api/v1/statuses/123456789/commonground/stance", json={"stance": "agree"}
        ).status_code
        == 404
    )
    assert bob.client.post(url, json={"stance": "agree"}).status_code == 401


def test_artifacts_read_as_statuses_with_history_and_statements(api_user) -> None:
    ada, ben = api_user("ada"), api_user("ben")
    ada.post("/api/cg/v1/communities", {"name": "garden"})
    ben.post("/api/cg/v1/communities/garden/join")
    art = ada.post(
        "/api/cg/v1/artifacts",
        {"community": "garden", "kind": "problem", "title": "Floods", "body": "Drains clog."},
    ).json()
    r = ben.post(
        f"/api/cg/v1/artifacts/{art['id']}/revisions",
        {"base_revision": art["revision"], "body": "Drains clog with leaves."},
    )
    assert r.status_code == 201, r.text
    said = ben.post(f"/api/cg/v1/artifacts/{art['id']}/statements", {"text": "Clear them weekly"})
    assert said.status_code == 201, said.text
    post = ada.post("/api/v1/statuses", json={"status": "an ordinary post"}).json()
    sid = str(ids.artifact_status_id(art["id"]))
    assert int(sid) > int(post["id"])  # a range of its own: never a post's id
    shown = ben.get(f"/api/v1/statuses/{sid}").json()
    assert shown["id"] == sid and shown["uri"] == art["uri"]
    assert "Floods" in shown["content"] and "with leaves" in shown["content"]
    assert shown["account"]["username"] == "ada" and shown["replies_count"] == 1
    assert shown["commonground"]["artifact"] == {"kind": "problem", "stage": "draft"}
    history = ben.get(f"/api/v1/statuses/{sid}/history").json()
    assert [v["account"]["username"] for v in history] == ["ada", "ben"]
    assert "with leaves" not in history[0]["content"] and "with leaves" in history[1]["content"]
    context = ben.get(f"/api/v1/statuses/{sid}/context").json()
    assert context["ancestors"] == []
    [statement] = context["descendants"]
    assert statement["in_reply_to_id"] == sid and "Clear them weekly" in statement["content"]
    assert ben.get(f"/api/v1/statuses/{statement['id']}").json()["id"] == statement["id"]
    up = ben.get(f"/api/v1/statuses/{statement['id']}/context").json()
    assert [s["id"] for s in up["ancestors"]] == [sid]
    # stances through the same endpoint: on the artifact and on a statement
    r = ben.post(f"/api/v1/statuses/{sid}/commonground/stance", json={"stance": "agree"})
    assert r.status_code == 200, r.text
    assert r.json()["commonground"]["my_stance"] == "agree"
    assert r.json()["commonground"]["stances"]["agree"] == 1
    url = f"/api/v1/statuses/{statement['id']}/commonground/stance"
    assert ben.post(url, json={"stance": "pass"}).json()["commonground"]["stances"]["pass"] == 1
    assert ben.post(url, json={"stance": "none"}).status_code == 422
    for missing in (ids.artifact_status_id(999_999), ids.statement_status_id(999_999)):
        assert ben.get(f"/api/v1/statuses/{missing}").status_code == 404
        assert ben.get(f"/api/v1/statuses/{missing}/context").status_code == 404
    assert ben.post(f"/api/v1/statuses/{sid}/favourite").status_code == 404


@pytest.mark.slow
def test_mastodon_py_reads_ranked_lists_and_takes_a_stance() -> None:
    mastodon = pytest.importorskip("mastodon")
    with ServerProcess() as server, httpx.Client(base_url=server.url, timeout=30) as http:
        password = "correct horse battery"
        http.post("/api/cg/v1/accounts", json={"username": "ada", "password": password})
        token = http.post(
            "/api/cg/v1/tokens", json={"username": "ada", "password": password, "scope": "write"}
        ).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        http.post("/api/cg/v1/communities", json={"name": "garden"}, headers=auth)
        for text in ("what should I plant?", "plain one", "plain two"):
            http.post("/api/cg/v1/posts", json={"text": text, "community": "garden"}, headers=auth)
        latest = next(
            a
            for a in http.get("/api/cg/v1/algorithms", headers=auth).json()
            if a["name"] == QUESTIONS
        )["latest"]
        http.put(
            "/api/cg/v1/communities/garden/algorithm",
            json={"algorithm": latest["version_id"]},
            headers=auth,
        )

        api = mastodon.Mastodon(access_token=token, api_base_url=server.url)
        lists = api.lists()
        assert [entry["id"] for entry in lists][0] == "home"
        garden = next(entry for entry in lists if entry["title"].startswith("garden"))
        page = api.timeline_list(garden["id"], limit=2)
        assert [s["commonground"]["why"]["sha256"] for s in page] == [latest["sha256"]] * 2
        assert "what should I plant?" in page[0]["content"]
        rest = api.fetch_next(page)  # Mastodon.py carries the ranking's cursor in max_id
        assert [s["content"] for s in rest] == ["<p>plain one</p>"]

        made = api.status_post("we should plant trees")
        r = http.post(
            f"/api/v1/statuses/{made['id']}/commonground/stance",
            data={"stance": "agree"},
            headers=auth,
        )
        assert r.status_code == 200, r.text
        again = api.status(made["id"])
        assert again["commonground"]["my_stance"] == "agree"
        assert again["commonground"]["stances"]["agree"] == 1


def test_artifact_and_statement_ids_never_meet_a_posts() -> None:
    from datetime import UTC, datetime

    from app.services import posts

    far = posts.status_id(datetime(4000, 1, 1, tzinfo=UTC), 2**40 - 1)
    assert far < ids.ARTIFACTS  # a post's id stays below both ranges for millennia
    assert ids.artifact_or_statement(str(far)) is None
    assert ids.artifact_or_statement(ids.artifact_status_id(7)) == ("artifact", 7)
    assert ids.artifact_or_statement(ids.statement_status_id(7)) == ("statement", 7)
    assert int(ids.statement_status_id(2**60)) <= posts.MAX_STATUS_ID
    assert ids.artifact_or_statement("abc") is None
