"""Who may sign up: the instance's registration mode, invites and applications.

Public sign-ups (the sign-up page and ``POST /api/cg/v1/accounts``) come through
:func:`sign_up`, which applies the mode; trusted paths (the first-run setup link,
``commonground create-admin``) call :func:`app.services.accounts.register` directly
and work in every mode, so an instance can always get its admin.

An applicant's account exists from the start (the name is theirs) but is inactive
until an admin approves it; a rejected one stays inactive, so the name is not
handed out again; either way the applicant is mailed, if they gave an address.

Where the admin set one, a sign-up question (e.g. "What is the name of our
river?") must be answered: compared ignoring case and spacing, checked after the
sign-up rate limit counted the attempt (no external captcha)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlmodel import col, select

from app.db import lock_row
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.infra import mail
from app.models import Account, Application, InstanceSetting, Invite, InviteUse, utcnow
from app.services import Ctx, accounts, emails

Mode = Literal["open", "approval", "invite", "closed"]
MODES: tuple[Mode, ...] = ("open", "approval", "invite", "closed")
MODE_KEY = "registration_mode"
MAX_REASON = 1000
MAX_INVITE_USES = 100_000
MAX_INVITE_HOURS = 24 * 365
QUESTION_KEY, ANSWER_KEY = "signup_question", "signup_answer"
MAX_QUESTION, MAX_ANSWER = 300, 200


@dataclass(frozen=True)
class SignUp:
    """A sign-up's outcome: ``pending`` when an admin still has to approve it,
    ``confirm_email`` when the member must follow the mailed link first."""

    account: Account
    pending: bool
    confirm_email: bool = False


def mode(ctx: Ctx) -> Mode:
    """The admin's choice on /admin if they made one, else ``CG_REGISTRATION``."""
    row = ctx.db.get(InstanceSetting, MODE_KEY)
    if row is not None and row.value in MODES:
        return row.value  # type: ignore[return-value]  # checked against MODES
    return ctx.settings.registration


def set_mode(ctx: Ctx, admin: Account, new: str) -> Mode:
    require_admin(admin)
    if new not in MODES:
        raise Invalid(f"The mode is one of {', '.join(MODES)}.", code="invalid_mode")
    row = ctx.db.get(InstanceSetting, MODE_KEY) or InstanceSetting(key=MODE_KEY, value="")
    row.value = new
    ctx.db.add(row)
    return mode(ctx)


def set_verification(ctx: Ctx, admin: Account, on: bool) -> bool:
    """Whether sign-ups must confirm their address (wins over CG_EMAIL_VERIFICATION)."""
    require_admin(admin)
    emails.store_verification(ctx, on)
    return emails.verification_required(ctx)


def question(ctx: Ctx) -> str:
    """The sign-up question, or "" when there is none."""
    row = ctx.db.get(InstanceSetting, QUESTION_KEY)
    return row.value if row is not None else ""


def set_question(ctx: Ctx, admin: Account, text: str, answer: str) -> str:
    """Ask sign-ups ``text``, accepting ``answer``; an empty question asks nothing."""
    require_admin(admin)
    text, answer = (text or "").strip(), _plain(answer)
    if len(text) > MAX_QUESTION:
        raise Invalid(f"At most {MAX_QUESTION} characters, please.", code="question_too_long")
    if text and not answer:
        raise Invalid("Give the answer you accept.", code="answer_required")
    if len(answer) > MAX_ANSWER:
        raise Invalid(f"At most {MAX_ANSWER} characters, please.", code="answer_too_long")
    for key, value in ((QUESTION_KEY, text), (ANSWER_KEY, answer)):
        row = ctx.db.get(InstanceSetting, key)
        if not text:
            if row is not None:
                ctx.db.delete(row)
            continue
        row = row or InstanceSetting(key=key, value="")
        row.value = value
        ctx.db.add(row)
    ctx.db.flush()
    return text


def _plain(answer: str) -> str:
    """An answer as compared: case and spacing do not matter."""
    return " ".join((answer or "").split()).casefold()


def _check_answer(ctx: Ctx, answer: str) -> None:
    if not question(ctx):
        return
    accepted = ctx.db.get(InstanceSetting, ANSWER_KEY)
    if accepted is None or _plain(answer) != accepted.value:
        raise Invalid("That is not the answer to the sign-up question.", code="wrong_answer")


def is_open(ctx: Ctx) -> bool:
    """Whether anyone may sign up without an invite or an approval (NodeInfo's
    ``openRegistrations``)."""
    return mode(ctx) == "open"


def sign_up(
    ctx: Ctx,
    username: str,
    password: str,
    display_name: str = "",
    *,
    client: str | None,
    invite: str | None = None,
    reason: str = "",
    email: str = "",
    answer: str = "",
) -> SignUp:
    """A public sign-up under the instance's mode. Nothing is stored when it is
    refused. With an address, a confirmation link is mailed to it."""
    current = mode(ctx)
    if current == "closed":
        raise Forbidden("Sign-up is closed on this instance.", code="registrations_closed")
    reason = (reason or "").strip()
    if current == "approval" and not reason:
        raise Invalid("Say in a few words why you want to join.", code="reason_required")
    if len(reason) > MAX_REASON:
        raise Invalid(f"At most {MAX_REASON} characters, please.", code="reason_too_long")
    code = (invite or "").strip()
    if current == "invite" and not code:
        raise Forbidden(
            "This instance is invite-only: sign up with an invite link.", code="invite_required"
        )
    address = emails.for_sign_up(ctx, email)
    account = accounts.register(
        ctx, username, password, display_name, client=client, vet=lambda: _check_answer(ctx, answer)
    )
    emails.signed_up(ctx, account, address)
    if current == "invite":
        _use_invite(ctx, code, account)
    if current == "approval":
        account.is_active = False
        ctx.db.add(account)
        ctx.db.add(Application(account_id=account.id, reason=reason))
        ctx.db.flush()
    return SignUp(
        account, pending=current == "approval", confirm_email=emails.must_confirm(ctx, account)
    )


