"""A suspended member's posts are not served as ActivityPub objects either: the
post, every activity of ours that carries it and the collections that would list
it answer as if it were not there (404), until an admin restores the member."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import select

from app.models import OutboxItem
from app.services import accounts, communities, follows, posts
from federation import remote
from federation.httpsig import generate_keypair
from tests.conftest import PASSWORD

AS2 = {"Accept": "application/activity+json"}
TEXT = "ben's words about the fence"
REMOTE_ACTOR = {
    "id": "https://peer.example/users/rita",
    "type": "Person",
    "preferredUsername": "rita",
    "inbox": "https://peer.example/users/rita/inbox",
    "publicKey": {
        "id": "https://peer.example/users/rita#main-key",
        "owner": "https://peer.example/users/rita",
        "publicKeyPem": generate_keypair()[1],
    },
}


def _served(client: TestClient, path: str) -> tuple[int, str]:
    r = client.get(path, headers=AS2)
    return r.status_code, r.text


def test_a_suspended_members_posts_are_not_served_over_activitypub(
    client: TestClient,
    new_ctx,
) -> None:
    with new_ctx() as ctx:
        ada = accounts.register(ctx, "ada", PASSWORD, is_admin=True)
        ben = accounts.register(ctx, "ben", PASSWORD)
        garden = communities.create(ctx, ada, "garden")
        communities.join(ctx, ben, garden)
        root = posts.create(ctx, ada, "Who mends the fence?", community="garden")
        reply = posts.create(ctx, ben, f"{TEXT}: a reply", in_reply_to=root.id)
        own = posts.create(ctx, ben, f"{TEXT}: a thread", community="garden")
        # a follower elsewhere, so the edit is sent (and kept, at an id of its own)
        rita = remote.store_actor(ctx, REMOTE_ACTOR)
        follows.follow(ctx, rita, ben, activity_uri="https://peer.example/follows/1")
        posts.edit(ctx, ben, own.id, f"{TEXT}: a thread, edited")
        update = ctx.db.exec(
            select(OutboxItem).where(
                OutboxItem.activity_type == "Update", OutboxItem.object_uri == own.uri
            )
        ).one()
        ids = (root.id, reply.id, own.id)
    update_path = update.uri.split("://", 1)[1].split("/", 1)[1]
    carrying = [
        f"/ap/posts/{ids[1]}",
        f"/ap/posts/{ids[2]}",
        f"/posts/{ids[1]}/activity",
        f"/posts/{ids[2]}/activity",
        f"/posts/{ids[2]}/announce",
        f"/{update_path}",
    ]
    listing = ["/c/garden/outbox?page=true", f"/posts/{ids[0]}/replies?page=true"]
    for path in carrying + listing:
        status, body = _served(client, path)
        assert status == 200 and (TEXT in body or f"/posts/{ids[1]}" in body), (path, status)

    with new_ctx() as ctx:
        accounts.set_active(ctx, accounts.get_local(ctx, "ben"), False)
    for path in carrying:
        status, body = _served(client, path)
        assert status in (404, 410), (path, status)
        assert TEXT not in body, path
    for path in listing:
        status, body = _served(client, path)
        assert TEXT not in body and f"/posts/{ids[1]}" not in body, path
        assert status in (200, 404, 410), (path, status)
    assert _served(client, "/users/ben/outbox")[0] == 404
    assert _served(client, f"/posts/{ids[2]}/replies")[0] == 404  # of a post not there

    with new_ctx() as ctx:  # restored: served again
        accounts.set_active(ctx, accounts.get_local(ctx, "ben", include_suspended=True), True)
    assert _served(client, f"/ap/posts/{ids[2]}")[0] == 200
    assert TEXT in _served(client, "/c/garden/outbox?page=true")[1]
