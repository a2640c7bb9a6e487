"""Pages of posts a member marked (bookmarks, likes), newest mark first: one query
shape for each kind of mark, under the same hiding rules."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement
from sqlmodel import col, select

from app.errors import Invalid
from app.models import Account, Post
from app.services import Ctx, blocks

MAX_PAGE = 40


def page(
    ctx: Ctx,
    viewer: Account,
    mark_id: Any,
    mark_post_id: Any,
    *conditions: ColumnElement[bool],
    below: int | None = None,
    above: int | None = None,
    oldest_first: bool = False,
    limit: int = 20,
) -> list[tuple[int, Post]]:
    """(mark id, post) for the marks matching ``conditions``, newest mark first:
    pages run by the mark's id, so a post marked today comes first however old it
    is. Deleted posts and those of authors hidden from the viewer are left out."""
    if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be between 1 and {MAX_PAGE}.", code="invalid_limit")
    q = (
        select(mark_id, Post)
        .join(Post, col(Post.id) == mark_post_id)
        .join(Account, col(Account.id) == col(Post.author_id))
        .where(*conditions, col(Post.deleted_at).is_(None), ~blocks.hides_account(viewer.id))
    )
    if below is not None:
        q = q.where(mark_id < below)
    if above is not None:
        q = q.where(mark_id > above)
    order = mark_id.asc() if oldest_first else mark_id.desc()
    rows = [(mid, post) for mid, post in ctx.db.exec(q.order_by(order).limit(limit))]
    return sorted(rows, key=lambda r: -r[0]) if oldest_first else rows
