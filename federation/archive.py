"""The ActivityStreams parts of a member's archive (app/services/account_export.py):
``actor.json``, their Person as peers see it, and ``outbox.json``, an
OrderedCollection of the ``Create`` of each of their posts, as Mastodon's archive
has it, each post's earlier versions under ``cg:history``."""

from __future__ import annotations

import json

from sqlmodel import col, select

from app.models import Account, Post, PostRevision
from app.services import Ctx, account_export
from federation import actors, objects
from federation.vocab import CONTEXT


def _history(revisions: list[PostRevision]) -> list[dict]:
    return [
        {
            "name": r.title,
            "content": r.text,
            "published": r.written_at.isoformat(),
            "updated": r.replaced_at.isoformat(),
        }
        for r in revisions
    ]


def outbox(ctx: Ctx, account: Account) -> dict:
    posts = list(
        ctx.db.exec(
            select(Post)
            .where(col(Post.author_id) == account.id, col(Post.deleted_at).is_(None))
            .order_by(col(Post.created_at), col(Post.id))
        )
    )
    revisions: dict[int, list[PostRevision]] = {}
    q = select(PostRevision).where(col(PostRevision.post_id).in_([p.id for p in posts]))
    for r in ctx.db.exec(q.order_by(col(PostRevision.id))):
        revisions.setdefault(r.post_id, []).append(r)
    items = []
    for post in posts:
        activity = objects.create_activity(ctx, post)
        activity["object"]["cg:history"] = _history(revisions.get(post.id, []))
        items.append(activity)
    return {
        "@context": CONTEXT,
        "id": "outbox.json",
        "type": "OrderedCollection",
        "totalItems": len(items),
        "orderedItems": items,
    }


@account_export.contributes
def activitystreams_files(ctx: Ctx, account: Account) -> dict[str, bytes]:
    def dump(doc: dict) -> bytes:
        return json.dumps(doc, indent=2, ensure_ascii=False).encode()

    return {
        "actor.json": dump(actors.person(ctx, account)),
        "outbox.json": dump(outbox(ctx, account)),
    }
