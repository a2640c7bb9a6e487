"""Bookmarks: posts a member keeps to read again. Only the member sees them; they
do not federate (Mastodon's do not either). Pages, the native API and the Mastodon
client API all go through here."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, delete, select

from app.db import hold
from app.errors import Gone
from app.models import Account, Bookmark, Post
from app.services import Ctx, marks

MAX_PAGE = marks.MAX_PAGE


def add(ctx: Ctx, account: Account, post: Post) -> None:
    """Bookmark ``post`` (a visible one: the caller found it); twice is once."""
    if post.is_deleted:
        raise Gone("That post was deleted.", code="post_deleted")
    # a double click or a retry: the second waits for the first, then finds it
    hold(ctx.db, f"bookmark:{account.id}:{post.id}")
    if not marked(ctx, account, [post.id]):
        ctx.db.add(Bookmark(account_id=account.id, post_id=post.id))
        ctx.db.flush()


def remove(ctx: Ctx, account: Account, post: Post) -> None:
    ctx.db.exec(  # type: ignore[call-overload]
        delete(Bookmark).where(
            col(Bookmark.account_id) == account.id, col(Bookmark.post_id) == post.id
        )
    )


def marked(ctx: Ctx, account: Account | None, post_ids: list[int]) -> set[int]:
    """Which of these posts the account has bookmarked, in one query."""
    if account is None or not post_ids:
        return set()
    q = select(col(Bookmark.post_id)).where(
        col(Bookmark.account_id) == account.id, col(Bookmark.post_id).in_(post_ids)
    )
    return set(ctx.db.exec(q))


def page(ctx: Ctx, account: Account, **window: Any) -> list[tuple[int, Post]]:
    """The member's bookmarks, newest bookmark first (:func:`marks.page`)."""
    return marks.page(
        ctx, account, col(Bookmark.id), col(Bookmark.post_id),
        col(Bookmark.account_id) == account.id, **window,
    )  # fmt: skip
