"""Community pages: list, create, the community itself, settings and members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import Response

from app.api.schemas import CleanStr
from app.deps import CtxDep
from app.errors import DomainError
from app.services import artifact_feed, artifacts, communities, feeds, follows
from app.web.deps import Csrf, Member, Viewer
from app.web.forms import OptionalShort, ShortField, TextField, redisplayed_by, show_error
from app.web.lookup import form_target, look_up_form_target
from app.web.templating import redirect, render

router = APIRouter()
Name = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Username = Annotated[
    str, Path(max_length=300, pattern=r"^[A-Za-z0-9_.-]+(@[A-Za-z0-9.:\[\]-]+)?$")
]  # name, or name@domain for a remote member
Policy = Annotated[CleanStr, Form(pattern=r"^(open|approval)$")]


@router.get("/communities")
def list_page(
    request: Request,
    ctx: CtxDep,
    viewer: Viewer,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    rows = communities.list_all(ctx, after=after, limit=51)
    return render(
        request,
        "communities.html",
        rows=rows[:50],
        next_after=rows[49][0].name_key if len(rows) > 50 else None,
    )


@router.get("/communities/new")
def new_form(request: Request, viewer: Member) -> Response:
    return render(request, "community_new.html", form={})


def new_community_page(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:  # noqa: ANN001
    fields = ("name", "title", "description", "charter", "join_policy")
    return "community_new.html", {"form": {k: typed.get(k, "") for k in fields}}


@router.post("/communities/new", dependencies=[Csrf])
@redisplayed_by(new_community_page)
def create(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    name: ShortField,
    title: OptionalShort = "",
    description: TextField = "",
    charter: TextField = "",
    join_policy: Policy = "open",
) -> Response:
    try:
        c = communities.create(
            ctx,
            viewer,
            name,
            title=title,
            description=description,
            charter=charter,
            join_policy=join_policy,
        )
    except DomainError as exc:
        form = {
            "name": name,
            "title": title,
            "description": description,
            "charter": charter,
            "join_policy": join_policy,
        }
        return show_error(request, ctx, exc, "community_new.html", form=form)
    return redirect(
        request, f"/c/{c.name}", flash=f"“{c.display_title}” is ready. Write its first post!"
    )


@router.get("/c/{name}")
def community_page(
    request: Request,
    name: Name,
    ctx: CtxDep,
    viewer: Viewer,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    c = communities.get(ctx, name)
    return render(
        request,
        "community.html",
        community=c,
        page=feeds.community(ctx, c, viewer, cursor=cursor),
        top_artifacts=artifact_feed.community_feed(ctx, c, viewer, limit=5),
        due_for_review=artifacts.due_for_review(ctx, c),
        cursor=cursor,
        membership=communities.membership(ctx, viewer, c),
        following=follows.is_following(ctx, viewer, c),
        can_moderate=communities.can_moderate(ctx, viewer, c),
        member_count=communities.member_count(ctx, c),
    )


@router.post("/c/{name}/join", dependencies=[Csrf])
def join(request: Request, name: Name, ctx: CtxDep, viewer: Member) -> Response:
    c = communities.get(ctx, name)
    m = communities.join(ctx, viewer, c)
    note = (
        "Welcome aboard!" if m.state == "active" else "Asked to join: a moderator will approve you."
    )
    return redirect(request, f"/c/{c.name}", flash=note)


@router.post("/c/{name}/leave", dependencies=[Csrf])
def leave(request: Request, name: Name, ctx: CtxDep, viewer: Member) -> Response:
    c = communities.get(ctx, name)
    communities.leave(ctx, viewer, c)
    return redirect(request, f"/c/{c.name}", flash=f"You left “{c.display_title}”.")


@router.post("/follow-remote", dependencies=[Csrf, Depends(look_up_form_target)])
def follow_remote(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    target: Annotated[CleanStr, Form(max_length=2048)],
) -> Response:
    """Follow ``name@domain`` or an actor URL, here or on another instance."""
    try:
        f = follows.follow(ctx, viewer, form_target(request, ctx, target))
    except DomainError as exc:
        ctx.db.rollback()
        return redirect(request, "/communities", flash=str(exc.detail))
    note = "waiting for them to accept" if f.state == "pending" else "done"
    return redirect(request, "/communities", flash=f"Following {target.strip()} ({note}).")


@router.post("/c/{name}/follow", dependencies=[Csrf])
def follow(request: Request, name: Name, ctx: CtxDep, viewer: Member) -> Response:
    c = communities.get(ctx, name)
    follows.follow(ctx, viewer, c)
    return redirect(
        request, f"/c/{c.name}", flash="Following: its threads appear in your home feed."
    )


@router.post("/c/{name}/unfollow", dependencies=[Csrf])
def unfollow(request: Request, name: Name, ctx: CtxDep, viewer: Member) -> Response:
    c = communities.get(ctx, name)
    follows.unfollow(ctx, viewer, c)
    return redirect(request, f"/c/{c.name}", flash="Unfollowed.")


@router.get("/c/{name}/settings")
def settings_form(request: Request, name: Name, ctx: CtxDep, viewer: Member) -> Response:
    c = communities.get(ctx, name)
    communities.require_role(ctx, viewer, c, "admin")
    form = {
        "title": c.title,
        "description": c.description,
        "charter": c.charter,
        "join_policy": c.join_policy,
    }
    return render(request, "community_settings.html", community=c, form=form)


@router.post("/c/{name}/settings", dependencies=[Csrf])
def settings_submit(
    request: Request,
    name: Name,
    ctx: CtxDep,
    viewer: Member,
    title: OptionalShort = "",
    description: TextField = "",
    charter: TextField = "",
    join_policy: Policy = "open",
) -> Response:
    c = communities.get(ctx, name)
    try:
        communities.update(
            ctx,
            viewer,
            c,
            title=title,
            description=description,
            charter=charter,
            join_policy=join_policy,
        )
    except DomainError as exc:
        form = {
            "title": title,
            "description": description,
            "charter": charter,
            "join_policy": join_policy,
        }
        return show_error(request, ctx, exc, "community_settings.html", community=c, form=form)
    return redirect(request, f"/c/{c.name}", flash="Community settings saved.")


@router.get("/c/{name}/members")
def members_page(request: Request, name: Name, ctx: CtxDep, viewer: Viewer) -> Response:
    c = communities.get(ctx, name)
    can_moderate = communities.can_moderate(ctx, viewer, c)
    return render(
        request,
        "community_members.html",
        community=c,
        members=communities.members(ctx, c),
        pending=communities.members(ctx, c, state="pending") if can_moderate else [],
        can_moderate=can_moderate,
        is_admin=communities.can_moderate(ctx, viewer, c, role="admin"),
    )


@router.post("/c/{name}/members/{username}/approve", dependencies=[Csrf])
def approve(
    request: Request, name: Name, username: Username, ctx: CtxDep, viewer: Member
) -> Response:
    c = communities.get(ctx, name)
    communities.approve(ctx, viewer, c, username)
    return redirect(request, f"/c/{c.name}/members", flash=f"{username} is now a member.")


@router.post("/c/{name}/members/{username}/remove", dependencies=[Csrf])
def remove(
    request: Request, name: Name, username: Username, ctx: CtxDep, viewer: Member
) -> Response:
    c = communities.get(ctx, name)
    communities.remove(ctx, viewer, c, username)
    return redirect(request, f"/c/{c.name}/members", flash=f"{username} was removed.")


@router.post("/c/{name}/members/{username}/role", dependencies=[Csrf])
def set_role(
    request: Request,
    name: Name,
    username: Username,
    ctx: CtxDep,
    viewer: Member,
    role: Annotated[CleanStr, Form(pattern=r"^(member|moderator|admin)$")],
) -> Response:
    c = communities.get(ctx, name)
    communities.set_role(ctx, viewer, c, username, role)
    return redirect(request, f"/c/{c.name}/members", flash=f"{username} is now {role}.")
