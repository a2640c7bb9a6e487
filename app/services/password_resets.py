"""Password reset by a mailed one-time link.

Asking (``request``) answers the same whether or not an account has the address,
so the answer does not tell who is a member, nor does its timing much: no password
is hashed on either path (only an insert and a queued mail differ). Following
the link (``reset``) sets the new password under the usual rules, uses the link
up, and logs the member out everywhere: every browser session ends and every API
token is revoked, since whoever knew the old password may hold them."""

from __future__ import annotations

from datetime import timedelta

from app.db import unlocked
from app.errors import Invalid
from app.infra import mail, ratelimit
from app.models import Account, utcnow
from app.security.passwords import hash_password
from app.services import Ctx, accounts, auth, emails

ANSWER = "If an account uses this address, a link to set a new password is on its way."


def request(ctx: Ctx, address: str, *, client: str | None) -> None:
    """Mail a reset link to the local account with this address, if there is one;
    rate-limited per client and per address."""
    address = emails.normalize(address)
    ratelimit.limit(ctx, "mail", account=address, client=client)
    account = emails.find_local(ctx, address)
    if account is None or not account.is_active:
        return
    minutes = ctx.settings.reset_link_minutes
    raw = emails.new_link(ctx, account, emails.RESET, address, timedelta(minutes=minutes))
    mail.queue(
        ctx,
        address,
        "set a new password",
        f"Hello {account.name},\n\nSomeone (we hope you) asked to set a new password "
        f"for @{account.username}. Choose one at\n\n{ctx.base_url}/password-reset/{raw}\n\n"
        f"The link works once, within {minutes:g} minutes. If you did not ask, ignore this "
        "mail: your password stays as it is.\n",
    )


def link_usable(ctx: Ctx, raw: str) -> bool:
    """For the page the link opens (a read): whether to show the form."""
    try:
        emails.usable_link(ctx, raw, emails.RESET)
    except Invalid:
        return False
    return True


def reset(ctx: Ctx, raw: str, password: str) -> Account:
    """Set the new password from a reset link; the link is used up and the member
    is logged out everywhere."""
    accounts.validate_password(password)
    with unlocked(ctx.db):  # argon2 before the link is even looked at: hold no lock
        password_hash = hash_password(ctx.settings, password)
    row = emails.usable_link(ctx, raw, emails.RESET, hold=True)
    account = ctx.db.get(Account, row.account_id)
    assert account is not None  # the link is deleted with its account
    account.password_hash = password_hash
    if account.email == row.email and account.email_verified_at is None:
        account.email_verified_at = utcnow()  # the mail reached them
    ctx.db.add(account)
    emails.use_link(ctx, row)
    auth.end_other_sessions(ctx, account, None)
    auth.revoke_all_tokens(ctx, account)
    return account
