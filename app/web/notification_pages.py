"""The notifications page: the list (filter by kind, cursor pages), mark-read,
inline answers to join requests, and the per-kind settings. No JavaScript needed;
static/live.js only adds the live unread count and "N new posts"."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import Response

from app.api.schemas import CleanStr
from app.deps import CtxDep
from app.errors import NotFound
from app.models import Account, Community
from app.services import Ctx, communities, digests, notifications
from app.web.community_pages import Username
from app.web.deps import Csrf, Member
from app.web.forms import redisplayed_by
from app.web.templating import redirect, render

router = APIRouter()
NoteId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/notifications")
def page(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    kinds = [kind] if kind else []
    items, next_cursor = notifications.listing(ctx, viewer, cursor=cursor, kinds=kinds)
    return render(
        request,
        "notifications.html",
        items=items,
        next_cursor=next_cursor,
        kind=kind or "",
        kinds=notifications.KINDS,
        unread=notifications.unread_count(ctx, viewer),
    )


@router.post("/notifications/read", dependencies=[Csrf])
def read(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    id: Annotated[int | None, Form(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """One notification (``id``), or everything."""
    if id is not None:
        notifications.mark_read(ctx, viewer, ids=[id])
        return redirect(request, "/notifications")
    newest, _ = notifications.listing(ctx, viewer, limit=1)
    if newest:
        notifications.mark_read(ctx, viewer, up_to=newest[0].note.id)
    return redirect(request, "/notifications", flash="Everything is marked read.")


def _request_community(ctx: Ctx, viewer: Account, note_id: int) -> Community:
    note = notifications.get(ctx, viewer, note_id)
    if note.kind != "follow_request" or note.community_id is None:
        raise NotFound("That notification is not a join request.", code="not_a_request")
    community = ctx.db.get(Community, note.community_id)
    if community is None:
        raise NotFound("That community is gone.", code="community_not_found")
    return community


@router.post("/notifications/{note_id}/approve/{username}", dependencies=[Csrf])
def approve(
    request: Request, note_id: NoteId, username: Username, ctx: CtxDep, viewer: Member
) -> Response:
    community = _request_community(ctx, viewer, note_id)
    communities.approve(ctx, viewer, community, username)
    return redirect(request, "/notifications", flash=f"{username} is now a member.")


@router.post("/notifications/{note_id}/deny/{username}", dependencies=[Csrf])
def deny(
    request: Request, note_id: NoteId, username: Username, ctx: CtxDep, viewer: Member
) -> Response:
    community = _request_community(ctx, viewer, note_id)
    communities.remove(ctx, viewer, community, username)
    return redirect(request, "/notifications", flash=f"{username}'s request was declined.")


def settings_form(
    request: Request, ctx: Ctx, viewer: Account | None, typed: dict[str, str]
) -> tuple[str, dict]:
    """The settings page's one context, for its GET and its forms' error paths."""
    assert viewer is not None  # a Member page
    context = {
        "kinds": notifications.KINDS,
        "modes": notifications.preferences(ctx, viewer),
        "digest": digests.subscription(ctx, viewer),
        "frequencies": digests.FREQUENCIES,
    }
    return "notification_settings.html", context


@router.get("/notifications/settings")
def settings_page(request: Request, ctx: CtxDep, viewer: Member) -> Response:
    template, context = settings_form(request, ctx, viewer, {})
    return render(request, template, **context)


async def _modes(request: Request) -> dict[str, str]:
    """The settings form's choices (read here, off the database)."""
    form = await request.form()
    return {k: str(form.get(k))[:10] for k in notifications.KINDS if form.get(k) is not None}


@router.post("/notifications/settings", dependencies=[Csrf])
@redisplayed_by(settings_form)
def save_settings(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    modes: Annotated[dict[str, str], Depends(_modes)],
) -> Response:
    notifications.set_preferences(ctx, viewer, modes)
    return redirect(request, "/notifications/settings", flash="Notification settings saved.")


@router.post("/notifications/digest", dependencies=[Csrf])
@redisplayed_by(settings_form)
def save_digest(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    email: Annotated[CleanStr, Form(max_length=digests.MAX_EMAIL)] = "",
    frequency: Annotated[CleanStr, Form(pattern=r"^(daily|weekly)$")] = "daily",
) -> Response:
    row = digests.subscribe(ctx, viewer, email, frequency)
    note = f"A {row.frequency} digest goes to {row.email}." if row else "No more digests."
    return redirect(request, "/notifications/settings", flash=note)


AccountId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Signature = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_=-]+$")]


@router.get("/digest/unsubscribe/{account_id}/{signature}")
def unsubscribe_page(
    request: Request, account_id: AccountId, signature: Signature, ctx: CtxDep
) -> Response:
    """From a digest, no login: the link is signed. A GET only asks (it never writes)."""
    digests.check_token(ctx, account_id, signature)
    return render(request, "digest_unsubscribe.html", action=request.url.path, done=False)


@router.post("/digest/unsubscribe/{account_id}/{signature}")
def unsubscribe(
    request: Request, account_id: AccountId, signature: Signature, ctx: CtxDep
) -> Response:
    """No CSRF check: no session is used; the signed link is the permission (and
    mail clients' one-click unsubscribe, RFC 8058, posts here without a page)."""
    digests.unsubscribe(ctx, account_id, signature)
    return render(request, "digest_unsubscribe.html", action=request.url.path, done=True)
