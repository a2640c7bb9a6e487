"""Registration modes (open, approval, invite-only, closed) and invites, through the
native API and the pages: what each mode lets in, what it refuses and why, that a
refused sign-up stores nothing, and that NodeInfo tells the truth about it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from app.models import Account, Invite, utcnow
from app.services import accounts, registration, setup
from tests.conftest import PASSWORD
from tests.test_pages import csrf, submit
from tests.test_races import concurrently


def _admin(client: TestClient, ctx_factory) -> dict:
    with ctx_factory() as ctx:
        accounts.register(ctx, "root", PASSWORD, is_admin=True)
    r = client.post(
        "/api/cg/v1/tokens", json={"username": "root", "password": PASSWORD, "scope": "write"}
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _sign_up(client: TestClient, name: str, **extra):
    return client.post(
        "/api/cg/v1/accounts", json={"username": name, "password": PASSWORD, **extra}
    )


def _accounts(new_ctx) -> set[str]:
    with new_ctx() as ctx:
        return set(ctx.db.exec(select(Account.username).where(Account.domain == "")))


def _open_registrations(client: TestClient) -> bool:
    href = client.get("/.well-known/nodeinfo").json()["links"][0]["href"]
    return client.get(href.split("8000", 1)[-1]).json()["openRegistrations"]


def test_open_is_the_default_and_nodeinfo_says_so(client: TestClient, new_ctx) -> None:
    assert _sign_up(client, "ada").status_code == 201
    assert _open_registrations(client) is True
    assert client.get("/api/cg/v1/instance/registration").json() == {
        "mode": "open",
        "members_may_invite": False,
        "email_required": False,
        "question": "",
    }


def test_closed_refuses_every_sign_up_and_stores_nothing(
    client: TestClient, settings, new_ctx
) -> None:
    settings.registration = "closed"
    r = _sign_up(client, "ada")
    assert r.status_code == 403 and r.json()["error"] == "registrations_closed", r.text
    page = client.get("/signup")
    assert page.status_code == 200 and "closed" in page.text and 'name="password"' not in page.text
    token = csrf(client.get("/login").text)
    r = client.post(
        "/signup",
        data={"csrf_token": token, "username": "ben", "password": PASSWORD},
        follow_redirects=False,
    )
    assert r.status_code == 403 and "closed" in r.text
    assert _accounts(new_ctx) == set()
    assert _open_registrations(client) is False
    assert "Sign up" not in client.get("/").text  # no link to a door that is shut


def test_the_admin_sets_the_mode_and_a_member_cannot(client: TestClient, new_ctx) -> None:
    root = _admin(client, new_ctx)
    assert _sign_up(client, "ada").status_code == 201
    r = client.post(
        "/api/cg/v1/tokens", json={"username": "ada", "password": PASSWORD, "scope": "write"}
    )
    ada = {"Authorization": f"Bearer {r.json()['token']}"}
    r = client.put("/api/cg/v1/instance/registration", json={"mode": "closed"}, headers=ada)
    assert r.status_code == 403 and r.json()["error"] == "not_admin"
    r = client.put("/api/cg/v1/instance/registration", json={"mode": "sometimes"}, headers=root)
    assert r.status_code == 422
    r = client.put("/api/cg/v1/instance/registration", json={"mode": "closed"}, headers=root)
    assert r.status_code == 200 and r.json()["mode"] == "closed"
    assert _sign_up(client, "ben").status_code == 403
    assert _open_registrations(client) is False


def test_invite_only_needs_a_live_invite_and_counts_its_uses(
    client: TestClient, settings, new_ctx
) -> None:
    settings.registration = "invite"
    root = _admin(client, new_ctx)
    r = _sign_up(client, "ada")
    assert r.status_code == 403 and r.json()["error"] == "invite_required"
    r = client.post(
        "/api/cg/v1/invites", json={"max_uses": 2, "expires_in_hours": 24}, headers=root
    )
    assert r.status_code == 201, r.text
    invite = r.json()
    assert invite["url"].endswith(f"/signup?invite={invite['code']}") and invite["uses"] == 0
    r = _sign_up(client, "ada", invite="not-a-code")
    assert r.status_code == 403 and r.json()["error"] == "invite_unknown"
    assert _sign_up(client, "ada", invite=invite["code"]).status_code == 201
    assert _sign_up(client, "ben", invite=invite["code"]).status_code == 201
    r = _sign_up(client, "cyd", invite=invite["code"])
    assert r.status_code == 403 and r.json()["error"] == "invite_used_up"
    assert _accounts(new_ctx) == {"root", "ada", "ben"}
    listed = client.get("/api/cg/v1/invites", headers=root).json()["items"]
    assert [(i["code"], i["uses"], sorted(i["joined"])) for i in listed] == [
        (invite["code"], 2, ["ada", "ben"])
    ]
    assert _open_registrations(client) is False


def test_an_expired_invite_is_refused(client: TestClient, settings, new_ctx) -> None:
    settings.registration = "invite"
    root = _admin(client, new_ctx)
    code = client.post("/api/cg/v1/invites", json={"max_uses": 5}, headers=root).json()["code"]
    with new_ctx() as ctx:
        row = ctx.db.exec(select(Invite).where(Invite.code == code)).one()
        row.expires_at = utcnow() - timedelta(minutes=1)
        ctx.db.add(row)
    r = _sign_up(client, "ada", invite=code)
    assert r.status_code == 403 and r.json()["error"] == "invite_expired"
    assert _accounts(new_ctx) == {"root"}


def test_members_invite_only_when_the_admin_allows(client: TestClient, settings, new_ctx) -> None:
    settings.registration = "invite"
    root = _admin(client, new_ctx)
    code = client.post("/api/cg/v1/invites", json={}, headers=root).json()["code"]
    assert _sign_up(client, "ada", invite=code).status_code == 201
    r = client.post(
        "/api/cg/v1/tokens", json={"username": "ada", "password": PASSWORD, "scope": "write"}
    )
    ada = {"Authorization": f"Bearer {r.json()['token']}"}
    r = client.post("/api/cg/v1/invites", json={}, headers=ada)
    assert r.status_code == 403 and r.json()["error"] == "invites_by_admins_only"
    settings.members_may_invite = True
    r = client.post("/api/cg/v1/invites", json={"max_uses": 1}, headers=ada)
    assert r.status_code == 201
    assert [i["code"] for i in client.get("/api/cg/v1/invites", headers=ada).json()["items"]] == [
        r.json()["code"]
    ]  # a member sees their own invites only


@pytest.mark.parametrize(
    "body",
    [{"max_uses": 0}, {"max_uses": 100001}, {"expires_in_hours": 0}, {"expires_in_hours": "soon"}],
)
def test_bad_invites_are_refused(client: TestClient, new_ctx, body: dict) -> None:
    root = _admin(client, new_ctx)
    r = client.post("/api/cg/v1/invites", json=body, headers=root)
    assert r.status_code == 422, r.text
    assert client.get("/api/cg/v1/invites", headers=root).json()["items"] == []


def test_approval_holds_an_applicant_until_an_admin_decides(
    client: TestClient, settings, new_ctx
) -> None:
    settings.registration = "approval"
    root = _admin(client, new_ctx)
    r = _sign_up(client, "ada")
    assert r.status_code == 422 and r.json()["error"] == "reason_required"
    assert _sign_up(client, "ada", reason="I garden by the river.").status_code == 202
    assert _sign_up(client, "ben", reason="Spam, spam, spam.").status_code == 202

    def token(name: str, password: str = PASSWORD):
        return client.post(
            "/api/cg/v1/tokens", json={"username": name, "password": password, "scope": "read"}
        )

    r = token("ada")
    assert r.status_code == 403 and r.json()["error"] == "application_pending"
    assert token("ada", "a wrong password").json()["error"] == "bad_credentials"  # no hint
    assert "ada" not in client.get("/api/cg/v1/accounts/ada").text or (
        client.get("/api/cg/v1/accounts/ada").status_code == 404
    )
    queue = client.get("/api/cg/v1/admin/applications", headers=root).json()["items"]
    assert [(a["username"], a["reason"]) for a in queue] == [
        ("ada", "I garden by the river."),
        ("ben", "Spam, spam, spam."),
    ]
    ada_id, ben_id = (a["id"] for a in queue)
    r = client.post(f"/api/cg/v1/admin/applications/{ada_id}/approve", headers=root)
    assert r.status_code == 200 and (r.json()["state"], r.json()["decided_by"]) == (
        "approved",
        "root",
    )
    assert (
        client.post(f"/api/cg/v1/admin/applications/{ben_id}/reject", headers=root).status_code
        == 200
    )
    again = client.post(f"/api/cg/v1/admin/applications/{ben_id}/approve", headers=root)
    assert again.status_code == 409 and again.json()["error"] == "application_decided"
    assert token("ada").status_code == 201
    r = token("ben")
    assert r.status_code == 403 and r.json()["error"] == "application_rejected"
    assert client.get("/api/cg/v1/admin/applications", headers=root).json()["items"] == []
    assert _sign_up(client, "ben", reason="again").json()["error"] == "username_taken"
    assert _open_registrations(client) is False


def test_only_admins_see_and_decide_applications(client: TestClient, settings, new_ctx) -> None:
    settings.registration = "approval"
    _admin(client, new_ctx)
    with new_ctx() as ctx:
        accounts.register(ctx, "ada", PASSWORD)  # a member made by a trusted path
    r = client.post(
        "/api/cg/v1/tokens", json={"username": "ada", "password": PASSWORD, "scope": "write"}
    )
    ada = {"Authorization": f"Bearer {r.json()['token']}"}
    assert _sign_up(client, "ben", reason="hello").status_code == 202
    assert client.get("/api/cg/v1/admin/applications", headers=ada).status_code == 403
    assert client.post("/api/cg/v1/admin/applications/1/approve", headers=ada).status_code == 403
    assert client.post("/api/cg/v1/admin/applications/999999/approve").status_code == 401


def test_the_pages_follow_each_mode(client: TestClient, settings, new_ctx) -> None:
    settings.registration = "approval"
    page = client.get("/signup")
    assert 'name="reason"' in page.text and "approve" in page.text
    r = submit(
        client, "/signup", "/signup", {"username": "ada", "password": PASSWORD, "reason": "hi"}
    )
    assert (
        r.status_code == 200
        and "waiting" in r.text
        and "cg_session" not in r.headers.get("set-cookie", "")
    )
    r = submit(client, "/login", "/login", {"username": "ada", "password": PASSWORD})
    assert r.status_code == 403 and "waiting for an admin" in r.text

    settings.registration = "invite"
    page = client.get("/signup")
    assert "invite" in page.text and 'name="password"' not in page.text  # no code, no form
    with new_ctx() as ctx:
        root = accounts.register(ctx, "root", PASSWORD, is_admin=True)
        code = registration.create_invite(ctx, root).code
    page = client.get(f"/signup?invite={code}")
    assert f'value="{code}"' in page.text and 'name="password"' in page.text
    r = submit(
        client,
        f"/signup?invite={code}",
        "/signup",
        {"username": "ben", "password": PASSWORD, "invite": code},
    )
    assert r.status_code == 303, r.text


def test_the_admin_page_lists_applications_and_invites(
    client: TestClient, settings, new_ctx
) -> None:
    settings.registration = "approval"
    assert _sign_up(client, "ada", reason="I mend fences").status_code == 202
    with new_ctx() as ctx:
        accounts.register(ctx, "root", PASSWORD, is_admin=True)
    submit(client, "/login", "/login", {"username": "root", "password": PASSWORD})
    page = client.get("/admin").text
    assert "I mend fences" in page and 'action="/admin/applications/' in page
    r = submit(client, "/admin", "/admin/registration", {"mode": "invite"})
    assert r.status_code == 303
    r = submit(client, "/admin", "/admin/invites", {"max_uses": "3", "expires_in_hours": "48"})
    assert r.status_code == 303
    page = client.get("/admin").text
    assert "/signup?invite=" in page and "0 of 3" in page
    with new_ctx() as ctx:
        app_id = registration.applications(ctx)[0][0].id
    r = submit(client, "/admin", f"/admin/applications/{app_id}/approve", {})
    assert r.status_code == 303
    with new_ctx() as ctx:
        assert accounts.get_local(ctx, "ada").is_active


def test_the_last_use_of_an_invite_goes_to_one_sign_up(settings, engine, new_ctx) -> None:
    """Sign-ups racing for an invite's last use: exactly one gets it (both backends)."""
    settings.registration = "invite"
    with new_ctx() as ctx:
        root = accounts.register(ctx, "root", PASSWORD, is_admin=True)
        code = registration.create_invite(ctx, root, max_uses=1).code

    def sign_up(i: int):
        with new_ctx() as ctx:
            return registration.sign_up(
                ctx, f"racer{i}", PASSWORD, invite=code, client=f"10.0.0.{i}"
            )

    results = concurrently(4, sign_up)
    winners = [r for r in results if isinstance(r, registration.SignUp)]
    assert len(winners) == 1, results
    assert all(getattr(r, "code", None) == "invite_used_up" for r in results if r not in winners)
    with new_ctx() as ctx:
        assert ctx.db.exec(select(func.count()).select_from(Account)).one() == 2
        assert ctx.db.exec(select(Invite.uses)).one() == 1


def test_the_setup_link_makes_the_first_admin_whatever_the_mode(
    client: TestClient, settings, new_ctx
) -> None:
    """An instance must always be able to get its admin: the first-run link works
    on a closed instance (and so does `commonground create-admin`)."""
    settings.registration = "closed"
    with new_ctx() as ctx:
        token = setup.issue_setup_token(ctx)
    assert token is not None
    r = submit(
        client, f"/setup/{token}", f"/setup/{token}", {"username": "root", "password": PASSWORD}
    )
    assert r.status_code == 303, r.text
    with new_ctx() as ctx:
        assert accounts.get_local(ctx, "root").is_admin
