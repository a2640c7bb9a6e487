"""Pages of the mailed links: confirm an address, ask for and follow a password
reset, ask for the confirmation link again, and change one's address."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response

from app.api.schemas import CleanStr
from app.deps import CtxDep, client_ip
from app.errors import DomainError
from app.services import emails, password_resets
from app.web.deps import Csrf, Member, Viewer
from app.web.forms import PasswordField, member, redisplayed_by, show_error
from app.web.templating import redirect, render

router = APIRouter()
LinkToken = Annotated[str, Path(max_length=200)]
EmailField = Annotated[CleanStr, Form(max_length=400)]
SENT = "If an account with this address waits for confirmation, a new link is on its way."


def _bad_link(request: Request) -> Response:
    return render(request, "email_link.html", status=400, kind="bad", message=emails.BAD_LINK)


# --- asking for a mail (a reset link, the confirmation link again) -------------


def ask_page(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    """The one-field form asking for a mail; ``/password-reset`` or ``/confirm-email``."""
    kind = "reset" if request.url.path.startswith("/password-reset") else "resend"
    return "email_ask.html", {"kind": kind, "action": request.url.path}


@router.get("/password-reset")
@router.get("/confirm-email")
def ask_form(request: Request, ctx: CtxDep, viewer: Viewer) -> Response:
    template, context = ask_page(request, ctx, viewer, {})
    return render(request, template, **context)


@router.post("/password-reset", dependencies=[Csrf])
@redisplayed_by(ask_page)
def ask_for_reset(request: Request, ctx: CtxDep, email: EmailField) -> Response:
    try:
        password_resets.request(ctx, email, client=client_ip(request))
    except DomainError as exc:
        template, context = ask_page(request, ctx, None, {})
        return show_error(request, ctx, exc, template, {"email": email}, **context)
    return render(request, "email_ask.html", kind="sent", message=password_resets.ANSWER)


@router.post("/confirm-email", dependencies=[Csrf])
@redisplayed_by(ask_page)
def ask_for_link(request: Request, ctx: CtxDep, email: EmailField) -> Response:
    try:
        emails.resend(ctx, email, client=client_ip(request))
    except DomainError as exc:
        template, context = ask_page(request, ctx, None, {})
        return show_error(request, ctx, exc, template, {"email": email}, **context)
    return render(request, "email_ask.html", kind="sent", message=SENT)


# --- following a link ----------------------------------------------------------


def reset_page(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    return "email_link.html", {"kind": "reset", "action": request.url.path}


@router.get("/password-reset/{token}")
def reset_form(request: Request, token: LinkToken, ctx: CtxDep, viewer: Viewer) -> Response:
    """A read: the link is only used up by the form's POST."""
    if not password_resets.link_usable(ctx, token):
        return _bad_link(request)
    template, context = reset_page(request, ctx, viewer, {})
    return render(request, template, **context)


@router.post("/password-reset/{token}", dependencies=[Csrf])
@redisplayed_by(reset_page)
def reset_password(
    request: Request, token: LinkToken, ctx: CtxDep, password: PasswordField
) -> Response:
    try:
        password_resets.reset(ctx, token, password)
    except DomainError as exc:
        if exc.code == "invalid_link":
            ctx.db.rollback()
            return _bad_link(request)
        template, context = reset_page(request, ctx, None, {})
        return show_error(request, ctx, exc, template, {}, **context)
    response = redirect(request, "/login", flash="Your new password is set: log in with it.")
    return response


@router.get("/confirm-email/{token}")
def confirm_form(request: Request, token: LinkToken, ctx: CtxDep, viewer: Viewer) -> Response:
    """A read with one button, so that a mail scanner opening the link confirms
    nothing and uses nothing up."""
    try:
        emails.usable_link(ctx, token, emails.VERIFY)
    except DomainError:
        return _bad_link(request)
    return render(request, "email_link.html", kind="confirm", action=request.url.path)


@router.post("/confirm-email/{token}", dependencies=[Csrf])
def confirm(request: Request, token: LinkToken, ctx: CtxDep, viewer: Viewer) -> Response:
    try:
        account = emails.confirm(ctx, token)
    except DomainError as exc:
        if exc.code != "invalid_link":
            raise
        ctx.db.rollback()
        return _bad_link(request)
    where = "/settings" if viewer is not None else "/login"
    return redirect(request, where, flash=f"{account.email} is confirmed.")


# --- changing one's address ------------------------------------------------------


def email_page(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    return "email_settings.html", {"account": member(viewer)}


@router.get("/settings/email")
def email_form(request: Request, ctx: CtxDep, viewer: Member) -> Response:
    template, context = email_page(request, ctx, viewer, {})
    return render(request, template, **context)


@router.post("/settings/email", dependencies=[Csrf])
@redisplayed_by(email_page)
def change_email(
    request: Request, ctx: CtxDep, viewer: Member, email: EmailField, password: PasswordField
) -> Response:
    try:
        address = emails.request_change(ctx, viewer, email, password)
    except DomainError as exc:
        template, context = email_page(request, ctx, viewer, {})
        return show_error(request, ctx, exc, template, {"email": email}, **context)
    return redirect(
        request, "/settings/email", flash=f"We mailed a link to {address}: follow it to use it."
    )
