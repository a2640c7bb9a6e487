"""OAuth 2 for Mastodon client apps (app/mastodon, app/services/oauth.py): app
registration, the authorization code flow with PKCE, the token endpoint's grants,
revocation, metadata, CORS, and every refusal in OAuth's or Mastodon's shape."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import select

from app.api import router as native_api
from app.models import ApiToken, OAuthApp, OAuthAppToken, OAuthCode
from app.services import oauth
from tests.conftest import PASSWORD, app_for
from tests.test_pages import csrf, signup

REDIRECT = "http://127.0.0.1:9999/callback"
ME = f"{native_api.prefix}/me"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def register(client: TestClient, **fields: object) -> dict:
    body = {"client_name": "Tooter", "redirect_uris": REDIRECT, "scopes": "read write follow"}
    body.update(fields)
    r = client.post("/api/v1/apps", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def authorize_query(app: dict, **extra: str) -> dict[str, str]:
    q = {
        "response_type": "code",
        "client_id": app["client_id"],
        "redirect_uri": REDIRECT,
        "scope": "read write",
        "state": "xyz",
    }
    q.update(extra)
    return q


def approve(client: TestClient, app: dict, **extra: str) -> str:
    """Log in as a member (once), open the consent page, approve: the code."""
    if "cg_session" not in client.cookies:
        signup(client, "alice")
    r = client.get("/oauth/authorize?" + urlencode(authorize_query(app, **extra)))
    assert r.status_code == 200, r.text
    assert "Tooter" in r.text
    form = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', r.text))
    form["decision"] = "approve"
    r = client.post("/oauth/authorize", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    target = urlsplit(r.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == extra.get("redirect_uri", REDIRECT)
    query = parse_qs(target.query)
    assert query["state"] == [extra.get("state", "xyz")]
    return query["code"][0]


def exchange(client: TestClient, app: dict, code: str, **extra: str):
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "redirect_uri": REDIRECT,
    }
    body.update(extra)
    return client.post("/oauth/token", data=body)


def oauth_error(r, status: int, error: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["error"] == error, body
    assert body.get("error_description"), body


def count(ctx_factory, model) -> int:
    with ctx_factory() as ctx:
        return ctx.db.exec(select(func.count()).select_from(model)).one()


# --- app registration -------------------------------------------------------------------------


def test_register_an_app_with_json_form_and_multipart(client: TestClient) -> None:
    made = register(client, website="https://tooter.example")
    assert set(made) >= {
        "id", "name", "website", "redirect_uri", "redirect_uris", "client_id", "client_secret",
        "vapid_key", "scopes",
    }  # fmt: skip
    assert isinstance(made["id"], str) and made["name"] == "Tooter"
    assert made["redirect_uris"] == [REDIRECT] and made["scopes"] == ["read", "write", "follow"]
    form = client.post(
        "/api/v1/apps",
        data={"client_name": "Form app", "redirect_uris": f"urn:ietf:wg:oauth:2.0:oob\n{REDIRECT}"},
    )
    assert form.status_code == 200, form.text
    assert form.json()["redirect_uris"] == ["urn:ietf:wg:oauth:2.0:oob", REDIRECT]
    assert form.json()["scopes"] == ["read"]  # the default
    multi = client.post(
        "/api/v1/apps",
        files={"client_name": (None, "Multi"), "redirect_uris": (None, "myapp://oauth")},
    )
    assert multi.status_code == 200, multi.text
    arrays = client.post(
        "/api/v1/apps",
        json={"client_name": "Arr", "redirect_uris": [REDIRECT, "https://x.example/cb"]},
    )
    assert arrays.json()["redirect_uris"] == [REDIRECT, "https://x.example/cb"]
    ids = {made["client_id"], form.json()["client_id"], multi.json()["client_id"]}
    assert len(ids) == 3


@pytest.mark.parametrize(
    "fields",
    [
        {"redirect_uris": "http://evil.example/cb"},  # plain http off loopback
        {"redirect_uris": "javascript:alert(1)"},
        {"redirect_uris": "data:text/html,hi"},
        {"redirect_uris": "/relative"},
        {"redirect_uris": "https://x.example/cb#frag"},
        {"redirect_uris": ""},
        {"client_name": ""},
        {"client_name": "x" * 500},
        {"scopes": "read bogus"},
        {"scopes": "admin:read"},
        {"website": "javascript:alert(1)"},
        {"redirect_uris": {"a": 1}},
    ],
)
def test_bad_registrations_are_refused_in_mastodons_shape(client, new_ctx, fields) -> None:
    body = {"client_name": "Tooter", "redirect_uris": REDIRECT, **fields}
    r = client.post("/api/v1/apps", json=body)
    assert r.status_code in (400, 422), r.text
    assert isinstance(r.json()["error"], str) and r.json()["error"]
    assert count(new_ctx, OAuthApp) == 0


@pytest.mark.parametrize(
    "content,ctype",
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"a": ' * 100 + b"1" + b"}" * 100, "application/json"),
        (b"\xff\xfe", "application/x-www-form-urlencoded"),
        (
            b"client_name=a%00b&redirect_uris=urn:ietf:wg:oauth:2.0:oob",
            "application/x-www-form-urlencoded",
        ),
        (
            b'{"client_name": "a\\ud800", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"}',
            "application/json",
        ),
        (b"hello", "text/plain"),
    ],
)
def test_malformed_registration_bodies(client: TestClient, content: bytes, ctype: str) -> None:
    r = client.post("/api/v1/apps", content=content, headers={"Content-Type": ctype})
    assert 400 <= r.status_code < 500, r.text
    assert isinstance(r.json()["error"], str)


def test_verify_app_credentials(client: TestClient) -> None:
    made = register(client)
    r = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": made["client_id"],
            "client_secret": made["client_secret"],
        },
    )
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert "refresh_token" not in r.json() and r.json()["token_type"] == "Bearer"
    v = client.get("/api/v1/apps/verify_credentials", headers={"Authorization": f"Bearer {token}"})
    assert v.status_code == 200, v.text
    assert v.json()["name"] == "Tooter" and "client_secret" not in v.json()
    # an app's own token is no member: the native API refuses it
    assert client.get(ME, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    bad = client.get("/api/v1/apps/verify_credentials", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and isinstance(bad.json()["error"], str)
    assert client.get("/api/v1/apps/verify_credentials").status_code == 401


# --- the authorization code flow --------------------------------------------------------------


def test_code_flow_with_pkce_gives_a_token_the_native_api_takes(client, new_ctx) -> None:
    made = register(client)
    verifier, challenge = pkce()
    code = approve(client, made, code_challenge=challenge, code_challenge_method="S256")
    r = exchange(client, made, code, code_verifier=verifier)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "read write"
    assert isinstance(body["created_at"], int) and body["refresh_token"]
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get(ME, headers=headers).json()["username"] == "alice"
    assert client.get("/api/v1/apps/verify_credentials", headers=headers).status_code == 200
    # only digests are stored
    with new_ctx() as ctx:
        rows = ctx.db.exec(select(ApiToken)).all()
        assert [t.name for t in rows] == ["Tooter"]
        assert body["access_token"] not in {t.token_hash for t in rows}
        assert ctx.db.exec(select(OAuthCode)).all() == []  # used up
    # the sessions page names the app, and revoking there ends the token
    page = client.get("/settings/sessions")
    assert "Tooter" in page.text
    token_id = rows[0].id
    r = client.post(
        f"/settings/tokens/{token_id}/revoke",
        data={"csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert client.get(ME, headers=headers).status_code == 401


def test_a_read_scope_token_may_not_write(client: TestClient) -> None:
    made = register(client)
    code = approve(client, made, scope="read:accounts read:statuses")
    r = exchange(client, made, code)
    assert r.json()["scope"] == "read:accounts read:statuses"
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert client.get(ME, headers=headers).status_code == 200
    assert client.patch(ME, json={"bio": "x"}, headers=headers).status_code == 403


def test_code_is_single_use(client: TestClient) -> None:
    made = register(client)
    code = approve(client, made)
    assert exchange(client, made, code).status_code == 200
    oauth_error(exchange(client, made, code), 400, "invalid_grant")


def test_code_expires(client: TestClient, new_ctx) -> None:
    made = register(client)
    code = approve(client, made)
    with new_ctx() as ctx:
        row = ctx.db.exec(select(OAuthCode)).one()
        row.expires_at = row.created_at - timedelta(seconds=1)
        ctx.db.add(row)
    oauth_error(exchange(client, made, code), 400, "invalid_grant")


def test_code_is_bound_to_client_redirect_and_challenge(client: TestClient) -> None:
    made = register(client)
    other = register(client, client_name="Other")
    verifier, challenge = pkce()
    code = approve(client, made, code_challenge=challenge, code_challenge_method="S256")
    oauth_error(exchange(client, made, code, code_verifier="x" * 50), 400, "invalid_grant")
    code = approve(client, made, code_challenge=challenge, code_challenge_method="S256")
    oauth_error(exchange(client, made, code), 400, "invalid_grant")  # verifier missing
    code = approve(client, made, code_challenge=challenge, code_challenge_method="S256")
    wrong = exchange(client, made, code, code_verifier=verifier, redirect_uri="myapp://x")
    oauth_error(wrong, 400, "invalid_grant")
    code = approve(client, made)
    stolen = exchange(
        client, other, code, client_id=other["client_id"], client_secret=other["client_secret"]
    )
    oauth_error(stolen, 400, "invalid_grant")


def test_deny_redirects_with_access_denied(client: TestClient, new_ctx) -> None:
    made = register(client)
    signup(client, "alice")
    r = client.get("/oauth/authorize?" + urlencode(authorize_query(made)))
    form = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', r.text))
    r = client.post("/oauth/authorize", data={**form, "decision": "deny"}, follow_redirects=False)
    assert r.status_code == 303
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["xyz"]
    assert count(new_ctx, OAuthCode) == 0


def test_consent_page_lets_the_form_reach_the_redirect_uri(client: TestClient) -> None:
    made = register(client)
    signup(client, "alice")
    r = client.get("/oauth/authorize?" + urlencode(authorize_query(made)))
    csp = r.headers["content-security-policy"]
    assert "form-action 'self' http://127.0.0.1:9999" in csp
    assert "read" in r.text and "write" in r.text
    # any other page keeps the strict policy
    assert "form-action 'self';" in client.get("/settings").headers["content-security-policy"]


def test_authorize_sends_a_stranger_to_log_in_and_back(client: TestClient) -> None:
    made = register(client)
    query = urlencode(authorize_query(made))
    r = client.get("/oauth/authorize?" + query, follow_redirects=False)
    assert r.status_code == 303
    target = urlsplit(r.headers["location"])
    assert target.path == "/login"
    back = parse_qs(target.query)["next"][0]
    assert back == "/oauth/authorize?" + query
    login = client.get(r.headers["location"])
    assert 'name="next" value="/oauth/authorize?' in login.text


def test_oob_shows_the_code(client: TestClient) -> None:
    made = register(client, redirect_uris="urn:ietf:wg:oauth:2.0:oob")
    signup(client, "alice")
    q = authorize_query(made, redirect_uri="urn:ietf:wg:oauth:2.0:oob")
    r = client.get("/oauth/authorize?" + urlencode(q))
    form = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', r.text))
    r = client.post("/oauth/authorize", data={**form, "decision": "approve"})
    assert r.status_code == 200
    code = re.search(r'<code id="oauth-code">([^<]+)</code>', r.text).group(1)
    token = exchange(client, made, code, redirect_uri="urn:ietf:wg:oauth:2.0:oob")
    assert token.status_code == 200, token.text


@pytest.mark.parametrize(
    "change",
    [
        {"client_id": "unknown"},
        {"redirect_uri": "http://127.0.0.1:9999/other"},
        {"response_type": "token"},
        {"scope": "read push"},  # push is not among the app's scopes
        {"scope": "admin:read"},
        {"code_challenge": "abc", "code_challenge_method": "plain"},
        {"code_challenge": "short", "code_challenge_method": "S256"},
    ],
)
def test_bad_authorize_requests_show_an_error_and_store_nothing(client, new_ctx, change) -> None:
    made = register(client)
    signup(client, "alice")
    r = client.get("/oauth/authorize?" + urlencode(authorize_query(made, **change)))
    assert r.status_code == 400, r.text
    assert "<h1" in r.text and "Traceback" not in r.text
    assert count(new_ctx, OAuthCode) == 0


def test_a_forged_consent_post_is_refused(client: TestClient, new_ctx) -> None:
    made = register(client)
    signup(client, "alice")
    r = client.get("/oauth/authorize?" + urlencode(authorize_query(made)))
    form = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', r.text))
    form["redirect_uri"] = "https://evil.example/steal"
    r = client.post("/oauth/authorize", data={**form, "decision": "approve"})
    assert r.status_code == 400
    form["csrf_token"] = "forged"
    r = client.post("/oauth/authorize", data={**form, "decision": "approve"})
    assert r.status_code == 403
    assert count(new_ctx, OAuthCode) == 0


# --- the token endpoint -----------------------------------------------------------------------


def test_http_basic_and_json_client_authentication(client: TestClient) -> None:
    made = register(client)
    code = approve(client, made)
    basic = base64.b64encode(f"{made['client_id']}:{made['client_secret']}".encode()).decode()
    r = client.post(
        "/oauth/token",
        json={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert r.status_code == 200, r.text


def test_client_authentication_failures(client: TestClient) -> None:
    made = register(client)
    base = {"grant_type": "client_credentials"}
    oauth_error(client.post("/oauth/token", data=base), 401, "invalid_client")
    wrong = {**base, "client_id": made["client_id"], "client_secret": "wrong"}
    oauth_error(client.post("/oauth/token", data=wrong), 401, "invalid_client")
    unknown = {**base, "client_id": "nobody", "client_secret": made["client_secret"]}
    oauth_error(client.post("/oauth/token", data=unknown), 401, "invalid_client")
    bad_basic = client.post(
        "/oauth/token", data=base, headers={"Authorization": "Basic !!!notbase64"}
    )
    oauth_error(bad_basic, 401, "invalid_client")
    assert "Basic" in bad_basic.headers.get("www-authenticate", "")


@pytest.mark.parametrize(
    "content,ctype",
    [
        (b"{not json", "application/json"),
        (b'"a string"', "application/json"),
        (b'{"grant_type": ["a", "b"]}', "application/json"),
        (b'{"a": ' * 100 + b"1" + b"}" * 100, "application/json"),
        (b"grant_type=teleport", "application/x-www-form-urlencoded"),
        (b"grant_type=client_credentials&client_id=a%00b", "application/x-www-form-urlencoded"),
        (b"", "application/x-www-form-urlencoded"),
        (b"\x00\x01", "application/octet-stream"),
    ],
)
def test_malformed_token_requests(client: TestClient, content: bytes, ctype: str) -> None:
    register(client)
    r = client.post("/oauth/token", content=content, headers={"Content-Type": ctype})
    assert r.status_code in (400, 401), r.text
    assert r.json()["error"] in ("invalid_request", "unsupported_grant_type", "invalid_client")


def test_refresh_token_rotates(client: TestClient) -> None:
    made = register(client)
    first = exchange(client, made, approve(client, made)).json()
    auth = {"client_id": made["client_id"], "client_secret": made["client_secret"]}
    r = client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"], **auth},
    )
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == first["scope"]
    old = {"Authorization": f"Bearer {first['access_token']}"}
    assert client.get(ME, headers=old).status_code == 401
    new = {"Authorization": f"Bearer {second['access_token']}"}
    assert client.get(ME, headers=new).status_code == 200
    again = client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"], **auth},
    )
    oauth_error(again, 400, "invalid_grant")


def test_revoke(client: TestClient) -> None:
    made = register(client)
    token = exchange(client, made, approve(client, made)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(ME, headers=headers).status_code == 200
    auth = {"client_id": made["client_id"], "client_secret": made["client_secret"]}
    other = register(client, client_name="Other")
    not_theirs = client.post(
        "/oauth/revoke",
        data={
            "token": token,
            "client_id": other["client_id"],
            "client_secret": other["client_secret"],
        },
    )
    assert not_theirs.status_code == 403, not_theirs.text
    assert client.get(ME, headers=headers).status_code == 200
    r = client.post("/oauth/revoke", data={"token": token, **auth})
    assert r.status_code == 200 and r.json() == {}
    assert client.get(ME, headers=headers).status_code == 401
    # revoking an unknown token is fine too (RFC 7009)
    assert client.post("/oauth/revoke", data={"token": "gone", **auth}).status_code == 200
    oauth_error(client.post("/oauth/revoke", data={"token": token}), 401, "invalid_client")


def test_client_credentials_refuse_scopes_beyond_the_app(client: TestClient, new_ctx) -> None:
    made = register(client, scopes="read")
    r = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "scope": "write",
            "client_id": made["client_id"],
            "client_secret": made["client_secret"],
        },
    )
    oauth_error(r, 400, "invalid_scope")
    assert count(new_ctx, OAuthAppToken) == 0


# --- the password grant -----------------------------------------------------------------------


def password_grant(
    client: TestClient, made: dict, password: str = PASSWORD, username: str = "alice"
):
    return client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": username,
            "password": password,
            "scope": "read",
            "client_id": made["client_id"],
            "client_secret": made["client_secret"],
        },
    )


def test_password_grant_is_off_by_default(client: TestClient) -> None:
    made = register(client)
    signup(client, "alice")
    oauth_error(password_grant(client, made), 400, "unsupported_grant_type")
    meta = client.get("/.well-known/oauth-authorization-server").json()
    assert "password" not in meta["grant_types_supported"]


def test_password_grant_when_turned_on(settings, engine) -> None:
    app = app_for(settings.model_copy(update={"oauth_password_grant": True}), engine)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        made = register(client)
        signup(client, "alice")
        r = password_grant(client, made)
        assert r.status_code == 200, r.text
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert client.get(ME, headers=headers).json()["username"] == "alice"
        oauth_error(password_grant(client, made, "wrong password"), 400, "invalid_grant")
        meta = client.get("/.well-known/oauth-authorization-server").json()
        assert "password" in meta["grant_types_supported"]


def test_the_password_grant_takes_the_members_email_address(settings, engine) -> None:
    """Mastodon's password grant names the member by e-mail address (toot sends one)."""
    app = app_for(settings.model_copy(update={"oauth_password_grant": True}), engine)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        made = register(client)
        r = client.post(
            "/api/cg/v1/accounts",
            json={"username": "alice", "password": PASSWORD, "email": "Alice@Example.org"},
        )
        assert r.status_code == 201, r.text
        r = password_grant(client, made, username="alice@example.ORG")
        assert r.status_code == 200, r.text
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert client.get(ME, headers=headers).json()["username"] == "alice"
        for wrong in ("nobody@example.org", "@example.org", "alice@"):
            oauth_error(password_grant(client, made, username=wrong), 400, "invalid_grant")
        oauth_error(
            password_grant(client, made, "wrong password", username="alice@example.org"),
            400,
            "invalid_grant",
        )


