"""OAuth 2 for client apps (the Mastodon client API's login): app registration, the
authorization code flow with PKCE, the token endpoint's grants, revocation, and
how Mastodon's scopes map onto Commonground's own token scopes.

The rules live here; app/mastodon holds only the HTTP edges. Secrets are random
(app.security.tokens) and only their SHA-256 digests are stored: client secrets,
authorization codes, access and refresh tokens. docs/mastodon-api.md describes it.

A token an app gets for a member is an ordinary :class:`ApiToken` (with ``app_id``
and the Mastodon scopes granted), so the native API's bearer check takes it, the
sessions page lists it under the app's name, and revoking it there ends it. A
token of the app alone (``client_credentials``) is an :class:`OAuthAppToken`: it
has no member behind it, so the native API refuses it.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from sqlalchemy import delete
from sqlmodel import col, select

from app.db import rows_changed
from app.errors import DomainError, Invalid, NotAuthenticated, RateLimited
from app.infra import ratelimit
from app.models import Account, ApiToken, OAuthApp, OAuthAppToken, OAuthCode, utcnow
from app.security.tokens import digest, new_secret, same
from app.services import Ctx, accounts
from app.services.auth import TOKEN_PREFIX

OOB = "urn:ietf:wg:oauth:2.0:oob"
CODE_LIFETIME = timedelta(minutes=10)
APP_TOKEN_PREFIX = "cga_"  # noqa: S105 - a prefix, not a secret; not "cg_", so the native API refuses it
REFRESH_PREFIX = "cgr_"
MAX_REDIRECT_URIS = 10
MAX_URI = 2048
MAX_NAME = 100

_GRANULAR = {
    "read": (
        "accounts", "blocks", "bookmarks", "favourites", "filters", "follows", "lists",
        "mutes", "notifications", "search", "statuses",
    ),
    "write": (
        "accounts", "blocks", "bookmarks", "conversations", "favourites", "filters", "follows",
        "lists", "media", "mutes", "notifications", "reports", "statuses",
    ),
}  # fmt: skip
# Mastodon's legacy "follow" is these granular scopes together
FOLLOW_SCOPES = frozenset(
    f"{kind}:{what}" for kind in ("read", "write") for what in ("follows", "blocks", "mutes")
)
SCOPES_SUPPORTED = (
    "read",
    "write",
    "follow",
    "push",
    "profile",
    *(f"{kind}:{what}" for kind, whats in _GRANULAR.items() for what in whats),
)
_KNOWN = frozenset(SCOPES_SUPPORTED)
# what the consent page says each scope lets the app do
SCOPE_WORDS = {
    "read": "read everything your account can see",
    "write": "post, edit, react and change your settings in your name",
    "follow": "follow, block and mute for you",
    "push": "receive push notifications (not offered here yet)",
    "profile": "see who you are",
}

GRANTS = ("authorization_code", "client_credentials", "refresh_token")
PKCE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")  # RFC 7636: challenge and verifier alike
_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*$")
# schemes that run or show content in the browser, or reach files: never a redirect target
_REFUSED_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "about", "blob", "ws"})


class OAuthError(DomainError):
    """An OAuth error: ``code`` is OAuth's ``error`` (invalid_grant, invalid_client…),
    ``detail`` its ``error_description``."""

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(description, code=code)
        self.status = status


# --- scopes -----------------------------------------------------------------------------------


def parse_scopes(value: str | None, *, default: str = "read") -> list[str]:
    """Space-separated scopes in their order, each once; unknown ones and admin:* are
    refused (invalid_scope)."""
    scopes = list(dict.fromkeys((value or "").split())) or default.split()
    unknown = [s for s in scopes if s not in _KNOWN]
    if unknown:
        raise OAuthError(
            "invalid_scope", f"Unknown or unsupported scope: {' '.join(unknown)[:200]}."
        )
    return scopes


def covers(granted: list[str], scope: str) -> bool:
    """Whether scopes ``granted`` include ``scope``: itself, its parent (``read``
    covers ``read:statuses``), or ``follow`` for the follow, block and mute scopes."""
    if scope in granted:
        return True
    parent = scope.partition(":")[0]
    return (parent != scope and parent in granted) or (
        scope in FOLLOW_SCOPES and "follow" in granted
    )


def allowed_scopes(app: OAuthApp, requested: str | None) -> list[str]:
    scopes = parse_scopes(requested)
    registered = app.scopes.split()
    beyond = [s for s in scopes if not covers(registered, s)]
    if beyond:
        raise OAuthError("invalid_scope", f"The app was not registered for: {' '.join(beyond)}.")
    return scopes


def native_scope(scopes: list[str]) -> str:
    """Commonground's own token scope for Mastodon scopes: "write" (which reads too)
    for any write scope or ``follow``; "read" for any read scope; "" (no access to
    the native API) for ``push`` or ``profile`` alone."""
    if any(s == "write" or s.startswith("write:") or s == "follow" for s in scopes):
        return "write"
    if any(s == "read" or s.startswith("read:") for s in scopes):
        return "read"
    return ""


def scope_words(scopes: list[str]) -> list[tuple[str, str]]:
    """(scope, what it allows) for the consent page."""
    out = []
    for s in scopes:
        kind, _, what = s.partition(":")
        words = SCOPE_WORDS.get(s)
        if words is None:
            verb = "read" if kind == "read" else "change"
            words = f"{verb} your {what}"
        out.append((s, words))
    return out


# --- apps -------------------------------------------------------------------------------------


def redirect_uri_allowed(uri: str) -> bool:
    """``urn:ietf:wg:oauth:2.0:oob``, https, http to a loopback host only, or an
    app's own scheme (``myapp://cb``, ``com.example.app:/cb``); never a fragment,
    nor a scheme that runs code or shows content (javascript:, data:, file:…)."""
    if uri == OOB:
        return True
    if len(uri) > MAX_URI or any(c.isspace() or ord(c) < 32 for c in uri) or "#" in uri:
        return False
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if not scheme or not _SCHEME.match(scheme) or scheme in _REFUSED_SCHEMES:
        return False
    if scheme == "https":
        return bool(host)
    if scheme == "http":
        return bool(host) and _loopback(host or "")
    return bool(parts.netloc or parts.path)  # an app's own scheme


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _website_allowed(url: str) -> bool:
    if not url:
        return True
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and len(url) <= MAX_URI


def register_app(
    ctx: Ctx,
    name: str,
    redirect_uris: list[str],
    scopes: str | None,
    website: str = "",
    *,
    client: str | None = None,
) -> tuple[OAuthApp, str]:
    """A new client app (rate-limited per ``client`` address) and its client secret."""
    name = name.strip()
    uris = list(dict.fromkeys(u.strip() for u in redirect_uris if u.strip()))
    if not name:
        raise Invalid("Validation failed: Application name can't be blank.")
    if len(name) > MAX_NAME:
        raise Invalid(f"Validation failed: Application name is too long (at most {MAX_NAME}).")
    if not uris:
        raise Invalid("Validation failed: Redirect URI can't be blank.")
    if len(uris) > MAX_REDIRECT_URIS:
        raise Invalid(f"Validation failed: at most {MAX_REDIRECT_URIS} redirect URIs.")
    bad = [u for u in uris if not redirect_uri_allowed(u)]
    if bad:
        raise Invalid(
            "Validation failed: Redirect URI must be https, http to a loopback address, "
            f"an app's own scheme or {OOB}: {bad[0][:200]!r} is not."
        )
    try:
        granted = parse_scopes(scopes)
    except OAuthError as exc:
        raise Invalid(f"Validation failed: {exc.detail}") from exc
    website = website.strip()
    if not _website_allowed(website):
        raise Invalid("Validation failed: Website must be an http or https address.")
    ratelimit.limit(ctx, "app", client=client)
    secret = new_secret()
    app = OAuthApp(
        name=name,
        website=website,
        redirect_uris="\n".join(uris),
        scopes=" ".join(granted),
        client_id=new_secret()[:43],
        secret_hash=digest(secret),
    )
    ctx.db.add(app)
    ctx.db.flush()
    return app, secret


def redirect_uris(app: OAuthApp) -> list[str]:
    return app.redirect_uris.split("\n") if app.redirect_uris else []


def app_by_client_id(ctx: Ctx, client_id: str) -> OAuthApp | None:
    if not client_id or len(client_id) > 64:
        return None
    return ctx.db.exec(select(OAuthApp).where(col(OAuthApp.client_id) == client_id)).first()


def authenticate_client(ctx: Ctx, client_id: str, secret: str) -> OAuthApp:
    app = app_by_client_id(ctx, client_id)
    if app is None or not secret or len(secret) > 200 or not same(digest(secret), app.secret_hash):
        raise OAuthError(
            "invalid_client", "Client authentication failed: unknown client or wrong secret.", 401
        )
    return app


# --- authorization ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizationRequest:
    """A checked ``/oauth/authorize`` request, as the consent page shows it."""

    app: OAuthApp
    redirect_uri: str
    scopes: list[str]
    state: str
    code_challenge: str

    def form(self) -> dict[str, str]:
        """The hidden fields the consent form sends back (checked again then)."""
        return {
            "response_type": "code",
            "client_id": self.app.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": " ".join(self.scopes),
            "state": self.state,
            "code_challenge": self.code_challenge,
            "code_challenge_method": "S256" if self.code_challenge else "",
        }


def check_authorization(ctx: Ctx, params: dict[str, str]) -> AuthorizationRequest:
    """Check an authorization request before the member is asked: the client and its
    redirect URI, the response type, the scopes (within the app's), PKCE (S256 only)."""
    app = app_by_client_id(ctx, params.get("client_id", ""))
    if app is None:
        raise OAuthError("invalid_client", "No app is registered with that client_id.")
    registered = redirect_uris(app)
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri and len(registered) == 1:
        redirect_uri = registered[0]
    if redirect_uri not in registered:
        raise OAuthError("invalid_request", "The redirect_uri is not one the app registered.")
    if params.get("response_type") != "code":
        raise OAuthError("unsupported_response_type", "Only response_type=code is supported.")
    scopes = allowed_scopes(app, params.get("scope"))
    challenge = params.get("code_challenge", "")
    method = params.get("code_challenge_method", "")
    if challenge or method:
        if method != "S256":
            raise OAuthError(
                "invalid_request", "PKCE: only code_challenge_method=S256 is supported."
            )
        if not PKCE.match(challenge):
            raise OAuthError("invalid_request", "PKCE: the code_challenge is malformed.")
    state = params.get("state", "")
    if len(state) > 1000:
        raise OAuthError("invalid_request", "The state is too long (at most 1000 characters).")
    return AuthorizationRequest(app, redirect_uri, scopes, state, challenge)


def issue_code(ctx: Ctx, account: Account, request: AuthorizationRequest) -> str:
    """The member approved: a single-use code, valid for CODE_LIFETIME."""
    raw = new_secret()
    now = utcnow()
    ctx.db.add(
        OAuthCode(
            code_hash=digest(raw),
            app_id=request.app.id,
            account_id=account.id,
            redirect_uri=request.redirect_uri,
            scopes=" ".join(request.scopes),
            code_challenge=request.code_challenge,
            created_at=now,
            expires_at=now + CODE_LIFETIME,
        )
    )
    return raw


def redirect_target(redirect_uri: str, params: dict[str, str]) -> str:
    """``redirect_uri`` with ``params`` added to its query (empty ones left out)."""
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{query}"


def form_action_source(redirect_uri: str) -> str:
    """The CSP source the consent form needs to be let through to ``redirect_uri``
    (the form's answer redirects there): its origin, or its scheme for an app's own."""
    if redirect_uri == OOB:
        return ""
    parts = urlsplit(redirect_uri)
    if parts.scheme in ("http", "https"):
        return f"{parts.scheme}://{parts.netloc}"
    return f"{parts.scheme}:"


# --- the token endpoint -----------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    """What the token endpoint answers."""

    access_token: str
    scopes: str
    created_at: int
    refresh_token: str | None = None

    def body(self) -> dict[str, object]:
        out: dict[str, object] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "scope": self.scopes,
            "created_at": self.created_at,
        }
        if self.refresh_token:
            out["refresh_token"] = self.refresh_token
        return out


