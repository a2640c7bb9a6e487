"""Local member accounts: registration, login, profile and password."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from sqlmodel import col, func, select

from app.db import unlocked
from app.errors import Conflict, Forbidden, Invalid, NotAuthenticated, NotFound
from app.infra import ratelimit
from app.models import Account, Application, Community, utcnow
from app.security.passwords import hash_password, needs_rehash, verify_password
from app.services import Ctx, auth, emails

USERNAME_RE = re.compile(r"^[A-Za-z0-9_]{1,30}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


def account_uri(ctx: Ctx, username: str) -> str:
    return f"{ctx.base_url}/users/{username}"


def profile_url(ctx: Ctx, account: Account) -> str:
    if account.is_local:
        return f"{ctx.base_url}/@{account.username}"
    return account.uri


def validate_username(username: str) -> str:
    username = (username or "").strip()
    if not USERNAME_RE.match(username):
        raise Invalid("Usernames are 1–30 letters, digits or underscores.", code="invalid_username")
    return username


def validate_password(password: str) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise Invalid(
            f"Passwords are {MIN_PASSWORD} to {MAX_PASSWORD} characters.", code="invalid_password"
        )
    return password


def validate_http_url(url: str, field: str) -> str:
    url = (url or "").strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2048:
        raise Invalid(f"{field} must be an http(s) URL.", code=f"invalid_{field}")
    return url


def name_taken(ctx: Ctx, key: str) -> bool:
    """Members and communities share one local namespace, so ``acct:name@domain``
    always means exactly one actor."""
    acc = ctx.db.exec(
        select(func.count())
        .select_from(Account)
        .where(col(Account.username_key) == key, col(Account.domain) == "")
    ).one()
    com = ctx.db.exec(
        select(func.count())
        .select_from(Community)
        .where(col(Community.name_key) == key, col(Community.domain) == "")
    ).one()
    return bool(acc or com)


def register(
    ctx: Ctx,
    username: str,
    password: str,
    display_name: str = "",
    *,
    is_admin: bool = False,
    client: str | None = None,
    vet: Callable[[], None] | None = None,
) -> Account:
    """A new local account; ``client`` (the address of a sign-up through a page or
    the API) is rate-limited, trusted callers (setup, the CLI) pass none. ``vet``
    (e.g. the sign-up question) runs after the attempt is counted and before the
    slow hashing, so a refused attempt counts and costs the server little."""
    username = validate_username(username)
    validate_password(password)
    display_name = (display_name or "").strip()
    if len(display_name) > 100:
        raise Invalid("Display names are at most 100 characters.", code="invalid_display_name")
    ratelimit.limit(ctx, "signup", client=client)
    if vet is not None:
        vet()
    with unlocked(ctx.db):  # argon2 is slow on purpose: hold no lock meanwhile
        password_hash = hash_password(ctx.settings, password)
    if name_taken(ctx, username.lower()):
        raise Conflict(f"The name “{username}” is taken.", code="username_taken")
    account = Account(
        username=username,
        username_key=username.lower(),
        uri=account_uri(ctx, username),
        display_name=display_name,
        password_hash=password_hash,
        is_admin=is_admin,
    )
    ctx.db.add(account)
    ctx.db.flush()
    return account


def get_local(ctx: Ctx, username: str, *, include_suspended: bool = False) -> Account:
    account = find_local(ctx, username, include_suspended=include_suspended)
    if account is None:
        raise NotFound(f"No member named “{username}”.", code="account_not_found")
    return account


def find_local(ctx: Ctx, username: str, *, include_suspended: bool = False) -> Account | None:
    q = select(Account).where(
        col(Account.username_key) == (username or "").lower(), col(Account.domain) == ""
    )
    if not include_suspended:
        q = q.where(col(Account.is_active))
    return ctx.db.exec(q).first()


def authenticate(ctx: Ctx, username: str, password: str, client_ip: str) -> Account:
    """Check a username and password, with failed attempts rate-limited per
    (username, client) and per client.

    The attempt is counted (committed) before the password is checked, so parallel
    attempts cannot all pass a check that none has counted yet; the check itself
    holds no lock, and a right password takes the attempt back."""
    name = (username or "").strip().lower()[: emails.MAX_EMAIL]
    s = ctx.settings
    attempt = ratelimit.limit(ctx, "login", account=name[:64], client=client_ip)
    account = _by_login_name(ctx, name)
    with unlocked(ctx.db):  # argon2 is slow on purpose: hold no lock meanwhile
        verified = verify_password(s, account.password_hash if account else None, password or "")
    if not verified or account is None:
        raise NotAuthenticated("Wrong username or password.", code="bad_credentials")
    if not account.is_active:
        _refuse_inactive(ctx, account)
    if emails.must_confirm(ctx, account):
        raise Forbidden(
            "Confirm your e-mail address first: follow the link we mailed you "
            "(or ask for it again on the login page).",
            code="email_unconfirmed",
        )
    ratelimit.refund(ctx, attempt, forget_earlier=True)
    if needs_rehash(s, account.password_hash or ""):
        account.password_hash = hash_password(s, password)
    return account


def _by_login_name(ctx: Ctx, name: str) -> Account | None:
    """The local member a login names: a username, or the member's e-mail address,
    which is what Mastodon's password grant sends (toot's ``login_cli`` does)."""
    if USERNAME_RE.match(name):
        return find_local(ctx, name, include_suspended=True)
    if "@" not in name:
        return None
    try:
        return emails.find_local(ctx, emails.normalize(name))
    except Invalid:
        return None


def _refuse_inactive(ctx: Ctx, account: Account) -> None:
    """After the right password of an inactive account: an applicant hears where
    their application stands; a suspended member gets the same answer as a wrong
    password, as before."""
    application = ctx.db.exec(
        select(Application).where(col(Application.account_id) == account.id)
    ).first()
    if application is not None and application.state == "pending":
        raise Forbidden(
            "Your application is waiting for an admin to approve it.", code="application_pending"
        )
    if application is not None and application.state == "rejected":
        raise Forbidden("Your application to join was not accepted.", code="application_rejected")
    raise NotAuthenticated("Wrong username or password.", code="bad_credentials")


def update_profile(
    ctx: Ctx,
    account: Account,
    *,
    display_name: str | None = None,
    bio: str | None = None,
    avatar_url: str | None = None,
) -> Account:
    if display_name is not None:
        display_name = display_name.strip()
        if len(display_name) > 100:
            raise Invalid("Display names are at most 100 characters.", code="invalid_display_name")
        account.display_name = display_name
    if bio is not None:
        if len(bio) > 5000:
            raise Invalid("Bios are at most 5,000 characters.", code="invalid_bio")
        account.bio = bio.strip()
    if avatar_url is not None:
        account.avatar_url = validate_http_url(avatar_url, "avatar_url")
    account.updated_at = utcnow()
    ctx.db.add(account)
    return account


def set_preferences(ctx: Ctx, account: Account, *, expand_warnings: bool) -> Account:
    """How pages show things to this member: every content warning opened, or not."""
    account.expand_warnings = bool(expand_warnings)
    ctx.db.add(account)
    return account


def change_password(
    ctx: Ctx,
    account: Account,
    current: str,
    new: str,
    *,
    keep_session: str | None = None,
    revoke_tokens: bool = False,
    keep_token: str | None = None,
) -> None:
    """Set a new password. Whoever learnt the old one is logged out: every browser
    session ends but ``keep_session`` (the one asking); with ``revoke_tokens``
    every API token goes too, but ``keep_token`` (an API caller's own)."""
    with unlocked(ctx.db):  # argon2 twice: hold no lock meanwhile
        if not verify_password(ctx.settings, account.password_hash, current or ""):
            raise Invalid("The current password is wrong.", code="bad_current_password")
        validate_password(new)
        password_hash = hash_password(ctx.settings, new)
    account.password_hash = password_hash
    ctx.db.add(account)
    auth.end_other_sessions(ctx, account, keep_session)
    if revoke_tokens:
        auth.revoke_all_tokens(ctx, account, keep_token)


def list_local(ctx: Ctx, *, limit: int = 200) -> list[Account]:
    return list(
        ctx.db.exec(
            select(Account)
            .where(col(Account.domain) == "")
            .order_by(col(Account.username_key))
            .limit(limit)
        )
    )


def set_active(ctx: Ctx, account: Account, active: bool) -> None:
    account.is_active = active
    ctx.db.add(account)


def admin_exists(ctx: Ctx) -> bool:
    return (
        ctx.db.exec(
            select(func.count())
            .select_from(Account)
            .where(col(Account.is_admin), col(Account.domain) == "")
        ).one()
        > 0
    )
