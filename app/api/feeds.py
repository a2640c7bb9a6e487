"""Feeds: home, and by hashtag. Community and profile feeds live with their resources."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.api.auth import MaybeAccount, Reader
from app.api.schemas import MAX_ID, BoundedJSONRoute, FeedOut
from app.deps import CtxDep
from app.services.ranking import feeds, registry

router = APIRouter(prefix="/feed", tags=["feeds"], route_class=BoundedJSONRoute)
Cursor = Annotated[
    str | None, Query(max_length=500, description="next_cursor of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=feeds.MAX_LIMIT)]


@router.get("/home", response_model=FeedOut)
def home(
    ctx: CtxDep,
    account: Reader,
    cursor: Cursor = None,
    limit: Limit = 20,
    algorithm: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_ID,
            description=(
                "preview the feed under this algorithm version instead of your own choice"
            ),
        ),
    ] = None,
) -> FeedOut:
    """Posts from your communities, the communities and people you follow, and you."""
    strategy = None
    if algorithm is not None:
        strategy = feeds.strategy(ctx, registry.get_version(ctx, algorithm), {})
    return FeedOut.of(feeds.home(ctx, account, cursor=cursor, limit=limit, ranking=strategy))


@router.get("/tags/{tag}", response_model=FeedOut)
def by_tag(
    tag: Annotated[str, Path(max_length=100, pattern=r"^\w+$")],
    ctx: CtxDep,
    viewer: MaybeAccount,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> FeedOut:
    return FeedOut.of(feeds.tag(ctx, tag, viewer, cursor=cursor, limit=limit))
