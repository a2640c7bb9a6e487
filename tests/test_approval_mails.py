"""Approval mode's mails: the applicant who gave an address hears of the admin's
decision, with a login link when approved; one who gave none is not mailed.
Through a real SMTP server on 127.0.0.1. On both databases."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.services import accounts
from tests.conftest import PASSWORD
from tests.mailbox import Mailbox, link, mailbox  # noqa: F401 - the fixture


def _apply(client: TestClient, name: str, **extra) -> None:
    r = client.post(
        "/api/cg/v1/accounts",
        json={"username": name, "password": PASSWORD, "reason": "I live by the river", **extra},
    )
    assert r.status_code == 202, r.text


def test_the_applicant_is_mailed_the_decision(
    client: TestClient,
    settings,
    new_ctx,
    mailbox: Mailbox,  # noqa: F811
) -> None:
    settings.registration = "approval"
    with new_ctx() as ctx:
        accounts.register(ctx, "root", PASSWORD, is_admin=True)
    root = client.post(
        "/api/cg/v1/tokens", json={"username": "root", "password": PASSWORD, "scope": "write"}
    ).json()["token"]
    admin = {"Authorization": f"Bearer {root}"}
    _apply(client, "ada", email="ada@example.org")
    _apply(client, "ben", email="ben@example.org")
    _apply(client, "cyd")
    mailbox.deliver()  # the confirmation links
    ids = {
        a["username"]: a["id"]
        for a in client.get("/api/cg/v1/admin/applications", headers=admin).json()["items"]
    }

    assert (
        client.post(
            f"/api/cg/v1/admin/applications/{ids['ada']}/approve", headers=admin
        ).status_code
        == 200
    )
    [(rcpt, message)] = mailbox.deliver()
    assert rcpt == ["ada@example.org"] and "approved" in message["Subject"]
    page = client.get(link(message, "/login"))
    assert page.status_code == 200 and 'name="password"' in page.text

    assert (
        client.post(f"/api/cg/v1/admin/applications/{ids['ben']}/reject", headers=admin).status_code
        == 200
    )
    [(rcpt, message)] = mailbox.deliver()
    assert rcpt == ["ben@example.org"] and "not accepted" in message["Subject"]
    assert "did not accept your application" in message.get_content()

    assert (
        client.post(
            f"/api/cg/v1/admin/applications/{ids['cyd']}/approve", headers=admin
        ).status_code
        == 200
    )
    assert mailbox.deliver() == []  # no address, no mail
