"""Property-based: schemathesis generates requests from our OpenAPI spec, valid and
invalid, and no endpoint may answer with a 5xx or break the error format. It runs
on SQLite and on PostgreSQL, which is stricter (NUL bytes, integer ranges)."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine

from app.config import Settings
from app.main import create_app
from app.services import accounts, auth, communities, posts
from tests.conftest import PASSWORD

# The spec alone (no database is opened) decides which requests are generated.
schema = schemathesis.openapi.from_asgi(
    "/api/cg/v1/openapi.json", create_app(Settings(secret_key="spec-only"))
)


_APPS: dict[Engine, FastAPI] = {}


@pytest.fixture
def fuzz_app(settings: Settings, engine: Engine) -> FastAPI:
    """One app per database for the whole file, driven only by schemathesis (which
    keeps an app's lifespan running for the rest of the process)."""
    app = _APPS.get(engine) or _APPS.setdefault(engine, create_app(settings, engine))
    settings.stream_max_seconds = (
        0.2  # a generated GET /api/cg/v1/stream ends, as every stream does
    )
    app.state.settings = settings
    return app


@pytest.fixture
def fuzz_token(new_ctx) -> str:
    """A member with a community and a thread, made once per operation: the
    generated examples of one operation all reuse them."""
    with new_ctx() as ctx:
        alice = accounts.register(ctx, "alice", PASSWORD)
        communities.create(ctx, alice, "garden", charter="be kind")
        root = posts.create(ctx, alice, "hello #world", community="garden")
        posts.create(ctx, alice, "reply", in_reply_to=root.id)
        return auth.create_token(ctx, alice, "write")[1]


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, fuzz_app: FastAPI, fuzz_token: str) -> None:
    response = case.call(app=fuzz_app, headers={"Authorization": f"Bearer {fuzz_token}"})
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "detail"} and body["detail"], body
