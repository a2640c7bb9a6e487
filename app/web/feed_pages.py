"""The home page (feed or welcome) and hashtag pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from app.deps import CtxDep
from app.services import communities
from app.services.ranking import feeds
from app.web.deps import Viewer
from app.web.templating import render

router = APIRouter()
Cursor = Annotated[str | None, Query(max_length=500)]


@router.get("/")
def home(request: Request, ctx: CtxDep, viewer: Viewer, cursor: Cursor = None) -> Response:
    if viewer is None:
        return render(request, "welcome.html", communities=communities.list_all(ctx, limit=20))
    page = feeds.home(ctx, viewer, cursor=cursor)
    mine = communities.of_member(ctx, viewer)
    return render(request, "home.html", page=page, my_communities=mine, cursor=cursor)


@router.get("/tags/{tag}")
def tag(
    request: Request,
    ctx: CtxDep,
    viewer: Viewer,
    tag: Annotated[str, Path(max_length=100, pattern=r"^\w+$")],
    cursor: Cursor = None,
) -> Response:
    page = feeds.tag(ctx, tag, viewer, cursor=cursor)
    return render(request, "tag.html", tag=tag.lower(), page=page, cursor=cursor)
