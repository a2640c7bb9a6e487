"""A member's archive: asked for through the API or the page, built by a job, holding
their Person, their posts (with edit history) as an outbox, their artifact revisions,
stances, likes, images, and Mastodon CSVs of whom they follow, block and mute. Only its
owner downloads it, and only until it expires."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta

from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import select

from app.infra import jobs
from app.models import AccountExport, utcnow
from app.services import (
    account_import,
    accounts,
    artifacts,
    blocks,
    communities,
    follows,
    media,
    mutes,
    posts,
    reactions,
    stances,
)
from tests.conftest import PASSWORD
from tests.test_pages import submit


def _token(client: TestClient, name: str) -> dict:
    r = client.post(
        "/api/cg/v1/tokens", json={"username": name, "password": PASSWORD, "scope": "write"}
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 40, 40)).save(out, "PNG")
    return out.getvalue()


def _run_jobs(engine, settings) -> None:
    while jobs.run_one(engine, settings, "test") is not None:
        pass


def _world(new_ctx) -> dict:
    """ada posts (and edits), revises an artifact, takes a stance, likes, follows,
    blocks and mutes; bob and cy are other members."""
    with new_ctx() as ctx:
        ada = accounts.register(ctx, "ada", PASSWORD)
        bob = accounts.register(ctx, "bob", PASSWORD)
        cy = accounts.register(ctx, "cy", PASSWORD)
        dee = accounts.register(ctx, "dee", PASSWORD)
        garden = communities.create(ctx, bob, "garden")
        communities.join(ctx, ada, garden)
        image = media.upload(ctx, ada, _png(), "a red square")
        first = posts.create(ctx, ada, "first words", media_ids=[image.id])
        posts.edit(ctx, ada, first.id, "better words")
        liked = posts.create(ctx, bob, "bob's post")
        reactions.react(ctx, ada, liked.id, "like")
        art = artifacts.create(ctx, bob, garden, "idea", "Benches", "Put benches.")
        artifacts.revise(ctx, ada, art.id, art.current_revision_id, "Put benches by the pond.")
        statement = stances.add_statement(ctx, bob, art.id, "Benches help.")
        stances.take(ctx, ada, "agree", statement_id=statement.id)
        follows.follow(ctx, ada, bob)
        blocks.block(ctx, ada, cy)
        mutes.mute(ctx, ada, mutes.Target("account", dee.uri))
        return {"post": first.uri, "liked": liked.uri, "artifact": art.uri}


def _archive(client: TestClient, engine, settings, headers: dict) -> zipfile.ZipFile:
    r = client.post("/api/cg/v1/me/export", headers=headers)
    assert r.status_code == 202, r.text
    assert r.json()["state"] == "queued" and r.json()["download_url"] is None
    _run_jobs(engine, settings)
    listed = client.get("/api/cg/v1/me/exports", headers=headers).json()
    assert [e["state"] for e in listed] == ["ready"]
    r = client.get(listed[0]["download_url"].removeprefix("http://127.0.0.1:8000"), headers=headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(r.content))


def test_the_archive_holds_the_members_data(client, new_ctx, engine, settings) -> None:
    made = _world(new_ctx)
    zf = _archive(client, engine, settings, _token(client, "ada"))
    names = set(zf.namelist())
    assert {
        "actor.json",
        "outbox.json",
        "artifacts.json",
        "stances.json",
        "likes.json",
        "following_accounts.csv",
        "blocked_accounts.csv",
        "muted_accounts.csv",
    } <= names
    actor = json.loads(zf.read("actor.json"))
    assert actor["type"] == "Person" and actor["preferredUsername"] == "ada"
    outbox = json.loads(zf.read("outbox.json"))
    assert outbox["type"] == "OrderedCollection" and outbox["totalItems"] == 1
    create = outbox["orderedItems"][0]
    assert create["type"] == "Create" and create["object"]["id"] == made["post"]
    assert "better words" in create["object"]["content"]
    assert [h["content"] for h in create["object"]["cg:history"]] == ["first words"]
    [image] = [n for n in names if n.startswith("media/")]
    assert Image.open(io.BytesIO(zf.read(image))).size == (8, 8)
    [art] = json.loads(zf.read("artifacts.json"))
    assert art["id"] == made["artifact"]
    assert [r["body"] for r in art["yourRevisions"]] == ["Put benches by the pond."]
    [stance] = json.loads(zf.read("stances.json"))
    assert stance["stance"] == "agree" and stance["statementText"] == "Benches help."
    assert json.loads(zf.read("likes.json"))["orderedItems"] == [made["liked"]]
    domain = settings.domain
    following = list(csv.reader(io.StringIO(zf.read("following_accounts.csv").decode())))
    assert following == [
        ["Account address", "Show boosts", "Notify on new posts", "Languages"],
        [f"bob@{domain}", "true", "false", ""],
    ]
    assert zf.read("blocked_accounts.csv").decode() == f"cy@{domain}\n"
    muted = list(csv.reader(io.StringIO(zf.read("muted_accounts.csv").decode())))
    assert muted == [["Account address", "Hide notifications"], [f"dee@{domain}", "true"]]


def test_the_csvs_can_be_imported_again(client, new_ctx, engine, settings) -> None:
    _world(new_ctx)
    zf = _archive(client, engine, settings, _token(client, "ada"))
    with new_ctx() as ctx:
        eve = accounts.register(ctx, "eve", PASSWORD)
        for kind, name in (
            ("following", "following_accounts.csv"),
            ("blocks", "blocked_accounts.csv"),
            ("mutes", "muted_accounts.csv"),
        ):
            outcome = account_import.run(ctx, eve, kind, zf.read(name))
            assert len(outcome.applied) == 1 and outcome.errors == [], (kind, outcome)
        bob, cy, dee = (accounts.get_local(ctx, n) for n in ("bob", "cy", "dee"))
        assert follows.is_following(ctx, eve, bob)
        assert blocks.has_blocked(ctx, eve.id, cy.uri)
        assert mutes.is_muted(ctx, eve, mutes.Target("account", dee.uri))


def test_only_the_owner_downloads_and_not_after_it_expires(
    client, new_ctx, engine, settings
) -> None:
    _world(new_ctx)
    ada = _token(client, "ada")
    _archive(client, engine, settings, ada)
    export_id = client.get("/api/cg/v1/me/exports", headers=ada).json()[0]["id"]
    url = f"/api/cg/v1/me/exports/{export_id}/download"
    bob = _token(client, "bob")
    assert client.get(url, headers=bob).status_code == 404
    assert client.get(url).status_code == 401
    page = client.get(f"/settings/data/exports/{export_id}/download", follow_redirects=False)
    assert page.status_code in (401, 303) and "zip" not in page.headers.get("content-type", "")
    with new_ctx() as ctx:
        row = ctx.db.exec(select(AccountExport)).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
    r = client.get(url, headers=ada)
    assert r.status_code == 410 and r.json()["error"] == "export_expired"
    with new_ctx() as ctx:
        jobs.enqueue(ctx, "accounts.expire_export", {"export_id": export_id})
    _run_jobs(engine, settings)
    with new_ctx() as ctx:
        row = ctx.db.exec(select(AccountExport)).one()
        assert row.state == "expired"
        assert not (settings.data_dir / "exports" / row.file_name).exists()


def test_one_export_at_a_time(client, new_ctx) -> None:
    _world(new_ctx)
    ada = _token(client, "ada")
    assert client.post("/api/cg/v1/me/export", headers=ada).status_code == 202
    r = client.post("/api/cg/v1/me/export", headers=ada)
    assert r.status_code == 409 and r.json()["error"] == "export_in_progress"


def test_the_page_asks_for_an_export_and_lists_it(client, new_ctx, engine, settings) -> None:
    _world(new_ctx)
    r = submit(client, "/login", "/login", {"username": "ada", "password": PASSWORD})
    assert r.status_code == 303
    assert "Your data" in client.get("/settings").text
    r = submit(client, "/settings/data", "/settings/data/export", {})
    assert r.status_code == 303
    _run_jobs(engine, settings)
    page = client.get("/settings/data").text
    assert "ready" in page and "/download" in page
    with new_ctx() as ctx:
        export_id = ctx.db.exec(select(AccountExport)).one().id
    r = client.get(f"/settings/data/exports/{export_id}/download")
    assert r.status_code == 200 and zipfile.ZipFile(io.BytesIO(r.content)).namelist()
