"""The real server, started with `commonground serve` as a user would, over HTTP."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.server_process import ServerProcess

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"
ADMIN_LINK = '<a href="/admin">Admin</a>'
CSRF_INPUT = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)"')


def client(server: ServerProcess) -> httpx.Client:
    # trust_env=False: never route 127.0.0.1 through an HTTP(S)_PROXY from the environment
    return httpx.Client(base_url=server.url, timeout=15, trust_env=False)


def csrf_token(page: httpx.Response) -> str:
    match = CSRF_INPUT.search(page.text)
    assert match, f"no csrf_token input on {page.url}:\n{page.text[:2000]}"
    return match.group(1)


def test_register_post_and_read_over_http() -> None:
    with ServerProcess() as server, client(server) as http:
        r = http.post(
            "/api/cg/v1/accounts",
            json={"username": "alice", "password": PASSWORD, "display_name": "Alice A."},
        )
        assert r.status_code == 201, r.text
        account = r.json()
        assert (account["username"], account["display_name"]) == ("alice", "Alice A.")
        assert account["is_admin"] is False

        r = http.post(
            "/api/cg/v1/tokens", json={"username": "alice", "password": PASSWORD, "scope": "write"}
        )
        assert r.status_code == 201, r.text
        assert r.json()["scope"] == "write"
        auth = {"Authorization": f"Bearer {r.json()['token']}"}
        assert http.get("/api/cg/v1/me", headers=auth).json()["username"] == "alice"

        r = http.post(
            "/api/cg/v1/communities", json={"name": "garden", "title": "Garden"}, headers=auth
        )
        assert r.status_code == 201, r.text
        assert (r.json()["name"], r.json()["title"], r.json()["members"]) == ("garden", "Garden", 1)

        r = http.post(
            "/api/cg/v1/posts",
            json={"text": "Hello over #http", "community": "garden"},
            headers=auth,
        )
        assert r.status_code == 201, r.text
        post = r.json()
        assert post["uri"] == f"{server.url}/posts/{post['id']}"

        got = http.get(f"/api/cg/v1/posts/{post['id']}")
        assert got.status_code == 200
        got = got.json()
        assert got["text"] == "Hello over #http"
        assert 'class="hashtag"' in got["html"]
        assert got["author"]["username"] == "alice"
        assert got["community"]["name"] == "garden"
        assert got["in_reply_to"] is None and got["deleted"] is False

        feed = http.get("/api/cg/v1/feed/home", headers=auth)
        assert feed.status_code == 200
        items = feed.json()["items"]
        assert [item["id"] for item in items] == [post["uri"]]
        assert items[0]["post"]["text"] == "Hello over #http"

        assert http.get("/api/cg/v1/feed/home").status_code == 401  # the feed is per member
        page = http.get(f"/posts/{post['id']}")
        assert page.status_code == 200 and "Hello over" in page.text


def test_first_run_setup_link() -> None:
    with ServerProcess() as server, client(server) as http:
        link = server.setup_link()
        assert link, f"no setup link in the serve output:\n{server.output()}"
        assert link.startswith(f"{server.url}/setup/")
        path = link[len(server.url) :]

        form = http.get(path)
        assert form.status_code == 200
        assert "Set up" in form.text and 'name="community_name"' in form.text
        assert "cg_browser" in http.cookies  # the csrf token is tied to this cookie
        r = http.post(
            path,
            data={
                "csrf_token": csrf_token(form),
                "username": "root",
                "password": PASSWORD,
                "community_name": "town",
                "community_title": "Our Town",
            },
        )
        assert r.status_code == 303, r.text
        assert r.headers["location"] == "/c/town"
        assert ADMIN_LINK in http.get("/").text  # setup logged the new admin in
        assert http.get(path).status_code == 403  # the link is used up

        # the admin logs in afresh, through the login form
        with client(server) as fresh:
            login = fresh.get("/login")
            assert login.status_code == 200
            r = fresh.post(
                "/login",
                data={
                    "csrf_token": csrf_token(login),
                    "username": "root",
                    "password": PASSWORD,
                    "next": "/",
                },
            )
            assert r.status_code == 303 and r.headers["location"] == "/"
            home = fresh.get("/")
            assert home.status_code == 200 and ADMIN_LINK in home.text
            assert fresh.get(path).status_code == 403

        r = http.post("/api/cg/v1/tokens", json={"username": "root", "password": PASSWORD})
        token = r.json()["token"]
        me = http.get("/api/cg/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
        assert (me["username"], me["is_admin"]) == ("root", True)
        town = http.get("/api/cg/v1/communities/town").json()
        assert (town["title"], town["members"]) == ("Our Town", 1)


def test_make_run_names_the_port_it_serves_in_links() -> None:
    """`make run PORT=…` serves on that port, so the first-run setup link (built
    from CG_DOMAIN) must name it too, unless the admin set CG_DOMAIN."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    dry_run = subprocess.run(
        ["make", "-s", "-n", "-C", str(root), "run", "PORT=8123"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    serve = next(line for line in dry_run.splitlines() if "commonground serve" in line)
    assert "CG_DOMAIN=${CG_DOMAIN:-127.0.0.1:8123}" in serve and "--port 8123" in serve
