"""Artifact images and sensitive media between two real instances: A's artifact
Page carries its images as ``attachment`` (the Note's helper) and
``sensitive: true``; B fetches, cleans and caches them through the same job as a
post's, keeps them sensitive and folds them; a revision that takes an image off
takes it off B's copy. A post from B with sensitive images and no warning reaches
A with its images sensitive and its text unwarned."""

from __future__ import annotations

import re

import pytest

from tests.peers import Instance, eventually
from tests.test_media import png

pytestmark = pytest.mark.slow


def _upload(instance: Instance, user: str, alt: str, color: tuple[int, int, int]) -> dict:
    with instance.http() as http:
        r = http.post(
            "/api/cg/v1/media",
            headers=instance.auth(user),
            files={"file": ("x.png", png((48, 24), color), "image/png")},
            data={"description": alt},
        )
    assert r.status_code == 201, r.text
    return r.json()


def _accepted(a: Instance, b: Instance) -> None:
    eventually(
        lambda: a.sql("SELECT count(*) FROM follows WHERE state = 'accepted'") == [(1,)],
        what="the follow to be accepted",
    )
    eventually(b.queue_idle, what="the Accept to be processed")


def test_artifact_images_and_sensitive_media_travel_between_instances() -> None:
    with Instance() as a, Instance() as b:
        a.register("ada")
        assert a.api("POST", "/communities", "ada", json={"name": "clinic"}).status_code == 201
        b.register("bea")
        r = b.api("POST", "/follows", "bea", json={"target": f"clinic@{a.domain}"})
        assert r.status_code == 202, r.text
        _accepted(a, b)

        wound = _upload(a, "ada", "A stitched wound", (200, 0, 0))
        chart = _upload(a, "ada", "A healing chart", (0, 0, 200))
        r = a.api(
            "POST",
            "/artifacts",
            "ada",
            json={"community": "clinic", "kind": "lesson", "title": "Stitches",
                  "body": "Keep them dry.", "media": [wound["id"], chart["id"]],
                  "sensitive": True},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        art = r.json()

        def copy_on_b() -> dict | None:
            rows = b.sql("SELECT id FROM artifacts WHERE uri = :u", u=art["uri"])
            if not rows:
                return None
            copy = b.api("GET", f"/artifacts/{rows[0][0]}").json()
            return copy if len(copy["media"]) == 2 else None

        copy = eventually(copy_on_b, what="the artifact and its two images cached on B")
        assert [m["description"] for m in copy["media"]] == ["A stitched wound", "A healing chart"]
        assert all(m["sensitive"] for m in copy["media"]) and copy["content_warning"] is None
        assert all(m["url"].startswith(f"{b.url}/media/") for m in copy["media"])
        assert copy["attachments"] == []  # all cached: no links left
        with b.http() as http:
            page = http.get(f"/artifacts/{copy['id']}").text
            image = http.get(copy["media"][0]["url"].removeprefix(b.url))
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert re.search(
            r'<details class="sensitive-media">(?:(?!</details>).)*alt="A stitched wound"',
            page,
            re.S,
        )
        assert "Keep them dry." in page.split('class="sensitive-media"')[0]

        # A's revision takes the chart off: B's copy follows
        r = a.api(
            "POST",
            f"/artifacts/{art['id']}/revisions",
            "ada",
            json={"base_revision": art["revision"], "body": "Keep them dry.",
                  "media": [wound["id"]]},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        eventually(
            lambda: [m["description"] for m in b.api("GET", f"/artifacts/{copy['id']}").json()[
                "media"]] == ["A stitched wound"],
            what="the chart to leave B's copy",
        )  # fmt: skip

        # the other way: a post of B's, its image sensitive and no warning, reaches A
        a.register("alice")
        r = a.api("POST", "/follows", "alice", json={"target": f"bea@{b.domain}"})
        assert r.status_code in (201, 202), r.text
        eventually(
            lambda: b.sql("SELECT count(*) FROM follows WHERE state = 'accepted'") == [(1,)],
            what="B to accept A's follow",
        )
        eventually(a.queue_idle, what="A to process the Accept")
        xray = _upload(b, "bea", "An X-ray of a wrist", (90, 90, 90))
        r = b.api(
            "POST",
            "/posts",
            "bea",
            json={"text": "broken?", "media": [xray["id"]], "sensitive": True},
        )
        assert r.status_code == 201, r.text
        uri = r.json()["uri"]

        def on_a() -> dict | None:
            items = a.api("GET", "/feed/home", "alice").json()["items"]
            post = next((i["post"] for i in items if i["post"]["uri"] == uri), None)
            return post if post and post["media"] else None

        post = eventually(on_a, what="B's post and its image on A")
        assert post["content_warning"] is None and post["media"][0]["sensitive"] is True
        assert post["media"][0]["description"] == "An X-ray of a wrist"
