"""Community pages: list, create, the community itself, settings and members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import Response

from app.api.schemas import CleanStr
from app.deps import CtxDep
from app.errors import DomainError, Forbidden
from app.models import Community
from app.services import Ctx, artifacts, communities, follows, governance, rules
from app.services.ranking import feeds
from app.web.bidi import isolate
from app.web.deps import Csrf, Member, Viewer
from app.web.forms import (
    Confirm,
    OptionalShort,
    ShortField,
    TextField,
    confirmation,
    member,
    redisplayed_by,
    show_error,
    unconfirmed,
)
from app.web.lookup import form_target, look_up_form_target
from app.web.templating import plural, redirect, render

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
    return render(request, "communities.html", **_list_context(ctx, viewer, after))


def _list_context(ctx: Ctx, viewer, after: str | None) -> dict:
    """Local communities, and those elsewhere the viewer belongs to (to start threads in)."""
    rows = communities.list_all(ctx, after=after, limit=51)
    elsewhere = [c for c, m in (communities.of_member(ctx, viewer) if viewer else []) if c.domain]
    return {
        "rows": rows[:50],
        "next_after": rows[49][0].name_key if len(rows) > 50 else None,
        "elsewhere": elsewhere,
    }


def communities_page(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    """The communities list with its follow form (the form's error path)."""
    return "communities.html", _list_context(ctx, viewer, None)


@router.get("/communities/new")
def new_form(request: Request, viewer: Member) -> Response:
    return render(request, "community_new.html", form={})


def new_community_page(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
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
    ready = f"“{isolate(c.display_title)}” is ready. Write its first post!"
    return redirect(request, f"/c/{c.name}", flash=ready)


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
        rules=rules.of(ctx, c),
        page=feeds.community(ctx, c, viewer, cursor=cursor),
        top_artifacts=feeds.community_artifacts(ctx, c, viewer, limit=5),
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


@router.get("/c/{name}/leave")
def leave_confirmation(request: Request, name: Name, ctx: CtxDep, viewer: Member) -> Response:
    """Ask before leaving; the only admin is told how to hand over or dissolve instead."""
    c = communities.get(ctx, name)
    only_admin = communities.is_only_admin(ctx, viewer, c)
    return render(
        request,
        "community_leave.html",
        community=c,
        only_admin=only_admin,
        alone=only_admin and communities.member_count(ctx, c) == 1,
    )


@router.post("/c/{name}/leave", dependencies=[Csrf])
def leave(
    request: Request, name: Name, ctx: CtxDep, viewer: Member, confirm: Confirm = ""
) -> Response:
    if asked := unconfirmed(request, confirm):
        return asked
    c = communities.get(ctx, name)
    communities.leave(ctx, viewer, c)
    return redirect(request, f"/c/{c.name}", flash=f"You left “{isolate(c.display_title)}”.")


@router.get("/c/{name}/dissolve")
def dissolve_confirmation(request: Request, name: Name, ctx: CtxDep, viewer: Member) -> Response:
    c = communities.get(ctx, name)
    communities.require_role(ctx, viewer, c, "admin")
    return confirmation(
        request,
        question=f"Dissolve “{c.display_title}”?",
        consequence=f"The community is deleted with everything in it: its "
        f"{plural(communities.member_count(ctx, c), 'membership')}, threads, shared artifacts "
        "and decisions. Its name becomes free again. This can't be undone.",
        button="Dissolve the community",
        back=f"/c/{c.name}",
    )


@router.post("/c/{name}/dissolve", dependencies=[Csrf])
def dissolve(
    request: Request, name: Name, ctx: CtxDep, viewer: Member, confirm: Confirm = ""
) -> Response:
    if asked := unconfirmed(request, confirm):
        return asked
    c = communities.get(ctx, name)
    title = c.display_title
    communities.dissolve(ctx, viewer, c)
    return redirect(request, "/communities", flash=f"“{title}” was dissolved.")


@router.post("/follow-remote", dependencies=[Csrf, Depends(look_up_form_target)])
@redisplayed_by(communities_page)
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
    return redirect(request, "/communities", flash=f"Following {isolate(target.strip())} ({note}).")


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
    template, context = community_settings_page(request, ctx, viewer, {})
    return render(request, template, **context)


def community_settings_page(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    """The settings page: the community's fields and its voting rules, for its admins;
    what was typed into the form just sent overrides the stored values."""
    c = communities.get(ctx, str(request.path_params.get("name", "")))
    communities.require_role(ctx, member(viewer), c, "admin")
    vote_rules = governance.vote_rules(ctx, c)
    form = _fields(c)
    rules_form = {
        "min_hours": vote_rules.min_hours,
        "quorum_percent": vote_rules.quorum_percent,
        "openers": vote_rules.openers,
    }
    sent = rules_form if request.url.path.endswith("/vote-rules") else form
    sent.update({k: v for k, v in typed.items() if k in sent})
    return "community_settings.html", {
        "community": c,
        "form": form,
        "vote_rules": vote_rules,
        "rules_form": rules_form,
    }


def _fields(c: Community) -> dict:
    return {
        "title": c.title,
        "description": c.description,
        "charter": c.charter,
        "join_policy": c.join_policy,
    }


@router.post("/c/{name}/settings", dependencies=[Csrf])
@redisplayed_by(community_settings_page)
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
        ctx.db.rollback()
        typed = {
            "title": title,
            "description": description,
            "charter": charter,
            "join_policy": join_policy,
        }
        template, context = community_settings_page(request, ctx, viewer, typed)
        return show_error(request, ctx, exc, template, **context)
    return redirect(request, f"/c/{c.name}", flash="Community settings saved.")


@router.post("/c/{name}/vote-rules", dependencies=[Csrf])
@redisplayed_by(community_settings_page)
def vote_rules_submit(
    request: Request,
    name: Name,
    ctx: CtxDep,
    viewer: Member,
    min_hours: Annotated[int, Form()],
    quorum_percent: Annotated[int, Form()],
    openers: ShortField,
) -> Response:
    """Admins set the floors on the community's votes (the service checks the ranges)."""
    c = communities.get(ctx, name)
    typed = {"min_hours": min_hours, "quorum_percent": quorum_percent, "openers": openers}
    try:
        governance.set_vote_rules(ctx, viewer, c, **typed)
    except Forbidden:
        raise
    except DomainError as exc:
        ctx.db.rollback()
        template, context = community_settings_page(request, ctx, viewer, typed)
        return show_error(request, ctx, exc, template, **context)
    return redirect(request, f"/c/{c.name}/settings", flash="Voting rules saved.")


@router.get("/c/{name}/members")
def members_page(request: Request, name: Name, ctx: CtxDep, viewer: Viewer) -> Response:
    template, context = members_page_form(request, ctx, viewer, {})
    return render(request, template, **context)


def members_page_form(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    """The members page, with its role forms for admins."""
    c = communities.get(ctx, str(request.path_params.get("name", "")))
    can_moderate = communities.can_moderate(ctx, viewer, c)
    return "community_members.html", {
        "community": c,
        "members": communities.members(ctx, c),
        "pending": communities.members(ctx, c, state="pending") if can_moderate else [],
        "can_moderate": can_moderate,
        "is_admin": communities.can_moderate(ctx, viewer, c, role="admin"),
    }


@router.post("/c/{name}/members/{username}/approve", dependencies=[Csrf])
def approve(
    request: Request, name: Name, username: Username, ctx: CtxDep, viewer: Member
) -> Response:
    c = communities.get(ctx, name)
    communities.approve(ctx, viewer, c, username)
    return redirect(request, f"/c/{c.name}/members", flash=f"{username} is now a member.")


@router.get("/c/{name}/members/{username}/remove")
def remove_confirmation(
    request: Request, name: Name, username: Username, ctx: CtxDep, viewer: Member
) -> Response:
    c = communities.get(ctx, name)
    communities.require_role(ctx, viewer, c, "moderator")
    return confirmation(
        request,
        question=f"Remove {username} from “{c.display_title}”?",
        consequence="They stop being a member (their posts stay). They can ask to join again.",
        button=f"Remove {username}",
        back=f"/c/{c.name}/members",
    )


@router.post("/c/{name}/members/{username}/remove", dependencies=[Csrf])
def remove(
    request: Request,
    name: Name,
    username: Username,
    ctx: CtxDep,
    viewer: Member,
    confirm: Confirm = "",
) -> Response:
    if asked := unconfirmed(request, confirm):
        return asked
    c = communities.get(ctx, name)
    communities.remove(ctx, viewer, c, username)
    return redirect(request, f"/c/{c.name}/members", flash=f"{username} was removed.")


@router.post("/c/{name}/members/{username}/role", dependencies=[Csrf])
@redisplayed_by(members_page_form)
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
