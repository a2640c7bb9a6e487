"""Mail end to end: a real ``commonground serve`` process (with its worker) mails
through a real SMTP server on 127.0.0.1, and the links in the received mails are
followed with httpx against that server: an address confirmed before the first
login, then a password reset that logs out every token. SQLite and PostgreSQL."""

from __future__ import annotations

import email.message
from collections.abc import Iterator

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.mailbox import link
from tests.peers import eventually
from tests.server_process import ServerProcess, free_port
from tests.test_digests import Inbox

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("fresh_postgres") if request.param == "postgresql" else None


def _next_mail(inbox: Inbox, seen: int) -> email.message.EmailMessage:
    eventually(lambda: len(inbox.received) > seen, what="the mail at the SMTP server")
    return inbox.received[seen][1]


def test_links_from_mails_sent_over_smtp_work_against_the_server(
    smtp_server: tuple[Inbox, int], database: str | None
) -> None:
    inbox, port = smtp_server
    env = {"CG_SMTP_URL": f"smtp://127.0.0.1:{port}", "CG_EMAIL_VERIFICATION": "true"}
    with (
        ServerProcess(env=env, database_url=database, with_worker=True) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        r = http.post(
            "/api/cg/v1/accounts",
            json={"username": "ada", "password": PASSWORD, "email": "ada@example.org"},
        )
        assert r.status_code == 201, r.text
        token = {"username": "ada", "password": PASSWORD, "scope": "write"}
        assert http.post("/api/cg/v1/tokens", json=token).json()["error"] == "email_unconfirmed"

        confirmation = _next_mail(inbox, 0)
        assert confirmation["To"] == "ada@example.org"
        path = link(confirmation, "/confirm-email/", base=server.url)
        assert http.get(path).status_code == 200
        r = http.post("/api/cg/v1/email-verifications/" + path.rsplit("/", 1)[1])
        assert r.status_code == 200, r.text
        r = http.post("/api/cg/v1/tokens", json=token)
        assert r.status_code == 201, r.text
        api = {"Authorization": f"Bearer {r.json()['token']}"}

        assert http.post("/api/cg/v1/password-resets", json={"email": "ada@example.org"}).is_success
        reset = _next_mail(inbox, 1)
        path = link(reset, "/password-reset/", base=server.url)
        assert 'name="password"' in http.get(path).text
        r = http.post(
            "/api/cg/v1/password-resets/" + path.rsplit("/", 1)[1], json={"password": "new " * 3}
        )
        assert r.status_code == 204, r.text
        assert http.get("/api/cg/v1/me", headers=api).status_code == 401
        assert http.post("/api/cg/v1/tokens", json={**token, "password": "new " * 3}).is_success