def grant_types(ctx: Ctx) -> list[str]:
    return [*GRANTS, "password"] if ctx.settings.oauth_password_grant else list(GRANTS)


def token(
    ctx: Ctx, fields: dict[str, str], *, basic: tuple[str, str] | None, client: str | None
) -> Issued:
    """``POST /oauth/token``: rate-limited per client address, the client
    authenticated (HTTP Basic or client_id/client_secret in the body), then the grant."""
    grant = fields.get("grant_type", "")
    if not grant:
        raise OAuthError("invalid_request", "grant_type is missing.")
    if grant not in grant_types(ctx):
        raise OAuthError("unsupported_grant_type", f"The grant type {grant[:50]!r} is not offered.")
    ratelimit.limit(ctx, "token", client=client)
    client_id, secret = basic or (fields.get("client_id", ""), fields.get("client_secret", ""))
    app = authenticate_client(ctx, client_id, secret)
    if grant == "authorization_code":
        return _exchange_code(ctx, app, fields)
    if grant == "refresh_token":
        return _refresh(ctx, app, fields.get("refresh_token", ""))
    if grant == "password":
        return _password(ctx, app, fields, client)
    return _client_credentials(ctx, app, fields.get("scope"))


def _exchange_code(ctx: Ctx, app: OAuthApp, fields: dict[str, str]) -> Issued:
    raw = fields.get("code", "")
    if not raw:
        raise OAuthError("invalid_request", "code is missing.")
    invalid = OAuthError(
        "invalid_grant", "The code is invalid, expired, used, or was issued to another client."
    )
    row = None
    if len(raw) <= 200:
        row = ctx.db.exec(select(OAuthCode).where(col(OAuthCode.code_hash) == digest(raw))).first()
    if row is None or row.app_id != app.id or row.expires_at <= utcnow():
        raise invalid
    if fields.get("redirect_uri", "") != row.redirect_uri:
        raise OAuthError(
            "invalid_grant", "The redirect_uri is not the one the code was issued for."
        )
    if row.code_challenge:
        verifier = fields.get("code_verifier", "")
        if not PKCE.match(verifier) or not same(_s256(verifier), row.code_challenge):
            raise OAuthError("invalid_grant", "PKCE: the code_verifier does not match.")
    # claim the code: of two requests racing with it, only one deletes the row
    if not rows_changed(ctx.db.execute(delete(OAuthCode).where(col(OAuthCode.id) == row.id))):
        raise invalid
    account = ctx.db.get(Account, row.account_id)
    if account is None or not account.is_active:
        raise invalid
    return _member_token(ctx, app, account, row.scopes.split())