def _use_invite(ctx: Ctx, code: str, account: Account) -> None:
    """Count one use of the invite, holding its row so that sign-ups racing for its
    last use cannot both get it."""
    found = ctx.db.exec(select(Invite.id).where(col(Invite.code) == code[:64])).first()
    invite = lock_row(ctx.db, Invite, found) if found is not None else None
    if invite is None:
        raise Forbidden("That invite link is not one of ours.", code="invite_unknown")
    if invite.expires_at is not None and invite.expires_at <= utcnow():
        raise Forbidden("That invite link has expired.", code="invite_expired")
    if invite.uses >= invite.max_uses:
        raise Forbidden("That invite link has been used up.", code="invite_used_up")
    invite.uses += 1
    ctx.db.add(invite)
    ctx.db.add(InviteUse(invite_id=invite.id, account_id=account.id))
    ctx.db.flush()


def may_invite(ctx: Ctx, member: Account) -> bool:
    return member.is_admin or ctx.settings.members_may_invite


def create_invite(
    ctx: Ctx, member: Account, *, max_uses: int = 1, expires_in_hours: float | None = None
) -> Invite:
    if not may_invite(ctx, member):
        raise Forbidden("Only admins create invite links here.", code="invites_by_admins_only")
    if not 1 <= max_uses <= MAX_INVITE_USES:
        raise Invalid(f"An invite is used 1 to {MAX_INVITE_USES} times.", code="invalid_max_uses")
    expires_at = None
    if expires_in_hours is not None:
        if not 0 < expires_in_hours <= MAX_INVITE_HOURS:
            raise Invalid("An invite expires within a year.", code="invalid_expiry")
        expires_at = utcnow() + timedelta(hours=expires_in_hours)
    invite = Invite(
        code=secrets.token_urlsafe(18),
        created_by_id=member.id,
        max_uses=max_uses,
        expires_at=expires_at,
    )
    ctx.db.add(invite)
    ctx.db.flush()
    return invite


def invite_url(ctx: Ctx, invite: Invite) -> str:
    return f"{ctx.base_url}/signup?invite={invite.code}"


def invites(ctx: Ctx, member: Account) -> list[tuple[Invite, list[str]]]:
    """The invites this member may see (an admin: all of them), newest first, each
    with the usernames that joined through it."""
    q = select(Invite).order_by(col(Invite.id).desc()).limit(200)
    if not member.is_admin:
        q = q.where(col(Invite.created_by_id) == member.id)
    rows = list(ctx.db.exec(q))
    joined: dict[int, list[str]] = {i.id: [] for i in rows}
    if rows:
        for invite_id, username in ctx.db.exec(
            select(InviteUse.invite_id, Account.username)
            .join(Account, col(Account.id) == col(InviteUse.account_id))
            .where(col(InviteUse.invite_id).in_(list(joined)))
            .order_by(col(InviteUse.id))
        ):
            joined[invite_id].append(username)
    return [(i, joined[i.id]) for i in rows]


def applications(ctx: Ctx) -> list[tuple[Application, Account]]:
    """Sign-ups waiting for an admin, oldest first."""
    return list(
        ctx.db.exec(
            select(Application, Account)
            .join(Account, col(Account.id) == col(Application.account_id))
            .where(col(Application.state) == "pending")
            .order_by(col(Application.id))
        )
    )


def decide(ctx: Ctx, admin: Account, application_id: int, approve: bool) -> Account:
    require_admin(admin)
    application = lock_row(ctx.db, Application, application_id)
    if application is None:
        raise NotFound("No such application.", code="application_not_found")
    if application.state != "pending":
        raise Conflict(
            f"This application was already {application.state}.", code="application_decided"
        )
    application.state = "approved" if approve else "rejected"
    application.decided_at, application.decided_by_id = utcnow(), admin.id
    ctx.db.add(application)
    account = ctx.db.get(Account, application.account_id)
    assert account is not None  # the application is deleted with its account
    if approve:
        accounts.set_active(ctx, account, True)
    _tell_applicant(ctx, account, approve)
    return account


def _tell_applicant(ctx: Ctx, account: Account, approved: bool) -> None:
    if not account.email:
        return
    if approved:
        subject = "welcome: your application was approved"
        text = f"You can log in now at {ctx.base_url}/login as @{account.username}."
    else:
        subject = "your application was not accepted"
        text = f"An admin of {ctx.settings.domain} did not accept your application to join."
    mail.queue(ctx, account.email, subject, f"Hello {account.name},\n\n{text}\n")


def application_of(ctx: Ctx, account: Account) -> Application | None:
    return ctx.db.exec(select(Application).where(col(Application.account_id) == account.id)).first()


def require_admin(account: Account) -> None:
    if not account.is_admin:
        raise Forbidden("Only instance admins can do this.", code="not_admin")
