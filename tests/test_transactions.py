"""Reading and writing transactions: reads never take (or wait for) SQLite's write
lock and cannot write; slow work (argon2, sandboxed module runs) never runs while
a transaction holds the write lock."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import exc, text

from app.db import _writer_lock, make_engine, open_session, transaction
from app.main import create_app
from app.migrate import upgrade
from app.services import accounts
from app.services.ranking import registry
from tests.conftest import PASSWORD, make_settings
from tests.test_algorithm_api import AGREED


def test_a_reading_transaction_cannot_write(engine) -> None:
    insert = text(
        "INSERT INTO peer_domains (domain, consecutive_failures, blocked, note) "
        "VALUES ('x.example', 0, false, '')"
    )
    with pytest.raises(exc.DBAPIError), transaction(engine, write=False) as db:
        db.execute(insert)
    session = open_session(engine, "read")
    try:
        with pytest.raises(exc.DBAPIError):
            session.execute(insert)
    finally:
        session.rollback()
        session.close()
    with transaction(engine) as db:  # a writing one can, on the same pool
        db.execute(insert)
        assert db.execute(text("SELECT count(*) FROM peer_domains")).scalar() == 1
        db.execute(text("DELETE FROM peer_domains"))


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    path = tmp_path / "cg.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    app = create_app(make_settings(tmp_path, url), engine)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield client, path
    engine.dispose()


def test_pages_and_api_reads_are_served_while_another_process_holds_the_write_lock(
    sqlite_app: tuple[TestClient, Path],
) -> None:
    client, path = sqlite_app
    r = client.post("/api/cg/v1/accounts", json={"username": "ada", "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = client.post(
        "/api/cg/v1/tokens", json={"username": "ada", "password": PASSWORD, "scope": "write"}
    )
    token = r.json()["token"]
    post = client.post(
        "/api/cg/v1/posts",
        json={"text": "hello #river"},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    holder = sqlite3.connect(path, isolation_level=None)  # e.g. the job worker
    holder.execute("BEGIN IMMEDIATE")
    try:
        for url in ("/", "/tags/river", f"/posts/{post['id']}", "/api/cg/v1/communities"):
            assert client.get(url).status_code == 200, url
        r = client.get("/api/cg/v1/feed/home", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["items"][0]["post"]["id"] == post["id"]
    finally:
        holder.rollback()
        holder.close()


def test_password_hashing_and_module_dry_runs_hold_no_write_lock(
    sqlite_app: tuple[TestClient, Path], monkeypatch: pytest.MonkeyPatch, sandbox_required: None
) -> None:
    client, path = sqlite_app
    lock = _writer_lock(str(path))
    seen: list[tuple[str, bool]] = []

    def spy(module: object, name: str) -> None:
        real = getattr(module, name)

        def wrapper(*args: object, **kwargs: object) -> object:
            seen.append((name, lock.locked()))
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    for name in ("hash_password", "verify_password"):
        spy(accounts, name)
    spy(registry, "dry_run")

    # sign-up, a token (login), a wrong and a right password change, a module
    r = client.post("/api/cg/v1/accounts", json={"username": "ada", "password": PASSWORD})
    assert r.status_code == 201
    r = client.post(
        "/api/cg/v1/tokens", json={"username": "ada", "password": PASSWORD, "scope": "write"}
    )
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    r = client.post(
        "/api/cg/v1/me/password",
        json={"current_password": "wrong password", "new_password": "another good one"},
        headers=headers,
    )
    assert r.status_code == 422, r.text
    r = client.post(
        "/api/cg/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "another good one"},
        headers=headers,
    )
    assert r.status_code == 204, r.text
    r = client.post("/api/cg/v1/algorithms", json={"source": AGREED}, headers=headers)
    assert r.status_code == 201, r.text

    names = [n for n, _ in seen]
    assert {"hash_password", "verify_password", "dry_run"} <= set(names), names
    assert [n for n, held in seen if held] == [], seen
