"""Media attachments: uploads are images checked by their content, stripped of
EXIF (GPS included), oriented, resized, previewed and blurhashed; bombs, oversized
files and other types are refused in plain words; files are served inert; posts
carry up to four, with their alt text; quotas and the rate limit count uploads;
deleting a post deletes its files. On both databases."""

from __future__ import annotations

import io
import re
import struct
import zlib

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.infra import jobs
from tests.conftest import app_for, make_settings

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def jpeg_with_gps(size: tuple[int, int] = (60, 40), orientation: int | None = None) -> bytes:
    """A JPEG whose EXIF says where it was taken (and, optionally, how to turn it)."""
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((20, 20, 200), (0, 0, size[0] // 2, size[1]))  # left half blue
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = (52.0, 31.0, 12.0)
    gps[3] = "E"
    gps[4] = (13.0, 24.0, 36.0)
    if orientation is not None:
        exif[ORIENTATION] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def png(size: tuple[int, int] = (32, 32), color: tuple[int, ...] = (0, 128, 0)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG file whose header claims ``width`` x ``height`` pixels: a
    decompression bomb as far as any reader that trusts the header can tell."""
    data = bytearray(png((8, 8)))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def upload(user, data: bytes, description: str = "", name: str = "photo.jpg", ctype: str = ""):
    files = {"file": (name, data, ctype or "image/jpeg")}
    return user.client.post(
        "/api/cg/v1/media", files=files, data={"description": description}, headers=user.headers
    )


def served(client: TestClient, url: str):
    assert url.startswith("http://127.0.0.1:8000/media/"), url
    return client.get(url.removeprefix("http://127.0.0.1:8000"))


def test_an_upload_is_stripped_of_exif_and_gps_and_oriented(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    original = jpeg_with_gps((60, 40), orientation=6)  # "turn 90° clockwise to show"
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)  # the fixture has GPS
    r = upload(alice, original, "A red and blue flag")
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) >= {"id", "url", "preview_url", "blurhash", "width", "height", "description"}
    assert body["description"] == "A red and blue flag"
    assert (body["width"], body["height"]) == (40, 60)  # turned upright
    assert re.fullmatch(r"[0-9A-Za-z#$%*+,\-.:;=?@\[\]^_{|}~]{6,100}", body["blurhash"])
    for url in (body["url"], body["preview_url"]):
        r = served(client, url)
        assert r.status_code == 200
        assert r.headers["content-type"] == "image/jpeg"
        stored = Image.open(io.BytesIO(r.content))
        assert stored.format == "JPEG"
        exif = stored.getexif()
        assert not exif.get_ifd(GPS_IFD) and GPS_IFD not in exif
        assert ORIENTATION not in exif and 0x010F not in exif
        assert b"PhoneMaker" not in r.content
    upright = Image.open(io.BytesIO(served(client, body["url"]).content)).convert("RGB")
    top, bottom = upright.getpixel((20, 5)), upright.getpixel((20, 55))
    assert top[2] > 150 and bottom[0] > 150  # the blue half went to the top


def test_a_large_image_is_resized_and_previewed(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    body = upload(alice, png((3000, 1500)), name="wide.png", ctype="image/png").json()
    assert max(body["width"], body["height"]) == 2048 and body["width"] == 2 * body["height"]
    preview = Image.open(io.BytesIO(served(client, body["preview_url"]).content))
    assert max(preview.size) == 400


def test_a_decompression_bomb_is_refused_in_plain_words(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    bomb = png_claiming(60_000, 60_000)  # 3.6 gigapixels in a few hundred bytes
    assert len(bomb) < 1000
    r = upload(alice, bomb, name="bomb.png", ctype="image/png")
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "image_too_large"
    assert "pixels" in r.json()["detail"]


def test_an_oversized_file_is_refused(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    r = upload(alice, b"\xff\xd8\xff" + b"x" * (8 * 1024 * 1024 + 10))
    assert r.status_code == 413 and "larger" in r.json()["detail"]


@pytest.mark.parametrize(
    ("name", "data", "ctype"),
    [
        ("x.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', ""),
        ("x.jpg", b"<!doctype html><html><script>alert(document.cookie)</script></html>", ""),
        ("x.png", b"GIF89a<html><script>alert(1)</script></html>", "image/png"),
        ("x.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "application/pdf"),
    ],
)
def test_what_is_not_an_image_is_refused_whatever_its_name(
    client: TestClient, api_user, name: str, data: bytes, ctype: str
) -> None:
    alice = api_user("alice")
    r = upload(alice, data, name=name, ctype=ctype or "image/jpeg")
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "not_an_image" and "JPEG" in r.json()["detail"]


def test_a_polyglot_is_served_as_an_inert_image(client: TestClient, api_user) -> None:
    """A real PNG with an HTML page after its end: the bytes served are a
    re-encoded image, with a fixed type, nosniff and a sandbox."""
    alice = api_user("alice")
    payload = b"<html><body><script>alert(document.cookie)</script></body></html>"
    r = upload(alice, png() + payload, name="page.html", ctype="text/html")
    assert r.status_code == 201, r.text
    file = served(client, r.json()["url"])
    assert file.status_code == 200
    assert b"<script" not in file.content and file.content.startswith(b"\x89PNG")
    assert file.headers["content-type"] == "image/png"
    assert file.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in file.headers["content-security-policy"]
    assert file.headers["content-disposition"].startswith("inline")


def test_media_names_are_checked_before_anything_is_read(client: TestClient) -> None:
    for path in ("/media/../secret_key", "/media/%2e%2e%2fsecret_key", "/media/abc.html"):
        assert client.get(path).status_code == 404, path
    r = client.get("/media/" + "0" * 32 + ".png")
    assert r.status_code == 404 and "nosniff" in r.headers["x-content-type-options"]


def test_a_post_carries_its_media_and_shows_the_alt_text(client: TestClient, api_user) -> None:
    alice, bob = api_user("alice"), api_user("bob")
    ids = [upload(alice, png(), f"picture {i}", ctype="image/png").json()["id"] for i in range(5)]
    r = alice.post("/api/cg/v1/posts", {"text": "five?", "media": ids})
    assert r.status_code == 422 and r.json()["error"] == "too_many_media"
    r = bob.post("/api/cg/v1/posts", {"text": "not mine", "media": ids[:1]})
    assert r.status_code == 422 and r.json()["error"] == "media_not_found"
    r = alice.post("/api/cg/v1/posts", {"text": "a garden", "media": ids[:2]})
    assert r.status_code == 201, r.text
    post = r.json()
    assert [m["description"] for m in post["media"]] == ["picture 0", "picture 1"]
    r = alice.post("/api/cg/v1/posts", {"text": "again", "media": ids[:1]})
    assert r.status_code == 422 and r.json()["error"] == "media_in_use"
    page = client.get(f"/posts/{post['id']}").text
    for m in post["media"]:
        preview = m["preview_url"].removeprefix("http://127.0.0.1:8000")
        assert re.search(rf'<img[^>]*src="{re.escape(preview)}"[^>]*alt="{m["description"]}"', page)
    only_media = alice.post("/api/cg/v1/posts", {"text": "", "media": ids[2:3]})
    assert only_media.status_code == 201, only_media.text


def test_deleting_a_post_deletes_its_files(client: TestClient, api_user, engine, settings) -> None:
    alice = api_user("alice")
    body = upload(alice, png(), "to go", ctype="image/png").json()
    post = alice.post("/api/cg/v1/posts", {"text": "brief", "media": [body["id"]]}).json()
    assert served(client, body["url"]).status_code == 200
    assert alice.delete(f"/api/cg/v1/posts/{post['id']}").status_code == 204
    while jobs.run_one(engine, settings, "test") is not None:
        pass
    assert served(client, body["url"]).status_code == 404
    assert served(client, body["preview_url"]).status_code == 404
    assert not any((settings.data_dir / "media").rglob("*.png"))


def test_a_member_over_quota_is_told_so(tmp_path, database_url, engine) -> None:
    settings = make_settings(tmp_path, database_url, media_quota_bytes=3000)
    try:
        with TestClient(app_for(settings, engine), base_url="http://127.0.0.1:8000") as client:
            from tests.conftest import Api

            alice = Api(client, "alice")
            first = upload(alice, png((16, 16)), ctype="image/png")
            assert first.status_code == 201, first.text
            big = Image.effect_noise((64, 64), 80).convert("RGB")
            noisy = io.BytesIO()
            big.save(noisy, "PNG")
            r = upload(alice, noisy.getvalue(), ctype="image/png")
            assert r.status_code == 413, r.text
            assert r.json()["error"] == "media_quota_exceeded"
            assert "quota" in r.json()["detail"] and "3 KB" in r.json()["detail"]
    finally:
        from tests.conftest import _wipe

        _wipe(engine)


def test_uploads_are_rate_limited(tmp_path, database_url, engine) -> None:
    settings = make_settings(tmp_path, database_url, media_limit_per_account=2)
    try:
        with TestClient(app_for(settings, engine), base_url="http://127.0.0.1:8000") as client:
            from tests.conftest import Api

            alice = Api(client, "alice")
            for _ in range(2):
                assert upload(alice, png(), ctype="image/png").status_code == 201
            r = upload(alice, png(), ctype="image/png")
            assert r.status_code == 429 and "uploading" in r.json()["detail"]
            assert r.headers["retry-after"].isdigit()
    finally:
        from tests.conftest import _wipe

        _wipe(engine)


def test_the_compose_page_uploads_with_alt_text(client: TestClient, api_user) -> None:
    api_user("alice")
    from tests.test_federation_content import log_in

    log_in(client, "alice")
    page = client.get("/compose").text
    assert 'enctype="multipart/form-data"' in page and 'name="alt1"' in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post(
        "/compose",
        data={"csrf_token": token, "text": "from the page", "alt2": "a green square"},
        files={"media2": ("square.png", png(), "image/png")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    thread = client.get(r.headers["location"]).text
    assert 'alt="a green square"' in thread


def test_avatar_and_header_are_uploads_with_alt_text(
    client: TestClient, api_user, engine, settings
) -> None:
    """They replace the bare avatar URL: uploaded (page or API), shown with their
    alt text, federated as icon and image, the previous files deleted."""
    alice = api_user("alice")
    r = alice.client.post(
        "/api/cg/v1/me/avatar",
        files={"file": ("me.jpg", jpeg_with_gps(), "image/jpeg")},
        data={"description": "Alice in a red coat"},
        headers=alice.headers,
    )
    assert r.status_code == 201, r.text
    first = r.json()
    assert alice.get("/api/cg/v1/me").json()["avatar_url"] == first["preview_url"]
    from tests.test_federation_content import log_in

    log_in(client, "alice")
    settings_page = client.get("/settings").text
    assert 'name="avatar_url"' not in settings_page and 'name="avatar_alt"' in settings_page
    token = re.search(r'name="csrf_token" value="([^"]+)"', settings_page).group(1)
    r = client.post(
        "/settings/images",
        data={"csrf_token": token, "avatar_alt": "Alice smiling", "header_alt": "A river"},
        files={
            "avatar": ("a.png", png(), "image/png"),
            "header": ("h.png", png((900, 300)), "image/png"),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    profile = client.get("/@alice").text
    assert re.search(
        r'<img class="avatar big" src="/media/[0-9a-f]{32}-preview\.png" alt="Alice smiling"',
        profile,
    )
    assert re.search(r'<img class="header" src="/media/[0-9a-f]{32}\.png" alt="A river"', profile)
    actor = client.get("/users/alice", headers={"Accept": "application/activity+json"}).json()
    assert actor["icon"]["mediaType"] == "image/png" and actor["icon"]["name"] == "Alice smiling"
    assert actor["image"]["url"].startswith("http://127.0.0.1:8000/media/")
    while jobs.run_one(engine, settings, "test") is not None:
        pass
    assert served(client, first["url"]).status_code == 404  # the replaced avatar is gone


def test_uploads_never_put_on_a_post_are_pruned_after_a_day(
    client: TestClient, api_user, engine, settings, new_ctx
) -> None:
    from datetime import timedelta

    from app.models import MediaFile, utcnow
    from app.services import maintenance

    alice = api_user("alice")
    old = upload(alice, png(), "forgotten", ctype="image/png").json()
    kept = upload(alice, png(), "on a post", ctype="image/png").json()
    fresh = upload(alice, png(), "just now", ctype="image/png").json()
    alice.post("/api/cg/v1/posts", {"text": "keep", "media": [kept["id"]]})
    with new_ctx() as ctx:
        for media_id in (old["id"], kept["id"]):
            row = ctx.db.get(MediaFile, media_id)
            row.created_at = utcnow() - timedelta(days=2)
            ctx.db.add(row)
    with new_ctx() as ctx:
        maintenance.prune(ctx, {})
    while jobs.run_one(engine, settings, "test") is not None:
        pass
    assert served(client, old["url"]).status_code == 404
    assert served(client, kept["url"]).status_code == 200
    assert served(client, fresh["url"]).status_code == 200
