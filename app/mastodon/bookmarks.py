"""What the member marked, in the Mastodon client API: ``GET /api/v1/bookmarks``
and ``GET /api/v1/favourites`` (their likes), the latest mark first. As in
Mastodon, the Link header pages by the marks' own ids, not the statuses' (a post
bookmarked today comes first however old it is)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response

from app.api.auth import Reader
from app.deps import CtxDep
from app.mastodon import entities
from app.mastodon.pagination import PageDep, set_link
from app.models import Post
from app.services import bookmarks, reactions

router = APIRouter()


def _marked(
    listing: Callable[..., list[tuple[int, Post]]],
) -> Callable[..., list[dict[str, Any]]]:
    def endpoint(
        request: Request, response: Response, ctx: CtxDep, viewer: Reader, page: PageDep
    ) -> list[dict[str, Any]]:
        found = listing(
            ctx,
            viewer,
            below=page.below,
            above=page.above,
            oldest_first=page.oldest_first,
            limit=page.limit,
        )
        set_link(response, request, ctx.base_url, [mark for mark, _ in found])
        return entities.statuses(ctx, [post for _, post in found], viewer)

    return endpoint


router.add_api_route("/api/v1/bookmarks", _marked(bookmarks.page), methods=["GET"])
router.add_api_route("/api/v1/favourites", _marked(reactions.liked_page), methods=["GET"])
