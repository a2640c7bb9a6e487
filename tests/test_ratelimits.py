"""Rate limits: login, sign-up, posting, reacting, API tokens, module submission
and the federation inbox, all through the one limiter in app/services/ratelimit.py."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import pytest

from tests.server_process import ServerProcess

PASSWORD = "correct horse battery"
ATTEMPTS = 45
LOGIN_LIMIT = 10


def _concurrently(count: int, send) -> list[httpx.Response]:  # noqa: ANN001
    """Run ``send(http)`` ``count`` times at once, each on its own connection,
    released together by a barrier so the requests really overlap."""
    barrier = threading.Barrier(count)
    results: list[httpx.Response | BaseException] = [None] * count  # type: ignore[list-item]

    def run(i: int) -> None:
        with httpx.Client(timeout=120, trust_env=False) as http:
            barrier.wait()
            try:
                results[i] = send(http)
            except BaseException as exc:  # noqa: BLE001 - reported below
                results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    return results  # type: ignore[return-value]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_parallel_wrong_passwords_are_checked_at_most_the_limit_times(
    backend: str, request: pytest.FixtureRequest
) -> None:
    database_url = request.getfixturevalue("fresh_postgres") if backend == "postgresql" else None
    env = {"CG_LOGIN_MAX_FAILURES": str(LOGIN_LIMIT), "CG_WEB_WORKERS": "2"}
    with ServerProcess(env=env, database_url=database_url, startup_timeout=120) as server:
        with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
            r = http.post("/api/v1/accounts", json={"username": "alice", "password": PASSWORD})
            assert r.status_code == 201, r.text

        def wrong_password(http: httpx.Client) -> httpx.Response:
            return http.post(
                f"{server.url}/api/v1/tokens",
                json={"username": "alice", "password": "not the password"},
            )

        responses = _concurrently(ATTEMPTS, wrong_password)
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {401: LOGIN_LIMIT, 429: ATTEMPTS - LOGIN_LIMIT}, statuses
        refused = [r for r in responses if r.status_code == 429]
        assert all(int(r.headers["Retry-After"]) > 0 for r in refused)
        assert all(r.json()["error"] == "rate_limited" for r in refused)
