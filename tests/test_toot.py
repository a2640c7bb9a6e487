"""toot, a real Mastodon command-line client (PyPI, pinned in the dev extras),
against a real ``commonground serve`` with a worker: ``toot login_cli`` with the
password grant turned on (it logs in with the member's e-mail address, as
Mastodon's password grant expects), ``toot post``, ``toot timelines home`` and
``toot notifications``, each run as the program a member would run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.server_process import ServerProcess

pytestmark = pytest.mark.slow
TOOT = Path(sys.executable).parent / "toot"
PASSWORD = "correct horse battery"


def _member(http: httpx.Client, username: str, email: str) -> str:
    """Sign up over the native API; a write token for what toot is not asked to do."""
    r = http.post(
        "/api/cg/v1/accounts", json={"username": username, "password": PASSWORD, "email": email}
    )
    assert r.status_code == 201, r.text
    r = http.post(
        "/api/cg/v1/tokens", json={"username": username, "password": PASSWORD, "scope": "write"}
    )
    assert r.status_code == 201, r.text
    return r.json()["token"]


class Toot:
    """Runs the ``toot`` program with its own configuration directory."""

    def __init__(self, home: Path) -> None:
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.endswith("_PROXY")},
            "XDG_CONFIG_HOME": str(home),
            "NO_PROXY": "127.0.0.1",
            "COLUMNS": "120",
        }

    def run(self, *args: str) -> subprocess.CompletedProcess:
        assert TOOT.exists(), f"{TOOT} is missing: the dev extras install toot"
        return subprocess.run(
            [str(TOOT), "--no-color", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def __call__(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, f"toot {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout


def test_toot_logs_in_posts_and_reads_home_and_notifications(tmp_path: Path) -> None:
    env = {"CG_OAUTH_PASSWORD_GRANT": "1"}
    with (
        ServerProcess(env=env, with_worker=True) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        _member(http, "bea", "bea@example.org")
        carl = _member(http, "carl", "carl@example.org")
        toot = Toot(tmp_path)

        said = toot("login_cli", "-i", server.url, "-e", "bea@example.org", "--password", PASSWORD)
        assert "Successfully logged in" in said, said
        assert "bea" in toot("whoami")

        posted = toot("post", "a first note from toot, with #gardens")
        assert "Toot posted" in posted, posted
        home = json.loads(toot("timelines", "home", "--json", "--no-pager"))
        assert len(home) == 1 and "a first note from toot" in home[0]["content"], home
        assert "a first note from toot" in toot("timelines", "home", "--no-pager", "--no-clear")

        # carl follows bea and likes her note: two notifications for toot to show
        auth = {"Authorization": f"Bearer {carl}"}
        bea = http.get("/api/v1/accounts/lookup", params={"acct": "bea"}).json()
        assert http.post(f"/api/v1/accounts/{bea['id']}/follow", headers=auth).status_code == 200
        liked = http.post(f"/api/v1/statuses/{home[0]['id']}/favourite", headers=auth)
        assert liked.status_code == 200, liked.text

        shown = json.loads(toot("notifications", "--json"))
        assert sorted(n["type"] for n in shown) == ["favourite", "follow"], shown
        assert {n["account"]["acct"] for n in shown} == {"carl"}
        text = toot("notifications")
        assert "carl" in text and "favourite" in text.lower(), text


def test_toot_login_is_refused_while_the_password_grant_is_off(tmp_path: Path) -> None:
    with (
        ServerProcess() as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        _member(http, "dee", "dee@example.org")
        toot = Toot(tmp_path)
        done = toot.run("login_cli", "-i", server.url, "-e", "dee@example.org", "-p", PASSWORD)
        assert done.returncode != 0
        assert "Login failed" in done.stdout + done.stderr
