"""Browser sessions, personal API tokens and CSRF tokens.

Only SHA-256 digests of session keys and API tokens are stored, so a database
leak does not hand out logins.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select

from app.db import rows_changed, side_transaction
from app.errors import Invalid, NotAuthenticated, NotFound
from app.infra import ratelimit
from app.models import Account, ApiToken, WebSession, utcnow
from app.security.tokens import digest, new_secret
from app.services import Ctx

SCOPES = ("read", "write")
TOKEN_PREFIX = "cg_"  # noqa: S105 - a prefix, not a secret


def start_session(ctx: Ctx, account: Account) -> str:
    key = new_secret()
    ctx.db.add(
        WebSession(
            key_hash=digest(key),
            account_id=account.id,
            expires_at=utcnow() + timedelta(days=ctx.settings.session_days),
        )
    )
    return key


def session_account(ctx: Ctx, key: str | None) -> Account | None:
    if not key or len(key) > 200:
        return None
    row = ctx.db.exec(
        select(Account)
        .join(WebSession, col(WebSession.account_id) == col(Account.id))
        .where(col(WebSession.key_hash) == digest(key), col(WebSession.expires_at) > utcnow())
    ).first()
    return row if row is not None and row.is_active else None


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
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
        _note_use(ctx, token, now)  # coarse, so reads do not write on every request
    return account, token.scope


def _note_use(ctx: Ctx, token: ApiToken, now: datetime) -> None:
    if not ctx.db.info.get("read_only"):
        token.last_used_at = now
        ctx.db.add(token)
        return
    with side_transaction(ctx.db) as own:  # a reading request cannot write itself
        own.execute(update(ApiToken).where(col(ApiToken.id) == token.id).values(last_used_at=now))


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
