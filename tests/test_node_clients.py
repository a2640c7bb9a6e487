"""Real Mastodon client libraries for JavaScript, on Node 22 from node_modules
(package.json pins them), against a real ``commonground serve`` with a worker:

- masto.js (tests/clients/masto_flow.mjs), as Elk and Phanpy use it: JSON bodies,
  the password grant, absolute Link pagination of home, an image through
  /api/v2/media polled until processed, and the WebSocket stream with the token
  as the Sec-WebSocket-Protocol;
- megalodon (tests/clients/megalodon_flow.mjs): ``detector()`` recognises the
  server as Mastodon-compatible, then it posts and reads home."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.node import node_with
from tests.server_process import ServerProcess
from tests.test_media import png

pytestmark = pytest.mark.slow
CLIENTS = Path(__file__).resolve().parent / "clients"
PASSWORD = "correct horse battery"


def run_node(node: str, script: str, *args: str, env: dict[str, str] | None = None) -> dict:
    """Run a client script; what it saw, as the JSON object it printed."""
    clean = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    done = subprocess.run(
        [node, str(CLIENTS / script), *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=CLIENTS.parent.parent,
        env={**clean, **(env or {})},
    )
    assert done.returncode == 0, f"{script}:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_masto_js_posts_pages_uploads_and_streams() -> None:
    node = node_with("masto")
    # every upload goes to the worker's job (202): masto polls /api/v1/media/:id
    env = {"CG_OAUTH_PASSWORD_GRANT": "1", "CG_MEDIA_PROCESS_INLINE_BYTES": "0"}
    with ServerProcess(env=env, with_worker=True) as server:
        r = httpx.post(
            f"{server.url}/api/cg/v1/accounts", json={"username": "ivy", "password": PASSWORD}
        )
        assert r.status_code == 201, r.text
        image = base64.b64encode(png((40, 30))).decode()
        try:
            seen = run_node(
                node,
                "masto_flow.mjs",
                server.url,
                "ivy",
                PASSWORD,
                env={"CG_TEST_PNG_BASE64": image},
            )
        except AssertionError:
            print(server.output()[-6000:])
            raise
        log = server.output()
    assert seen["app"] == {"name": "masto.js test", "hasSecret": True}
    assert seen["me"] == "ivy"
    assert seen["streaming"].startswith("ws://127.0.0.1:")
    assert seen["spoiler"] == "a warning"
    # five notes, newest first, two a page, followed through the Link headers
    newest_first = list(reversed(seen["posted"]))
    assert [i for page in seen["pages"] for i in page] == newest_first
    # the last page still links on, as Mastodon's does; what it leads to is empty
    assert [len(page) for page in seen["pages"]] in ([2, 2, 1], [2, 2, 1, 0])
    assert seen["media"]["type"] == "image" and seen["media"]["hasUrl"] is True
    # it answered 202 and masto polled until the job had processed it
    assert '"POST /api/v2/media HTTP/1.1" 202' in log
    assert '"GET /api/v1/media/' in log
    assert seen["media"]["description"] == "a small square"
    assert seen["attached"] == [seen["media"]["id"]]
    assert seen["streamed"]["event"] == "update"
    assert seen["streamed"]["id"] == seen["liveId"]
    assert "heard live" in seen["streamed"]["content"]


def test_megalodon_detects_the_server_posts_and_reads() -> None:
    node = node_with("megalodon")
    with ServerProcess() as server, httpx.Client(base_url=server.url, timeout=30) as http:
        r = http.post("/api/cg/v1/accounts", json={"username": "jo", "password": PASSWORD})
        assert r.status_code == 201, r.text
        r = http.post(
            "/api/cg/v1/tokens", json={"username": "jo", "password": PASSWORD, "scope": "write"}
        )
        assert r.status_code == 201, r.text
        seen = run_node(node, "megalodon_flow.mjs", server.url, r.json()["token"])
        stored = http.get(f"/api/v1/statuses/{seen['posted']['id']}").json()
    assert seen["sns"] == "mastodon"
    assert seen["me"] == "jo"
    assert seen["posted"]["spoiler"] == "a test"
    assert [s["id"] for s in seen["home"]] == [seen["posted"]["id"]]
    assert "hello from megalodon" in seen["home"][0]["content"]
    assert seen["fetched"] == seen["posted"]["id"]
    assert "hello from megalodon" in stored["content"]
