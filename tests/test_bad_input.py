"""Bad input gets a clear error with the right status, never a 5xx, and writes nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import SQLModel

from tests.conftest import PASSWORD

W = "write"  # a write token
R = "read"  # a read-only token
BAD = "bad"  # a token that does not exist
NONE = None  # no token

HUGE = 2**70
CASES = [
    # accounts and tokens
    (
        "POST",
        "/api/cg/v1/accounts",
        {"username": "alice", "password": PASSWORD},
        NONE,
        409,
        "username_taken",
    ),
    (
        "POST",
        "/api/cg/v1/accounts",
        {"username": "ALICE", "password": PASSWORD},
        NONE,
        409,
        "username_taken",
    ),
    (
        "POST",
        "/api/cg/v1/accounts",
        {"username": "garden", "password": PASSWORD},
        NONE,
        409,
        "username_taken",
    ),
    (
        "POST",
        "/api/cg/v1/accounts",
        {"username": "a b", "password": PASSWORD},
        NONE,
        422,
        "invalid_username",
    ),
    (
        "POST",
        "/api/cg/v1/accounts",
        {"username": "bob", "password": "short"},
        NONE,
        422,
        "invalid_password",
    ),
    ("POST", "/api/cg/v1/accounts", {"username": "bob"}, NONE, 422, "validation_error"),
    (
        "POST",
        "/api/cg/v1/accounts",
        {"username": "bob", "password": PASSWORD, "admin": True},
        NONE,
        422,
        "validation_error",
    ),
    (
        "POST",
        "/api/cg/v1/accounts",
        {"username": "b\x00b", "password": PASSWORD},
        NONE,
        422,
        "validation_error",
    ),
    ("POST", "/api/cg/v1/accounts", [], NONE, 422, "validation_error"),
    (
        "POST",
        "/api/cg/v1/tokens",
        {"username": "alice", "password": "wrong pass"},
        NONE,
        401,
        "bad_credentials",
    ),
    (
        "POST",
        "/api/cg/v1/tokens",
        {"username": "nobody", "password": PASSWORD},
        NONE,
        401,
        "bad_credentials",
    ),
    (
        "POST",
        "/api/cg/v1/tokens",
        {"username": "alice", "password": PASSWORD, "scope": "admin"},
        NONE,
        422,
        "validation_error",
    ),
    # authentication
    ("GET", "/api/cg/v1/feed/home", None, NONE, 401, "not_authenticated"),
    ("GET", "/api/cg/v1/feed/home", None, BAD, 401, "invalid_token"),
    ("POST", "/api/cg/v1/posts", {"text": "x"}, R, 403, "insufficient_scope"),
    ("POST", "/api/cg/v1/posts", {"text": "x"}, NONE, 401, "not_authenticated"),
    # posts
    ("POST", "/api/cg/v1/posts", {"text": ""}, W, 422, "empty_text"),
    ("POST", "/api/cg/v1/posts", {"text": "   "}, W, 422, "empty_text"),
    ("POST", "/api/cg/v1/posts", {"text": "x" * 10_001}, W, 422, "text_too_long"),
    ("POST", "/api/cg/v1/posts", {"text": "x", "title": "t" * 201}, W, 422, "title_too_long"),
    (
        "POST",
        "/api/cg/v1/posts",
        {"text": "x", "community": "nowhere"},
        W,
        404,
        "community_not_found",
    ),
    ("POST", "/api/cg/v1/posts", {"text": "x", "community": "closed"}, W, 403, "not_a_member"),
    ("POST", "/api/cg/v1/posts", {"text": "x", "in_reply_to": 999999}, W, 404, "post_not_found"),
    ("POST", "/api/cg/v1/posts", {"text": "x", "in_reply_to": HUGE}, W, 422, "validation_error"),
    ("POST", "/api/cg/v1/posts", {"text": "x", "in_reply_to": -1}, W, 422, "validation_error"),
    ("POST", "/api/cg/v1/posts", {"text": "x", "in_reply_to": "one"}, W, 422, "validation_error"),
    ("POST", "/api/cg/v1/posts", {"text": 5}, W, 422, "validation_error"),
    ("POST", "/api/cg/v1/posts", {"text": "nul\x00byte"}, W, 422, "validation_error"),
    ("GET", "/api/cg/v1/posts/999999", None, NONE, 404, "post_not_found"),
    ("GET", f"/api/cg/v1/posts/{HUGE}", None, NONE, 422, "validation_error"),
    ("GET", f"/api/cg/v1/posts/{2**31}", None, NONE, 422, "validation_error"),
    ("GET", "/api/cg/v1/posts/abc", None, NONE, 422, "validation_error"),
    ("PATCH", "/api/cg/v1/posts/{post}", {"text": ""}, W, 422, "empty_text"),
    ("PATCH", "/api/cg/v1/posts/{other_post}", {"text": "mine now"}, W, 403, "not_author"),
    ("DELETE", "/api/cg/v1/posts/{other_post}", None, W, 403, "not_author"),
    ("POST", "/api/cg/v1/posts/{post}/reactions", {"kind": "love"}, W, 422, "validation_error"),
    ("POST", "/api/cg/v1/posts/999999/reactions", {"kind": "like"}, W, 404, "post_not_found"),
    ("DELETE", "/api/cg/v1/posts/{post}/reactions/love", None, W, 422, "invalid_kind"),
    # communities
    ("POST", "/api/cg/v1/communities", {"name": "garden"}, W, 409, "community_name_taken"),
    ("POST", "/api/cg/v1/communities", {"name": "alice"}, W, 409, "community_name_taken"),
    ("POST", "/api/cg/v1/communities", {"name": "Bad Name!"}, W, 422, "invalid_community_name"),
    (
        "POST",
        "/api/cg/v1/communities",
        {"name": "ok-name", "join_policy": "secret"},
        W,
        422,
        "validation_error",
    ),
    (
        "POST",
        "/api/cg/v1/communities",
        {"name": "ok-name", "charter": "x" * 20_001},
        W,
        422,
        "invalid_charter",
    ),
    ("GET", "/api/cg/v1/communities/nowhere", None, NONE, 404, "community_not_found"),
    ("POST", "/api/cg/v1/communities/nowhere/join", None, W, 404, "community_not_found"),
    ("POST", "/api/cg/v1/communities/closed/leave", None, W, 404, "not_a_member"),
    ("PATCH", "/api/cg/v1/communities/closed", {"title": "mine"}, W, 403, "insufficient_role"),
    (
        "POST",
        "/api/cg/v1/communities/closed/members/alice/approve",
        None,
        W,
        403,
        "insufficient_role",
    ),
    (
        "PUT",
        "/api/cg/v1/communities/garden/members/nobody/role",
        {"role": "admin"},
        W,
        404,
        "not_a_member",
    ),
    (
        "PUT",
        "/api/cg/v1/communities/garden/members/alice/role",
        {"role": "king"},
        W,
        422,
        "validation_error",
    ),
    # follows and feeds
    ("POST", "/api/cg/v1/follows", {"target": "ghost"}, W, 404, "target_not_found"),
    ("POST", "/api/cg/v1/follows", {"target": "alice"}, W, 422, "self_follow"),
    ("POST", "/api/cg/v1/follows", {"target": ""}, W, 422, "invalid_target"),
    ("DELETE", "/api/cg/v1/follows?target=bob", None, W, 404, "not_following"),
    ("GET", "/api/cg/v1/feed/home?cursor=not-a-cursor", None, W, 400, "invalid_cursor"),
    ("GET", "/api/cg/v1/feed/home?limit=0", None, W, 422, "validation_error"),
    ("GET", "/api/cg/v1/feed/home?limit=1000", None, W, 422, "validation_error"),
    ("GET", "/api/cg/v1/feed/home?cursor=%00", None, W, 400, "bad_request"),
    ("GET", "/api/cg/v1/accounts/nobody", None, NONE, 404, "account_not_found"),
    ("GET", "/api/cg/v1/nothing-here", None, NONE, 404, "not_found"),
    ("PUT", "/api/cg/v1/feed/home", None, W, 405, "method_not_allowed"),
]


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in SQLModel.metadata.sorted_tables
            if t.name not in ("rate_limit_hits", "api_tokens")  # bookkeeping of auth attempts
        }


@pytest.fixture
def world(client: TestClient, api_user):
    alice, bob = api_user("alice"), api_user("bob")
    read = client.post("/api/cg/v1/tokens", json={"username": "alice", "password": PASSWORD}).json()
    alice.post("/api/cg/v1/communities", {"name": "garden"})
    bob.post("/api/cg/v1/communities", {"name": "closed", "join_policy": "approval"})
    post = alice.post("/api/cg/v1/posts", {"text": "mine"}).json()["id"]
    other = bob.post("/api/cg/v1/posts", {"text": "bob's"}).json()["id"]
    tokens = {W: alice.token, R: read["token"], BAD: "cg_not_a_real_token"}
    return {"tokens": tokens, "ids": {"post": post, "other_post": other}}


@pytest.mark.parametrize(
    ("method", "path", "body", "token", "status", "code"),
    CASES,
    ids=[f"{c[0]} {c[1][:40]} {c[5]}" for c in CASES],
)
def test_bad_input_is_refused_cleanly(
    client: TestClient,
    engine: Engine,
    world,
    method,
    path,
    body,
    token,
    status,
    code,
) -> None:
    headers = {"Authorization": f"Bearer {world['tokens'][token]}"} if token else {}
    before = row_counts(engine)
    r = client.request(method, path.format(**world["ids"]), json=body, headers=headers)
    assert r.status_code == status, r.text
    payload = r.json()
    assert payload["error"] == code and payload["detail"], payload
    assert "Traceback" not in r.text
    assert row_counts(engine) == before


@pytest.mark.parametrize(
    ("content", "ctype", "status", "code"),
    [
        (b"{not json", "application/json", 400, "invalid_json"),
        (b"\xff\xfe", "application/json", 400, "invalid_json"),
        (b"text=hello", "application/x-www-form-urlencoded", 422, "validation_error"),
        (b"", "application/json", 422, "validation_error"),
    ],
)
def test_malformed_bodies(
    client: TestClient,
    world,
    content: bytes,
    ctype: str,
    status: int,
    code: str,
) -> None:
    headers = {"Authorization": f"Bearer {world['tokens'][W]}", "Content-Type": ctype}
    r = client.post("/api/cg/v1/posts", content=content, headers=headers)
    assert (r.status_code, r.json()["error"]) == (status, code), r.text


def test_body_over_the_limit_is_413(client: TestClient, engine: Engine, world) -> None:
    headers = {"Authorization": f"Bearer {world['tokens'][W]}"}
    before = row_counts(engine)
    big = {"text": "x" * (client.app.state.settings.max_body_bytes + 10)}
    r = client.post("/api/cg/v1/posts", json=big, headers=headers)
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    assert row_counts(engine) == before


def test_streamed_body_over_the_limit_is_413(client: TestClient, world) -> None:
    limit = client.app.state.settings.max_body_bytes

    def chunks():  # no Content-Length: the middleware must count
        for _ in range(limit // 1024 + 2):
            yield b"x" * 1024

    headers = {"Authorization": f"Bearer {world['tokens'][W]}", "Content-Type": "application/json"}
    r = client.post("/api/cg/v1/posts", content=chunks(), headers=headers)
    assert r.status_code == 413


def test_login_rate_limit_answers_429_with_retry_after(client: TestClient, world) -> None:
    limit = client.app.state.settings.login_max_failures
    for _ in range(limit):
        r = client.post("/api/cg/v1/tokens", json={"username": "alice", "password": "wrong pass"})
        assert r.status_code == 401
    r = client.post("/api/cg/v1/tokens", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 429 and r.json()["error"] == "rate_limited"
    assert int(r.headers["Retry-After"]) > 0


def _cursor(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


T = b'"2024-01-01T00:00:00+00:00"'
BAD_CURSORS = {
    "id beyond 64 bits": _cursor(b'{"t":' + T + b',"i":' + str(2**70).encode() + b"}"),
    "id beyond the id columns": _cursor(b'{"t":' + T + b',"i":' + str(2**40).encode() + b"}"),
    "negative id": _cursor(b'{"t":' + T + b',"i":-5}'),
    "infinite id": _cursor(b'{"t":' + T + b',"i":1e400}'),
    "boolean id": _cursor(b'{"t":' + T + b',"i":true}'),
    "string id": _cursor(b'{"t":' + T + b',"i":"5"}'),
    "huge offset": _cursor(b'{"t":' + T + b',"i":5,"o":' + str(2**70).encode() + b"}"),
    "time before year 1 in UTC": _cursor(b'{"t":"0001-01-01T00:00:00+14:00","i":5}'),
    "time after year 9999 in UTC": _cursor(b'{"t":"9999-12-31T23:59:59-14:00","i":5}'),
    "time without offset": _cursor(b'{"t":"2024-01-01T00:00:00","i":5}'),
    "time not a string": _cursor(b'{"t":5,"i":5}'),
    "a list": _cursor(b"[1,2]"),
    "nested": _cursor(b"[" * 300),
    "not base64": "!!!",
}


def test_garbled_or_out_of_range_cursors_are_400(client: TestClient, world) -> None:
    """Every feed decodes its cursor in one place, with the id range of the
    columns and the datetime range checked: the anonymous tag page and API
    feeds answer 400 invalid_cursor, never a database error."""
    token = {"Authorization": f"Bearer {world['tokens'][W]}"}
    feeds = [
        ("/tags/x", {}),  # a page, anonymous
        ("/api/cg/v1/feed/tags/x", {}),  # the API, anonymous
        ("/api/cg/v1/feed/home", token),
        ("/api/cg/v1/accounts/alice/posts", {}),
    ]
    for name, cursor in BAD_CURSORS.items():
        for path, headers in feeds:
            r = client.get(path, params={"cursor": cursor}, headers=headers)
            assert r.status_code == 400, (name, path, r.status_code, r.text[:300])
            assert "cursor is not valid" in r.text, (name, path)
            if path.startswith("/api/"):
                assert r.json()["error"] == "invalid_cursor"


# "@" stands for a JSON escape of a lone surrogate, which no database stores
SURROGATE_CASES = [
    ("POST", "/api/cg/v1/posts", '{"text": "x", "title": @}'),
    ("POST", "/api/cg/v1/posts", '{"text": "x", "community": @}'),
    ("POST", "/api/cg/v1/posts", '{"text": "fine \\ud83d\\ude00 pair", "title": @}'),
    ("PATCH", "/api/cg/v1/me", '{"display_name": @}'),
    ("PATCH", "/api/cg/v1/me", '{"bio": "ok", "avatar_url": @}'),
    ("POST", "/api/cg/v1/communities", '{"name": "fine", "description": @}'),
    ("POST", "/api/cg/v1/communities", '{"name": "fine", "charter": @}'),
    ("PATCH", "/api/cg/v1/communities/garden", '{"title": @}'),
    ("PUT", "/api/cg/v1/me/feed-algorithm", '{"algorithm": 1, "params": {"k": @}}'),
    ("PUT", "/api/cg/v1/me/feed-algorithm", '{"algorithm": 1, "params": {@: 1}}'),
    ("POST", "/api/cg/v1/tokens", '{"username": "alice", "password": "x", "name": @}'),
]


@pytest.mark.parametrize(("method", "path", "body"), SURROGATE_CASES)
def test_lone_surrogates_in_any_text_field_are_refused(
    client: TestClient, engine: Engine, world, method: str, path: str, body: str
) -> None:
    headers = {
        "Authorization": f"Bearer {world['tokens'][W]}",
        "Content-Type": "application/json",
    }
    before = row_counts(engine)
    content = body.replace("@", '"\\ud800"').encode()
    r = client.request(method, path, content=content, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_json" and "surrogate" in r.json()["detail"]
    assert row_counts(engine) == before


def test_a_surrogate_pair_is_ordinary_text(client: TestClient, world) -> None:
    headers = {
        "Authorization": f"Bearer {world['tokens'][W]}",
        "Content-Type": "application/json",
    }
    r = client.post(
        "/api/cg/v1/posts", content=b'{"text": "smile \\ud83d\\ude00"}', headers=headers
    )
    assert r.status_code == 201 and "\U0001f600" in r.json()["text"], r.text


def nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def test_deeply_nested_json_is_refused_by_every_api_body(client: TestClient, app, world) -> None:
    """Every JSON body the API parses is depth-bounded: a hostile document is a 400
    invalid_json, not a RecursionError (500), whichever route it is sent to."""
    from fastapi.params import Form

    from tests.test_pages import all_routes

    headers = {
        "Authorization": f"Bearer {world['tokens'][W]}",
        "Content-Type": "application/json",
    }
    sample = {"name": "garden", "username": "alice", "post_id": "1", "module_id": "1",
              "proposal_id": "1", "artifact_id": "1", "statement_id": "1", "decision_id": "1",
              "kind": "like", "token_id": "1", "action_id": "1", "appeal_id": "1",
              "verdict": "grant", "token": "x"}  # fmt: skip
    checked = 0
    for top, route in all_routes(app.routes):
        methods = (route.methods or set()) & {"POST", "PUT", "PATCH"}
        if not top.startswith("/api") or not methods or not route.dependant.body_params:
            continue
        if any(isinstance(p.field_info, Form) for p in route.dependant.body_params):
            continue  # a multipart upload (media): no JSON is parsed there
        path = top + route.path.format(**sample)
        method = sorted(methods)[0]
        for body in ("[" * 100_000, nested(100), '{"params": ' + nested(70) + "}"):
            r = client.request(method, path, content=body.encode(), headers=headers)
            assert r.status_code == 400, (path, body[:20], r.status_code, r.text[:200])
            assert r.json()["error"] == "invalid_json" and "nested" in r.json()["detail"]
        checked += 1
    assert checked >= 20


def test_deeply_nested_json_is_refused_by_the_inbox(client: TestClient, world) -> None:
    for body in ("[" * 100_000 + "]" * 100_000, nested(200)):
        for path in ("/inbox", "/users/alice/inbox"):
            r = client.post(
                path, content=body.encode(), headers={"Content-Type": "application/activity+json"}
            )
            assert r.status_code == 400, (path, r.status_code, r.text[:200])
            assert r.json()["error"] == "invalid_json" and "nested" in r.json()["detail"]


def test_params_form_refuses_deep_nesting_and_lone_surrogates(client: TestClient) -> None:
    from tests.test_pages import signup, submit

    signup(client, "carol")
    for params in ("[" * 4000, nested(100), '{"k": "\\ud800"}'):
        r = submit(client, "/settings", "/settings/feed-algorithm",
                   {"version_id": "1", "params": params})  # fmt: skip
        assert r.status_code == 422, (params[:20], r.status_code, r.text[:300])
        assert "nested too deeply" in r.text or "surrogate" in r.text


# Sources under 64 KiB that broke the parser (MemoryError, RecursionError) or
# would break compile() and literal_eval() later.
DEEP_SOURCES = {
    "unary minus": "-" * 60_000,
    "long sum": "1+" * 30_000 + "1",
    "nested lambdas": "lambda:" * 6_000 + "1",
    "long attribute chain": "a." * 30_000 + "a",
    "sum that parses but can't compile": "x = " + "1+" * 2_000 + "1\n",
    "deep PARAMETERS": "PARAMETERS = " + "{'a': " * 150 + "1" + "}" * 150 + "\n",
}


@pytest.mark.parametrize("name", list(DEEP_SOURCES))
def test_deeply_nested_module_sources_get_a_lint_error(
    client: TestClient, world, name: str
) -> None:
    headers = {"Authorization": f"Bearer {world['tokens'][W]}"}
    source = DEEP_SOURCES[name]
    assert len(source.encode()) < 64 * 1024
    r = client.post("/api/cg/v1/algorithms", json={"source": source}, headers=headers)
    assert r.status_code == 422, r.text[:300]
    body = r.json()
    assert body["error"] == "lint_failed"
    assert any("nested too deeply" in f["message"] for f in body["detail"]), body


def test_parameters_that_are_not_plain_literals_are_a_clear_422(client: TestClient, world) -> None:
    headers = {"Authorization": f"Bearer {world['tokens'][W]}"}
    for params in ("{[]: 1}", "{{1}: 2}"):
        source = (
            f'NAME = "x"\nPARAMETERS = {params}\ndef rank(items, context, params):\n    return []\n'
        )
        r = client.post("/api/cg/v1/algorithms", json={"source": source}, headers=headers)
        assert r.status_code == 422, (params, r.status_code, r.text[:300])
        assert r.json()["error"] in ("invalid_module", "invalid_parameters"), r.text
