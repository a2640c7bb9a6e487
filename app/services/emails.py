"""Members' e-mail addresses and the mailed one-time links that confirm them.

An address is stored lower-cased, unique among local accounts. It is confirmed by
a link mailed to it (``verify`` row in ``email_tokens``: one use, expiring, only
its SHA-256 stored). With verification on (``CG_EMAIL_VERIFICATION``, or the
admin's choice on /admin, which wins), a member whose address is not confirmed
cannot log in. A change of address is confirmed at the new address before it
replaces the old one, which then gets a notice. Every mail goes through
``mail.queue`` (a job), never inside the request."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select

from app.db import lock_row, unlocked
from app.errors import Conflict, Invalid
from app.infra import mail, ratelimit
from app.models import Account, EmailToken, InstanceSetting, utcnow
from app.security.passwords import verify_password
from app.security.tokens import digest, new_secret
from app.services import Ctx

MAX_EMAIL = 320
_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
VERIFICATION_KEY = "email_verification"
VERIFY, RESET = "verify", "reset"
BAD_LINK = "This link is used up, expired or not one of ours. Ask for a new one."


def normalize(address: str) -> str:
    """The address as stored (trimmed, lower-cased), or Invalid."""
    address = (address or "").strip().lower()
    if len(address) > MAX_EMAIL or not _EMAIL.match(address):
        raise Invalid("That does not look like an e-mail address.", code="invalid_email")
    return address


def verification_required(ctx: Ctx) -> bool:
    """The admin's choice on /admin if they made one, else ``CG_EMAIL_VERIFICATION``."""
    row = ctx.db.get(InstanceSetting, VERIFICATION_KEY)
    if row is not None and row.value in ("on", "off"):
        return row.value == "on"
    return ctx.settings.email_verification


def store_verification(ctx: Ctx, on: bool) -> None:
    """Record the choice (the admin check is the caller's: registration.set_verification)."""
    row = ctx.db.get(InstanceSetting, VERIFICATION_KEY) or InstanceSetting(
        key=VERIFICATION_KEY, value=""
    )
    row.value = "on" if on else "off"
    ctx.db.add(row)


def must_confirm(ctx: Ctx, account: Account) -> bool:
    """Whether this member may not log in yet: verification is on and the address
    they gave is unconfirmed. Admins and accounts without an address (made by the
    setup link or the CLI, or before verification) are never locked out."""
    return (
        account.email is not None
        and account.email_verified_at is None
        and not account.is_admin
        and verification_required(ctx)
    )


def find_local(ctx: Ctx, address: str) -> Account | None:
    return ctx.db.exec(
        select(Account).where(col(Account.email) == address, col(Account.domain) == "")
    ).first()


def _check_free(ctx: Ctx, address: str, account: Account | None = None) -> None:
    other = find_local(ctx, address)
    if other is not None and (account is None or other.id != account.id):
        raise Conflict("Another account uses this e-mail address.", code="email_taken")


def for_sign_up(ctx: Ctx, address: str) -> str | None:
    """The address a sign-up gave, checked; required while verification is on."""
    if not (address or "").strip():
        if verification_required(ctx):
            raise Invalid(
                "Give an e-mail address: we mail you a link to confirm it.", code="email_required"
            )
        return None
    address = normalize(address)
    _check_free(ctx, address)
    return address


def signed_up(ctx: Ctx, account: Account, address: str | None) -> None:
    """Keep the new member's address (unconfirmed) and mail them the link."""
    if address is None:
        return
    account.email = address
    ctx.db.add(account)
    ctx.db.flush()
    send_confirmation(ctx, account, address)


def new_link(ctx: Ctx, account: Account, purpose: str, address: str, lifetime: timedelta) -> str:
    """A one-time link's secret; only its digest is stored."""
    raw = new_secret()
    ctx.db.add(
        EmailToken(
            account_id=account.id,
            purpose=purpose,
            token_hash=digest(raw),
            email=address,
            expires_at=utcnow() + lifetime,
        )
    )
    ctx.db.flush()
    return raw