def _s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


def _member_token(ctx: Ctx, app: OAuthApp, account: Account, scopes: list[str]) -> Issued:
    raw = new_secret(TOKEN_PREFIX)
    refresh = new_secret(REFRESH_PREFIX)
    row = ApiToken(
        account_id=account.id,
        name=app.name[:100],
        token_hash=digest(raw),
        prefix=raw[:10],
        scope=native_scope(scopes),
        app_id=app.id,
        oauth_scopes=" ".join(scopes),
        refresh_hash=digest(refresh),
    )
    ctx.db.add(row)
    ctx.db.flush()
    return Issued(raw, row.oauth_scopes, int(row.created_at.timestamp()), refresh)


def _refresh(ctx: Ctx, app: OAuthApp, raw: str) -> Issued:
    """Rotate: the old access and refresh tokens end, a new pair begins."""
    invalid = OAuthError("invalid_grant", "The refresh token is invalid, revoked or used.")
    if not raw or len(raw) > 200:
        raise invalid
    row = ctx.db.exec(select(ApiToken).where(col(ApiToken.refresh_hash) == digest(raw))).first()
    if row is None or row.app_id != app.id:
        raise invalid
    if not rows_changed(ctx.db.execute(delete(ApiToken).where(col(ApiToken.id) == row.id))):
        raise invalid
    account = ctx.db.get(Account, row.account_id)
    if account is None or not account.is_active:
        raise invalid
    return _member_token(ctx, app, account, row.oauth_scopes.split())


