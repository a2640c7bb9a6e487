"""ActivityPub documents: actors, objects and their collections.

Browsers and servers share URLs: :class:`federation.negotiation.AS2Negotiation`
routes a request that asks for ActivityStreams JSON to the ``/ap/...`` twins of
the HTML pages defined here.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse, Response
from sqlmodel import func, select

from app.api.schemas import MAX_ID
from app.deps import CtxDep
from app.errors import NotFound
from app.models import Account, Community, Follow, OutboxItem, Post
from app.services import Ctx, accounts, communities, posts
from federation import actors, objects
from federation.signatures import require_signed_fetch
from federation.vocab import AS2_TYPE, CONTEXT, PAGE_SIZE

router = APIRouter(include_in_schema=False)
Signed = [Depends(require_signed_fetch)]  # secure mode: signed GETs only
Name = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Before = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def as2(body: dict, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=AS2_TYPE)


def _actor(ctx: Ctx, name: str) -> Account | Community:
    found = accounts.find_local(ctx, name) or communities.find(ctx, name)
    if found is None:
        raise NotFound(f"No actor named “{name}” here.", code="unknown_actor")
    return found


@router.get("/actor")
def instance_actor(ctx: CtxDep) -> Response:
    return as2(actors.application(ctx))


@router.get("/ap/users/{name}", dependencies=Signed)
def person(ctx: CtxDep, name: Name) -> Response:
    return as2(actors.person(ctx, accounts.get_local(ctx, name)))


@router.get("/ap/c/{name}", dependencies=Signed)
def group(ctx: CtxDep, name: Name) -> Response:
    return as2(actors.group(ctx, communities.get(ctx, name)))


@router.get("/ap/posts/{post_id}", dependencies=Signed)
def post_object(ctx: CtxDep, post_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Response:
    post = posts.get(ctx, post_id)
    author = ctx.db.get(Account, post.author_id)
    if not author.is_local:
        raise NotFound("That post lives on another instance.", code="not_local")
    return as2(objects.note(ctx, post), status=410 if post.is_deleted else 200)


def _collection(uri: str, total: int, items: list | None = None) -> dict:
    doc = {"@context": CONTEXT, "id": uri, "type": "OrderedCollection", "totalItems": total}
    doc["first"] = f"{uri}?page=true"
    if items is not None:
        doc["orderedItems"] = items
    return doc


def _page(uri: str, items: list, next_before: int | None, prev_after: int | None) -> dict:
    doc = {
        "@context": CONTEXT,
        "id": f"{uri}?page=true" + (f"&before={prev_after}" if prev_after else ""),
        "type": "OrderedCollectionPage",
        "partOf": uri,
        "orderedItems": items,
    }
    if next_before is not None:
        doc["next"] = f"{uri}?page=true&before={next_before}"
    if prev_after is not None:
        doc["prev"] = f"{uri}?page=true&after={prev_after}"
    return doc


def _outbox(ctx: Ctx, actor_uri: str, page: bool, before: int | None, after: int | None) -> dict:
    uri = f"{actor_uri}/outbox"
    base = select(OutboxItem).where(OutboxItem.actor_uri == actor_uri, OutboxItem.public)
    if not page:
        total = ctx.db.exec(select(func.count()).select_from(base.subquery())).one()
        return _collection(uri, total)
    q = base.order_by(OutboxItem.id.desc())
    if before:
        q = q.where(OutboxItem.id < before)
    if after:
        q = base.where(OutboxItem.id > after).order_by(OutboxItem.id).limit(PAGE_SIZE)
        rows = list(reversed(ctx.db.exec(q).all()))
    else:
        rows = ctx.db.exec(q.limit(PAGE_SIZE + 1)).all()
    more = len(rows) > PAGE_SIZE if not after else True
    rows = rows[:PAGE_SIZE]
    items = [{k: v for k, v in json.loads(r.body).items() if k != "@context"} for r in rows]
    next_before = rows[-1].id if rows and more else None
    prev_after = rows[0].id if rows and (before or after) else None
    return _page(uri, items, next_before, prev_after)


@router.get("/users/{name}/outbox", dependencies=Signed)
@router.get("/c/{name}/outbox", dependencies=Signed)
def outbox(
    ctx: CtxDep, name: Name, page: bool = False, before: Before = None, after: Before = None
) -> Response:
    return as2(_outbox(ctx, _actor(ctx, name).uri, page, before, after))


def _follower_query(target: Account | Community):
    column = Follow.target_account_id if isinstance(target, Account) else Follow.target_community_id
    return (
        select(Follow.id, Account.uri)
        .join(Account, Account.id == Follow.follower_id)
        .where(column == target.id, Follow.state == "accepted")
    )


def _id_page(ctx: Ctx, uri: str, q, page: bool, before: int | None) -> dict:  # noqa: ANN001
    if not page:
        return _collection(uri, ctx.db.exec(select(func.count()).select_from(q.subquery())).one())
    if before:
        q = q.where(Follow.id < before)
    rows = ctx.db.exec(q.order_by(Follow.id.desc()).limit(PAGE_SIZE + 1)).all()
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return _page(uri, [u for _, u in rows], rows[-1][0] if more else None, before)


@router.get("/users/{name}/followers", dependencies=Signed)
@router.get("/c/{name}/followers", dependencies=Signed)
def followers(ctx: CtxDep, name: Name, page: bool = False, before: Before = None) -> Response:
    target = _actor(ctx, name)
    return as2(_id_page(ctx, f"{target.uri}/followers", _follower_query(target), page, before))


@router.get("/users/{name}/following", dependencies=Signed)
@router.get("/c/{name}/following", dependencies=Signed)
def following(ctx: CtxDep, name: Name, page: bool = False, before: Before = None) -> Response:
    target = _actor(ctx, name)
    uri = f"{target.uri}/following"
    if not isinstance(target, Account):
        return as2(_collection(uri, 0, []))
    people = (
        select(Follow.id, Account.uri)
        .join(Account, Account.id == Follow.target_account_id)
        .where(Follow.follower_id == target.id, Follow.state == "accepted")
    )
    groups = (
        select(Follow.id, Community.uri)
        .join(Community, Community.id == Follow.target_community_id)
        .where(Follow.follower_id == target.id, Follow.state == "accepted")
    )
    q = people.union_all(groups).subquery()
    rows_q = select(q.c.id.label("id"), q.c.uri)
    if not page:
        return as2(_collection(uri, ctx.db.exec(select(func.count()).select_from(q)).one()))
    if before:
        rows_q = rows_q.where(q.c.id < before)
    rows = ctx.db.exec(rows_q.order_by(q.c.id.desc()).limit(PAGE_SIZE + 1)).all()
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return as2(_page(uri, [u for _, u in rows], rows[-1][0] if more else None, before))


@router.get("/ap/artifacts/{artifact_id}", dependencies=Signed)
def artifact_object(ctx: CtxDep, artifact_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Response:
    from app.services import artifacts as artifact_service
    from federation.artifacts import page

    artifact = artifact_service.get(ctx, artifact_id)
    if artifact_service.community_of(ctx, artifact).domain:
        raise NotFound("That artifact lives on another instance.", code="not_local")
    return as2({"@context": CONTEXT, **page(ctx, artifact)})


@router.get("/activities/{token}", dependencies=Signed)
def activity(ctx: CtxDep, token: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]) -> Response:
    """An activity we published, so peers can check a relayed copy at its origin."""
    item = ctx.db.exec(
        select(OutboxItem).where(OutboxItem.uri == f"{ctx.base_url}/activities/{token}")
    ).first()
    if item is None:
        raise NotFound("No such activity.", code="activity_not_found")
    return as2(json.loads(item.body))


@router.get("/posts/{post_id}/replies", dependencies=Signed)
def replies(ctx: CtxDep, post_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Response:
    post = posts.get(ctx, post_id)
    uris = ctx.db.exec(
        select(Post.uri)
        .where(Post.in_reply_to_id == post.id, Post.deleted_at.is_(None))
        .order_by(Post.created_at)
        .limit(PAGE_SIZE * 10)
    ).all()
    return as2(_collection(f"{post.uri}/replies", len(uris), list(uris)))
