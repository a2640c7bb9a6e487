"""The member's bookmarks in the Mastodon client API: ``GET /api/v1/bookmarks``,
newest bookmark first. As in Mastodon, its Link header pages by the bookmarks' own
ids, not the statuses' (a post bookmarked today comes first however old it is)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from app.api.auth import Reader
from app.deps import CtxDep
from app.mastodon import entities
from app.mastodon.pagination import PageDep, set_link
from app.services import bookmarks

router = APIRouter()


@router.get("/api/v1/bookmarks")
def listing(
    request: Request, response: Response, ctx: CtxDep, viewer: Reader, page: PageDep
) -> list[dict[str, Any]]:
    found = bookmarks.page(
        ctx,
        viewer,
        below=page.below,
        above=page.above,
        oldest_first=page.oldest_first,
        limit=page.limit,
    )
    set_link(response, request, ctx.base_url, [bid for bid, _ in found])
    return entities.statuses(ctx, [post for _, post in found], viewer)
