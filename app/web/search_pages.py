"""The search results page (the header's search box) and the mute forms."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from app.api.schemas import CleanStr
from app.deps import CtxDep
from app.errors import DomainError
from app.services import follows, mutes, search
from app.web.bidi import isolate
from app.web.deps import Csrf, Member, Viewer
from app.web.forms import redisplayed_by
from app.web.lookup import search_lookup
from app.web.profile_pages import settings_form
from app.web.templating import redirect, render

router = APIRouter()
Q = Annotated[str, Query(max_length=2048)]
DURATIONS = {"": None, "hour": 3600, "day": 86400, "week": 7 * 86400}


async def look_up_query(request: Request, q: Q = "") -> None:
    """Before the transaction: a remote handle or URL typed into the box is looked
    up; a failure waits in ``request.state.lookup_error`` for the page to show."""
    try:
        await search_lookup(request, q)
        request.state.lookup_error = None
    except DomainError as exc:
        request.state.lookup_error = exc


@router.get("/search", dependencies=[Depends(look_up_query)])
def search_page(
    request: Request,
    ctx: CtxDep,
    viewer: Viewer,
    q: Q = "",
    type: Annotated[str, Query(max_length=20)] = "posts",
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """Results newest first; an empty box shows just the form."""
    page, problem = None, None
    lookup_error = request.state.lookup_error
    if q.strip():
        try:
            page = search.search(ctx, viewer, q, type=type, cursor=cursor)
        except DomainError as exc:
            problem = str(exc.detail)
    following = (
        {a.id for a in page.items if follows.is_following(ctx, viewer, a)}
        if page is not None and viewer is not None and page.type in ("members", "communities")
        else set()
    )
    return render(
        request,
        "search.html",
        status=422 if problem else 200,
        q=q,
        type=page.type if page else type,
        types=search.TYPES,
        page=page,
        problem=problem,
        lookup_error=str(lookup_error.detail) if lookup_error else None,
        following=following,
    )


def _back(back: str | None) -> str:
    """Where a mute form returns: a path on this site, else the settings."""
    if back and back.startswith("/") and not back.startswith("//") and "\\" not in back:
        return back
    return "/settings#mutes"


@router.post("/settings/mutes", dependencies=[Csrf])
@redisplayed_by(settings_form)
def mute(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    target: Annotated[CleanStr, Form(max_length=2048)],
    duration: Annotated[str, Form(pattern="^(hour|day|week|)$")] = "",  # DURATIONS' keys
    back: Annotated[str | None, Form(max_length=2048)] = None,
) -> Response:
    """Mute a member, a domain, a thread or a tag, for a while or until unmuted."""
    try:
        if duration not in DURATIONS:
            raise DomainError("Choose how long the mute lasts.", code="invalid_duration")
        mutes.mute(ctx, viewer, mutes.parse(ctx, target), DURATIONS[duration])
    except DomainError as exc:
        ctx.db.rollback()
        return redirect(request, _back(back), flash=str(exc.detail))
    return redirect(request, _back(back), flash=f"Muted {isolate(target.strip())}.")


@router.post("/settings/mutes/remove", dependencies=[Csrf])
def unmute(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    target: Annotated[CleanStr, Form(max_length=2048)],
    back: Annotated[str | None, Form(max_length=2048)] = None,
) -> Response:
    try:
        mutes.unmute(ctx, viewer, mutes.parse(ctx, target))
    except DomainError as exc:
        return redirect(request, _back(back), flash=str(exc.detail))
    return redirect(request, _back(back), flash=f"Unmuted {isolate(target.strip())}.")
