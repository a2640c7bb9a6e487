"""Search: posts, artifacts, communities and members; ``resolve`` looks up a remote
``name@domain``, actor URL or post URL first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from app.api.accounts import actor_out
from app.api.auth import MaybeAccount
from app.api.schemas import BoundedJSONRoute, PostOut
from app.deps import CtxDep
from app.models import Artifact, Community
from app.services import Ctx, artifacts, search
from app.web.lookup import search_lookup

router = APIRouter(tags=["search"], route_class=BoundedJSONRoute)

Q = Annotated[str, Query(max_length=2048, description="words, a #hashtag, name@domain or a URL")]
Resolve = Annotated[
    bool, Query(description="look up name@domain, an actor URL or a post URL on its server")
]


class ArtifactHit(BaseModel):
    id: int
    kind: str
    title: str
    community: str
    url: str


class SearchOut(BaseModel):
    type: str
    items: list[dict[str, Any]]
    next_cursor: str | None


async def resolve_first(request: Request, q: Q = "", resolve: Resolve = False) -> None:
    """Before the transaction: fetch what a remote handle or URL names."""
    if resolve:
        await search_lookup(request, q)


def _community_handle(ctx: Ctx, artifact: Artifact) -> str:
    community = ctx.db.get(Community, artifact.community_id)
    return community.handle if community is not None else ""


def _item(ctx: Ctx, kind: str, item: Any) -> dict[str, Any]:
    if kind == "posts":
        return PostOut.of(item).model_dump(mode="json")
    if isinstance(item, Artifact):
        return ArtifactHit(
            id=item.id,
            kind=item.kind,
            title=item.title,
            community=_community_handle(ctx, item),
            url=artifacts.artifact_url(ctx, item),
        ).model_dump()
    return actor_out(ctx, item).model_dump()


@router.get("/search", response_model=SearchOut, dependencies=[Depends(resolve_first)])
def find(
    ctx: CtxDep,
    viewer: MaybeAccount,
    q: Q = "",
    type: Annotated[str, Query(max_length=20)] = "posts",
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=search.MAX_LIMIT)] = 20,
) -> SearchOut:
    """Newest first; ``next_cursor`` continues. A known (or resolved) handle or URL
    answers with what it names (``type`` says which kind that is)."""
    page = search.search(ctx, viewer, q, type=type, cursor=cursor, limit=limit)
    return SearchOut(
        type=page.type,
        items=[_item(ctx, page.type, i) for i in page.items],
        next_cursor=page.next_cursor,
    )
