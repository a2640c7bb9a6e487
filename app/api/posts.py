"""Posts, threads, edit history and reactions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from app.api.auth import MaybeAccount, Writer
from app.api.schemas import (
    MAX_ID,
    BoundedJSONRoute,
    PostCreate,
    PostOut,
    PostUpdate,
    ReactionCreate,
    ReactionsOut,
    RevisionOut,
    ThreadOut,
)
from app.deps import CtxDep, client_ip
from app.models import Account, Post
from app.services import Ctx, boosts, posts, reactions
from app.services.views import present

router = APIRouter(prefix="/posts", tags=["posts"], route_class=BoundedJSONRoute)
PostId = Annotated[int, Path(ge=1, le=MAX_ID)]


def post_out(ctx: Ctx, post: Post, viewer: Account | None) -> PostOut:
    return PostOut.of(present(ctx, [post], viewer)[0])


@router.post("", status_code=201, response_model=PostOut)
def create_post(body: PostCreate, ctx: CtxDep, account: Writer, request: Request) -> PostOut:
    """Post, optionally into a community and/or as a reply (which joins its thread)."""
    post = posts.create(
        ctx,
        account,
        body.text,
        community=body.community,
        in_reply_to=body.in_reply_to,
        title=body.title,
        client=client_ip(request),
        summary=body.summary,
        sensitive=body.sensitive,
        media_ids=body.media,
        visibility=body.visibility,
    )
    return post_out(ctx, post, account)


@router.get("/{post_id}", response_model=PostOut)
def get_post(post_id: PostId, ctx: CtxDep, viewer: MaybeAccount) -> PostOut:
    """A post; a deleted one comes back as a tombstone (``deleted: true``, no text)."""
    return post_out(ctx, posts.get_visible(ctx, post_id), viewer)


@router.patch("/{post_id}", response_model=PostOut)
def edit_post(post_id: PostId, body: PostUpdate, ctx: CtxDep, account: Writer) -> PostOut:
    title = body.title if "title" in body.model_fields_set else ...
    return post_out(ctx, posts.edit(ctx, account, post_id, body.text, title), account)


@router.delete("/{post_id}", status_code=204)
def delete_post(post_id: PostId, ctx: CtxDep, account: Writer) -> Response:
    posts.delete_post(ctx, account, post_id)
    return Response(status_code=204)


@router.get("/{post_id}/thread", response_model=ThreadOut)
def thread(post_id: PostId, ctx: CtxDep, viewer: MaybeAccount) -> ThreadOut:
    root, replies = posts.thread(ctx, posts.get(ctx, post_id), viewer=viewer)
    views = present(ctx, [root, *replies], viewer)
    return ThreadOut(root=PostOut.of(views[0]), replies=[PostOut.of(v) for v in views[1:]])


@router.get("/{post_id}/history", response_model=list[RevisionOut])
def history(post_id: PostId, ctx: CtxDep) -> list[RevisionOut]:
    """Earlier versions of an edited post, newest first."""
    return [
        RevisionOut.model_validate(r, from_attributes=True)
        for r in posts.history(ctx, posts.get_visible(ctx, post_id))
    ]


def _reactions_out(ctx: Ctx, post_id: int, account: Account) -> ReactionsOut:
    view = present(ctx, [posts.get(ctx, post_id)], account)[0]
    return ReactionsOut(post=post_id, reactions=view.reactions, my_reactions=view.my_reactions)


@router.post("/{post_id}/reactions", response_model=ReactionsOut)
def react(
    post_id: PostId, body: ReactionCreate, ctx: CtxDep, account: Writer, request: Request
) -> ReactionsOut:
    """Like, or take a stance (agree / disagree / pass). A new stance replaces the old one."""
    reactions.react(ctx, account, post_id, body.kind, client=client_ip(request))
    return _reactions_out(ctx, post_id, account)


@router.delete("/{post_id}/reactions/{kind}", response_model=ReactionsOut)
def unreact(post_id: PostId, kind: str, ctx: CtxDep, account: Writer) -> ReactionsOut:
    reactions.unreact(ctx, account, post_id, kind)
    return _reactions_out(ctx, post_id, account)


@router.put("/{post_id}/boost", status_code=204)
def boost(post_id: PostId, ctx: CtxDep, account: Writer, request: Request) -> Response:
    """Boost the post to one's followers (twice is once; app/services/boosts.py)."""
    boosts.boost(ctx, account, posts.get_visible(ctx, post_id), client=client_ip(request))
    return Response(status_code=204)


@router.delete("/{post_id}/boost", status_code=204)
def unboost(post_id: PostId, ctx: CtxDep, account: Writer) -> Response:
    boosts.unboost(ctx, account, posts.get(ctx, post_id))
    return Response(status_code=204)
