"""A real SMTP server on 127.0.0.1 (aiosmtpd) that the instance mails through:
``mailbox`` points the test's settings (``CG_SMTP_URL``) at it; ``deliver()`` runs
the queued ``mail.send`` jobs as the worker would and returns what arrived, and
``link()`` finds a link to this instance in a received mail."""

from __future__ import annotations

import email.message
import re
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine

from app.config import Settings
from app.infra import jobs
from tests.server_process import free_port
from tests.test_digests import Inbox

BASE = "http://127.0.0.1:8000"


class Mailbox:
    def __init__(self, inbox: Inbox, engine: Engine, settings: Settings) -> None:
        self.inbox, self.engine, self.settings = inbox, engine, settings

    def deliver(self) -> list[tuple[list[str], email.message.EmailMessage]]:
        """Run every due job (the mails among them); what arrived meanwhile."""
        before = len(self.inbox.received)
        while (job := jobs.run_one(self.engine, self.settings, "test-worker")) is not None:
            assert job.state == "done", (job.kind, job.last_error)
        return self.inbox.received[before:]


def link(message: email.message.EmailMessage, path: str, base: str = BASE) -> str:
    """The path of the first link to ``base`` + ``path``… in the mail's text."""
    found = re.search(re.escape(base + path) + r"[A-Za-z0-9_\-/]*", message.get_content())
    assert found, message.get_content()
    return found.group(0).removeprefix(base)


@pytest.fixture
def mailbox(engine: Engine, settings: Settings) -> Iterator[Mailbox]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.smtp_url = f"smtp://127.0.0.1:{port}"
    try:
        yield Mailbox(inbox, engine, settings)
    finally:
        controller.stop()
