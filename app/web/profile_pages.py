"""Member profiles and the signed-in member's settings (profile, password, API tokens)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import Response

from app.api.media import read_upload
from app.api.schemas import MAX_ID, CleanStr
from app.deps import CtxDep, client_ip
from app.errors import DomainError
from app.models import AlgorithmModule
from app.services import Ctx, accounts, auth, blocks, communities, follow_lists, follows, media
from app.services.ranking import choices, feeds, registry
from app.web.bidi import isolate
from app.web.deps import Csrf, Member, Viewer
from app.web.forms import OptionalShort, PasswordField, TextField, redisplayed_by
from app.web.lookup import form_target, look_up_form_target
from app.web.templating import SESSION_COOKIE, redirect, render

router = APIRouter()
Username = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_]+$")]


@router.get("/@{username}")
def profile(
    request: Request,
    username: Username,
    ctx: CtxDep,
    viewer: Viewer,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    person = accounts.get_local(ctx, username)
    return render(
        request,
        "profile.html",
        person=person,
        avatar=media.profile_image(ctx, person, "avatar"),
        header=media.profile_image(ctx, person, "header"),
        page=feeds.profile(ctx, person, viewer, cursor=cursor),
        cursor=cursor,
        following=follows.is_following(ctx, viewer, person),
        followers=follows.followers_count(ctx, person),
        member_of=[c for c, m in communities.of_member(ctx, person) if m.state == "active"],
    )


ListCursor = Annotated[str | None, Query(max_length=20)]
ListLimit = Annotated[int, Query(ge=1, le=follow_lists.MAX_LIMIT)]


def _follow_list(
    request: Request, ctx: Ctx, username: str, which: str, cursor: str | None, limit: int
) -> Response:
    person = accounts.get_local(ctx, username)
    listed = follow_lists.followers if which == "Followers" else follow_lists.following
    found, next_cursor = listed(ctx, person, cursor=cursor, limit=limit)
    return render(
        request,
        "follow_list.html",
        person=person,
        heading=which,
        actors=found,
        next_cursor=next_cursor,
        limit=limit,
    )


@router.get("/@{username}/followers")
def followers_page(
    request: Request,
    username: Username,
    ctx: CtxDep,
    cursor: ListCursor = None,
    limit: ListLimit = 40,
) -> Response:
    return _follow_list(request, ctx, username, "Followers", cursor, limit)


@router.get("/@{username}/following")
def following_page(
    request: Request,
    username: Username,
    ctx: CtxDep,
    cursor: ListCursor = None,
    limit: ListLimit = 40,
) -> Response:
    return _follow_list(request, ctx, username, "Following", cursor, limit)


@router.get("/users/{username}")
def actor_alias(request: Request, username: Username) -> Response:
    """The actor URI; browsers are sent to the profile page."""
    return redirect(request, f"/@{username}")


@router.post("/@{username}/follow", dependencies=[Csrf])
def follow(request: Request, username: Username, ctx: CtxDep, viewer: Member) -> Response:
    follows.follow(ctx, viewer, accounts.get_local(ctx, username))
    return redirect(request, f"/@{username}", flash=f"Following {username}.")


@router.post("/@{username}/unfollow", dependencies=[Csrf])
def unfollow(request: Request, username: Username, ctx: CtxDep, viewer: Member) -> Response:
    follows.unfollow(ctx, viewer, accounts.get_local(ctx, username))
    return redirect(request, f"/@{username}", flash=f"Unfollowed {username}.")


def settings_form(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    """The settings page's one context, for its GET and every form's error path;
    ``typed`` (what was just entered) overrides the stored values."""
    form = {"display_name": viewer.display_name, "bio": viewer.bio}
    form.update({k: v for k, v in typed.items() if k in form})
    active, params = choices.active_for_member(ctx, viewer)
    approved = [
        (ctx.db.get(AlgorithmModule, v.module_id), v)
        for v in (registry.get_version(ctx, i) for i in sorted(choices.approved_for(ctx, viewer)))
    ]
    context = {
        "form": form,
        "tokens": auth.list_tokens(ctx, viewer),
        "active_algorithm": active,
        "algorithm_params": params,
        "approved_algorithms": approved,
        "blocked": [
            (row, blocks.handle_of(ctx, actor)) for row, actor in blocks.listing(ctx, viewer)
        ],
        "token_name": typed.get("name", ""),
        "block_target": typed.get("target", ""),
    }
    if "params" in typed:
        context["typed_params"] = typed["params"]
    return "settings.html", context


def _settings(
    request: Request,
    ctx,
    viewer,
    status: int = 200,
    typed: dict | None = None,
    **extra,
) -> Response:
    template, context = settings_form(request, ctx, viewer, typed or {})
    return render(request, template, status=status, **{**context, **extra})


@router.post("/settings/blocks", dependencies=[Csrf, Depends(look_up_form_target)])
@redisplayed_by(settings_form)
def block(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    target: Annotated[CleanStr, Form(max_length=2048)],
) -> Response:
    """Block ``name``, ``name@domain`` or an actor URL, here or on another instance."""
    try:
        blocks.block(ctx, viewer, form_target(request, ctx, target))
    except DomainError as exc:
        ctx.db.rollback()
        return redirect(request, "/settings#blocks", flash=str(exc.detail))
    return redirect(request, "/settings#blocks", flash=f"Blocked {isolate(target.strip())}.")


@router.post("/settings/blocks/remove", dependencies=[Csrf])
@redisplayed_by(settings_form)
def unblock(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    target: Annotated[CleanStr, Form(max_length=2048)],
) -> Response:
    try:
        blocks.unblock(ctx, viewer, target)
    except DomainError as exc:
        return redirect(request, "/settings#blocks", flash=str(exc.detail))
    return redirect(request, "/settings#blocks", flash="Unblocked.")


@router.get("/settings")
def settings_page(request: Request, ctx: CtxDep, viewer: Member) -> Response:
    return _settings(request, ctx, viewer)


@router.post("/settings/profile", dependencies=[Csrf])
@redisplayed_by(settings_form)
def save_profile(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    display_name: OptionalShort = "",
    bio: TextField = "",
) -> Response:
    try:
        accounts.update_profile(ctx, viewer, display_name=display_name, bio=bio)
    except DomainError as exc:
        ctx.db.rollback()
        typed = {"display_name": display_name, "bio": bio}
        return _settings(request, ctx, viewer, exc.status, typed, error=exc.detail)
    return redirect(request, "/settings", flash="Profile saved.")


@router.post("/settings/preferences", dependencies=[Csrf])
@redisplayed_by(settings_form)
def save_preferences(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    expand_warnings: Annotated[str, Form(pattern=r"^(yes)?$")] = "",
) -> Response:
    accounts.set_preferences(ctx, viewer, expand_warnings=expand_warnings == "yes")
    return redirect(request, "/settings#preferences", flash="Preferences saved.")


@router.post("/settings/images", dependencies=[Csrf])
@redisplayed_by(settings_form)
def save_images(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    avatar: Annotated[UploadFile | None, File()] = None,
    avatar_alt: Annotated[CleanStr, Form(max_length=media.MAX_ALT_TEXT)] = "",
    header: Annotated[UploadFile | None, File()] = None,
    header_alt: Annotated[CleanStr, Form(max_length=media.MAX_ALT_TEXT)] = "",
) -> Response:
    """A new avatar and/or header image, each with its alt text."""
    try:
        for which, file, alt in (("avatar", avatar, avatar_alt), ("header", header, header_alt)):
            if file is not None and file.filename:
                data = read_upload(file, ctx.settings.media_max_bytes)
                media.set_profile_image(ctx, viewer, which, data, alt, client=client_ip(request))
    except DomainError as exc:
        ctx.db.rollback()
        return _settings(request, ctx, viewer, exc.status, {}, error=exc.detail)
    return redirect(request, "/settings", flash="Profile images saved.")


@router.post("/settings/password", dependencies=[Csrf])
@redisplayed_by(settings_form)
def save_password(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    current_password: PasswordField,
    new_password: PasswordField,
    revoke_tokens: Annotated[bool, Form()] = False,
) -> Response:
    """Other browsers are logged out; this one stays (see accounts.change_password)."""
    try:
        accounts.change_password(
            ctx,
            viewer,
            current_password,
            new_password,
            keep_session=request.cookies.get(SESSION_COOKIE),
            revoke_tokens=revoke_tokens,
        )
    except DomainError as exc:
        ctx.db.rollback()
        return _settings(request, ctx, viewer, exc.status, error=exc.detail)
    flash = "Password changed; you are logged out in every other browser"
    flash += " and your API tokens are revoked." if revoke_tokens else "."
    return redirect(request, "/settings", flash=flash)


@router.post("/settings/tokens", dependencies=[Csrf])
@redisplayed_by(settings_form)
def new_token(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    scope: Annotated[CleanStr, Form(pattern=r"^(read|write)$")],
    name: OptionalShort = "",
) -> Response:
    try:
        token, raw = auth.create_token(ctx, viewer, scope, name, client=client_ip(request))
    except DomainError as exc:
        ctx.db.rollback()
        return _settings(request, ctx, viewer, exc.status, {"name": name}, error=exc.detail)
    return _settings(request, ctx, viewer, new_token=raw, new_token_scope=token.scope)


@router.post("/settings/tokens/revoke-all", dependencies=[Csrf])
def revoke_all_tokens(request: Request, ctx: CtxDep, viewer: Member) -> Response:
    count = auth.revoke_all_tokens(ctx, viewer)
    flash = f"{count} token{'' if count == 1 else 's'} revoked."
    return redirect(request, "/settings#tokens", flash=flash)


@router.post("/settings/tokens/{token_id}/revoke", dependencies=[Csrf])
def revoke_token(
    request: Request, token_id: Annotated[int, Path(ge=1, le=MAX_ID)], ctx: CtxDep, viewer: Member
) -> Response:
    auth.revoke_token(ctx, viewer, token_id)
    return redirect(request, "/settings#tokens", flash="Token revoked.")
