"""Property-based: schemathesis generates requests from our OpenAPI spec, valid and
invalid, and no endpoint may answer with a 5xx or break the error format. It runs
on SQLite and on PostgreSQL, which is stricter (NUL bytes, integer ranges)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from app.config import Settings
from app.main import create_app

# The spec alone (no database is opened) decides which requests are generated.
schema = schemathesis.openapi.from_asgi(
    "/api/v1/openapi.json", create_app(Settings(secret_key="spec-only"))
)


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, app, api_user) -> None:
    if not hasattr(app.state, "fuzz_token"):  # seed once per operation; examples reuse it
        alice = api_user("alice")
        alice.post("/api/v1/communities", {"name": "garden", "charter": "be kind"})
        root = alice.post("/api/v1/posts", {"text": "hello #world", "community": "garden"}).json()
        alice.post("/api/v1/posts", {"text": "reply", "in_reply_to": root["id"]})
        app.state.fuzz_token = alice.token
    response = case.call(app=app, headers={"Authorization": f"Bearer {app.state.fuzz_token}"})
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "detail"} and body["detail"], body
