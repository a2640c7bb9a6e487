"""Media over ActivityPub: our Notes carry their images as ``attachment`` (type,
mediaType, url, name = alt text, blurhash, width, height); a remote post's images
are fetched through the SSRF-safe fetcher, processed like uploads and cached here,
or kept as links when too large; fetching is bounded per domain."""

from __future__ import annotations

import io
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import select

from app.infra import jobs
from app.models import Job
from tests.conftest import _wipe, app_for, make_settings
from tests.peers import Instance, eventually, serving
from tests.server_process import HOST, free_port
from tests.test_federation_content import PEER, receive, stored
from tests.test_media import GPS_IFD, jpeg_with_gps, png, upload

AS2 = {"Accept": "application/activity+json"}


class FilePeer(ThreadingHTTPServer):
    """A media server on 127.0.0.1 (a Mastodon instance's CDN) serving ``files``."""

    daemon_threads = True

    def __init__(self, files: dict[str, tuple[str, bytes]]) -> None:
        self.files = files
        self.hits: list[str] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's naming
                peer.hits.append(self.path)
                found = peer.files.get(self.path)
                if found is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                ctype, body = found
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__((HOST, free_port()), Handler)

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.server_address[1]}{path}"


def mastodon_note(n: int, attachments: list[dict]) -> dict:
    """A Note as Mastodon sends it, with its media as Documents."""
    return {
        "id": f"{PEER}/users/rita/statuses/{n}",
        "type": "Note",
        "attributedTo": f"{PEER}/users/rita",
        "content": f"<p>status {n}</p>",
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "published": "2026-12-01T10:00:00Z",
        "sensitive": False,
        "attachment": attachments,
    }


def document(url: str, name: str, media_type: str = "image/jpeg") -> dict:
    return {
        "type": "Document",
        "mediaType": media_type,
        "url": url,
        "name": name,
        "blurhash": "UBL_:rOpGG-;~qRjWBkC%MxuWBt7?bRjRjRj",
        "focalPoint": [0.0, 0.0],
        "width": 60,
        "height": 40,
    }


def run_jobs(engine, settings) -> None:
    while jobs.run_one(engine, settings, "test") is not None:
        pass


@pytest.fixture
def media_app(tmp_path, database_url, engine):
    """An app allowed to fetch from 127.0.0.1 (where the file peer is), with a small
    limit on remote files so the test can send one too large."""
    settings = make_settings(
        tmp_path,
        database_url,
        allow_private_addresses=True,
        remote_media_max_bytes=200_000,
        retry_base_seconds=3600,
    )
    with TestClient(app_for(settings, engine), base_url="http://127.0.0.1:8000") as client:
        yield client, settings
    _wipe(engine)


def test_a_mastodon_attachment_is_fetched_cleaned_cached_and_shown(media_app, engine) -> None:
    client, settings = media_app
    huge = Image.effect_noise((600, 600), 100).convert("RGB")
    big = io.BytesIO()
    huge.save(big, "PNG")
    assert len(big.getvalue()) > 200_000
    files = {
        "/files/kite.jpg": ("image/jpeg", jpeg_with_gps()),
        "/files/huge.png": ("image/png", big.getvalue()),
        "/files/page.jpg": ("image/jpeg", b"<html><script>alert(1)</script></html>"),
    }
    with serving(FilePeer(files)) as peer:
        kite, large, fake = (peer.url(p) for p in files)
        note = mastodon_note(
            1, [document(kite, "A kite"), document(large, "Noise"), document(fake, "Fake")]
        )
        with_ctx = client.app.state.engine  # the same engine as `engine`
        assert with_ctx is engine
        from contextlib import contextmanager

        from app.db import transaction
        from app.services import Ctx

        @contextmanager
        def new_ctx():
            with transaction(engine) as db:
                yield Ctx(db, settings)

        receive(new_ctx, note)
        post = stored(new_ctx, note["id"])
        assert client.get(f"/api/cg/v1/posts/{post.id}").json()["media"] == []  # not yet
        run_jobs(engine, settings)
        assert sorted(peer.hits) == sorted(files)
    api = client.get(f"/api/cg/v1/posts/{post.id}").json()
    assert [m["description"] for m in api["media"]] == ["A kite"]
    cached = api["media"][0]
    assert (cached["width"], cached["height"]) == (60, 40)
    assert cached["url"].startswith("http://127.0.0.1:8000/media/")
    assert sorted(a["url"] for a in api["attachments"]) == sorted([large, fake])  # links
    file = client.get(cached["url"].removeprefix("http://127.0.0.1:8000"))
    assert file.headers["content-type"] == "image/jpeg"
    assert not Image.open(io.BytesIO(file.content)).getexif().get_ifd(GPS_IFD)
    page = client.get(f"/posts/{post.id}").text
    preview = cached["preview_url"].removeprefix("http://127.0.0.1:8000")
    assert re.search(rf'<img[^>]*src="{re.escape(preview)}"[^>]*alt="A kite"', page)
    assert f'href="{large}"' in page and ">Noise<" in page

    # the author deletes it: the cached files go with it
    receive(new_ctx, {"id": note["id"], "type": "Tombstone"}, kind="Delete")
    run_jobs(engine, settings)
    assert client.get(cached["url"].removeprefix("http://127.0.0.1:8000")).status_code == 404


