"""Bookmarks: posts a member keeps to read again. Only the member sees them; they
do not federate (Mastodon's do not either). Pages, the native API and the Mastodon
client API all go through here."""

from __future__ import annotations

from sqlmodel import col, delete, select

from app.db import hold
from app.errors import Gone, Invalid
from app.models import Account, Bookmark, Post
from app.services import Ctx, blocks

MAX_PAGE = 40


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


def page(
    ctx: Ctx,
    account: Account,
    *,
    below: int | None = None,
    above: int | None = None,
    oldest_first: bool = False,
    limit: int = 20,
) -> list[tuple[int, Post]]:
    """The member's bookmarks, newest bookmark first, as (bookmark id, post): pages
    run by bookmark id, so a post bookmarked today comes first whenever it was
    written. Deleted posts and those of authors hidden from the member are left out."""
    if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be between 1 and {MAX_PAGE}.", code="invalid_limit")
    q = (
        select(col(Bookmark.id), Post)
        .join(Post, col(Post.id) == col(Bookmark.post_id))
        .join(Account, col(Account.id) == col(Post.author_id))
        .where(col(Bookmark.account_id) == account.id, col(Post.deleted_at).is_(None))
        .where(~blocks.hides_account(account.id))
    )
    if below is not None:
        q = q.where(col(Bookmark.id) < below)
    if above is not None:
        q = q.where(col(Bookmark.id) > above)
    order = col(Bookmark.id).asc() if oldest_first else col(Bookmark.id).desc()
    rows = [(bid, post) for bid, post in ctx.db.exec(q.order_by(order).limit(limit))]
    return sorted(rows, key=lambda r: -r[0]) if oldest_first else rows
