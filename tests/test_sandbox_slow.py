"""A slow but valid module (just under its deadline on every call) against a real
``commonground serve``: while members keep waiting on feeds it ranks, another
community's feed and pages stay served, without a server error."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.server_process import ServerProcess

pytestmark = [pytest.mark.usefixtures("sandbox_required"), pytest.mark.slow]
PASSWORD = "correct horse battery staple"
SLOW = '''"""Slow for real viewers."""
NAME = "slow"
PARAMETERS = {}
import typing
time = typing.sys.modules["time"]


def rank(items, context, params):
    if context["viewer"]:
        time.sleep(1.5)
    return [(it["id"], it["created_at"], {}) for it in items]
'''


def member(http: httpx.Client, name: str) -> dict:
    http.post("/api/cg/v1/accounts", json={"username": name, "password": PASSWORD})
    r = http.post(
        "/api/cg/v1/tokens", json={"username": name, "password": PASSWORD, "scope": "write"}
    )
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_a_slow_module_does_not_delay_other_feeds() -> None:
    with ServerProcess() as server, httpx.Client(base_url=server.url, timeout=60) as http:
        alice, bob = member(http, "alice"), member(http, "bob")
        for name in ("slowville", "fastville"):
            http.post("/api/cg/v1/communities", json={"name": name}, headers=alice)
            http.post(f"/api/cg/v1/communities/{name}/join", headers=bob)
            http.post(
                "/api/cg/v1/posts", json={"text": f"in {name}", "community": name}, headers=alice
            )
        r = http.post("/api/cg/v1/algorithms", json={"source": SLOW}, headers=alice)
        assert r.status_code == 201, r.text
        version = r.json()["latest"]["version_id"]
        r = http.put(
            "/api/cg/v1/communities/slowville/algorithm", json={"algorithm": version}, headers=alice
        )
        assert r.status_code == 200, r.text

        slow_statuses: list[int] = []
        in_flight = threading.Event()

        def wait_on_the_slow_module() -> None:
            with httpx.Client(base_url=server.url, timeout=60) as own:
                in_flight.set()
                for _ in range(3):
                    feed = own.get(
                        "/api/cg/v1/feed/home", params={"algorithm": version}, headers=alice
                    )
                    slow_statuses.append(feed.status_code)

        slow = [threading.Thread(target=wait_on_the_slow_module) for _ in range(3)]
        for thread in slow:
            thread.start()
        in_flight.wait()
        served_meanwhile, statuses = 0, []
        while any(t.is_alive() for t in slow) and len(statuses) < 200:
            for path in (
                "/api/cg/v1/communities/fastville/feed",
                "/api/cg/v1/communities/slowville/feed",
            ):
                statuses.append(http.get(path, headers=bob).status_code)
            served_meanwhile += any(t.is_alive() for t in slow)
        for thread in slow:
            thread.join()
        output = server.output()
    assert set(statuses) == {200}, (statuses, output[-3000:])
    assert served_meanwhile >= 3, "other feeds were not served while the slow module ran"
    assert slow_statuses == [200] * 9, slow_statuses  # ranked, or the fallback: never an error