def _password(ctx: Ctx, app: OAuthApp, fields: dict[str, str], client: str | None) -> Issued:
    scopes = allowed_scopes(app, fields.get("scope"))
    username, password = fields.get("username", ""), fields.get("password", "")
    if not username or not password:
        raise OAuthError("invalid_request", "username and password are needed.")
    try:
        account = accounts.authenticate(ctx, username[:200], password[:1000], client or "")
    except RateLimited:
        raise
    except DomainError as exc:
        raise OAuthError("invalid_grant", str(exc.detail)) from exc
    return _member_token(ctx, app, account, scopes)


def _client_credentials(ctx: Ctx, app: OAuthApp, requested: str | None) -> Issued:
    scopes = " ".join(allowed_scopes(app, requested))
    raw = new_secret(APP_TOKEN_PREFIX)
    row = OAuthAppToken(app_id=app.id, token_hash=digest(raw), scopes=scopes)
    ctx.db.add(row)
    ctx.db.flush()
    return Issued(raw, scopes, int(row.created_at.timestamp()))


def revoke(
    ctx: Ctx, fields: dict[str, str], *, basic: tuple[str, str] | None, client: str | None
) -> None:
    """``POST /oauth/revoke``: end an access or refresh token of this client. An unknown
    token is no error (RFC 7009); another client's token is refused."""
    ratelimit.limit(ctx, "token", client=client)
    client_id, secret = basic or (fields.get("client_id", ""), fields.get("client_secret", ""))
    app = authenticate_client(ctx, client_id, secret)
    raw = fields.get("token", "")
    if not raw or len(raw) > 200:
        return
    hashed = digest(raw)
    member = ctx.db.exec(
        select(ApiToken).where(
            (col(ApiToken.token_hash) == hashed) | (col(ApiToken.refresh_hash) == hashed)
        )
    ).first()
    own = ctx.db.exec(select(OAuthAppToken).where(col(OAuthAppToken.token_hash) == hashed)).first()
    found = member or own
    if found is None:
        return
    if found.app_id != app.id:
        raise OAuthError("unauthorized_client", "That token belongs to another app.", 403)
    ctx.db.delete(found)


