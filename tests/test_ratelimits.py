"""Rate limits: login, sign-up, posting, reacting, API tokens, module submission
and the federation inbox, all through the one limiter in app/infra/ratelimit.py."""

from __future__ import annotations

import html
import json
import threading
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from app.config import Settings
from app.errors import RateLimited
from app.infra import ratelimit
from app.models import RateLimitHit, utcnow
from app.services import Ctx, accounts, maintenance, posts
from tests.conftest import Api, app_for
from tests.server_process import ServerProcess
from tests.test_algorithm_api import AGREED
from tests.test_pages import signup, submit

PASSWORD = "correct horse battery"
ATTEMPTS = 45
LOGIN_LIMIT = 10


def _concurrently(count: int, send) -> list[httpx.Response]:
    """Run ``send(http)`` ``count`` times at once, each on its own connection,
    released together by a barrier so the requests really overlap."""
    barrier = threading.Barrier(count)
    results: list[httpx.Response | BaseException] = [None] * count  # type: ignore[list-item]

    def run(i: int) -> None:
        with httpx.Client(timeout=120, trust_env=False) as http:
            barrier.wait()
            try:
                results[i] = send(http)
            except BaseException as exc:  # reported below
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
            r = http.post("/api/cg/v1/accounts", json={"username": "alice", "password": PASSWORD})
            assert r.status_code == 201, r.text

        def wrong_password(http: httpx.Client) -> httpx.Response:
            return http.post(
                f"{server.url}/api/cg/v1/tokens",
                json={"username": "alice", "password": "not the password"},
            )

        responses = _concurrently(ATTEMPTS, wrong_password)
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {401: LOGIN_LIMIT, 429: ATTEMPTS - LOGIN_LIMIT}, statuses
        refused = [r for r in responses if r.status_code == 429]
        assert all(int(r.headers["Retry-After"]) > 0 for r in refused)
        assert all(r.json()["error"] == "rate_limited" for r in refused)


# --- every limited action, in-process on both backends ------------------------------------


@pytest.fixture
def limited(settings: Settings, engine: Engine):
    """A client of an app with some limits made small: ``limited(post_limit_per_account=2)``."""
    clients: list[TestClient] = []

    def make(**limits: int) -> TestClient:
        app = app_for(settings.model_copy(update=limits), engine)
        client = TestClient(app, base_url="http://127.0.0.1:8000")
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def assert_refused(r: httpx.Response, doing: str) -> None:
    """A 429 a person and a program both understand."""
    assert r.status_code == 429, r.text
    assert r.json()["error"] == "rate_limited"
    assert f"You're {doing} faster than this instance allows; try again in" in r.json()["detail"]
    assert int(r.headers["Retry-After"]) > 0


def test_posts_and_replies_are_limited_per_account(limited) -> None:
    client = limited(post_limit_per_account=3)
    alice, bob = Api(client, "alice"), Api(client, "bob")
    first = alice.post("/api/cg/v1/posts", {"text": "one"})
    assert first.status_code == 201
    assert alice.post("/api/cg/v1/posts", {"text": "two"}).status_code == 201
    reply = alice.post("/api/cg/v1/posts", {"text": "a reply", "in_reply_to": first.json()["id"]})
    assert reply.status_code == 201
    assert_refused(alice.post("/api/cg/v1/posts", {"text": "four"}), "posting")
    assert_refused(alice.post("/api/cg/v1/posts", {"text": "5", "in_reply_to": 1}), "posting")
    assert len(alice.get("/api/cg/v1/accounts/alice/posts").json()["items"]) == 3  # nothing lost
    assert bob.post("/api/cg/v1/posts", {"text": "bob has his own count"}).status_code == 201


def test_posts_are_limited_per_client_address(limited) -> None:
    client = limited(post_limit_per_client=3)
    alice, bob = Api(client, "alice"), Api(client, "bob")
    for api, text in ((alice, "one"), (bob, "two"), (alice, "three")):
        assert api.post("/api/cg/v1/posts", {"text": text}).status_code == 201
    assert_refused(bob.post("/api/cg/v1/posts", {"text": "same address"}), "posting")


def test_reactions_are_limited(limited) -> None:
    client = limited(reaction_limit_per_account=2)
    alice = Api(client, "alice")
    ids = [alice.post("/api/cg/v1/posts", {"text": f"p{i}"}).json()["id"] for i in range(3)]
    assert alice.post(f"/api/cg/v1/posts/{ids[0]}/reactions", {"kind": "like"}).status_code == 200
    assert alice.post(f"/api/cg/v1/posts/{ids[1]}/reactions", {"kind": "agree"}).status_code == 200
    r = alice.post(f"/api/cg/v1/posts/{ids[2]}/reactions", {"kind": "like"})
    assert_refused(r, "reacting to posts")


def test_signups_are_limited_per_client_address(limited) -> None:
    client = limited(signup_limit_per_client=2)
    for name in ("alice", "bob"):
        r = client.post("/api/cg/v1/accounts", json={"username": name, "password": PASSWORD})
        assert r.status_code == 201
    r = client.post("/api/cg/v1/accounts", json={"username": "carol", "password": PASSWORD})
    assert_refused(r, "signing up")
    assert client.get("/api/cg/v1/accounts/carol").status_code == 404


def test_api_token_creation_is_limited(limited) -> None:
    client = limited(token_limit_per_account=2)
    Api(client, "alice")  # its first token
    login = {"username": "alice", "password": PASSWORD, "scope": "read"}
    assert client.post("/api/cg/v1/tokens", json=login).status_code == 201
    assert_refused(client.post("/api/cg/v1/tokens", json=login), "creating API tokens")