# --- metadata, CORS, rate limits --------------------------------------------------------------


def test_metadata(client: TestClient) -> None:
    r = client.get("/.well-known/oauth-authorization-server")
    assert r.status_code == 200
    meta = r.json()
    base = "http://127.0.0.1:8000"
    assert meta["issuer"] == base
    assert meta["authorization_endpoint"] == f"{base}/oauth/authorize"
    assert meta["token_endpoint"] == f"{base}/oauth/token"
    assert meta["revocation_endpoint"] == f"{base}/oauth/revoke"
    assert meta["app_registration_endpoint"] == f"{base}/api/v1/apps"
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert set(meta["grant_types_supported"]) == {
        "authorization_code", "client_credentials", "refresh_token",
    }  # fmt: skip
    assert {"read", "write", "follow", "push", "read:statuses"} <= set(meta["scopes_supported"])
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post",
    }  # fmt: skip
    assert meta["service_documentation"]


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/api/v1/apps"])
def test_cors_preflight_and_headers(client: TestClient, path: str) -> None:
    r = client.options(
        path,
        headers={
            "Origin": "https://web.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert r.status_code in (200, 204), r.text
    assert r.headers["access-control-allow-origin"] == "*"
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "authorization" in r.headers["access-control-allow-headers"].lower()
    r = client.post(path, data={}, headers={"Origin": "https://web.example"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert "Link" in r.headers["access-control-expose-headers"]


@pytest.mark.parametrize(
    "path", ["/api/v1/timelines/public", "/api/v2/instance", "/api/cg/v1/communities"]
)
def test_cors_on_every_api(client: TestClient, path: str) -> None:
    """Web clients (Elk, Phanpy) read every API from their own origin, and page by
    the Link header, which must be exposed to them."""
    origin = {"Origin": "https://web.example"}
    pre = client.options(path, headers={**origin, "Access-Control-Request-Method": "GET"})
    assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == "*"
    r = client.get(path, headers=origin)
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == "*"
    assert "Link" in r.headers["access-control-expose-headers"]
    assert "access-control-allow-credentials" not in r.headers


def test_cors_on_well_known_but_not_on_pages(client: TestClient) -> None:
    origin = {"Origin": "https://web.example"}
    meta = client.get("/.well-known/oauth-authorization-server", headers=origin)
    assert meta.headers["access-control-allow-origin"] == "*"
    # a route that sets its own (WebFinger) keeps one, not two
    finger = client.get("/.well-known/webfinger?resource=acct:nobody@127.0.0.1:8000")
    assert finger.headers.get_list("access-control-allow-origin") == ["*"]
    assert "access-control-allow-origin" not in client.get("/login", headers=origin).headers
    assert "access-control-allow-origin" not in client.get("/apiary", headers=origin).headers
    assert (
        "access-control-allow-origin"
        not in client.get("/oauth/authorize", headers=origin, follow_redirects=False).headers
    )


def test_registration_and_token_requests_are_rate_limited(settings, engine) -> None:
    tight = settings.model_copy(update={"app_limit_per_client": 2, "token_limit_per_client": 2})
    with TestClient(app_for(tight, engine), base_url="http://127.0.0.1:8000") as client:
        made = register(client)
        register(client)
        r = client.post("/api/v1/apps", json={"client_name": "x", "redirect_uris": REDIRECT})
        assert r.status_code == 429 and isinstance(r.json()["error"], str)
        body = {
            "grant_type": "client_credentials",
            "client_id": made["client_id"],
            "client_secret": made["client_secret"],
        }
        assert client.post("/oauth/token", data=body).status_code == 200
        assert client.post("/oauth/token", data=body).status_code == 200
        r = client.post("/oauth/token", data=body)
        assert r.status_code == 429 and r.json()["error"]


# --- the rules, without HTTP ------------------------------------------------------------------


@pytest.mark.parametrize(
    "scopes,native",
    [
        ("read", "read"),
        ("read:statuses", "read"),
        ("write", "write"),
        ("write:media", "write"),
        ("read follow", "write"),
        ("push", ""),
        ("profile", ""),
    ],
)
def test_native_scope_of_mastodon_scopes(scopes: str, native: str) -> None:
    assert oauth.native_scope(scopes.split()) == native


@pytest.mark.parametrize(
    "uri,ok",
    [
        ("urn:ietf:wg:oauth:2.0:oob", True),
        ("https://app.example/cb", True),
        ("http://127.0.0.1:8080/cb", True),
        ("http://[::1]/cb", True),
        ("http://localhost:3000/cb", True),
        ("com.example.app:/oauth", True),
        ("myapp://callback", True),
        ("http://app.example/cb", False),
        ("javascript:alert(1)", False),
        ("JavaScript:alert(1)", False),
        ("data:text/html,x", False),
        ("vbscript:x", False),
        ("file:///etc/passwd", False),
        ("https://", False),
        ("https://app.example/cb#x", False),
        ("not a uri", False),
    ],
)
def test_redirect_uri_rules(uri: str, ok: bool) -> None:
    assert oauth.redirect_uri_allowed(uri) is ok


# --- anything at all: never a 500, always the endpoint's error shape --------------------------

_field_names = st.sampled_from(
    ["grant_type", "client_id", "client_secret", "code", "redirect_uri", "code_verifier",
     "refresh_token", "scope", "username", "password", "token", "client_name",
     "redirect_uris", "scopes", "website"]
)  # fmt: skip
_values = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["authorization_code", "client_credentials", "refresh_token", "password"]),
    st.integers(),
    st.none(),
    st.lists(st.text(max_size=20), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@given(
    path=st.sampled_from(["/oauth/token", "/oauth/revoke", "/api/v1/apps"]),
    body=st.dictionaries(_field_names, _values, max_size=8),
    as_json=st.booleans(),
)
@hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_body_makes_a_500(client: TestClient, path: str, body: dict, as_json: bool) -> None:
    if as_json:
        r = client.post(path, json=body)
    else:
        form = {k: v for k, v in body.items() if isinstance(v, (str, int, list))}
        r = client.post(path, data=form)
    assert r.status_code < 500, (path, body, r.text)
    if r.status_code >= 400:
        assert isinstance(r.json()["error"], str) and r.json()["error"]
