"""E-mail digests, sent by the job queue to a real SMTP server on 127.0.0.1
(aiosmtpd), or without one to the log and <data dir>/outbox/; and the unsubscribe
link, which works without logging in. On both databases."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from sqlmodel import select

from app.config import Settings
from app.infra import jobs
from app.models import DigestSubscription, Job
from app.services import accounts, digests, notifications, posts, reactions
from tests.conftest import PASSWORD
from tests.server_process import free_port


class Inbox:
    """What the SMTP server received."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _ada_subscribed(new_ctx) -> None:
    """ada mails replies (not likes) daily; ben replies and likes."""
    with new_ctx() as ctx:
        ada = accounts.register(ctx, "ada", PASSWORD)
        ben = accounts.register(ctx, "ben", PASSWORD)
        notifications.set_preferences(ctx, ada, {"reply": "email"})
        digests.subscribe(ctx, ada, "ada@example.org", "daily")
        post = posts.create(ctx, ada, "Oaks along the river")
        posts.create(ctx, ben, "Elms too", in_reply_to=post.id)
        reactions.react(ctx, ben, post.id, "like")


def _run_digest_job(new_ctx, engine: Engine, settings: Settings) -> Job:
    with new_ctx() as ctx:
        jobs.enqueue(ctx, "notifications.digests")
    job = jobs.run_one(engine, settings, "test-worker")
    assert job is not None and job.kind == "notifications.digests"
    return job


def test_the_digest_arrives_at_a_real_smtp_server(
    new_ctx, engine: Engine, settings: Settings, smtp, client
) -> None:
    inbox, port = smtp
    _ada_subscribed(new_ctx)
    mailing = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{port}"})
    job = _run_digest_job(new_ctx, engine, mailing)
    assert job.state == "done", job.last_error
    assert len(inbox.received) == 1
    rcpt, message = inbox.received[0]
    assert rcpt == ["ada@example.org"] and message["To"] == "ada@example.org"
    assert message["Subject"] == "Commonground: 1 new notification"
    body = message.get_content()
    assert "ben replied to your post: http://127.0.0.1:8000/posts/1" in body
    assert "liked" not in body  # likes are on, not mailed
    link = re.search(r"Stop these digests \(no login needed\): (\S+)", body).group(1)
    assert message["List-Unsubscribe"].strip() == f"<{link}>"

    _run_digest_job(new_ctx, engine, mailing)  # nothing new: nothing sent
    assert len(inbox.received) == 1

    path = link.removeprefix("http://127.0.0.1:8000")
    assert client.get(path + "x").status_code == 403  # a forged link
    page = client.get(path)  # no login
    assert page.status_code == 200 and "Unsubscribe" in page.text
    with new_ctx() as ctx:
        assert ctx.db.exec(select(DigestSubscription)).all() != []  # asking wrote nothing
    done = client.post(path)
    assert done.status_code == 200 and "no more digests" in done.text
    with new_ctx() as ctx:
        assert ctx.db.exec(select(DigestSubscription)).all() == []


def test_without_smtp_mails_go_to_the_log_and_the_outbox(
    new_ctx, engine: Engine, settings: Settings, caplog
) -> None:
    _ada_subscribed(new_ctx)
    with caplog.at_level("INFO", logger="commonground.mail"):
        job = _run_digest_job(new_ctx, engine, settings)
    assert job.state == "done", job.last_error
    [eml] = list(Path(settings.data_dir, "outbox").glob("*.eml"))
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["To"] == "ada@example.org"
    assert "ben replied to your post" in message.get_content()
    assert "ben replied to your post" in caplog.text and str(eml) in caplog.text


def test_an_unreachable_smtp_server_retries_and_sends_nothing_twice(
    new_ctx, engine: Engine, settings: Settings, smtp
) -> None:
    inbox, port = smtp
    _ada_subscribed(new_ctx)
    down = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{free_port()}"})
    job = _run_digest_job(new_ctx, engine, down)
    with new_ctx() as ctx:
        row = ctx.db.get(Job, job.id)
        assert row.state == "queued" and "Connection refused" in (row.last_error or "")
    with new_ctx() as ctx:  # nothing was marked as mailed
        assert digests.compose(ctx, 1) is not None
    up = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{port}"})
    assert digests.FREQUENCIES["daily"]
    import asyncio

    sent = asyncio.run(digests.send_due(jobs.JobContext(job, engine, up)))
    assert sent == 1 and len(inbox.received) == 1


def test_digest_settings_are_checked(new_ctx) -> None:
    from app.errors import Invalid

    with new_ctx() as ctx:
        ada = accounts.register(ctx, "ada", PASSWORD)
        with pytest.raises(Invalid, match="e-mail address"):
            digests.subscribe(ctx, ada, "not an address", "daily")
        with pytest.raises(Invalid, match="daily or weekly"):
            digests.subscribe(ctx, ada, "ada@example.org", "hourly")
        assert digests.subscribe(ctx, ada, "ada@example.org", "weekly").frequency == "weekly"
        assert digests.subscribe(ctx, ada, "", "weekly") is None
        assert digests.subscription(ctx, ada) is None
