"""Sign up, log in, log out, and the first-run setup page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from app.api.schemas import CleanStr
from app.deps import CtxDep, client_ip
from app.errors import DomainError
from app.services import accounts, auth, emails, registration, rules, setup
from app.web.bidi import isolate
from app.web.deps import Csrf, Viewer
from app.web.forms import OptionalShort, PasswordField, ShortField, redisplayed_by, show_error
from app.web.templating import SESSION_COOKIE, redirect, render, set_cookie

router = APIRouter()
Next = Annotated[str, Query(max_length=2000)]  # an OAuth authorize link is long


def _safe_next(target: str) -> str:
    """Only same-site paths, so a login link can't bounce members elsewhere."""
    return (
        target
        if target.startswith("/") and not target.startswith("//") and "\\" not in target
        else "/"
    )


def _login_response(request: Request, ctx, account, target: str = "/") -> Response:
    key = auth.start_session(
        ctx, account, user_agent=request.headers.get("user-agent", ""), client=client_ip(request)
    )
    response = redirect(request, _safe_next(target), flash=f"Welcome, {isolate(account.name)}.")
    set_cookie(request, response, SESSION_COOKIE, key, max_age=ctx.settings.session_days * 86400)
    return response


@router.get("/signup")
def signup_form(
    request: Request,
    ctx: CtxDep,
    viewer: Viewer,
    invite: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    template, context = signup_page(request, ctx, viewer, {"invite": invite})
    return render(request, template, **context)


def signup_page(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    """The sign-up form as the registration mode shapes it: a reason to give under
    ``approval``, an invite code under ``invite`` (no form without one), no form
    at all when sign-up is closed."""
    fields = ("username", "display_name", "invite", "reason", "email", "answer")
    form = {k: typed.get(k, "") for k in fields}
    return "signup.html", {
        "form": form,
        "mode": registration.mode(ctx),
        "rules": rules.of(ctx),
        "email_required": emails.verification_required(ctx),
        "question": registration.question(ctx),
    }


@router.post("/signup", dependencies=[Csrf])
@redisplayed_by(signup_page)
def signup(
    request: Request,
    ctx: CtxDep,
    username: ShortField,
    password: PasswordField,
    display_name: OptionalShort = "",
    invite: Annotated[CleanStr, Form(max_length=200)] = "",
    reason: Annotated[CleanStr, Form(max_length=2000)] = "",
    email: Annotated[CleanStr, Form(max_length=400)] = "",
    answer: Annotated[CleanStr, Form(max_length=400)] = "",
) -> Response:
    typed = {
        "username": username,
        "display_name": display_name,
        "invite": invite,
        "reason": reason,
        "email": email,
        "answer": answer,
    }
    try:
        done = registration.sign_up(
            ctx,
            username,
            password,
            display_name,
            client=client_ip(request),
            invite=invite,
            reason=reason,
            email=email,
            answer=answer,
        )
    except DomainError as exc:
        template, context = signup_page(request, ctx, None, typed)
        return show_error(request, ctx, exc, template, **context)
    if done.pending:
        return render(request, "signup.html", form={}, mode="applied")
    if done.confirm_email:
        return render(request, "signup.html", form={}, mode="confirm", email=done.account.email)
    return _login_response(request, ctx, done.account, "/communities")


@router.get("/login")
def login_form(request: Request, viewer: Viewer, next: Next = "/") -> Response:
    return render(request, "login.html", form={}, next=_safe_next(next))


def login_page(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    form = {"username": typed.get("username", "")}
    return "login.html", {"form": form, "next": _safe_next(typed.get("next", "/"))}


@router.post("/login", dependencies=[Csrf])
@redisplayed_by(login_page)
def login(
    request: Request,
    ctx: CtxDep,
    username: ShortField,
    password: PasswordField,
    next: Annotated[CleanStr, Form(max_length=2000)] = "/",
) -> Response:
    try:
        account = accounts.authenticate(ctx, username, password, client_ip(request))
    except DomainError as exc:
        return show_error(
            request,
            ctx,
            exc,
            "login.html",
            form={"username": username},
            next=next,
            unconfirmed=exc.code == "email_unconfirmed",
        )
    return _login_response(request, ctx, account, next)


@router.post("/logout", dependencies=[Csrf])
def logout(request: Request, ctx: CtxDep) -> Response:
    auth.end_session(ctx, request.cookies.get(SESSION_COOKIE))
    response = redirect(request, "/", flash="You are logged out.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/setup/{token}")
def setup_form(request: Request, token: str, ctx: CtxDep, viewer: Viewer) -> Response:
    if not setup.token_valid(ctx, token[:200]):
        return render(
            request,
            "error.html",
            status=403,
            status_code=403,
            message="This setup link is used up or out of date. Restart "
            "`commonground serve` for a new one, or run `commonground create-admin`.",
        )
    return render(request, "setup.html", token=token, form={})


SETUP_FIELDS = (
    "username",
    "display_name",
    "community_name",
    "community_title",
    "community_description",
)


def setup_page(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    form = {k: typed.get(k, "") for k in SETUP_FIELDS}
    return "setup.html", {"token": request.path_params.get("token", ""), "form": form}


@router.post("/setup/{token}", dependencies=[Csrf])
@redisplayed_by(setup_page)
def setup_submit(
    request: Request,
    token: str,
    ctx: CtxDep,
    username: ShortField,
    password: PasswordField,
    display_name: OptionalShort = "",
    community_name: OptionalShort = "",
    community_title: OptionalShort = "",
    community_description: OptionalShort = "",
) -> Response:
    try:
        admin, community = setup.complete(
            ctx,
            token[:200],
            username=username,
            password=password,
            display_name=display_name,
            community_name=community_name,
            community_title=community_title,
            community_description=community_description,
        )
    except DomainError as exc:
        typed = dict(
            zip(
                SETUP_FIELDS,
                (username, display_name, community_name, community_title, community_description),
                strict=True,
            )
        )
        template, context = setup_page(request, ctx, None, typed)
        return show_error(request, ctx, exc, template, **context)
    return _login_response(request, ctx, admin, f"/c/{community.name}" if community else "/")
