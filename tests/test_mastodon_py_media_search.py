"""Mastodon.py against two real ``commonground serve --with-worker`` instances: an
image uploaded through /api/v2/media (202, processed by the worker's
``media.process`` job while Mastodon.py polls), posted with a content warning;
then ``search_v2("bob@<the other instance>", resolve=True)`` finds a member of
the second instance over WebFinger, ``account_follow`` follows him, and the
second instance lists the follower."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.peers import Instance, eventually

pytestmark = pytest.mark.slow
mastodon = pytest.importorskip("mastodon")  # Mastodon.py, in the dev extras


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 80), (30, 140, 60)).save(out, "PNG")
    return out.getvalue()


def test_mastodon_py_posts_an_image_and_follows_someone_found_elsewhere() -> None:
    # every upload of the first instance goes to the job: the 202 path, for real
    with Instance(env={"CG_MEDIA_PROCESS_INLINE_BYTES": "0"}) as a, Instance() as b:
        a.register("alice")
        b.register("bob")
        api = mastodon.Mastodon(access_token=a.tokens["alice"], api_base_url=a.url)

        uploaded = api.media_post(
            io.BytesIO(_png()),
            mime_type="image/png",
            file_name="field.png",
            description="A green field",
            focus=(0.25, -0.5),
            synchronous=True,  # polls GET /api/v1/media/:id until its url is set
        )
        assert uploaded["url"].startswith(f"{a.url}/media/")
        assert uploaded["meta"]["original"]["width"] == 120
        assert uploaded["meta"]["focus"] == {"x": 0.25, "y": -0.5}
        assert a.sql("SELECT state FROM jobs WHERE kind = 'media.process'") == [("done",)]
        posted = api.status_post("The field", media_ids=[uploaded["id"]], spoiler_text="grass")
        assert posted["spoiler_text"] == "grass" and posted["sensitive"] is True
        [attached] = posted["media_attachments"]
        assert attached["id"] == uploaded["id"] and attached["description"] == "A green field"
        assert api.status(posted["id"])["media_attachments"][0]["url"] == uploaded["url"]

        found = api.search_v2(f"bob@{b.domain}", resolve=True)
        [bob] = found["accounts"]
        assert bob["acct"] == f"bob@{b.domain}" and bob["url"].startswith(b.url)
        assert found["statuses"] == [] and found["hashtags"] == []
        relationship = api.account_follow(bob["id"])
        assert relationship["following"] or relationship["requested"]

        theirs = mastodon.Mastodon(access_token=b.tokens["bob"], api_base_url=b.url)
        me = theirs.account_verify_credentials()

        def followers() -> list[str]:
            return [f["acct"] for f in theirs.account_followers(me["id"])]

        assert eventually(followers, what="bob's instance to record the follow") == [
            f"alice@{a.domain}"
        ]
        eventually(
            lambda: api.account_relationships([bob["id"]])[0]["following"],
            what="bob's instance to accept the follow",
        )
