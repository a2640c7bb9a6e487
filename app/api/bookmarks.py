"""Bookmarks and pins over the native API: the same services as the Mastodon
client API's (app/services/bookmarks.py, pins.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from app.api.auth import Reader, Writer
from app.api.schemas import MAX_ID, BoundedJSONRoute, PostOut
from app.deps import CtxDep
from app.services import bookmarks, pins, posts
from app.services.views import present

router = APIRouter(tags=["posts"], route_class=BoundedJSONRoute)
PostId = Annotated[int, Path(ge=1, le=MAX_ID)]


class BookmarkPage(BaseModel):
    items: list[PostOut]
    next_cursor: str | None


@router.get("/bookmarks", response_model=BookmarkPage)
def my_bookmarks(
    ctx: CtxDep,
    account: Reader,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=bookmarks.MAX_PAGE)] = 20,
) -> BookmarkPage:
    """The member's bookmarks, newest bookmark first; ``next_cursor`` continues."""
    found = bookmarks.page(ctx, account, below=cursor, limit=limit)
    views = present(ctx, [post for _, post in found], account)
    more = len(found) == limit
    return BookmarkPage(
        items=[PostOut.of(v) for v in views],
        next_cursor=str(found[-1][0]) if found and more else None,
    )


@router.put("/posts/{post_id}/bookmark", status_code=204)
def bookmark(post_id: PostId, ctx: CtxDep, account: Writer) -> Response:
    bookmarks.add(ctx, account, posts.get_visible(ctx, post_id))
    return Response(status_code=204)


@router.delete("/posts/{post_id}/bookmark", status_code=204)
def unbookmark(post_id: PostId, ctx: CtxDep, account: Writer) -> Response:
    bookmarks.remove(ctx, account, posts.get_visible(ctx, post_id))
    return Response(status_code=204)


@router.put("/posts/{post_id}/pin", status_code=204)
def pin(post_id: PostId, ctx: CtxDep, account: Writer) -> Response:
    """Pin one of your own posts that starts a thread (at most five)."""
    pins.pin(ctx, account, posts.get_visible(ctx, post_id))
    return Response(status_code=204)


@router.delete("/posts/{post_id}/pin", status_code=204)
def unpin(post_id: PostId, ctx: CtxDep, account: Writer) -> Response:
    pins.unpin(ctx, account, posts.get_visible(ctx, post_id))
    return Response(status_code=204)