def test_remote_media_fetching_is_bounded_per_domain(tmp_path, database_url, engine) -> None:
    settings = make_settings(
        tmp_path,
        database_url,
        allow_private_addresses=True,
        remote_media_limit_per_domain=2,
        retry_base_seconds=3600,
    )
    from contextlib import contextmanager

    from app.db import transaction
    from app.services import Ctx

    @contextmanager
    def new_ctx():
        with transaction(engine) as db:
            yield Ctx(db, settings)

    try:
        files = {f"/files/{i}.png": ("image/png", png(color=(i, 0, 0))) for i in range(3)}
        with serving(FilePeer(files)) as peer:
            note = mastodon_note(2, [document(peer.url(p), p, "image/png") for p in files])
            receive(new_ctx, note)
            run_jobs(engine, settings)
            assert len(peer.hits) == 2  # the third waits for the domain's window
        with new_ctx() as ctx:
            waiting = ctx.db.exec(select(Job).where(Job.kind == "media.fetch_remote")).one()
            assert waiting.state == "queued" and waiting.last_error
            assert "faster than this instance allows" in waiting.last_error
    finally:
        _wipe(engine)


def test_our_notes_carry_their_images_as_attachments(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    body = upload(alice, png((30, 20)), "A green field", ctype="image/png").json()
    post = alice.post("/api/cg/v1/posts", {"text": "look", "media": [body["id"]]}).json()
    doc = client.get(f"/ap/posts/{post['id']}", headers=AS2).json()
    assert doc["attachment"] == [
        {
            "type": "Image",
            "mediaType": "image/png",
            "url": body["url"],
            "name": "A green field",
            "blurhash": body["blurhash"],
            "width": 30,
            "height": 20,
        }
    ]


@pytest.mark.slow
def test_an_attachment_federates_to_a_second_instance_with_its_alt_text() -> None:
    with Instance() as a, Instance() as b:
        b.register("bob")
        a.register("alice")
        r = a.api("POST", "/follows", "alice", json={"target": f"bob@{b.domain}"})
        assert r.status_code in (201, 202), r.text
        eventually(
            lambda: b.sql("SELECT count(*) FROM follows WHERE state = 'accepted'") == [(1,)],
            what="B to accept A's follow",
        )
        with b.http() as http:
            r = http.post(
                "/api/cg/v1/media",
                headers=b.auth("bob"),
                files={"file": ("field.png", png((48, 24)), "image/png")},
                data={"description": "A green field at dawn"},
            )
        assert r.status_code == 201, r.text
        r = b.api("POST", "/posts", "bob", json={"text": "morning", "media": [r.json()["id"]]})
        assert r.status_code == 201, r.text
        uri = r.json()["uri"]

        def cached_on_a() -> dict | None:
            items = a.api("GET", "/feed/home", "alice").json()["items"]
            post = next((i["post"] for i in items if i["post"]["uri"] == uri), None)
            return post if post and post["media"] else None

        copy = eventually(cached_on_a, what="the post and its image on A")
        assert copy["media"][0]["description"] == "A green field at dawn"
        assert copy["media"][0]["url"].startswith(f"{a.url}/media/")
        assert (copy["media"][0]["width"], copy["media"][0]["height"]) == (48, 24)
        with a.http() as http:
            page = http.get(f"/posts/{copy['id']}").text
            assert 'alt="A green field at dawn"' in page
            image = http.get(copy["media"][0]["url"].removeprefix(a.url))
            assert image.status_code == 200 and image.headers["content-type"] == "image/png"


def test_a_deleted_remote_account_takes_its_cached_files_with_it(media_app, engine) -> None:
    client, settings = media_app
    from contextlib import contextmanager

    from app.db import transaction
    from app.services import Ctx

    @contextmanager
    def new_ctx():
        with transaction(engine) as db:
            yield Ctx(db, settings)

    with serving(FilePeer({"/files/a.png": ("image/png", png())})) as peer:
        receive(new_ctx, mastodon_note(3, [document(peer.url("/files/a.png"), "A", "image/png")]))
        run_jobs(engine, settings)
    post = stored(new_ctx, f"{PEER}/users/rita/statuses/3")
    cached = client.get(f"/api/cg/v1/posts/{post.id}").json()["media"][0]
    path = cached["url"].removeprefix("http://127.0.0.1:8000")
    assert client.get(path).status_code == 200
    receive(new_ctx, {"id": f"{PEER}/users/rita", "type": "Person"}, kind="Delete")
    run_jobs(engine, settings)
    assert client.get(path).status_code == 404
