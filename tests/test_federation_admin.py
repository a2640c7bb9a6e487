"""The admin's view of federation: queue depth, failures per domain, blocks."""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi.testclient import TestClient

from app.models import Account, DeliveryAttempt, Job, PeerDomain, RemoteActor, utcnow
from app.services import accounts, posts
from tests.conftest import PASSWORD
from tests.test_pages import submit


def _login_admin(client: TestClient, new_ctx) -> None:
    with new_ctx() as ctx:
        accounts.register(ctx, "root", PASSWORD, is_admin=True)
    submit(client, "/login", "/login", {"username": "root", "password": PASSWORD})


def test_admin_sees_failures_per_domain_and_open_breakers(client: TestClient, new_ctx) -> None:
    _login_admin(client, new_ctx)
    with new_ctx() as ctx:
        now = utcnow()
        ctx.db.add(
            PeerDomain(
                domain="down.example",
                consecutive_failures=6,
                open_until=now + timedelta(minutes=4),
                last_failure_at=now,
            )
        )
        ctx.db.add(PeerDomain(domain="fine.example", last_success_at=now))
        for status in (None, 503, 202):
            ctx.db.add(
                DeliveryAttempt(
                    inbox="https://down.example/inbox", domain="down.example", status_code=status
                )
            )
        ctx.db.add(Job(kind="ap.deliver", payload="{}", state="queued"))
    page = client.get("/admin").text
    assert "Federation" in page
    row = page[page.index("<td>down.example</td>") :].split("</tr>")[0]
    assert "open until" in row and "<td>6</td>" in row and "2 / 3" in row
    fine = page[page.index("<td>fine.example</td>") :].split("</tr>")[0]
    assert "<td>ok</td>" in fine
    assert "queued <strong>1</strong>" in page


def test_blocking_a_domain_stops_delivery_and_refuses_its_activities(
    client: TestClient,
    new_ctx,
) -> None:
    _login_admin(client, new_ctx)
    r = submit(client, "/admin", "/admin/domains/block", {"domain": "Spam.Example", "note": "spam"})
    assert r.status_code == 303
    with new_ctx() as ctx:
        assert ctx.db.get(PeerDomain, "spam.example").blocked
        spammer = Account(
            username="s", username_key="s", domain="spam.example", uri="https://spam.example/u/s"
        )
        ctx.db.add(spammer)
        ctx.db.add(
            RemoteActor(uri=spammer.uri, actor_type="Person", inbox="https://spam.example/inbox")
        )
        ctx.db.flush()
        root = accounts.get_local(ctx, "root")
        from app.services import follows

        follows.follow(ctx, spammer, root)
        posts.create(ctx, root, "hello followers")
    with new_ctx() as ctx:
        deliveries = ctx.db.exec(
            Job.__table__.select().where(Job.kind == "ap.deliver")  # type: ignore[attr-defined]
        ).all()
    assert [json.loads(d.payload)["inbox"] for d in deliveries] == []
    activity = {
        "id": "https://spam.example/a/1",
        "type": "Create",
        "actor": "https://spam.example/u/s",
        "object": {"id": "https://spam.example/n/1", "type": "Note"},
    }
    r = client.post("/inbox", json=activity)
    assert r.status_code == 403 and r.json()["error"] == "domain_blocked"
    r = submit(client, "/admin", "/admin/domains/spam.example/unblock", {})
    assert r.status_code == 303
    r = client.post("/inbox", json=activity)
    assert r.status_code == 401  # no longer blocked: now it simply has to be signed


def test_bad_domains_are_refused_with_a_clear_error(client: TestClient, new_ctx) -> None:
    _login_admin(client, new_ctx)
    r = submit(client, "/admin", "/admin/domains/block", {"domain": "not a domain!"})
    assert r.status_code == 422 and "domain such as" in r.text


def test_members_follow_by_handle_from_the_communities_page(client: TestClient, new_ctx) -> None:
    from tests.test_pages import signup

    signup(client, "ada")
    with new_ctx() as ctx:
        ben = accounts.register(ctx, "ben", PASSWORD)
    r = submit(client, "/communities", "/follow-remote", {"target": "ben@127.0.0.1:8000"})
    assert r.status_code == 303
    assert "Following <bdi>ben@127.0.0.1:8000</bdi> (done)." in client.get("/communities").text
    with new_ctx() as ctx:
        ada = accounts.get_local(ctx, "ada")
        from app.services import follows

        assert follows.is_following(ctx, ada, ctx.db.get(Account, ben.id))
    # an unreachable instance: a clear message, nothing stored, no error page
    r = submit(client, "/communities", "/follow-remote", {"target": "nobody@127.0.0.1:1"})
    assert r.status_code == 303
    assert "Could not find" in client.get("/communities").text
