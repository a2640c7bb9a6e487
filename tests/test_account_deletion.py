"""Deleting one's account: asked for with the password, nothing touched during the
grace period, cancellable; then posts tombstoned, files, follows, memberships,
tokens and sessions gone, the profile emptied, while artifact revisions and
statements stay under "a former member". The name is never given out again and
the actor answers 410 Gone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from app.models import (
    Account,
    ApiToken,
    Follow,
    Job,
    MediaFile,
    Membership,
    Post,
    WebSession,
    utcnow,
)
from app.services import accounts, artifacts, communities, follows, media, posts, stances
from tests.conftest import PASSWORD
from tests.test_account_export import _png, _run_jobs, _token
from tests.test_pages import submit


@pytest.fixture
def world(client: TestClient, new_ctx) -> dict:
    with new_ctx() as ctx:
        ada = accounts.register(ctx, "ada", PASSWORD, display_name="Ada L.")
        bob = accounts.register(ctx, "bob", PASSWORD)
        garden = communities.create(ctx, bob, "garden")
        communities.join(ctx, ada, garden)
        image = media.upload(ctx, ada, _png(), "a red square")
        post = posts.create(ctx, ada, "my words", media_ids=[image.id])
        art = artifacts.create(ctx, bob, garden, "idea", "Benches", "Put benches.")
        revised = artifacts.revise(
            ctx, ada, art.id, art.current_revision_id, "Benches by the pond."
        )
        statement = stances.add_statement(ctx, ada, art.id, "Benches help.")
        follows.follow(ctx, ada, bob)
        follows.follow(ctx, bob, ada)
        ids = {"ada": ada.id, "post": post.id, "artifact": art.id, "statement": statement.id}
        ids["revision"] = revised.revision.id
    return {**ids, "token": _token(client, "ada")}


def _count(ctx, model, **where) -> int:
    q = select(func.count()).select_from(model)
    for name, value in where.items():
        q = q.where(getattr(model, name) == value)
    return ctx.db.exec(q).one()


def test_a_wrong_password_deletes_nothing(client, world, new_ctx) -> None:
    r = client.request(
        "DELETE", "/api/cg/v1/me", json={"password": "wrong-password"}, headers=world["token"]
    )
    assert r.status_code == 422 and r.json()["error"] == "bad_password"
    with new_ctx() as ctx:
        assert ctx.db.get(Account, world["ada"]).deletion_due_at is None


def test_nothing_is_destroyed_during_the_grace_and_it_can_be_cancelled(
    client, world, new_ctx, engine, settings
) -> None:
    r = client.request(
        "DELETE", "/api/cg/v1/me", json={"password": PASSWORD}, headers=world["token"]
    )
    assert r.status_code == 202, r.text
    assert r.json()["deletion_due_at"] is not None
    _run_jobs(engine, settings)  # not due yet (72 hours by default)
    with new_ctx() as ctx:
        ada = ctx.db.get(Account, world["ada"])
        assert ada.deletion_due_at is not None and not ada.is_deleted
        assert not ctx.db.get(Post, world["post"]).is_deleted
    submit(client, "/login", "/login", {"username": "ada", "password": PASSWORD})
    page = client.get("/settings/data").text
    assert "will be deleted" in page and "Cancel deletion" in page
    r = submit(client, "/settings/data", "/settings/data/deletion/cancel", {})
    assert r.status_code == 303
    with new_ctx() as ctx:
        ada = ctx.db.get(Account, world["ada"])
        assert ada.deletion_due_at is None
        ada_job = ctx.db.exec(select(Job).where(Job.kind == "accounts.delete")).one()
        ada_job.run_at = utcnow() - timedelta(seconds=1)  # its time comes: it does nothing
    _run_jobs(engine, settings)
    with new_ctx() as ctx:
        assert not ctx.db.get(Account, world["ada"]).is_deleted
    r = client.post("/api/cg/v1/me/deletion/cancel", headers=world["token"])
    assert r.status_code == 409 and r.json()["error"] == "no_deletion_planned"


def test_after_the_grace_the_account_is_deleted(client, world, new_ctx, engine, settings) -> None:
    settings.deletion_grace_hours = 0
    assert client.post("/api/cg/v1/me/export", headers=world["token"]).status_code == 202
    _run_jobs(engine, settings)
    [archive] = list((settings.data_dir / "exports").glob("*.zip"))
    r = client.request(
        "DELETE", "/api/cg/v1/me", json={"password": PASSWORD}, headers=world["token"]
    )
    assert r.status_code == 202
    _run_jobs(engine, settings)
    with new_ctx() as ctx:
        ada = ctx.db.get(Account, world["ada"])
        assert ada.is_deleted and not ada.is_active
        assert (ada.display_name, ada.bio, ada.password_hash) == ("", "", None)
        assert ada.name == "a former member"
        post = ctx.db.get(Post, world["post"])
        assert post.is_deleted and post.text == ""
        for model, column in (
            (MediaFile, "account_id"),
            (Membership, "account_id"),
            (ApiToken, "account_id"),
            (WebSession, "account_id"),
            (Follow, "follower_id"),
            (Follow, "target_account_id"),
        ):
            assert _count(ctx, model, **{column: ada.id}) == 0, model
    assert not archive.exists()  # the archive went too
    # the files are gone from the storage too
    with new_ctx() as ctx:
        assert ctx.db.exec(select(func.count()).select_from(MediaFile)).one() == 0
    assert [p for p in (settings.data_dir / "media").rglob("*") if p.is_file()] == []
    # the shared artifact keeps its history, under no name
    history = client.get(f"/artifacts/{world['artifact']}/history").text
    assert "a former member" in history and "@ada" not in history
    page = client.get(f"/artifacts/{world['artifact']}").text
    assert "Benches help." in page and "a former member" in page
    revs = client.get(f"/api/cg/v1/artifacts/{world['artifact']}/revisions").json()
    handles = {r["author"]["handle"] for r in revs}
    assert "a former member" in handles
    # the token no longer works; the actor is a Tombstone; the name stays taken
    assert client.get("/api/cg/v1/me", headers=world["token"]).status_code == 401
    r = client.get("/users/ada", headers={"Accept": "application/activity+json"})
    assert r.status_code == 410 and r.json()["type"] == "Tombstone"
    r = client.post("/api/cg/v1/accounts", json={"username": "Ada", "password": PASSWORD})
    assert r.status_code == 409 and r.json()["error"] == "username_taken"
    r = submit(client, "/login", "/login", {"username": "ada", "password": PASSWORD})
    assert r.status_code != 303
