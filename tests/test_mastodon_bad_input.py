"""Every route of the Mastodon client API, sent what a careless or hostile client
sends: malformed ids, hostile JSON, garbage forms and parameters. None answers a
500, and every error is Mastodon's ``{"error": "..."}``."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.test_pages import all_routes

# the last: a Group account id (community 1 on a fresh database)
IDS = ("abc", "-1", "99999999999999999999999", "1", "%00", "1000000000000001")
BODIES = (
    ("application/json", b"[" * 100_000),
    ("application/json", b'{"a": ' * 100 + b"1" + b"}" * 100),
    ("application/json", b'{"status": "\\ud800"}'),
    ("application/json", b'"just a string"'),
    ("application/x-www-form-urlencoded", b"status=%00&media_ids[]=x&limit=-1&duration=abc"),
    ("multipart/form-data; boundary=zz", b"--zz\r\nnot a part\r\n--zz--"),
)
QUERIES = ("", "?limit=abc&max_id=-1&min_id=zz&since_id=1e9", "?local=maybe&id[]=x&acct=%40")


def _mastodon_routes(app) -> list[tuple[str, str]]:
    out = []
    for _, route in all_routes(app.routes):
        if route.path.startswith(("/api/v1/", "/api/v2/")):
            for method in sorted(route.methods or ()):
                if method not in ("HEAD", "OPTIONS"):
                    out.append((method, route.path))
    return out


def _check(r) -> None:
    assert r.status_code < 500, (r.request.method, r.request.url, r.status_code, r.text[:300])
    if r.status_code >= 400:
        body = r.json()
        assert set(body) == {"error"} and isinstance(body["error"], str), (r.request.url, body)
        assert "Traceback" not in body["error"]


def test_no_mastodon_route_answers_500(client: TestClient, app, api_user, settings) -> None:
    settings.stream_max_seconds = 0.05  # the streaming routes answer, then end
    alice = api_user("alice")
    api_user("bob")
    alice.post("/api/v1/statuses", json={"status": "something to find"})
    alice.post("/api/cg/v1/communities", json={"name": "walk"})  # Group account 1000000000000001
    alice.post("/api/v1/statuses", json={"status": "@walk a title\nin the walk community"})
    routes = _mastodon_routes(app)
    assert len(routes) >= 60
    for method, path in routes:
        for value in IDS:
            url = re.sub(r"\{[^}]+\}", value, path)
            for query in QUERIES:
                _check(client.request(method, url + query, headers=alice.headers))
            if method in ("POST", "PUT", "PATCH"):
                for kind, body in BODIES:
                    headers = {**alice.headers, "Content-Type": kind}
                    _check(client.request(method, url, content=body, headers=headers))
            _check(client.request(method, url))  # no token


def test_hostile_json_is_refused_with_400(client: TestClient, api_user) -> None:
    alice = api_user("alice")
    for body in (b"[" * 100_000, b'{"a": ' * 100 + b"1" + b"}" * 100):
        r = client.post(
            "/api/v1/statuses",
            content=body,
            headers={**alice.headers, "Content-Type": "application/json"},
        )
        assert r.status_code == 400 and set(r.json()) == {"error"}
