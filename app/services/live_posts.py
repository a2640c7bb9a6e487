"""Live news of posts changing, for the streams that showed them (the Mastodon
streaming API's ``status.update`` and ``delete``).

A new post is already announced (``feed.new``, app/services/notifications.py);
these listeners add its edits and its deletion (by its author, a moderator, or a
remote server), published when the transaction commits (app/infra/live.py). The
messages say only which post: each stream decides, for its own viewer, what to
show of it."""

from __future__ import annotations

from app.infra import events, live
from app.models import Post
from app.services import Ctx


@events.on("post.edited")
def _post_edited(ctx: Ctx, post: Post) -> None:
    live.publish(ctx.db, {"e": "post.edited", "p": post.id})


@events.on("post.deleted")
def _post_deleted(ctx: Ctx, post: Post) -> None:
    live.publish(ctx.db, {"e": "post.deleted", "p": post.id, "s": post.status_id})
