"""Sending e-mail: through SMTP when ``CG_SMTP_URL`` is set, else (development)
to the log and to ``<data dir>/outbox/`` as ``.eml`` files, so a newcomer sees
every mail the instance would send without configuring anything.

A service that wants a mail sent calls :func:`queue` in its transaction: one
``mail.send`` job per mail, sent by the worker with no transaction open and
retried when the SMTP server fails, so a slow or absent server never holds a
write, and a mail exists exactly when the change that asked for it commits."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import update
from sqlmodel import col

from app.config import Settings
from app.infra import jobs
from app.infra.context import Ctx
from app.models import Job, utcnow

log = logging.getLogger("commonground.mail")


class MailConfigError(ValueError):
    """CG_SMTP_URL is not an smtp:// or smtps:// URL."""


def sender(settings: Settings) -> str:
    return settings.mail_from or f"notifications@{settings.domain.split(':')[0]}"


def send(settings: Settings, message: EmailMessage) -> str:
    """Send one message; returns where it went ("smtp" or the outbox file)."""
    if not settings.smtp_url:
        return _to_outbox(settings, message)
    url = urlsplit(settings.smtp_url)
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        raise MailConfigError("CG_SMTP_URL must look like smtp://user:password@host:587")
    port = url.port or (465 if url.scheme == "smtps" else 25)
    timeout = settings.smtp_timeout_seconds
    context = ssl.create_default_context()
    client: smtplib.SMTP = (
        smtplib.SMTP_SSL(url.hostname, port, timeout=timeout, context=context)
        if url.scheme == "smtps"
        else smtplib.SMTP(url.hostname, port, timeout=timeout)
    )
    with client:
        if url.scheme == "smtp" and parse_qs(url.query).get("starttls") == ["1"]:
            client.starttls(context=context)
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        client.send_message(message)
    return "smtp"


def _to_outbox(settings: Settings, message: EmailMessage) -> str:
    outbox = settings.data_dir / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    name = f"{utcnow().strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}.eml"
    path = outbox / name
    path.write_bytes(bytes(message))
    body = message.get_body(("plain",)) if message.is_multipart() else message
    log.info(
        "no CG_SMTP_URL: mail to %s (%r) written to %s\n%s",
        message["To"],
        message["Subject"],
        path,
        body.get_content() if body is not None else "",
    )
    return str(path)


SEND = "mail.send"
SENT = "(sent; the text is not kept)"


def queue(ctx: Ctx, to: str, subject: str, body: str) -> Job:
    """Send a plain-text mail once the caller's transaction commits (a job)."""
    return jobs.enqueue(ctx, SEND, {"to": to, "subject": subject, "body": body})


def compose(settings: Settings, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender(settings)
    message["To"] = to
    message["Subject"] = f"{settings.instance_name}: {subject}"
    message.set_content(body)
    return message


@jobs.handler(SEND)
async def send_job(job: jobs.JobContext, payload: dict) -> None:
    """Send one queued mail; an SMTP failure raises, so the job is retried. Once
    sent, the job forgets the text (it may hold a one-time link)."""
    if payload.get("body") == SENT:
        return  # sent before the worker died: at least once, not twice if avoidable
    message = compose(job.settings, payload["to"], payload["subject"], payload["body"])
    try:
        await asyncio.to_thread(send, job.settings, message)
    except MailConfigError as exc:
        raise jobs.PermanentError(str(exc)) from exc
    kept = json.dumps({**payload, "body": SENT})
    await job.run_db(
        lambda ctx: ctx.db.execute(
            update(Job).where(col(Job.id) == job.job.id).values(payload=kept)
        )
    )
