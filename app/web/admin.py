"""The instance admin page: members, communities and the job queue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response

from app.api.schemas import MAX_ID, CleanStr
from app.deps import CtxDep
from app.errors import DomainError, Forbidden, Invalid
from app.infra import jobs
from app.models import Account
from app.services import accounts, communities, emails, peers, registration
from app.services.ranking import rankers
from app.web.deps import Csrf, Member
from app.web.forms import (
    Confirm,
    confirmation,
    member,
    redisplayed_by,
    show_error,
    unconfirmed,
)
from app.web.templating import redirect, render

router = APIRouter(prefix="/admin")
Username = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_]+$")]


def _require_admin(viewer: Account) -> None:
    if not viewer.is_admin:
        raise Forbidden("Only instance admins can see this page.", code="not_admin")


@router.get("")
def admin_page(request: Request, ctx: CtxDep, viewer: Member) -> Response:
    template, context = admin_form(request, ctx, viewer, {})
    return render(request, template, **context)


def admin_form(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    """The admin page, for instance admins (its forms' error path too)."""
    _require_admin(member(viewer))
    return "admin.html", {
        "members": accounts.list_local(ctx),
        "communities": communities.list_all(ctx, limit=200),
        "queue": jobs.stats(ctx),
        "federation": peers.stats(ctx),
        "sandbox": rankers.sandbox_status(ctx.settings),
        "registration_mode": registration.mode(ctx),
        "email_verification": emails.verification_required(ctx),
        "signup_question": registration.question(ctx),
        "modes": registration.MODES,
        "applications": (pending := registration.applications(ctx)),
        "applicant_ids": {account.id for _, account in pending},
        "invites": [
            (i, joined, registration.invite_url(ctx, i))
            for i, joined in registration.invites(ctx, viewer)
        ],
    }


@router.post("/registration", dependencies=[Csrf])
@redisplayed_by(admin_form)
def set_registration(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    mode: Annotated[CleanStr, Form(max_length=20)],
) -> Response:
    now = registration.set_mode(ctx, viewer, mode)
    return redirect(request, "/admin", flash=f"Sign-up is now: {now}.")


@router.post("/email-verification", dependencies=[Csrf])
@redisplayed_by(admin_form)
def set_email_verification(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    verification: Annotated[str, Form(pattern="^(on|off|)$")] = "",
) -> Response:
    on = registration.set_verification(ctx, viewer, verification == "on")
    flash = "Sign-ups now confirm their e-mail address." if on else "E-mail confirmation is off."
    return redirect(request, "/admin", flash=flash)


@router.post("/signup-question", dependencies=[Csrf])
@redisplayed_by(admin_form)
def set_signup_question(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    question: Annotated[CleanStr, Form(max_length=registration.MAX_QUESTION)] = "",
    answer: Annotated[CleanStr, Form(max_length=registration.MAX_ANSWER)] = "",
) -> Response:
    try:
        asked = registration.set_question(ctx, viewer, question, answer)
    except DomainError as exc:
        template, context = admin_form(request, ctx, viewer, {})
        typed = {"question": question, "answer": answer}
        return show_error(request, ctx, exc, template, typed, **context)
    flash = f"Sign-ups are asked: {asked}" if asked else "Sign-ups are asked no question."
    return redirect(request, "/admin", flash=flash)


@router.post("/invites", dependencies=[Csrf])
@redisplayed_by(admin_form)
def create_invite(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    max_uses: Annotated[int, Form(ge=1, le=registration.MAX_INVITE_USES)] = 1,
    expires_in_hours: Annotated[float | None, Form(gt=0, le=registration.MAX_INVITE_HOURS)] = None,
) -> Response:
    _require_admin(viewer)
    invite = registration.create_invite(
        ctx, viewer, max_uses=max_uses, expires_in_hours=expires_in_hours
    )
    return redirect(
        request, "/admin", flash=f"New invite link: {registration.invite_url(ctx, invite)}"
    )


@router.post("/applications/{application_id}/{verdict}", dependencies=[Csrf])
def decide_application(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    application_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    verdict: Annotated[str, Path(pattern="^(approve|reject)$")],
) -> Response:
    account = registration.decide(ctx, viewer, application_id, verdict == "approve")
    done = "approved" if verdict == "approve" else "declined"
    return redirect(request, "/admin", flash=f"{account.username}'s application is {done}.")


@router.post("/domains/block", dependencies=[Csrf])
@redisplayed_by(admin_form)
def block_domain(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    domain: Annotated[CleanStr, Form(max_length=260)],
    note: Annotated[CleanStr, Form(max_length=500)] = "",
) -> Response:
    _require_admin(viewer)
    peer = peers.set_blocked(ctx, viewer, domain, True, note)
    return redirect(request, "/admin", flash=f"{peer.domain} is blocked.")


@router.post("/domains/{domain}/unblock", dependencies=[Csrf])
def unblock_domain(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    domain: Annotated[str, Path(max_length=260)],
) -> Response:
    _require_admin(viewer)
    peer = peers.set_blocked(ctx, viewer, domain, False)
    return redirect(request, "/admin", flash=f"{peer.domain} is no longer blocked.")


@router.get("/members/{username}/suspend")
def suspend_confirmation(
    request: Request, username: Username, ctx: CtxDep, viewer: Member
) -> Response:
    _require_admin(viewer)
    person = accounts.get_local(ctx, username)
    return confirmation(
        request,
        question=f"Suspend {person.name} (@{person.username})?",
        consequence="They are logged out and can't log in, and their profile disappears "
        "until an admin restores them. Nothing they wrote is deleted.",
        button=f"Suspend @{person.username}",
        back="/admin",
    )


@router.post("/members/{username}/suspend", dependencies=[Csrf])
def suspend(
    request: Request, username: Username, ctx: CtxDep, viewer: Member, confirm: Confirm = ""
) -> Response:
    if asked := unconfirmed(request, confirm):
        return asked
    _require_admin(viewer)
    person = accounts.get_local(ctx, username)
    if person.id == viewer.id:
        raise Invalid("You can't suspend yourself.", code="self_suspend")
    accounts.set_active(ctx, person, False)
    return redirect(request, "/admin", flash=f"{username} is suspended.")


@router.post("/members/{username}/restore", dependencies=[Csrf])
def restore(request: Request, username: Username, ctx: CtxDep, viewer: Member) -> Response:
    _require_admin(viewer)
    accounts.set_active(ctx, accounts.get_local(ctx, username, include_suspended=True), True)
    return redirect(request, "/admin", flash=f"{username} is restored.")
