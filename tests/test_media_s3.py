"""The S3-compatible media storage, against a real S3 server process on 127.0.0.1
(moto's, from the dev dependencies): uploads land in the bucket, are served by the
app with the same safe headers, and go when their post is deleted."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.infra import jobs, storage
from tests.conftest import Api, _wipe, app_for, make_settings
from tests.server_process import HOST, free_port
from tests.test_media import png, served, upload

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3_server():
    moto = Path(sys.executable).with_name("moto_server")
    if not moto.exists():
        # a pinned dev dependency that `make test` installs: missing means a broken venv
        pytest.fail("moto[server] is not installed (pip install -e '.[dev]')")
    port = free_port()
    proc = subprocess.Popen(
        [str(moto), "-H", HOST, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1, trust_env=False)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the S3 server did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def s3_settings(tmp_path, database_url, endpoint):
    return make_settings(
        tmp_path,
        database_url,
        media_storage="s3",
        s3_endpoint_url=endpoint,
        s3_bucket="media",
        s3_access_key="test",
        s3_secret_key="test",
    )


def test_the_s3_storage_puts_gets_and_deletes(s3_server: str, tmp_path, database_url) -> None:
    files = storage.storage_for(s3_settings(tmp_path, database_url, s3_server))
    assert isinstance(files, storage.S3Storage)
    files.client.create_bucket(Bucket="media")
    key, _ = storage.new_key("image/png")
    assert files.get(key) is None
    files.put(key, b"\x89PNG pixels")
    assert files.get(key) == b"\x89PNG pixels"
    files.delete(key)
    files.delete(key)  # twice is no error
    assert files.get(key) is None
    with pytest.raises(ValueError):
        files.put("../elsewhere.png", b"x")


def test_uploads_live_in_the_bucket_and_go_with_their_post(
    s3_server: str, tmp_path, database_url, engine
) -> None:
    settings = s3_settings(tmp_path, database_url, s3_server)
    files = storage.storage_for(settings)
    assert isinstance(files, storage.S3Storage)
    try:
        files.client.create_bucket(Bucket="media")
        with TestClient(app_for(settings, engine), base_url="http://127.0.0.1:8000") as client:
            alice = Api(client, "alice")
            body = upload(alice, png(), "in the bucket", ctype="image/png").json()
            key = body["url"].rsplit("/", 1)[-1]
            assert files.get(key) is not None
            assert not (tmp_path / "media").exists()  # nothing on the local disk
            r = served(client, body["url"])
            assert (
                r.headers["content-type"] == "image/png"
                and "sandbox" in r.headers["content-security-policy"]
            )
            post = alice.post("/api/cg/v1/posts", {"text": "s3", "media": [body["id"]]}).json()
            assert alice.delete(f"/api/cg/v1/posts/{post['id']}").status_code == 204
            while jobs.run_one(engine, settings, "test") is not None:
                pass
            assert files.get(key) is None
            assert served(client, body["url"]).status_code == 404
    finally:
        _wipe(engine)
