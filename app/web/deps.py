"""Dependencies of the server-rendered pages: who is looking, and CSRF checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, Request

from app.api.schemas import CleanStr
from app.deps import CtxDep
from app.errors import Forbidden, NotAuthenticated
from app.models import Account
from app.security.tokens import same
from app.services import auth, notifications, registration
from app.web.templating import SESSION_COOKIE, browser_key, csrf_for


@dataclass(frozen=True)
class ViewerSnapshot:
    """What templates know about the viewer; a plain copy, so an error page can
    still show the header after the request's transaction was rolled back."""

    id: int
    username: str
    name: str
    is_admin: bool
    expand_warnings: bool = False  # open every content warning's <details>
    unread: int = 0  # unread notifications, for the header


def page_viewer(request: Request, ctx: CtxDep) -> Account | None:
    account = auth.session_account(ctx, request.cookies.get(SESSION_COOKIE))
    request.state.viewer = (
        ViewerSnapshot(
            account.id,
            account.username,
            account.name,
            account.is_admin,
            account.expand_warnings,
            notifications.unread_count(ctx, account),
        )
        if account
        else None
    )
    if account is None:  # the header links to sign-up unless it is closed
        request.state.signup_closed = registration.mode(ctx) == "closed"
    return account


def require_viewer(viewer: Annotated[Account | None, Depends(page_viewer)]) -> Account:
    if viewer is None:
        raise NotAuthenticated("Log in first.")
    return viewer


def check_csrf(
    request: Request, csrf_token: Annotated[CleanStr, Form(max_length=200)] = ""
) -> None:
    """Every state-changing form carries a token bound to this browser."""
    key, fresh = browser_key(request)
    if fresh or not csrf_token or not same(csrf_for(request, key), csrf_token):
        raise Forbidden(
            "This form expired or came from another site. Go back, reload the page and try again.",
            code="csrf_failed",
        )


Viewer = Annotated[Account | None, Depends(page_viewer)]
Member = Annotated[Account, Depends(require_viewer)]
Csrf = Depends(check_csrf)