def send_confirmation(ctx: Ctx, account: Account, address: str) -> None:
    hours = ctx.settings.email_link_hours
    raw = new_link(ctx, account, VERIFY, address, timedelta(hours=hours))
    mail.queue(
        ctx,
        address,
        "confirm your e-mail address",
        f"Hello {account.name},\n\n"
        f"To confirm that {address} is the address of @{account.username}, open\n\n"
        f"{ctx.base_url}/confirm-email/{raw}\n\n"
        f"The link works once, within {hours:g} hours. If you did not ask for this, "
        "ignore this mail.\n",
    )


def usable_link(ctx: Ctx, raw: str, purpose: str, *, hold: bool = False) -> EmailToken:
    """The unused, unexpired link of this secret and purpose (held for the rest of
    the transaction when ``hold``), else one clear error for every other case."""
    found = ctx.db.exec(
        select(EmailToken.id).where(col(EmailToken.token_hash) == digest((raw or "")[:200]))
    ).first()
    row = None
    if found is not None:
        row = lock_row(ctx.db, EmailToken, found) if hold else ctx.db.get(EmailToken, found)
    if (
        row is None
        or row.purpose != purpose
        or row.used_at is not None
        or row.expires_at <= utcnow()
    ):
        raise Invalid(BAD_LINK, code="invalid_link")
    return row


def use_link(ctx: Ctx, row: EmailToken) -> None:
    """Mark this link used, and the account's other open links of its purpose with
    it, so an older mail cannot undo what this one did."""
    now = utcnow()
    ctx.db.execute(
        update(EmailToken)
        .where(
            col(EmailToken.account_id) == row.account_id,
            col(EmailToken.purpose) == row.purpose,
            col(EmailToken.used_at).is_(None),
        )
        .values(used_at=now)
    )
    row.used_at = now


def confirm(ctx: Ctx, raw: str) -> Account:
    """Follow a confirmation link: the address is confirmed (and, for a change of
    address, replaces the old one, which is told)."""
    row = usable_link(ctx, raw, VERIFY, hold=True)
    account = ctx.db.get(Account, row.account_id)
    assert account is not None  # the link is deleted with its account
    _check_free(ctx, row.email, account)
    old = account.email
    account.email, account.email_verified_at = row.email, utcnow()
    ctx.db.add(account)
    use_link(ctx, row)
    ctx.db.flush()
    if old and old != row.email:
        mail.queue(
            ctx,
            old,
            "your e-mail address was changed",
            f"Hello {account.name},\n\nThe e-mail address of @{account.username} on "
            f"{ctx.settings.domain} is now {row.email}; mails no longer come here.\n\n"
            "If you did not do this, reset your password at "
            f"{ctx.base_url}/password-reset from the new address, or ask an admin.\n",
        )
    return account


def resend(ctx: Ctx, address: str, *, client: str | None) -> None:
    """ "Send the link again": whether or not an unconfirmed account has this
    address, the caller hears the same; rate-limited per client and per address."""
    address = normalize(address)
    ratelimit.limit(ctx, "mail", account=address, client=client)
    account = find_local(ctx, address)
    if account is not None and account.email_verified_at is None:
        send_confirmation(ctx, account, address)


def request_change(ctx: Ctx, account: Account, new_address: str, password: str) -> str:
    """Mail a confirmation link to the new address; the old one stays until it is
    followed. The password is asked, so a borrowed session cannot take the account."""
    with unlocked(ctx.db):  # argon2: hold no lock meanwhile
        if not verify_password(ctx.settings, account.password_hash, password or ""):
            raise Invalid("The password is wrong.", code="bad_password")
    address = normalize(new_address)
    if address == account.email and account.email_verified_at is not None:
        raise Invalid("That is already your confirmed address.", code="email_unchanged")
    _check_free(ctx, address, account)
    send_confirmation(ctx, account, address)
    return address


def prune_links(ctx: Ctx) -> None:
    """Mailed links a day past their expiry (used or not) are of no more use."""
    ctx.db.execute(
        delete(EmailToken).where(col(EmailToken.expires_at) < utcnow() - timedelta(days=1))
    )
