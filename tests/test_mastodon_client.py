"""A real Mastodon client library, Mastodon.py, against a real server process:
what an app does first (instance, credentials), then posting with a content
warning, the home timeline and its next page, a favourite and a thread."""

from __future__ import annotations

import httpx
import pytest

from tests.server_process import ServerProcess

pytestmark = pytest.mark.slow
mastodon = pytest.importorskip("mastodon")  # Mastodon.py, in the dev extras


def _token(server: ServerProcess, username: str) -> str:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        r = http.post(
            "/api/cg/v1/accounts", json={"username": username, "password": "correct horse battery"}
        )
        assert r.status_code == 201, r.text
        r = http.post(
            "/api/cg/v1/tokens",
            json={"username": username, "password": "correct horse battery", "scope": "write"},
        )
        assert r.status_code == 201, r.text
        return r.json()["token"]


def test_mastodon_py_reads_posts_and_pages(tmp_path) -> None:
    with ServerProcess() as server:
        api = mastodon.Mastodon(access_token=_token(server, "alice"), api_base_url=server.url)
        instance = api.instance()
        assert instance["version"].startswith("4.2.1 (compatible; Commonground")
        me = api.account_verify_credentials()
        assert me["username"] == "alice" and me["source"]["privacy"] == "public"

        first = api.status_post("the garden gate is open", spoiler_text="gardening")
        assert first["spoiler_text"] == "gardening" and first["sensitive"] is True
        made = [first] + [api.status_post(f"note {i}") for i in range(4)]
        reply = api.status_post("a reply", in_reply_to_id=first["id"])
        assert reply["in_reply_to_id"] == first["id"]

        page = api.timeline_home(limit=3)
        assert [s["id"] for s in page] == [reply["id"], made[4]["id"], made[3]["id"]]
        older = api.fetch_next(page)
        assert [s["id"] for s in older] == [made[2]["id"], made[1]["id"], first["id"]]
        assert api.fetch_next(older) in (None, [])

        liked = api.status_favourite(first["id"])
        assert liked["favourited"] is True and liked["favourites_count"] == 1
        context = api.status_context(first["id"])
        assert [s["id"] for s in context["descendants"]] == [reply["id"]]
        assert context["ancestors"] == []

        with pytest.raises(mastodon.MastodonNotFoundError):
            api.status("12345")
