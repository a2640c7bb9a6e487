"""Browser sessions, personal API tokens and CSRF tokens.

Only SHA-256 digests of session keys and API tokens are stored, so a database
leak does not hand out logins.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select

from app.db import rows_changed, side_transaction
from app.errors import Forbidden, Invalid, NotAuthenticated, NotFound
from app.infra import ratelimit
from app.models import Account, ApiToken, WebSession, utcnow
from app.security.tokens import digest, new_secret
from app.services import Ctx

SCOPES = ("read", "write")
TOKEN_PREFIX = "cg_"  # noqa: S105 - a prefix, not a secret
NOTE_USE_EVERY = timedelta(minutes=5)  # last use is coarse, so reads rarely write
# (pattern in the User-Agent, name shown), first match wins: Edge and Opera say Chrome too
_BROWSERS = (
    (r"Edg/", "Edge"),
    (r"OPR/", "Opera"),
    (r"Firefox/", "Firefox"),
    (r"Chrom(e|ium)/", "Chrome"),
    (r"Safari/", "Safari"),
    (r"^curl/", "curl"),
    (r"^python-", "a Python script"),
)
_SYSTEMS = (
    (r"Android", "Android"),
    (r"iPhone|iPad", "iOS"),
    (r"Windows", "Windows"),
    (r"Mac OS X|Macintosh", "macOS"),
    (r"CrOS", "ChromeOS"),
    (r"Linux", "Linux"),
)


def describe_agent(user_agent: str) -> str:
    """A short, readable name for a browser ("Firefox on Linux"), not the raw string."""
    ua = (user_agent or "")[:1000]
    browser = next((name for pattern, name in _BROWSERS if re.search(pattern, ua)), "")
    system = next((name for pattern, name in _SYSTEMS if re.search(pattern, ua)), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "an unknown browser"


def address_prefix(client: str | None) -> str:
    """Where a login came from, roughly: the /24 of an IPv4 address, the /48 of an
    IPv6 one, never the whole address."""
    try:
        ip = ipaddress.ip_address(client or "")
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/48", strict=False))
    v4 = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else ip
    return str(ipaddress.ip_network(f"{v4}/24", strict=False))


def start_session(
    ctx: Ctx, account: Account, *, user_agent: str = "", client: str | None = None
) -> str:
    key = new_secret()
    now = utcnow()
    ctx.db.add(
        WebSession(
            key_hash=digest(key),
            account_id=account.id,
            expires_at=now + timedelta(days=ctx.settings.session_days),
            last_used_at=now,
            user_agent=describe_agent(user_agent),
            ip_prefix=address_prefix(client),
        )
    )
    return key


def session_account(ctx: Ctx, key: str | None) -> Account | None:
    if not key or len(key) > 200:
        return None
    now = utcnow()
    row = ctx.db.exec(
        select(Account, WebSession)
        .join(WebSession, col(WebSession.account_id) == col(Account.id))
        .where(col(WebSession.key_hash) == digest(key), col(WebSession.expires_at) > now)
    ).first()
    if row is None or not row[0].is_active:
        return None
    account, session = row
    if session.last_used_at is None or now - session.last_used_at > NOTE_USE_EVERY:
        _note_use(ctx, session, now)
    return account


def current_session_id(ctx: Ctx, key: str | None) -> int | None:
    if not key or len(key) > 200:
        return None
    return ctx.db.exec(select(WebSession.id).where(col(WebSession.key_hash) == digest(key))).first()


def sessions(ctx: Ctx, account: Account) -> list[WebSession]:
    """The member's live browser logins, most recently used first."""
    return list(
        ctx.db.exec(
            select(WebSession)
            .where(col(WebSession.account_id) == account.id, col(WebSession.expires_at) > utcnow())
            .order_by(col(WebSession.last_used_at).desc(), col(WebSession.id).desc())
        )
    )