def token_app(ctx: Ctx, raw: str | None) -> OAuthApp:
    """The app behind a bearer token: its own token, or one it holds for a member."""
    invalid = NotAuthenticated("The access token is invalid.", code="invalid_token")
    if not raw or len(raw) > 200:
        raise invalid
    hashed = digest(raw)
    if raw.startswith(APP_TOKEN_PREFIX):
        app_id = ctx.db.exec(
            select(OAuthAppToken.app_id).where(col(OAuthAppToken.token_hash) == hashed)
        ).first()
    else:
        row = ctx.db.exec(
            select(ApiToken.app_id, Account)
            .join(Account, col(Account.id) == col(ApiToken.account_id))
            .where(col(ApiToken.token_hash) == hashed)
        ).first()
        app_id = row[0] if row is not None and row[1].is_active else None
    app = ctx.db.get(OAuthApp, app_id) if app_id is not None else None
    if app is None:
        raise invalid
    return app


def prune_codes(ctx: Ctx) -> int:
    """Forget the codes nobody exchanged in time."""
    return rows_changed(
        ctx.db.execute(delete(OAuthCode).where(col(OAuthCode.expires_at) <= utcnow()))
    )


def metadata(ctx: Ctx) -> dict[str, object]:
    """RFC 8414 authorization server metadata (``/.well-known/oauth-authorization-server``)."""
    base = ctx.settings.base_url
    return {
        "issuer": base,
        "service_documentation": "https://docs.joinmastodon.org/",
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "app_registration_endpoint": f"{base}/api/v1/apps",
        "scopes_supported": list(SCOPES_SUPPORTED),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grant_types(ctx),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }


def app_entity(app: OAuthApp, *, secret: str | None = None) -> dict[str, object]:
    """Mastodon's Application entity (with the credentials when just registered)."""
    uris = redirect_uris(app)
    out: dict[str, object] = {
        "id": str(app.id),
        "name": app.name,
        "website": app.website or None,
        "scopes": app.scopes.split(),
        "redirect_uri": "\n".join(uris),
        "redirect_uris": uris,
        "vapid_key": "",  # no Web Push here yet
    }
    if secret is not None:
        out.update(client_id=app.client_id, client_secret=secret, client_secret_expires_at=0)
    return out
