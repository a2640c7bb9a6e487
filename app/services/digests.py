"""E-mail digests: a daily or weekly mail of the notifications a member set to
``email``, sent by the job queue (``notifications.digests``, hourly), with an
unsubscribe link that works without logging in (an HMAC of the member's id).

The mail is composed in one short transaction, sent with none open, and marked
sent in another, so a slow SMTP server never holds the database. A worker that
dies between sending and marking sends that digest again (at least once).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from functools import partial

from sqlalchemy import update
from sqlmodel import col, select

from app.errors import Forbidden, Invalid
from app.infra import jobs, mail
from app.models import Account, DigestSubscription, Notification, NotificationPreference, utcnow
from app.services import Ctx, notifications

FREQUENCIES = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
EVERY = timedelta(hours=1)
MAX_ITEMS = 50
MAX_EMAIL = 320
_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


def subscription(ctx: Ctx, account: Account) -> DigestSubscription | None:
    return ctx.db.get(DigestSubscription, account.id)


def subscribe(ctx: Ctx, account: Account, email: str, frequency: str) -> DigestSubscription | None:
    """Where and how often; an empty address stops the digest."""
    email = (email or "").strip()
    if not email:
        _stop(ctx, account.id)
        return None
    if len(email) > MAX_EMAIL or not _EMAIL.match(email):
        raise Invalid("That does not look like an e-mail address.", code="invalid_email")
    if frequency not in FREQUENCIES:
        raise Invalid("A digest is daily or weekly.", code="invalid_frequency")
    row = ctx.db.get(DigestSubscription, account.id) or DigestSubscription(account_id=account.id)
    row.email, row.frequency = email, frequency
    ctx.db.add(row)
    ctx.db.flush()
    return row


def _stop(ctx: Ctx, account_id: int) -> None:
    row = ctx.db.get(DigestSubscription, account_id)
    if row is not None:
        ctx.db.delete(row)
        ctx.db.flush()


def unsubscribe_token(ctx: Ctx, account_id: int) -> str:
    key = ctx.settings.resolved_secret_key.encode()
    mac = hmac.new(key, f"digest-unsubscribe:{account_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def unsubscribe_url(ctx: Ctx, account_id: int) -> str:
    return f"{ctx.base_url}/digest/unsubscribe/{account_id}/{unsubscribe_token(ctx, account_id)}"


def check_token(ctx: Ctx, account_id: int, token: str) -> None:
    if not hmac.compare_digest(unsubscribe_token(ctx, account_id), token or ""):
        raise Forbidden("That unsubscribe link is not valid.", code="invalid_unsubscribe_link")


def unsubscribe(ctx: Ctx, account_id: int, token: str) -> None:
    """From the link in a digest: no login, the signed token is the permission."""
    check_token(ctx, account_id, token)
    _stop(ctx, account_id)


# --- composing and sending ----------------------------------------------------


@dataclass
class Digest:
    account_id: int
    message: EmailMessage
    note_ids: list[int]


def due(ctx: Ctx, now: datetime) -> list[int]:
    """Members whose digest is due (never sent, or a day / a week ago)."""
    out = []
    for row in ctx.db.exec(select(DigestSubscription).where(col(DigestSubscription.email) != "")):
        period = FREQUENCIES.get(row.frequency, FREQUENCIES["daily"])
        if row.last_sent_at is None or row.last_sent_at <= now - period + timedelta(minutes=5):
            out.append(row.account_id)
    return out


def compose(ctx: Ctx, account_id: int) -> Digest | None:
    """The digest of unread, not yet mailed notifications of the kinds set to
    ``email``; None when there is nothing to tell."""
    row = ctx.db.get(DigestSubscription, account_id)
    account = ctx.db.get(Account, account_id)
    if row is None or not row.email or account is None or not account.is_active:
        return None
    kinds = ctx.db.exec(
        select(col(NotificationPreference.kind)).where(
            col(NotificationPreference.account_id) == account_id,
            col(NotificationPreference.mode) == "email",
        )
    ).all()
    if not kinds:
        return None
    rows = list(
        ctx.db.exec(
            select(Notification)
            .where(
                col(Notification.account_id) == account_id,
                col(Notification.kind).in_(kinds),
                col(Notification.read_at).is_(None),
                col(Notification.emailed_at).is_(None),
            )
            .order_by(col(Notification.latest_at).desc(), col(Notification.id).desc())
            .limit(MAX_ITEMS)
        )
    )
    if not rows:
        return None
    items = notifications._items(ctx, rows)
    lines = [f"Hello {account.name},", "", "Since your last digest:", ""]
    for item in items:
        link = _link(ctx, item)
        lines.append(f"- {item.summary}" + (f": {link}" if link else ""))
    unsubscribe = unsubscribe_url(ctx, account_id)
    lines += [
        "",
        f"All your notifications: {ctx.base_url}/notifications",
        f"Change what is mailed: {ctx.base_url}/notifications/settings",
        f"Stop these digests (no login needed): {unsubscribe}",
    ]
    message = EmailMessage()
    message["From"] = mail.sender(ctx.settings)
    message["To"] = row.email
    count = len(items)
    message["Subject"] = (
        f"{ctx.settings.instance_name}: {count} new notification{'s' if count != 1 else ''}"
    )
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content("\n".join(lines) + "\n")
    return Digest(account_id, message, [n.id for n in rows])


def _link(ctx: Ctx, item: notifications.Item) -> str:
    if item.post is not None:
        return f"{ctx.base_url}/posts/{item.post.id}"
    if item.artifact is not None:
        return f"{ctx.base_url}/artifacts/{item.artifact.id}"
    if item.community is not None:
        return f"{ctx.base_url}/c/{item.community.name}"
    return ""


def mark_sent(ctx: Ctx, digest: Digest, now: datetime) -> None:
    ctx.db.execute(
        update(Notification)
        .where(col(Notification.id).in_(digest.note_ids or [0]))
        .values(emailed_at=now)
    )
    row = ctx.db.get(DigestSubscription, digest.account_id)
    if row is not None:
        row.last_sent_at = now
        ctx.db.add(row)


async def send_due(job: jobs.JobContext, now: datetime | None = None) -> int:
    """Send every due digest; how many were sent."""
    at = now or utcnow()
    sent = 0
    for account_id in await job.run_db(lambda ctx: due(ctx, at)):
        digest = await job.run_db(partial(_compose_for, account_id))
        if digest is None:
            continue
        await asyncio.to_thread(mail.send, job.settings, digest.message)
        await job.run_db(partial(_mark_sent, digest, at))
        sent += 1
    return sent


def _compose_for(account_id: int, ctx: Ctx) -> Digest | None:
    return compose(ctx, account_id)


def _mark_sent(digest: Digest, now: datetime, ctx: Ctx) -> None:
    mark_sent(ctx, digest, now)


jobs.periodic("notifications.digests", EVERY)


@jobs.handler("notifications.digests")
async def digests_job(job: jobs.JobContext, payload: dict) -> None:
    try:
        await send_due(job)
    finally:
        await job.run_db(
            lambda ctx: jobs.reschedule(ctx, "notifications.digests", payload, utcnow() + EVERY)
        )
