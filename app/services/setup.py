"""First run: a one-time link that creates the admin account and first community.

While the instance has no admin, ``commonground serve`` prints a setup link
holding a fresh random token (only its hash is stored). Completing setup uses
the token up, so the link works exactly once.
"""

from __future__ import annotations

from app.db import lock_row
from app.errors import Forbidden
from app.models import Account, Community, InstanceSetting
from app.security.tokens import digest, new_secret, same
from app.services import Ctx, accounts, communities

SETUP_KEY = "setup_token_sha256"


def issue_setup_token(ctx: Ctx) -> str | None:
    """A new setup token if the instance still needs an admin, else None."""
    if accounts.admin_exists(ctx):
        return None
    token = new_secret()
    row = ctx.db.get(InstanceSetting, SETUP_KEY) or InstanceSetting(key=SETUP_KEY, value="")
    row.value = digest(token)
    ctx.db.add(row)
    return token


def setup_url(ctx: Ctx, token: str) -> str:
    return f"{ctx.base_url}/setup/{token}"


def token_valid(ctx: Ctx, token: str) -> bool:
    return _matches(ctx, ctx.db.get(InstanceSetting, SETUP_KEY), token)


def _matches(ctx: Ctx, row: InstanceSetting | None, token: str) -> bool:
    if row is None or not row.value or not token:
        return False
    return same(row.value, digest(token)) and not accounts.admin_exists(ctx)


def complete(
    ctx: Ctx,
    token: str,
    *,
    username: str,
    password: str,
    display_name: str = "",
    community_name: str = "",
    community_title: str = "",
    community_description: str = "",
) -> tuple[Account, Community | None]:
    if not _use_up(ctx, token):
        raise Forbidden(
            "This setup link is used up or out of date. Restart `commonground serve` "
            "for a new one, or use `commonground create-admin`.",
            code="setup_token_invalid",
        )
    admin = accounts.register(ctx, username, password, display_name, is_admin=True)
    community = None
    if community_name.strip():
        community = communities.create(
            ctx, admin, community_name, title=community_title, description=community_description
        )
    return admin, community


def _use_up(ctx: Ctx, token: str) -> bool:
    """Check the token and delete it, holding its row meanwhile: of simultaneous
    uses of the link, one gets it; the others wait for its transaction, then find
    the token gone (PostgreSQL's ``FOR UPDATE``; SQLite's write lock serialises)."""
    row = lock_row(ctx.db, InstanceSetting, SETUP_KEY)
    if row is None or not _matches(ctx, row, token):
        return False
    ctx.db.delete(row)
    ctx.db.flush()
    return True
