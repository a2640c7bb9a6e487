"""The sessions page: the member's browser logins and API tokens, each of which
they can end (app/services/auth.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from app.api.schemas import MAX_ID
from app.deps import CtxDep
from app.services import auth
from app.web.deps import Csrf, Member
from app.web.templating import SESSION_COOKIE, redirect, render

router = APIRouter()


@router.get("/settings/sessions")
def sessions_page(request: Request, ctx: CtxDep, viewer: Member) -> Response:
    return render(
        request,
        "sessions.html",
        sessions=auth.sessions(ctx, viewer),
        current=auth.current_session_id(ctx, request.cookies.get(SESSION_COOKIE)),
        tokens=auth.list_tokens(ctx, viewer),
    )


@router.post("/settings/sessions/{session_id}/end", dependencies=[Csrf])
def end_session(
    request: Request,
    session_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    ctx: CtxDep,
    viewer: Member,
) -> Response:
    """Ending the session of this very browser logs it out."""
    here = auth.current_session_id(ctx, request.cookies.get(SESSION_COOKIE))
    auth.end_session_by_id(ctx, viewer, session_id)
    if session_id == here:
        response = redirect(request, "/", flash="You are logged out.")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
    return redirect(request, "/settings/sessions", flash="That session has ended.")