def end_session_by_id(ctx: Ctx, account: Account, session_id: int) -> None:
    """Log out one of the member's browsers (from the sessions page or the API)."""
    row = ctx.db.get(WebSession, session_id)
    if row is None or row.account_id != account.id:
        raise NotFound("No such session.", code="session_not_found")
    ctx.db.delete(row)


def end_session(ctx: Ctx, key: str | None) -> None:
    if key:
        ctx.db.execute(delete(WebSession).where(col(WebSession.key_hash) == digest(key)))


def end_other_sessions(ctx: Ctx, account: Account, keep_key: str | None) -> None:
    """Log the account out everywhere but the browser holding ``keep_key``."""
    q = delete(WebSession).where(col(WebSession.account_id) == account.id)
    if keep_key:
        q = q.where(col(WebSession.key_hash) != digest(keep_key))
    ctx.db.execute(q)


def prune_sessions(ctx: Ctx) -> int:
    return rows_changed(
        ctx.db.execute(delete(WebSession).where(col(WebSession.expires_at) <= utcnow()))
    )


def create_token(
    ctx: Ctx, account: Account, scope: str, name: str = "", *, client: str | None = None
) -> tuple[ApiToken, str]:
    """A new API token (rate-limited per account and per ``client`` address)."""
    if scope not in SCOPES:
        raise Invalid("Token scope must be “read” or “write”.", code="invalid_scope")
    name = (name or "").strip()
    if len(name) > 100:
        raise Invalid("Token names are at most 100 characters.", code="invalid_name")
    ratelimit.limit(ctx, "token", account=account.id, client=client)
    raw = new_secret(TOKEN_PREFIX)
    token = ApiToken(
        account_id=account.id, name=name, token_hash=digest(raw), prefix=raw[:10], scope=scope
    )
    ctx.db.add(token)
    ctx.db.flush()
    return token, raw


def token_account(ctx: Ctx, raw: str) -> tuple[Account, str]:
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        raise NotAuthenticated("That API token is not valid.", code="invalid_token")
    row = ctx.db.exec(
        select(ApiToken, Account)
        .join(Account, col(Account.id) == col(ApiToken.account_id))
        .where(col(ApiToken.token_hash) == digest(raw))
    ).first()
    if row is None or not row[1].is_active:
        raise NotAuthenticated("That API token is not valid.", code="invalid_token")
    token, account = row
    if token.scope not in SCOPES:  # an app's token for push or profile alone
        raise Forbidden(
            "This token's scopes give no access to this API.", code="insufficient_scope"
        )
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > NOTE_USE_EVERY:
        _note_use(ctx, token, now)  # coarse, so reads do not write on every request
    return account, token.scope


def _note_use(ctx: Ctx, row: ApiToken | WebSession, now: datetime) -> None:
    if not ctx.db.info.get("read_only"):
        row.last_used_at = now
        ctx.db.add(row)
        return
    table = type(row)
    with side_transaction(ctx.db) as own:  # a reading request cannot write itself
        own.execute(update(table).where(col(table.id) == row.id).values(last_used_at=now))


def list_tokens(ctx: Ctx, account: Account) -> list[ApiToken]:
    return list(
        ctx.db.exec(
            select(ApiToken)
            .where(col(ApiToken.account_id) == account.id)
            .order_by(col(ApiToken.id).desc())
        )
    )


def revoke_all_tokens(ctx: Ctx, account: Account, keep_raw: str | None = None) -> int:
    """Revoke every API token of the account (but the one ``keep_raw``, if given):
    how many were revoked."""
    q = delete(ApiToken).where(col(ApiToken.account_id) == account.id)
    if keep_raw:
        q = q.where(col(ApiToken.token_hash) != digest(keep_raw))
    return rows_changed(ctx.db.execute(q))


def revoke_token(ctx: Ctx, account: Account, token_id: int) -> None:
    token = ctx.db.get(ApiToken, token_id)
    if token is None or token.account_id != account.id:
        raise NotFound("No such token.", code="token_not_found")
    ctx.db.delete(token)
