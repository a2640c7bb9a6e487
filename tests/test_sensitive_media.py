"""Sensitive media (issue 12): a post's or an artifact's images may be marked
sensitive (``sensitive: true`` in the API, as Mastodon's statuses have, or the
forms' checkbox); pages fold them behind a ``<details>`` disclosure (no script;
"always expand" opens it), the text stays in view when there is no warning, and
peers get ``sensitive: true`` without a summary. A Mastodon Note with
``sensitive: true``, no summary and an Image marks its images sensitive, and so
does a followed community's artifact Page (its links bounded as a post's, fetched
by the same job). On both databases. (Between two real servers:
tests/test_artifact_media_federation.py; in chromium: test_browser_sensitive_media.py.)"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from tests.conftest import _wipe, app_for, make_settings
from tests.peers import serving
from tests.test_content_warnings import _csrf, _log_in
from tests.test_federation_content import receive, stored
from tests.test_media import jpeg_with_gps, png, upload
from tests.test_media_federation import FilePeer, document, mastodon_note, run_jobs

AS2 = {"Accept": "application/activity+json"}


def folded(page: str, preview_path: str, *, open_: bool = False) -> bool:
    """The image is inside a closed (or open) sensitive-media disclosure."""
    attrs = 'class="sensitive-media" open' if open_ else 'class="sensitive-media"'
    pattern = (
        rf"<details {attrs}>\s*<summary>[^<]*</summary>"
        rf"(?:(?!</details>).)*src=\"{re.escape(preview_path)}\"(?:(?!</details>).)*</details>"
    )
    return re.search(pattern, page, re.S) is not None


def test_a_post_with_sensitive_media_folds_only_its_images(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    m = upload(alice, png(), "A wound, stitched", ctype="image/png").json()
    r = alice.post(
        "/api/cg/v1/posts", {"text": "healing well", "media": [m["id"]], "sensitive": True}
    )
    assert r.status_code == 201, r.text
    post = r.json()
    assert post["content_warning"] is None  # Mastodon: the text stays in view
    assert post["media"][0]["sensitive"] is True
    preview = post["media"][0]["preview_url"].removeprefix("http://127.0.0.1:8000")
    page = client.get(f"/posts/{post['id']}").text
    assert folded(page, preview) and 'alt="A wound, stitched"' in page
    assert "healing well" in page.split('class="sensitive-media"')[0]
    doc = client.get(f"/posts/{post['id']}", headers=AS2).json()
    assert doc["sensitive"] is True and "summary" not in doc
    # not sensitive: no disclosure, and peers read sensitive: false as absent
    plain = upload(alice, png(color=(1, 2, 3)), "A cat", ctype="image/png").json()
    other = alice.post("/api/cg/v1/posts", {"text": "cat", "media": [plain["id"]]}).json()
    assert other["media"][0]["sensitive"] is False
    assert 'class="sensitive-media"' not in client.get(f"/posts/{other['id']}").text
    assert "sensitive" not in client.get(f"/posts/{other['id']}", headers=AS2).json()


def test_within_a_content_warning_images_are_not_folded_twice(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    m = upload(alice, png(), "A spider", ctype="image/png").json()
    r = alice.post(
        "/api/cg/v1/posts",
        {"text": "found one", "summary": "Spiders", "sensitive": True, "media": [m["id"]]},
    )
    post = r.json()
    assert post["content_warning"] == "Spiders" and post["media"][0]["sensitive"] is True
    page = client.get(f"/posts/{post['id']}").text
    preview = post["media"][0]["preview_url"].removeprefix("http://127.0.0.1:8000")
    assert re.search(
        rf'<details class="content-warning">(?:(?!</details>).)*src="{re.escape(preview)}"',
        page,
        re.S,
    )
    assert 'class="sensitive-media"' not in page  # the warning already hides them
    doc = client.get(f"/posts/{post['id']}", headers=AS2).json()
    assert (doc["summary"], doc["sensitive"]) == ("Spiders", True)


def test_always_expand_opens_sensitive_media(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    m = upload(alice, png(), "Surgery", ctype="image/png").json()
    post = alice.post(
        "/api/cg/v1/posts", {"text": "x", "media": [m["id"]], "sensitive": True}
    ).json()
    preview = post["media"][0]["preview_url"].removeprefix("http://127.0.0.1:8000")
    assert alice.patch("/api/cg/v1/me", {"expand_warnings": True}).status_code == 200
    _log_in(client, "alice")
    assert folded(client.get(f"/posts/{post['id']}").text, preview, open_=True)


def test_the_composer_marks_images_sensitive(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    _log_in(client, "alice")
    form = client.get("/compose").text
    assert 'name="sensitive_media"' in form
    r = client.post(
        "/compose",
        data={
            "csrf_token": _csrf(form),
            "text": "before",
            "alt1": "A scar",
            "sensitive_media": "yes",
        },
        files={"media1": ("scar.png", png(), "image/png")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    post_id = int(r.headers["location"].split("/posts/")[1].split("?")[0].split("#")[0])
    post = alice.get(f"/api/cg/v1/posts/{post_id}").json()
    assert post["media"][0]["sensitive"] is True and post["content_warning"] is None


def test_an_artifact_with_sensitive_media(client: TestClient, api_user) -> None:
    ada = api_user("ada")
    assert ada.post("/api/cg/v1/communities", {"name": "clinic"}).status_code == 201
    m = upload(ada, png(), "An infected cut", ctype="image/png").json()
    r = ada.post(
        "/api/cg/v1/artifacts",
        {"community": "clinic", "kind": "problem", "title": "Wounds", "body": "Care.",
         "media": [m["id"]], "sensitive": True},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    art = r.json()
    assert art["content_warning"] is None and art["media"][0]["sensitive"] is True
    preview = art["media"][0]["preview_url"].removeprefix("http://127.0.0.1:8000")
    assert folded(client.get(f"/artifacts/{art['id']}").text, preview)
    doc = client.get(f"/artifacts/{art['id']}", headers=AS2).json()
    # no excerpt beside sensitive: true, which peers would read as the warning
    assert doc["sensitive"] is True and "summary" not in doc
    assert doc["attachment"][0]["name"] == "An infected cut"


@pytest.fixture
def fetching_app(tmp_path, database_url, engine):
    """An app allowed to fetch from 127.0.0.1, where the file peer is."""
    settings = make_settings(tmp_path, database_url, allow_private_addresses=True)
    with TestClient(app_for(settings, engine), base_url="http://127.0.0.1:8000") as client:
        yield client, settings
    _wipe(engine)


def test_a_mastodon_note_marked_sensitive_folds_its_image(fetching_app, engine) -> None:
    client, settings = fetching_app
    from app.db import transaction
    from app.services import Ctx

    @contextmanager
    def new_ctx():
        with transaction(engine) as db:
            yield Ctx(db, settings)

    with serving(FilePeer({"/files/x.jpg": ("image/jpeg", jpeg_with_gps())})) as peer:
        image = document(peer.url("/files/x.jpg"), "An X-ray")
        image["type"] = "Image"
        note = mastodon_note(7, [image]) | {"sensitive": True}
        assert "summary" not in note
        receive(new_ctx, note)
        post = stored(new_ctx, note["id"])
        assert post.content_warning is None  # only the image is sensitive
        links = client.get(f"/api/cg/v1/posts/{post.id}").json()["attachments"]
        assert [a["sensitive"] for a in links] == [True]
        run_jobs(engine, settings)
    api = client.get(f"/api/cg/v1/posts/{post.id}").json()
    assert [(m["description"], m["sensitive"]) for m in api["media"]] == [("An X-ray", True)]
    preview = api["media"][0]["preview_url"].removeprefix("http://127.0.0.1:8000")
    page = client.get(f"/posts/{post.id}").text
    assert folded(page, preview) and "status 7" in page.split('class="sensitive-media"')[0]


def test_a_copied_artifact_keeps_only_safe_image_links_and_their_sensitivity(
    client: TestClient, new_ctx, api_user
) -> None:
    """A followed community's Page: its attachments go through the posts' bounds
    (http(s) links, plain-text alt text) and a fetch job of the same kind."""
    from sqlmodel import select

    from app.models import Artifact, Job
    from federation import handlers, remote
    from tests.test_federation_content import PEER, actor_doc

    group = actor_doc("pond") | {"type": "Group", "id": f"{PEER}/c/pond"}
    group["publicKey"] = {**group["publicKey"], "owner": group["id"]}
    page = {
        "id": f"{PEER}/artifacts/9",
        "type": "Page",
        "artifactKind": "problem",
        "stage": "open",
        "attributedTo": group["id"],
        "name": "Algae",
        "source": {"content": "Green water.", "mediaType": "text/markdown"},
        "revisionAuthor": f"{PEER}/users/rita",
        "contributors": [f"{PEER}/users/rita"],
        "sensitive": True,
        "attachment": [
            {"type": "Image", "mediaType": "image/png", "url": f"{PEER}/m/a.png",
             "name": "Green <b>water</b>"},
            {"type": "Image", "mediaType": "image/png", "url": "javascript:alert(1)"},
        ],
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
    }  # fmt: skip
    with new_ctx() as ctx:
        remote.store_actor(ctx, group)
        remote.store_actor(ctx, actor_doc("rita"))
        activity = {"id": f"{PEER}/a/9", "type": "Create", "actor": group["id"], "object": page}
        handlers.process(ctx, activity, handlers.Budget())
    with new_ctx() as ctx:
        copy = ctx.db.exec(select(Artifact).where(Artifact.uri == page["id"])).one()
        job = ctx.db.exec(select(Job).where(Job.kind == "media.fetch_remote")).one()
        assert json.loads(job.payload) == {"artifact": copy.id}  # the posts' job, for an artifact
        copy_id = copy.id
    api = client.get(f"/api/cg/v1/artifacts/{copy_id}").json()
    assert api["attachments"] == [
        {"url": f"{PEER}/m/a.png", "media_type": "image/png", "name": "Green water",
         "sensitive": True}
    ]  # fmt: skip
    assert api["content_warning"] is None and api["media"] == []
    html = client.get(f"/artifacts/{copy_id}").text
    assert "javascript:" not in html
    # images are put on an artifact at its home: a copy's revision names none
    ada = api_user("ada")
    upload_id = upload(ada, png(), "mine", ctype="image/png").json()["id"]
    r = ada.post(
        f"/api/cg/v1/artifacts/{copy_id}/revisions",
        {"base_revision": api["revision"], "body": "Green water.", "media": [upload_id]},
    )
    assert r.status_code == 422 and r.json()["error"] == "media_on_copy"
    assert re.search(
        r'<details class="sensitive-media">(?:(?!</details>).)*>Green water<', html, re.S
    )
