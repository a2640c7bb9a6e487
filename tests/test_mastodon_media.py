"""Media in the Mastodon client API (docs/mastodon-api.md, "Media"): the old
synchronous upload (v1, 200), the new one (v2: 200 when processed in the request,
as Mastodon does for images; 202 with ``url: null`` when left to the
``media.process`` job), polling (206 while processing), alt text and focus (PUT,
the owner's, until attached), a failure kept visible, and bad input refused with
nothing stored. On both databases."""

from __future__ import annotations

import io
import os

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import text

from app.infra import jobs
from tests.conftest import Api, _wipe, app_for, make_settings
from tests.test_media import png

ENTITY_FIELDS = (
    "id", "type", "url", "preview_url", "remote_url", "text_url", "meta", "description",
    "blurhash",
)  # fmt: skip


def noise_png(size: tuple[int, int]) -> bytes:
    """A PNG that does not compress: its bytes are about 3 per pixel."""
    out = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(out, "PNG")
    return out.getvalue()


def truncated_png() -> bytes:
    """A PNG whose header reads well but whose pixels are cut off: it passes the
    quick look at upload and fails when the job decodes it."""
    data = noise_png((200, 200))
    return data[: len(data) // 3]


def send(user: Api, data: bytes, version: str = "v2", **fields: str):
    files = {"file": ("photo.png", data, "image/png")}
    return user.client.post(f"/api/{version}/media", files=files, data=fields, headers=user.headers)


def run_jobs(engine, settings) -> None:
    while jobs.run_one(engine, settings, "test") is not None:
        pass


def stored(engine) -> tuple[int, int]:
    """How many media rows and raw uploads the database holds."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM media")).scalar_one()
        raw = conn.execute(text("SELECT count(*) FROM media_uploads")).scalar_one()
    return int(rows), int(raw)


def check_entity(body: dict) -> None:
    for key in ENTITY_FIELDS:
        assert key in body, key
    assert isinstance(body["id"], str) and body["id"].isdigit()
    assert body["type"] == "image"


@pytest.fixture
def deferred(tmp_path, database_url, engine):
    """An app that leaves every upload to the job (none is small enough to do at once)."""
    settings = make_settings(tmp_path, database_url, media_process_inline_bytes=0)
    with TestClient(app_for(settings, engine), base_url="http://127.0.0.1:8000") as client:
        yield client, settings
    _wipe(engine)


def test_v1_upload_is_processed_before_answering(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    r = send(alice, png((60, 40)), "v1", description="A green field", focus="0.5,-0.25")
    assert r.status_code == 200, r.text
    body = r.json()
    check_entity(body)
    assert body["url"].startswith("http://127.0.0.1:8000/media/")
    assert body["preview_url"].startswith("http://127.0.0.1:8000/media/")
    assert body["description"] == "A green field" and body["blurhash"]
    assert body["meta"]["original"]["width"] == 60 and body["meta"]["original"]["height"] == 40
    assert body["meta"]["original"]["aspect"] == 1.5
    assert body["meta"]["focus"] == {"x": 0.5, "y": -0.25}
    assert client.get(body["url"].removeprefix("http://127.0.0.1:8000")).status_code == 200
    again = alice.get(f"/api/v1/media/{body['id']}")
    assert again.status_code == 200 and again.json() == body


def test_v2_small_image_is_processed_in_the_request_as_mastodon_does(
    client: TestClient, api_user
) -> None:
    alice = api_user("alice")
    r = send(alice, png((30, 30)), description="tiny")
    assert r.status_code == 200, r.text
    assert r.json()["url"] and r.json()["description"] == "tiny"


def test_v2_upload_is_processed_by_the_job_then_posted(deferred, api_user, engine) -> None:
    client, settings = deferred
    alice = Api(client, "alice")
    r = send(alice, png((80, 40)), description="Two halves", focus="-1,1")
    assert r.status_code == 202, r.text
    body = r.json()
    check_entity(body)
    assert body["url"] is None and body["preview_url"] is None
    assert body["description"] == "Two halves" and body["meta"]["focus"] == {"x": -1.0, "y": 1.0}
    assert stored(engine) == (1, 1)  # the raw upload waits in the database
    media_id = body["id"]
    polled = alice.get(f"/api/v1/media/{media_id}")
    assert polled.status_code == 206 and polled.json()["url"] is None
    early = alice.post("/api/v1/statuses", json={"status": "too soon", "media_ids": [media_id]})
    assert early.status_code == 422 and "processed" in early.json()["error"]

    run_jobs(engine, settings)
    done = alice.get(f"/api/v1/media/{media_id}")
    assert done.status_code == 200, done.text
    assert done.json()["url"].startswith("http://127.0.0.1:8000/media/")
    assert done.json()["meta"]["original"]["width"] == 80 and done.json()["blurhash"]
    assert stored(engine) == (1, 0)  # the raw bytes go once processed

    r = client.post(
        "/api/v1/statuses",
        data={"status": "A field", "media_ids[]": media_id, "spoiler_text": "grass"},
        headers=alice.headers,
    )
    assert r.status_code == 200, r.text
    [attached] = r.json()["media_attachments"]
    assert attached["id"] == media_id and attached["url"] == done.json()["url"]
    assert attached["meta"]["focus"] == {"x": -1.0, "y": 1.0}
    assert r.json()["spoiler_text"] == "grass"


def test_a_failed_processing_is_kept_and_says_why(deferred, api_user, engine) -> None:
    client, settings = deferred
    alice = Api(client, "alice")
    r = send(alice, truncated_png())
    assert r.status_code == 202, r.text
    media_id = r.json()["id"]
    run_jobs(engine, settings)
    failed = alice.get(f"/api/v1/media/{media_id}")
    assert failed.status_code == 422
    assert "could not be processed" in failed.json()["error"]
    assert stored(engine) == (1, 1)  # nothing lost: the row and what was sent stay
    post = alice.post("/api/v1/statuses", json={"status": "x", "media_ids": [media_id]})
    assert post.status_code == 422 and "could not be processed" in post.json()["error"]
    with engine.connect() as conn:
        [(state,)] = conn.execute(text("SELECT state FROM jobs WHERE kind = 'media.process'"))
    assert state == "done"  # a bad file is not retried: it is the file, not the server


def test_a_crashing_job_is_retried_then_marked_failed(
    deferred, api_user, engine, monkeypatch
) -> None:
    from app.services import media

    client, settings = deferred
    alice = Api(client, "alice")
    media_id = send(alice, png((20, 20))).json()["id"]

    def broken(*args, **kw):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(media, "process_for", broken)
    with engine.begin() as conn:  # due again at once, each retry
        conn.execute(text("UPDATE jobs SET max_attempts = 2 WHERE kind = 'media.process'"))
    for _ in range(2):
        run_jobs(engine, settings)
        with engine.begin() as conn:
            conn.execute(text("UPDATE jobs SET run_at = '2000-01-01' WHERE state = 'queued'"))
    r = alice.get(f"/api/v1/media/{media_id}")
    assert r.status_code == 422 and "could not be processed" in r.json()["error"]
    assert stored(engine) == (1, 1)


def test_only_the_owner_reads_or_describes_until_attached(client: TestClient, api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    media_id = send(alice, png()).json()["id"]
    assert bob.get(f"/api/v1/media/{media_id}").status_code == 404
    theirs = bob.put(f"/api/v1/media/{media_id}", json={"description": "mine now"})
    assert theirs.status_code == 404 and theirs.json() == {"error": "Record not found"}
    assert client.get(f"/api/v1/media/{media_id}").status_code == 401
    r = alice.put(f"/api/v1/media/{media_id}", json={"description": "A green square"})
    assert r.status_code == 200, r.text
    assert r.json()["description"] == "A green square"
    r = client.put(f"/api/v1/media/{media_id}", data={"focus": "0.1,0.2"}, headers=alice.headers)
    assert r.json()["meta"]["focus"] == {"x": 0.1, "y": 0.2}
    assert r.json()["description"] == "A green square"  # what was not sent stays
    alice.post("/api/v1/statuses", json={"status": "square", "media_ids": [media_id]})
    late = alice.put(f"/api/v1/media/{media_id}", json={"description": "changed"})
    assert late.status_code == 422 and "already on a post" in late.json()["error"]
    assert alice.get(f"/api/v1/media/{media_id}").json()["description"] == "A green square"


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize(
    ("data", "fields", "status", "words"),
    [
        (b"<html><script>alert(1)</script></html>", {}, 422, "isn't an image"),
        (b"", {}, 422, "empty"),
        (b"GIF89a", {}, 422, "isn't an image"),
        (None, {}, 422, "file"),
        ("png", {"description": "x" * 1501}, 422, "1,500"),
        ("png", {"focus": "2,0"}, 422, "focus"),
        ("png", {"focus": "left"}, 422, "focus"),
        ("big", {}, 413, "at most"),
    ],
)
def test_bad_uploads_are_refused_and_nothing_is_stored(
    tmp_path, database_url, engine, version, data, fields, status, words
) -> None:
    settings = make_settings(
        tmp_path, database_url, media_max_bytes=50_000, media_process_inline_bytes=0
    )
    with TestClient(app_for(settings, engine), base_url="http://127.0.0.1:8000") as client:
        try:
            alice = Api(client, "alice")
            body = {"png": png(), "big": noise_png((150, 150))}.get(data, data)  # type: ignore[arg-type]
            if body is None:
                r = client.post(f"/api/{version}/media", data=fields, headers=alice.headers)
            else:
                r = send(alice, body, version, **fields)
            assert r.status_code == status, r.text
            assert set(r.json()) == {"error"} and words in r.json()["error"], r.json()
            assert stored(engine) == (0, 0)
            assert jobs.run_one(engine, settings, "test") is None  # nothing was queued
        finally:
            _wipe(engine)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_over_quota_is_refused_and_nothing_is_stored(
    tmp_path, database_url, engine, version
) -> None:
    settings = make_settings(
        tmp_path, database_url, media_quota_bytes=3000, media_process_inline_bytes=0
    )
    with TestClient(app_for(settings, engine), base_url="http://127.0.0.1:8000") as client:
        try:
            alice = Api(client, "alice")
            r = send(alice, noise_png((40, 40)), version)
            assert r.status_code == 413, r.text
            assert "quota" in r.json()["error"]
            assert stored(engine) == (0, 0)
        finally:
            _wipe(engine)


def test_media_needs_a_write_token(client: TestClient, api_user) -> None:
    r = client.post("/api/v2/media", files={"file": ("a.png", png(), "image/png")})
    assert r.status_code == 401 and r.json() == {"error": "The access token is invalid"}


def test_an_account_export_skips_uploads_not_yet_processed(deferred, api_user, engine) -> None:
    """An archive holds the files there are: an upload still waiting has none yet."""
    from sqlmodel import Session, select

    from app.models import Account
    from app.services import Ctx, account_export

    client, settings = deferred
    alice = Api(client, "alice")
    done = send(alice, png((10, 10)), "v1").json()
    assert send(alice, png()).status_code == 202
    with Session(engine) as db:
        account = db.exec(select(Account).where(Account.username == "alice")).one()
        files = account_export.files_of(Ctx(db, settings), account)
    media = [name for name in files if name.startswith("media/")]
    assert len(media) == 1 and done["url"].endswith(media[0].removeprefix("media/"))
