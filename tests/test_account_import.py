"""Importing Mastodon CSVs of follows, blocks and mutes: bad lines reported with
their number while good ones are applied; a bad header, a file that is not text or
is too large is refused with nothing applied. An export from one real instance is
imported into another: the remote accounts are looked up (WebFinger, in a job) and
followed."""

from __future__ import annotations

import io
import zipfile

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from app.models import Block, Follow, Mute
from app.services import accounts
from tests.conftest import PASSWORD
from tests.peers import Instance, eventually
from tests.test_account_export import _token
from tests.test_pages import submit

HEADER = "Account address,Show boosts,Notify on new posts,Languages\n"


@pytest.fixture
def people(client: TestClient, new_ctx) -> dict:
    with new_ctx() as ctx:
        for name in ("ada", "bob", "cy"):
            accounts.register(ctx, name, PASSWORD)
    return {"ada": _token(client, "ada")}


def _import(client: TestClient, headers: dict, kind: str, text: str | bytes):
    data = text.encode() if isinstance(text, str) else text
    return client.post(
        "/api/cg/v1/me/import",
        data={"type": kind},
        files={"file": ("import.csv", data, "text/csv")},
        headers=headers,
    )


def _count(new_ctx, model) -> int:
    with new_ctx() as ctx:
        return ctx.db.exec(select(func.count()).select_from(model)).one()


def test_good_lines_apply_and_bad_lines_are_reported(client, people, new_ctx, settings) -> None:
    d = settings.domain
    text = f"{HEADER}bob@{d},true,false,\nnot an address,true,false,\nnobody@{d},true,false,\n"
    r = _import(client, people["ada"], "following", text)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["applied"] == [f"bob@{d}"] and body["queued"] == []
    assert [e["line"] for e in body["errors"]] == [3, 4]
    assert "not an account address" in body["errors"][0]["error"]
    assert _count(new_ctx, Follow) == 1
    r = _import(client, people["ada"], "blocks", f"cy@{d}\n@bob@{d}\n")
    assert r.json()["applied"] == [f"cy@{d}", f"bob@{d}"] and _count(new_ctx, Block) == 2
    assert _count(new_ctx, Follow) == 0  # a block ends the follow, as blocking does
    r = _import(
        client, people["ada"], "mutes", f"Account address,Hide notifications\ncy@{d},true\n"
    )
    assert r.json()["applied"] == [f"cy@{d}"] and _count(new_ctx, Mute) == 1


@pytest.mark.parametrize(
    "kind, content, code",
    [
        ("following", "Name,Something\nbob@127.0.0.1:8000,x\n", "invalid_header"),
        ("mutes", "Who,Hide\nbob@127.0.0.1:8000,true\n", "invalid_header"),
        ("following", b"\xff\xfe\x00b\x00o", "invalid_file"),
        ("blocks", "bob@127.0.0.1:8000\n" * 70_000, "file_too_large"),
    ],
)
def test_a_bad_file_is_refused_with_nothing_applied(
    client, people, new_ctx, kind, content, code
) -> None:
    r = _import(client, people["ada"], kind, content)
    assert 400 <= r.status_code < 500 and r.json()["error"] == code, r.text
    assert _count(new_ctx, Follow) == _count(new_ctx, Block) == _count(new_ctx, Mute) == 0


def test_an_unknown_type_is_refused(client, people) -> None:
    r = _import(client, people["ada"], "lists", HEADER)
    assert r.status_code == 422


def test_the_page_imports_and_lists_bad_lines(client, people, new_ctx, settings) -> None:
    submit(client, "/login", "/login", {"username": "ada", "password": PASSWORD})
    from tests.test_pages import csrf

    token = csrf(client.get("/settings/data").text)
    r = client.post(
        "/settings/data/import",
        data={"csrf_token": token, "kind": "following"},
        files={"file": ("f.csv", f"{HEADER}bob@{settings.domain},true,false,\n???,x\n")},
    )
    assert r.status_code == 200 and "1 applied now" in r.text and "Line 3" in r.text
    assert _count(new_ctx, Follow) == 1
    r = client.post(
        "/settings/data/import",
        data={"csrf_token": token, "kind": "mutes"},
        files={"file": ("f.csv", "Wrong,Header\n")},
    )
    assert r.status_code == 422 and "header" in r.text
    assert 'value="mutes" selected' in r.text  # the choice is kept


@pytest.mark.slow
def test_an_export_from_one_instance_imports_into_another() -> None:
    with Instance() as a, Instance() as b, Instance() as c:
        for name in ("alice", "carol"):
            a.register(name)
        c.register("cy")
        a.api("POST", "/follows", "alice", json={"target": f"cy@{c.domain}"})
        a.api("POST", "/follows", "alice", json={"target": "carol"})
        eventually(
            lambda: a.sql("SELECT count(*) FROM follows WHERE state = 'accepted'") == [(2,)],
            what="alice's follows on A",
        )
        assert a.api("POST", "/me/export", "alice").status_code == 202
        ready = eventually(
            lambda: [
                e for e in a.api("GET", "/me/exports", "alice").json() if e["state"] == "ready"
            ],
            what="the archive",
        )
        with a.http() as http:
            r = http.get(ready[0]["download_url"].removeprefix(a.url), headers=a.auth("alice"))
        following = zipfile.ZipFile(io.BytesIO(r.content)).read("following_accounts.csv")
        b.register("alice")
        r = b.api(
            "POST",
            "/me/import",
            "alice",
            data={"type": "following"},
            files={"file": ("following_accounts.csv", following, "text/csv")},
        )
        assert r.status_code == 200, r.text
        assert sorted(r.json()["queued"]) == sorted([f"carol@{a.domain}", f"cy@{c.domain}"])
        eventually(
            lambda: b.sql("SELECT count(*) FROM follows WHERE state = 'accepted'") == [(2,)],
            what="the imported follows, resolved and accepted",
        )
        followed = {
            row[0]
            for row in a.sql(
                "SELECT a.uri FROM follows f JOIN accounts a ON a.id = f.follower_id"
                " WHERE a.domain != ''"
            )
        }
        assert followed == {f"{b.url}/users/alice"}
        assert c.sql("SELECT count(*) FROM follows") == [(2,)]  # A's alice and B's alice
