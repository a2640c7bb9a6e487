"""Images on artifacts (issue 12): an artifact carries up to four images with alt
text, put on it when it is made or by a revision; each revision records its
images, so the history says which were added or removed and by whom, and a file
detached by a revision stays while an older revision shows it (a revert brings it
back). Pages upload with an alt text per image and show them with ``alt``; the
Page sent to peers carries them as ``attachment``, as a Note does. On both
databases."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from app.infra import jobs
from app.models import MediaFile, utcnow
from app.services import media
from tests.test_content_warnings import _csrf, _log_in
from tests.test_media import png, served, upload

AS2 = {"Accept": "application/activity+json"}
BODY = "Leaves block the drains.\n"


@pytest.fixture
def garden(api_user):
    ada, ben = api_user("ada"), api_user("ben")
    assert ada.post("/api/cg/v1/communities", {"name": "garden"}).status_code == 201
    assert ben.post("/api/cg/v1/communities/garden/join").status_code == 200
    return ada, ben


def image(user, alt: str, color: tuple[int, int, int] = (0, 128, 0)) -> dict:
    r = upload(user, png((30, 20), color), alt, ctype="image/png")
    assert r.status_code == 201, r.text
    return r.json()


def new_artifact(user, **extra) -> dict:
    body = {"community": "garden", "kind": "problem", "title": "Floods", "body": BODY, **extra}
    r = user.post("/api/cg/v1/artifacts", body)
    assert r.status_code == 201, r.text
    return r.json()


def test_an_artifact_carries_its_images_with_alt_text(client: TestClient, garden) -> None:
    ada, ben = garden
    drain, street = image(ada, "A blocked drain"), image(ada, "A flooded street", (0, 0, 200))
    art = new_artifact(ada, media=[drain["id"], street["id"]])
    assert [m["description"] for m in art["media"]] == ["A blocked drain", "A flooded street"]
    assert [m["id"] for m in art["media"]] == [drain["id"], street["id"]]
    assert art["media"][0]["sensitive"] is False
    assert ada.get(f"/api/cg/v1/artifacts/{art['id']}").json()["media"] == art["media"]
    page = client.get(f"/artifacts/{art['id']}").text
    for m in art["media"]:
        preview = m["preview_url"].removeprefix("http://127.0.0.1:8000")
        assert re.search(rf'<img[^>]*src="{re.escape(preview)}"[^>]*alt="{m["description"]}"', page)
    # the Page peers get carries them exactly as a Note would
    doc = client.get(f"/artifacts/{art['id']}", headers=AS2).json()
    assert doc["attachment"] == [
        {
            "type": "Image",
            "mediaType": "image/png",
            "url": m["url"],
            "name": m["description"],
            "blurhash": m["blurhash"],
            "width": 30,
            "height": 20,
        }
        for m in art["media"]
    ]
    assert "sensitive" not in doc


def test_bad_media_on_an_artifact_are_refused_and_nothing_is_stored(garden) -> None:
    ada, ben = garden
    ids = [image(ada, f"picture {i}")["id"] for i in range(5)]
    body = {"community": "garden", "kind": "idea", "title": "Too many", "body": "x"}
    r = ada.post("/api/cg/v1/artifacts", {**body, "media": ids})
    assert r.status_code == 422 and r.json()["error"] == "too_many_media"
    r = ben.post("/api/cg/v1/artifacts", {**body, "media": ids[:1]})
    assert r.status_code == 422 and r.json()["error"] == "media_not_found"
    r = ada.post("/api/cg/v1/artifacts", {**body, "media": [ids[0], ids[0]]})
    assert r.status_code == 422 and r.json()["error"] == "duplicate_media"
    assert ada.get("/api/cg/v1/communities/garden/artifacts").json() == []
    art = new_artifact(ada, media=ids[:1])
    # on an artifact, an image is on no post (and on no other artifact)
    r = ada.post("/api/cg/v1/posts", {"text": "again", "media": ids[:1]})
    assert r.status_code == 422 and r.json()["error"] == "media_in_use"
    r = ada.post("/api/cg/v1/artifacts", {**body, "media": ids[:1]})
    assert r.status_code == 422 and r.json()["error"] == "media_in_use"
    # a revision names the artifact's own images or the editor's uploads, no one else's
    bens = image(ben, "Ben's")
    r = ada.post(
        f"/api/cg/v1/artifacts/{art['id']}/revisions",
        {"base_revision": art["revision"], "body": BODY, "media": [bens["id"]]},
    )
    assert r.status_code == 422 and r.json()["error"] == "media_not_found"
    r = ada.post(
        f"/api/cg/v1/artifacts/{art['id']}/revisions",
        {"base_revision": art["revision"], "body": BODY, "media": "drain"},
    )
    assert r.status_code == 422


def test_revisions_add_and_remove_images_attributed_and_files_stay(
    client: TestClient, garden, engine, settings, new_ctx
) -> None:
    ada, ben = garden
    drain = image(ada, "A blocked drain")
    art = new_artifact(ada, media=[drain["id"]])
    # Ben adds a picture and removes Ada's, without changing the text
    street = image(ben, "A flooded street", (0, 0, 200))
    r = ben.post(
        f"/api/cg/v1/artifacts/{art['id']}/revisions",
        {"base_revision": art["revision"], "body": BODY, "media": [street["id"]]},
    )
    assert r.status_code == 201 and r.json()["outcome"] == "applied", r.text
    after = r.json()["artifact"]
    assert [m["description"] for m in after["media"]] == ["A flooded street"]
    revs = ada.get(f"/api/cg/v1/artifacts/{art['id']}/revisions").json()
    newest, first = revs[0], revs[1]
    assert newest["author"]["handle"].startswith("ben@")
    assert [m["id"] for m in newest["media_added"]] == [street["id"]]
    assert [m["id"] for m in newest["media_removed"]] == [drain["id"]]
    assert [m["id"] for m in first["media_added"]] == [drain["id"]]
    assert first["media_removed"] == []
    history = client.get(f"/artifacts/{art['id']}/history").text
    assert "A flooded street" in history and "A blocked drain" in history
    near = r"(?:[^<]|<[^>]+>){0,80}"  # a few words and tags apart
    assert re.search(rf"added {near}A flooded street", history)
    assert re.search(rf"removed {near}A blocked drain", history)
    assert re.search(rf"added {near}A blocked drain", history)  # revision 1
    assert not re.search(rf"removed {near}A flooded street", history)
    # a revision without "media" keeps the images; one with the text changed too
    r = ada.post(
        f"/api/cg/v1/artifacts/{art['id']}/revisions",
        {"base_revision": after["revision"], "body": BODY + "More.\n"},
    )
    assert [m["id"] for m in r.json()["artifact"]["media"]] == [street["id"]]
    # the detached file stays, a day later too: revision 1 still shows it
    with new_ctx() as ctx:
        ctx.db.execute(update(MediaFile).values(created_at=utcnow() - timedelta(days=2)))
        media.prune_unattached(ctx)
    while jobs.run_one(engine, settings, "test") is not None:
        pass
    assert served(client, drain["url"]).status_code == 200
    # reverting to revision 1 brings its image back
    r = ada.post(f"/api/cg/v1/artifacts/{art['id']}/revert", {"revision": first["id"]})
    assert r.status_code in (200, 201), r.text
    now = ada.get(f"/api/cg/v1/artifacts/{art['id']}").json()
    assert [m["id"] for m in now["media"]] == [drain["id"]]


def test_a_stale_edit_merges_the_image_changes(garden) -> None:
    ada, ben = garden
    one, two = image(ada, "one"), image(ada, "two", (9, 9, 9))
    art = new_artifact(ada, media=[one["id"]])
    base = art["revision"]
    r = ada.post(
        f"/api/cg/v1/artifacts/{art['id']}/revisions",
        {"base_revision": base, "body": BODY, "media": [one["id"], two["id"]]},
    )
    assert r.status_code == 201, r.text
    three = image(ben, "three", (90, 9, 9))
    r = ben.post(  # from the old base: removes "one", adds "three"; keeps Ada's "two"
        f"/api/cg/v1/artifacts/{art['id']}/revisions",
        {"base_revision": base, "body": BODY, "media": [three["id"]]},
    )
    assert r.status_code == 201 and r.json()["outcome"] == "merged", r.text
    assert [m["description"] for m in r.json()["artifact"]["media"]] == ["two", "three"]


def test_the_artifact_forms_upload_images_with_alt_text(client: TestClient, garden) -> None:
    ada, ben = garden
    _log_in(client, "ada")
    form = client.get("/c/garden/artifacts").text
    assert 'name="media1"' in form and 'name="alt1"' in form and 'name="sensitive_media"' in form
    r = client.post(
        "/c/garden/artifacts/new",
        data={
            "csrf_token": _csrf(form),
            "kind": "idea",
            "title": "Rain gardens",
            "body": "Plant them.",
            "alt1": "A rain garden in bloom",
        },
        files={"media1": ("garden.png", png((40, 30)), "image/png")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    artifact_id = int(r.headers["location"].rsplit("/", 1)[-1])
    art = ada.get(f"/api/cg/v1/artifacts/{artifact_id}").json()
    assert [m["description"] for m in art["media"]] == ["A rain garden in bloom"]
    page = client.get(f"/artifacts/{artifact_id}").text
    assert 'alt="A rain garden in bloom"' in page
    # the edit form keeps, removes and adds images
    edit = client.get(f"/artifacts/{artifact_id}/edit").text
    assert f'name="keep" value="{art["media"][0]["id"]}"' in edit and 'name="alt1"' in edit
    assert 'name="with_images" value="yes"' in edit
    r = client.post(
        f"/artifacts/{artifact_id}/edit",
        data={
            "csrf_token": _csrf(edit),
            "base_revision": str(art["revision"]),
            "title": art["title"],
            "body": art["body"],
            "message": "another picture",
            "with_images": "yes",
            "keep": str(art["media"][0]["id"]),
            "alt1": "Gravel around the garden",
            "sensitive_media": "yes",
        },
        files={"media1": ("gravel.png", png((20, 20), (120, 120, 120)), "image/png")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    art = ada.get(f"/api/cg/v1/artifacts/{artifact_id}").json()
    assert [m["description"] for m in art["media"]] == [
        "A rain garden in bloom",
        "Gravel around the garden",
    ]
    assert [m["sensitive"] for m in art["media"]] == [True, True]
    edit = client.get(f"/artifacts/{artifact_id}/edit").text
    r = client.post(  # untick both: the images leave the artifact, the text stays
        f"/artifacts/{artifact_id}/edit",
        data={
            "csrf_token": _csrf(edit),
            "base_revision": str(art["revision"]),
            "title": art["title"],
            "body": art["body"],
            "with_images": "yes",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert ada.get(f"/api/cg/v1/artifacts/{artifact_id}").json()["media"] == []
