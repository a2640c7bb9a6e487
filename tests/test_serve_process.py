"""The real server, started with `commonground serve` as a user would, over HTTP."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.server_process import ServerProcess

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"


def test_register_post_and_read_over_http() -> None:
    with ServerProcess() as server, httpx.Client(base_url=server.url, timeout=10) as http:
        assert (
            http.post(
                "/api/v1/accounts", json={"username": "alice", "password": PASSWORD}
            ).status_code
            == 201
        )
        token = http.post(
            "/api/v1/tokens", json={"username": "alice", "password": PASSWORD, "scope": "write"}
        ).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        r = http.post("/api/v1/communities", json={"name": "garden"}, headers=auth)
        assert r.status_code == 201
        r = http.post(
            "/api/v1/posts", json={"text": "Hello over #http", "community": "garden"}, headers=auth
        )
        assert r.status_code == 201
        post = r.json()
        assert post["uri"] == f"{server.url}/posts/{post['id']}"
        got = http.get(f"/api/v1/posts/{post['id']}").json()
        assert got["text"] == "Hello over #http" and 'class="hashtag"' in got["html"]
        feed = http.get("/api/v1/feed/home", headers=auth).json()
        assert [item["id"] for item in feed["items"]] == [post["uri"]]
        page = http.get(f"/posts/{post['id']}")
        assert page.status_code == 200 and "Hello over" in page.text


def test_first_run_setup_link() -> None:
    with ServerProcess() as server, httpx.Client(base_url=server.url, timeout=10) as http:
        link = server.setup_link()
        assert link and link.startswith(f"{server.url}/setup/")
        path = link[len(server.url) :]
        form = http.get(path)
        assert form.status_code == 200 and "Set up" in form.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        r = http.post(
            path,
            data={
                "csrf_token": csrf,
                "username": "root",
                "password": PASSWORD,
                "community_name": "town",
                "community_title": "Our Town",
            },
        )
        assert r.status_code == 303 and r.headers["location"] == "/c/town"
        assert "Admin" in http.get("/").text  # logged in as the new admin
        assert http.get(path).status_code == 403  # used up
        me = http.post("/api/v1/tokens", json={"username": "root", "password": PASSWORD})
        assert me.status_code == 201
