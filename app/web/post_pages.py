"""Composing, threads, replies, editing, deleting and reacting."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response

from app.api.schemas import MAX_ID, CleanStr
from app.deps import CtxDep, client_ip
from app.errors import DomainError, Forbidden
from app.services import boosts, communities, mutes, posts, reactions
from app.services.views import present
from app.web.deps import Csrf, Member, Viewer
from app.web.forms import (
    Confirm,
    OptionalShort,
    TextField,
    confirmation,
    member,
    path_id,
    redisplayed_by,
    show_error,
    unconfirmed,
)
from app.web.templating import redirect, render
from app.web.uploads import ALTS, AltField, ImageField, upload_chosen

router = APIRouter()
PostId = Annotated[int, Path(ge=1, le=MAX_ID)]
Kind = Annotated[CleanStr, Form(pattern=r"^(like|agree|disagree|pass)$")]
Checkbox = Annotated[str, Form(pattern=r"^(yes)?$")]


def _thread_context(ctx, post, viewer) -> dict:
    root, replies = posts.thread(ctx, post, viewer=viewer)
    views = present(ctx, [root, *replies], viewer)
    deletable = {p.id for p in (root, *replies) if posts.can_delete(ctx, viewer, p)}
    muted = mutes.is_muted(ctx, viewer, mutes.Target("thread", str(root.id)))
    return {
        "root": views[0],
        "replies": views[1:],
        "deletable": deletable,
        "thread_muted": muted,
    }


@router.get("/compose")
def compose_form(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    community: Annotated[str, Query(max_length=360)] = "",
) -> Response:
    mine = [c for c, m in communities.of_member(ctx, viewer) if m.state == "active"]
    return render(request, "compose.html", form={"community": community}, my_communities=mine)


def compose_page(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    mine = [c for c, m in communities.of_member(ctx, viewer) if m.state == "active"]
    form = {
        k: typed.get(k, "")
        for k in ("text", "community", "title", "summary", "sensitive", "sensitive_media", *ALTS)
    }
    return "compose.html", {"form": form, "my_communities": mine}


@router.post("/compose", dependencies=[Csrf])
@redisplayed_by(compose_page)
def compose(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    text: TextField,
    community: OptionalShort = "",
    title: OptionalShort = "",
    summary: OptionalShort = "",
    sensitive: Checkbox = "",
    sensitive_media: Checkbox = "",
    media1: ImageField = None,
    media2: ImageField = None,
    media3: ImageField = None,
    media4: ImageField = None,
    alt1: AltField = "",
    alt2: AltField = "",
    alt3: AltField = "",
    alt4: AltField = "",
) -> Response:
    try:
        uploaded = upload_chosen(
            request, ctx, viewer, (media1, media2, media3, media4), (alt1, alt2, alt3, alt4)
        )
        post = posts.create(
            ctx,
            viewer,
            text,
            community=community or None,
            title=title or None,
            client=client_ip(request),
            summary=summary,
            sensitive=sensitive == "yes",
            media_ids=uploaded,
            sensitive_media=sensitive_media == "yes",
        )
    except DomainError as exc:
        typed = {
            "text": text,
            "community": community,
            "title": title,
            "summary": summary,
            "sensitive": sensitive,
            "sensitive_media": sensitive_media,
        }
        typed |= dict(zip(ALTS, (alt1, alt2, alt3, alt4), strict=True))
        template, context = compose_page(request, ctx, viewer, typed)
        return show_error(request, ctx, exc, template, **context)
    return redirect(request, f"/posts/{post.id}", flash="Posted.")


@router.get("/posts/{post_id}")
def thread_page(request: Request, post_id: PostId, ctx: CtxDep, viewer: Viewer) -> Response:
    post = posts.get(ctx, post_id)
    if post.root_id is not None:
        return redirect(request, f"/posts/{post.root_id}#p{post.id}")
    return render(request, "thread.html", form={}, **_thread_context(ctx, post, viewer))


def thread_form(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    """The thread of the post replied to, its reply form holding what was typed."""
    post = posts.get(ctx, path_id(request, "post_id"))
    root = posts.get(ctx, post.root_id) if post.root_id is not None else post
    return "thread.html", {
        "form": {"text": typed.get("text", "")},
        **_thread_context(ctx, root, viewer),
    }


@router.post("/posts/{post_id}/reply", dependencies=[Csrf])
@redisplayed_by(thread_form)
def reply(
    request: Request, post_id: PostId, ctx: CtxDep, viewer: Member, text: TextField
) -> Response:
    try:
        new = posts.create(ctx, viewer, text, in_reply_to=post_id, client=client_ip(request))
    except DomainError as exc:
        ctx.db.rollback()
        template, context = thread_form(request, ctx, viewer, {"text": text})
        return show_error(request, ctx, exc, template, **context)
    return redirect(request, f"/posts/{new.root_id}#p{new.id}", flash="Reply posted.")


@router.get("/posts/{post_id}/edit")
def edit_form(request: Request, post_id: PostId, ctx: CtxDep, viewer: Member) -> Response:
    template, context = edit_page(request, ctx, viewer, {})
    return render(request, template, **context)


def edit_page(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    """The author's edit form, starting from the post or from what was typed."""
    post = posts.get(ctx, path_id(request, "post_id"))
    if post.author_id != member(viewer).id or post.is_deleted:
        raise Forbidden(
            "Only the author can edit a post, and deleted posts can't be edited.",
            code="not_author",
        )
    form = {"text": post.text, "title": post.title or ""}
    form.update({k: v for k, v in typed.items() if k in form})
    return "edit.html", {"post": post, "form": form}


