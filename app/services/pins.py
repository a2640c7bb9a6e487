"""Pinned posts: up to five of a member's own posts shown first on their profile,
as Mastodon's pins (and its limit). Public, like the profile. Pins are kept here
only; the actor's ``featured`` collection is not published yet (docs/mastodon-api.md)."""

from __future__ import annotations

from sqlmodel import col, delete, func, select

from app.db import hold
from app.errors import Gone, Invalid
from app.models import Account, Pin, Post
from app.services import Ctx

MAX_PINS = 5


def pin(ctx: Ctx, account: Account, post: Post) -> None:
    """Pin one of the member's own posts that starts a thread; twice is once."""
    if post.author_id != account.id:
        raise Invalid("You can only pin your own posts.", code="not_author")
    if post.is_deleted:
        raise Gone("That post was deleted.", code="post_deleted")
    if post.in_reply_to_id is not None:
        raise Invalid("A reply can't be pinned: pin the post it answers.", code="pin_reply")
    # one member's pins are decided one at a time, so the limit holds under races
    hold(ctx.db, f"pins:{account.id}")
    if pinned_among(ctx, [post.id]):
        return
    count = ctx.db.exec(
        select(func.count()).select_from(Pin).where(col(Pin.account_id) == account.id)
    ).one()
    if count >= MAX_PINS:
        raise Invalid(
            f"You have pinned {MAX_PINS} posts, the most there can be: unpin one first.",
            code="too_many_pins",
        )
    ctx.db.add(Pin(account_id=account.id, post_id=post.id))
    ctx.db.flush()


def unpin(ctx: Ctx, account: Account, post: Post) -> None:
    ctx.db.exec(  # type: ignore[call-overload]
        delete(Pin).where(col(Pin.account_id) == account.id, col(Pin.post_id) == post.id)
    )


def pinned_among(ctx: Ctx, post_ids: list[int]) -> set[int]:
    """Which of these posts are pinned (by their authors: only authors pin)."""
    if not post_ids:
        return set()
    return set(ctx.db.exec(select(col(Pin.post_id)).where(col(Pin.post_id).in_(post_ids))))


def of(ctx: Ctx, account: Account) -> list[Post]:
    """The member's pinned posts, the latest pinned first, without deleted ones."""
    q = (
        select(Post)
        .join(Pin, col(Pin.post_id) == col(Post.id))
        .where(col(Pin.account_id) == account.id, col(Post.deleted_at).is_(None))
        .order_by(col(Pin.id).desc())
    )
    return list(ctx.db.exec(q))