@pytest.mark.usefixtures("sandbox_required")
def test_module_submissions_are_limited(limited) -> None:
    client = limited(module_limit_per_account=1)
    alice = Api(client, "alice")
    assert alice.post("/api/cg/v1/algorithms", {"source": AGREED}).status_code == 201
    r = alice.post("/api/cg/v1/algorithms", {"source": AGREED.replace("Most agreed", "Agreed")})
    assert_refused(r, "submitting algorithm modules")


def test_trusted_callers_are_not_limited(new_ctx, settings: Settings) -> None:
    """Demo data and the CLI pass no client address: they are not counted."""
    small = settings.model_copy(update={"post_limit_per_account": 1, "post_limit_per_client": 1})
    with new_ctx() as ctx:
        alice = accounts.register(Ctx(ctx.db, small), "alice", PASSWORD)
        for n in range(3):
            posts.create(Ctx(ctx.db, small), alice, f"demo post {n}")
    with pytest.raises(RateLimited), new_ctx() as ctx:
        for n in range(2):
            posts.create(Ctx(ctx.db, small), alice, f"typed {n}", client="10.0.0.1")


# --- pages: a clear message, and what was typed is kept -------------------------------------


def test_a_refused_post_page_explains_and_keeps_the_text(limited) -> None:
    client = limited(post_limit_per_account=1)
    signup(client, "alice")
    assert submit(client, "/compose", "/compose", {"text": "first"}).status_code == 303
    r = submit(client, "/compose", "/compose", {"text": "my carefully typed second post"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "posting faster than this instance allows; try again in" in html.unescape(r.text)
    assert "my carefully typed second post</textarea>" in r.text


def test_a_refused_sign_up_page_keeps_the_form(limited) -> None:
    client = limited(signup_limit_per_client=1)
    signup(client, "alice")
    client.cookies.clear()
    form = {"username": "bob", "password": PASSWORD, "display_name": "Bob B."}
    r = submit(client, "/signup", "/signup", form)
    assert r.status_code == 429
    assert "signing up faster than this instance allows" in html.unescape(r.text)
    assert 'value="bob"' in r.text and 'value="Bob B."' in r.text


def test_a_refused_token_keeps_its_name(limited) -> None:
    client = limited(token_limit_per_account=1)
    signup(client, "alice")
    form = {"scope": "read", "name": "first"}
    assert submit(client, "/settings", "/settings/tokens", form).status_code == 200
    r = submit(client, "/settings", "/settings/tokens", {"scope": "read", "name": "my script"})
    assert r.status_code == 429
    assert "creating API tokens faster than this instance allows" in html.unescape(r.text)
    assert 'value="my script"' in r.text


# --- the inbox: per remote domain, before any signature work -------------------------------


def _activity(domain: str, n: int) -> bytes:
    actor = f"https://{domain}/users/mallory"
    return json.dumps(
        {"id": f"{actor}/follow/{n}", "type": "Follow", "actor": actor, "object": "x"}
    ).encode()


def test_inbox_limits_each_domain_before_checking_signatures(limited) -> None:
    client = limited(inbox_limit_per_domain=2)
    headers = {"Content-Type": "application/activity+json"}
    # unsigned: the signature check refuses them, and they still count
    for n in range(2):
        r = client.post("/inbox", content=_activity("spam.example", n), headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "invalid_signature"
    r = client.post("/inbox", content=_activity("spam.example", 3), headers=headers)
    assert_refused(r, "delivering activities")
    r = client.post("/inbox", content=_activity("other.example", 1), headers=headers)
    assert r.status_code == 401  # another domain has its own count


# --- the limiter itself -----------------------------------------------------------------------


def test_retry_after_is_when_the_oldest_hit_leaves_the_window(new_ctx, settings: Settings) -> None:
    small = settings.model_copy(
        update={"post_limit_per_account": 1, "post_limit_window_seconds": 600}
    )
    with new_ctx() as ctx:
        ctx.db.add(RateLimitHit(bucket="post:7", created_at=utcnow() - timedelta(seconds=570)))
    with pytest.raises(RateLimited) as refused, new_ctx() as ctx:
        ratelimit.limit(Ctx(ctx.db, small), "post", account=7, client="10.0.0.1")
    assert 1 <= refused.value.retry_after <= 30
    assert f"try again in {refused.value.retry_after} second" in refused.value.detail


def test_pruning_keeps_hits_the_longest_window_still_sees(new_ctx, settings: Settings) -> None:
    long = settings.model_copy(update={"module_limit_window_seconds": 3 * 3600})
    with new_ctx() as ctx:
        for hours, bucket in ((2, "module:1"), (4, "module:2")):
            ctx.db.add(RateLimitHit(bucket=bucket, created_at=utcnow() - timedelta(hours=hours)))
    with new_ctx() as ctx:
        maintenance.prune(Ctx(ctx.db, long), {})
    with new_ctx() as ctx:
        assert [h.bucket for h in ctx.db.exec(select(RateLimitHit))] == ["module:1"]


def test_a_very_long_sender_domain_is_counted_too(limited) -> None:
    """Bucket names have a bounded column; a 250-character host must not make a 500."""
    client = limited(inbox_limit_per_domain=1)
    domain = ".".join(["a" * 60] * 4) + ".example"
    headers = {"Content-Type": "application/activity+json"}
    r = client.post("/inbox", content=_activity(domain, 1), headers=headers)
    assert r.status_code == 401 and r.json()["error"] == "invalid_signature"
    assert_refused(
        client.post("/inbox", content=_activity(domain, 2), headers=headers),
        "delivering activities",
    )
