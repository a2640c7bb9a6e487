"""New threads in a community on another instance (FEP-1b12): a member of a
followed remote community starts a thread by sending a ``Page`` (with a title)
or a ``Note`` addressed to the Group; the Group announces it under its policy.
(Real servers: tests/test_remote_threads_e2e.py.)"""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient
from sqlmodel import col, select

from app.models import Community, Job, Membership, OutboxItem
from app.services import accounts
from federation import remote
from federation.httpsig import generate_keypair
from tests.conftest import PASSWORD

PEER = "https://peer.example"
GROUP = f"{PEER}/c/garden"
_, PUBLIC_PEM = generate_keypair()


def group_doc() -> dict:
    return {
        "id": GROUP,
        "type": "Group",
        "preferredUsername": "garden",
        "name": "Garden",
        "inbox": f"{GROUP}/inbox",
        "outbox": f"{GROUP}/outbox",
        "followers": f"{GROUP}/followers",
        "endpoints": {"sharedInbox": f"{PEER}/inbox"},
        "publicKey": {"id": f"{GROUP}#main-key", "owner": GROUP, "publicKeyPem": PUBLIC_PEM},
    }


def remote_member(new_ctx, username: str, *, joined: bool = True) -> None:
    """``username`` knows the remote Group garden@peer.example, and (``joined``)
    belongs to it: their follow was accepted."""
    with new_ctx() as ctx:
        group = remote.known(ctx, GROUP) or remote.store_actor(ctx, group_doc())
        assert isinstance(group, Community)
        if joined:
            member = accounts.find_local(ctx, username)
            assert member is not None
            ctx.db.add(Membership(community_id=group.id, account_id=member.id))


def sent_to_group(new_ctx) -> list[dict]:
    """The activities queued for delivery to the Group's server."""
    with new_ctx() as ctx:
        jobs = ctx.db.exec(select(Job).where(col(Job.kind) == "ap.deliver")).all()
        ids = [json.loads(j.payload)["outbox_item"] for j in jobs
               if json.loads(j.payload)["inbox"] == f"{PEER}/inbox"]  # fmt: skip
        items = ctx.db.exec(select(OutboxItem).where(col(OutboxItem.id).in_(ids))).all()
        return [json.loads(i.body) for i in items]


def test_a_member_starts_a_titled_thread_in_a_remote_community(
    client: TestClient, api_user, new_ctx
) -> None:
    alice = api_user("alice")
    remote_member(new_ctx, "alice")
    r = alice.post(
        "/api/cg/v1/posts",
        {"text": "Who has beans?", "title": "Seed swap", "community": "garden@peer.example"},
    )
    assert r.status_code == 201, r.text
    post = r.json()
    assert post["community"]["url"] == GROUP and post["title"] == "Seed swap"
    (create,) = sent_to_group(new_ctx)
    assert create["type"] == "Create" and create["actor"].endswith("/users/alice")
    page = create["object"]
    assert page["type"] == "Page" and page["name"] == "Seed swap"
    assert page["audience"] == GROUP and GROUP in page["cc"] and page["inReplyTo"] is None


def test_an_untitled_thread_is_a_note_addressed_to_the_group(
    client: TestClient, api_user, new_ctx
) -> None:
    alice = api_user("alice")
    remote_member(new_ctx, "alice")
    r = alice.post("/api/cg/v1/posts", {"text": "Hello garden", "community": "Garden@Peer.Example"})
    assert r.status_code == 201, r.text
    (create,) = sent_to_group(new_ctx)
    note = create["object"]
    assert note["type"] == "Note" and note["audience"] == GROUP
    assert GROUP in note["cc"] and GROUP in create["cc"]


def test_a_remote_community_takes_threads_only_from_its_members(
    client: TestClient, api_user, new_ctx
) -> None:
    alice = api_user("alice")
    r = alice.post("/api/cg/v1/posts", {"text": "hi", "community": "garden@peer.example"})
    assert r.status_code == 404 and r.json()["error"] == "community_not_found"
    assert "garden@peer.example" in r.json()["detail"]
    remote_member(new_ctx, "alice", joined=False)  # known here, but not joined
    r = alice.post("/api/cg/v1/posts", {"text": "hi", "community": "garden@peer.example"})
    assert r.status_code == 403 and r.json()["error"] == "not_a_member"
    for bad in ("garden@", "@peer.example", "gar den@peer.example", "x" * 400):
        r = alice.post("/api/cg/v1/posts", {"text": "hi", "community": bad})
        assert r.status_code in (404, 422), (bad, r.text)
        assert r.status_code != 500
    assert sent_to_group(new_ctx) == []


def _log_in(client: TestClient, username: str) -> str:
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post(
        "/login",
        data={"csrf_token": token, "username": username, "password": PASSWORD},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return token


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_new_thread_pages_work_on_a_followed_remote_community(
    client: TestClient, api_user, new_ctx
) -> None:
    api_user("alice")
    remote_member(new_ctx, "alice")
    _log_in(client, "alice")
    listing = client.get("/communities").text
    assert "/compose?community=garden%40peer.example" in listing and "New thread" in listing
    form = client.get("/compose", params={"community": "garden@peer.example"}).text
    assert '<option value="garden@peer.example" selected>' in form
    r = client.post(
        "/compose",
        data={
            "csrf_token": _csrf(form),
            "community": "garden@peer.example",
            "title": "Seed swap",
            "text": "Who has beans?",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    thread = client.get(r.headers["location"]).text
    assert "Seed swap" in thread and GROUP in thread
    (create,) = sent_to_group(new_ctx)
    assert create["object"]["type"] == "Page" and create["object"]["audience"] == GROUP