@router.post("/posts/{post_id}/edit", dependencies=[Csrf])
@redisplayed_by(edit_page)
def edit(
    request: Request,
    post_id: PostId,
    ctx: CtxDep,
    viewer: Member,
    text: TextField,
    title: OptionalShort = "",
) -> Response:
    try:
        post = posts.edit(ctx, viewer, post_id, text, title or None)
    except DomainError as exc:
        ctx.db.rollback()
        post = posts.get(ctx, post_id)
        form = {"text": text, "title": title}
        return show_error(request, ctx, exc, "edit.html", post=post, form=form)
    return redirect(request, f"/posts/{post.root_id or post.id}#p{post.id}", flash="Saved.")


@router.get("/posts/{post_id}/delete")
def delete_confirmation(request: Request, post_id: PostId, ctx: CtxDep, viewer: Member) -> Response:
    post = posts.get(ctx, post_id)
    if not posts.can_delete(ctx, viewer, post):
        raise Forbidden("Only the author or a moderator can delete this post.", code="not_author")
    whose = "your post" if post.author_id == viewer.id else "this post"
    return confirmation(
        request,
        question=f"Delete {whose}?",
        consequence="Its text is removed for everyone; replies stay, under a “deleted” "
        "placeholder. This can't be undone.",
        button="Delete the post",
        back=f"/posts/{post.root_id or post.id}#p{post.id}",
    )


@router.post("/posts/{post_id}/delete", dependencies=[Csrf])
def delete(
    request: Request, post_id: PostId, ctx: CtxDep, viewer: Member, confirm: Confirm = ""
) -> Response:
    if asked := unconfirmed(request, confirm):
        return asked
    post = posts.delete_post(ctx, viewer, post_id)
    return redirect(request, f"/posts/{post.root_id or post.id}", flash="Deleted.")


@router.get("/posts/{post_id}/history")
def history(request: Request, post_id: PostId, ctx: CtxDep, viewer: Viewer) -> Response:
    post = posts.get_visible(ctx, post_id)
    view = present(ctx, [post], viewer)[0]
    return render(request, "history.html", post=view, revisions=posts.history(ctx, post))


@router.post("/posts/{post_id}/react", dependencies=[Csrf])
def react(
    request: Request,
    post_id: PostId,
    ctx: CtxDep,
    viewer: Member,
    kind: Kind,
    back: Annotated[CleanStr, Form(max_length=500)] = "",
) -> Response:
    """Toggle: reacting with a kind you already chose takes it back."""
    mine = reactions.mine(ctx, viewer, [post_id])[post_id]
    if kind in mine:
        reactions.unreact(ctx, viewer, post_id, kind)
    else:
        reactions.react(ctx, viewer, post_id, kind, client=client_ip(request))
    target = back if back.startswith("/") and not back.startswith("//") else f"/posts/{post_id}"
    return redirect(request, f"{target}#p{post_id}" if "#" not in target else target)


@router.post("/posts/{post_id}/boost", dependencies=[Csrf])
def boost(
    request: Request,
    post_id: PostId,
    ctx: CtxDep,
    viewer: Member,
    back: Annotated[CleanStr, Form(max_length=500)] = "",
) -> Response:
    """Toggle: boosting a post you boosted takes the boost back (app/services/boosts.py)."""
    post = posts.get_visible(ctx, post_id)
    if post.id in boosts.mine(ctx, viewer, [post.id]):
        boosts.unboost(ctx, viewer, post)
    else:
        boosts.boost(ctx, viewer, post, client=client_ip(request))
    target = back if back.startswith("/") and not back.startswith("//") else f"/posts/{post_id}"
    return redirect(request, f"{target}#p{post_id}" if "#" not in target else target)
