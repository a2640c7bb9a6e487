"""ActivityPub documents: actors, objects and their collections.

Browsers and servers share URLs: :class:`federation.negotiation.AS2Negotiation`
routes a request that asks for ActivityStreams JSON to the ``/ap/...`` twins of
the HTML pages defined here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Select, bindparam, false, inspect, literal, tuple_, union_all
from sqlmodel import col, func, select
from sqlmodel.sql.expression import Select as ModelSelect

from app.api.schemas import MAX_ID
from app.db import get_or_raise
from app.deps import CtxDep
from app.errors import DomainError, NotFound
from app.models import Account, Artifact, Community, Follow, OutboxItem, Post
from app.services import Ctx, accounts, boosts, communities, posts
from app.services.blocks import hides_account
from federation import actors, objects, outbound
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
    gone = accounts.find_local(ctx, name, include_suspended=True)
    if gone is not None and gone.is_deleted:  # a deleted member's name stays taken
        return as2(actors.tombstone(gone), status=410)
    return as2(actors.person(ctx, accounts.get_local(ctx, name)))


@router.get("/ap/c/{name}", dependencies=Signed)
def group(ctx: CtxDep, name: Name) -> Response:
    return as2(actors.group(ctx, communities.get(ctx, name)))


@router.get("/ap/posts/{post_id}", dependencies=Signed)
def post_object(ctx: CtxDep, post_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Response:
    post = posts.get_visible(ctx, post_id)  # a suspended member's post is not there
    author = get_or_raise(ctx.db, Account, post.author_id)
    if not author.is_local:
        raise NotFound("That post lives on another instance.", code="not_local")
    return as2(objects.note(ctx, post), status=410 if post.is_deleted else 200)


def _collection(uri: str, total: int) -> dict:
    """A collection's top document: how many items, and ``first``, the URL of its
    first page (which answers a page whose ``id`` is that URL)."""
    return {
        "@context": CONTEXT,
        "id": uri,
        "type": "OrderedCollection",
        "totalItems": total,
        "first": f"{uri}?page=true",
    }


def _page(uri: str, query: str, items: list) -> dict:
    """One page of the collection ``uri``, at ``uri?page=true`` + ``query`` (its id)."""
    return {
        "@context": CONTEXT,
        "id": f"{uri}?page=true{query}",
        "type": "OrderedCollectionPage",
        "partOf": uri,
        "orderedItems": items,
    }


def _id_pages(
    ctx: Ctx,
    uri: str,
    q: ModelSelect[int, Any],
    key: Any,
    page: bool,
    before: int | None,
    after: int | None,
) -> dict:
    """A collection of ``q``'s ``(key, item)`` rows, newest (highest key) first, or
    one page of it: ``before=k`` holds the next older items, ``after=k`` the newer
    ones (``prev``). Every page's ``id`` is the URL it is served at."""
    if before is not None and after is not None:
        raise DomainError("Give before or after, not both.", code="invalid_cursor")
    if not page:
        return _collection(uri, ctx.db.exec(select(func.count()).select_from(q.subquery())).one())
    if after is not None:
        rows = list(ctx.db.execute(q.where(key > after).order_by(key.asc()).limit(PAGE_SIZE + 1)))
        newer, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE][::-1]
        older = bool(rows) and _any(ctx, q.where(key < rows[-1][0]))
        doc = _page(uri, f"&after={after}", [item for _, item in rows])
    else:
        bounded = q.where(key < before) if before is not None else q
        rows = list(ctx.db.execute(bounded.order_by(key.desc()).limit(PAGE_SIZE + 1)))
        older, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE]
        newer = before is not None and bool(rows) and _any(ctx, q.where(key > rows[0][0]))
        doc = _page(uri, f"&before={before}" if before is not None else "", [i for _, i in rows])
    if older:
        doc["next"] = f"{uri}?page=true&before={rows[-1][0]}"
    if newer:
        doc["prev"] = f"{uri}?page=true&after={rows[0][0]}"
    return doc


def _any(ctx: Ctx, q: Select) -> bool:
    return bool(ctx.db.exec(select(q.exists())).one())


# An outbox page cursor: the (time, kind, id) of the last item seen, as
# "<microseconds since 1970>.<p|a><id>" (p: a post, a: an artifact).
CURSOR_PATTERN = r"^[0-9]{1,17}\.[pa][0-9]{1,10}$"
OutboxCursor = Annotated[str | None, Query(max_length=40, pattern=CURSOR_PATTERN)]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _outbox_rows(actor: Account | Community):
    """What an actor's outbox lists: a member's own posts, or a community's posts and
    artifacts, whether or not anyone followed it when they were written (not
    deleted posts, nor those of authors hidden from everyone, e.g. suspended)."""
    column = col(Post.author_id) if isinstance(actor, Account) else col(Post.community_id)
    parts: list[Select] = [
        select(
            literal("p").label("kind"), col(Post.id).label("id"), col(Post.created_at).label("at")
        )
        .join(Account, col(Account.id) == col(Post.author_id))
        .where(column == actor.id, col(Post.deleted_at).is_(None), ~hides_account(None))
    ]
    if isinstance(actor, Community):
        parts.append(
            select(literal("a"), col(Artifact.id), col(Artifact.created_at)).where(
                col(Artifact.community_id) == actor.id
            )
        )
    return union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()


def _cursor(kind: str, row_id: int, at: datetime) -> str:
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return f"{(at - EPOCH) // timedelta(microseconds=1)}.{kind}{row_id}"


def _outbox_items(ctx: Ctx, actor: Account | Community, rows: list) -> list[dict]:
    """The activities for a page of rows, in order: a member's ``Create``s, a
    community's ``Announce``s, and its artifacts' ``Create(Page)`` (stable ids)."""
    from federation.artifacts import page as artifact_page

    post_ids = [r.id for r in rows if r.kind == "p"]
    found = {p.id: p for p in ctx.db.exec(select(Post).where(col(Post.id).in_(post_ids or [0])))}
    art_ids = [r.id for r in rows if r.kind == "a"]
    arts = {
        a.id: a for a in ctx.db.exec(select(Artifact).where(col(Artifact.id).in_(art_ids or [0])))
    }
    items = []
    for r in rows:
        if isinstance(actor, Account):  # a member's outbox lists posts only
            items.append(objects.create_activity(ctx, found[r.id]))
        elif r.kind == "a":
            items.append(objects.artifact_create(actor, artifact_page(ctx, arts[r.id])))
        else:
            items.append(objects.announce_activity(ctx, found[r.id], actor))
    return items


def _outbox(ctx: Ctx, actor: Account | Community, page: bool, before: str | None) -> dict:
    """The outbox, derived from the posts (and a community's artifacts) themselves,
    newest first, so a new follower's backfill finds the history; the activities
    have the stable ids of :mod:`federation.objects`."""
    uri = f"{actor.uri}/outbox"
    rows_q = _outbox_rows(actor)
    if not page:
        return _collection(uri, ctx.db.exec(select(func.count()).select_from(rows_q)).one())
    q = select(rows_q.c.kind, rows_q.c.id, rows_q.c.at)
    if before:
        micros, rest = before.split(".")
        at = EPOCH + timedelta(microseconds=int(micros))
        q = q.where(
            tuple_(rows_q.c.at, rows_q.c.kind, rows_q.c.id)
            < tuple_(
                bindparam("before_at", at, type_=inspect(Post).columns["created_at"].type),
                bindparam("before_kind", rest[0]),
                bindparam("before_id", int(rest[1:])),
            )
        )
    order = (rows_q.c.at.desc(), rows_q.c.kind.desc(), rows_q.c.id.desc())
    rows = list(ctx.db.exec(q.order_by(*order).limit(PAGE_SIZE + 1)).all())
    more, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE]
    doc = _page(uri, f"&before={before}" if before else "", _outbox_items(ctx, actor, rows))
    if more:
        doc["next"] = f"{uri}?page=true&before={_cursor(*rows[-1])}"
    return doc


@router.get("/users/{name}/outbox", dependencies=Signed)
@router.get("/c/{name}/outbox", dependencies=Signed)
def outbox(ctx: CtxDep, name: Name, page: bool = False, before: OutboxCursor = None) -> Response:
    return as2(_outbox(ctx, _actor(ctx, name), page, before))


def _follower_query(target: Account | Community):
    column = (
        col(Follow.target_account_id)
        if isinstance(target, Account)
        else col(Follow.target_community_id)
    )
    return (
        select(col(Follow.id), col(Account.uri))
        .join(Account, col(Account.id) == col(Follow.follower_id))
        .where(column == target.id, col(Follow.state) == "accepted")
    )


@router.get("/users/{name}/followers", dependencies=Signed)
@router.get("/c/{name}/followers", dependencies=Signed)
def followers(
    ctx: CtxDep, name: Name, page: bool = False, before: Before = None, after: Before = None
) -> Response:
    target = _actor(ctx, name)
    uri = f"{target.uri}/followers"
    return as2(_id_pages(ctx, uri, _follower_query(target), col(Follow.id), page, before, after))


@router.get("/users/{name}/following", dependencies=Signed)
@router.get("/c/{name}/following", dependencies=Signed)
def following(
    ctx: CtxDep, name: Name, page: bool = False, before: Before = None, after: Before = None
) -> Response:
    """Whom a member follows (people and communities); a community follows nobody,
    and says so with an empty collection of the same shape."""
    target = _actor(ctx, name)
    uri = f"{target.uri}/following"
    mine = col(Follow.follower_id) == target.id if isinstance(target, Account) else false()
    accepted = col(Follow.state) == "accepted"
    people = (
        select(col(Follow.id), col(Account.uri))
        .join(Account, col(Account.id) == col(Follow.target_account_id))
        .where(mine, accepted)
    )
    groups = (
        select(col(Follow.id), col(Community.uri))
        .join(Community, col(Community.id) == col(Follow.target_community_id))
        .where(mine, accepted)
    )
    both = people.union_all(groups).subquery()
    rows_q = select(both.c.id, both.c.uri)
    return as2(_id_pages(ctx, uri, rows_q, both.c.id, page, before, after))


@router.get("/ap/artifacts/{artifact_id}", dependencies=Signed)
def artifact_object(ctx: CtxDep, artifact_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Response:
    from app.services import artifacts as artifact_service
    from federation.artifacts import page

    artifact = artifact_service.get(ctx, artifact_id)
    if artifact_service.community_of(ctx, artifact).domain:
        raise NotFound("That artifact lives on another instance.", code="not_local")
    return as2({"@context": CONTEXT, **page(ctx, artifact)})


@router.get("/artifacts/{artifact_id}/activity", dependencies=Signed)
def artifact_activity(ctx: CtxDep, artifact_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Response:
    """The community's ``Create`` of a local artifact, at the id its outbox lists."""
    from app.services import artifacts as artifact_service
    from federation.artifacts import page

    artifact = artifact_service.get(ctx, artifact_id)
    community = artifact_service.community_of(ctx, artifact)
    if community.domain:
        raise NotFound("That artifact lives on another instance.", code="not_local")
    return as2({"@context": CONTEXT, **objects.artifact_create(community, page(ctx, artifact))})


@router.get("/activities/{token}", dependencies=Signed)
def activity(ctx: CtxDep, token: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]) -> Response:
    """An activity we published, so peers can check a relayed copy at its origin
    (a Tombstone once the post it carries is deleted). A member's boost is its
    ``Announce`` for as long as the boost stands (app/services/boosts.py)."""
    uri = f"{ctx.base_url}/activities/{token}"
    if (found := boosts.find_by_uri(ctx, uri)) is not None:
        if (built := outbound.boost_announce(ctx, found)) is None:
            raise NotFound("No such activity.", code="activity_not_found")
        body, status = objects.served_activity(ctx, built[0])
        return as2(body, status=status)
    item = ctx.db.exec(select(OutboxItem).where(col(OutboxItem.uri) == uri)).first()
    if item is None or _undone_boost(ctx, item):
        raise NotFound("No such activity.", code="activity_not_found")
    body, status = objects.served_activity(ctx, json.loads(item.body))
    return as2(body, status=status)


def _undone_boost(ctx: Ctx, item: OutboxItem) -> bool:
    """A member's Announce whose boost was taken back (a Group's stay)."""
    if item.activity_type != "Announce":
        return False
    return (
        ctx.db.exec(select(col(Account.id)).where(col(Account.uri) == item.actor_uri)).first()
        is not None
    )


PostId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/posts/{post_id}/activity", dependencies=Signed)
def post_create(ctx: CtxDep, post_id: PostId) -> Response:
    """The ``Create`` of a local member's post, at the id its outbox lists."""
    post = posts.get_visible(ctx, post_id)
    if not get_or_raise(ctx.db, Account, post.author_id).is_local:
        raise NotFound("That post lives on another instance.", code="not_local")
    body, status = objects.served_activity(ctx, objects.create_activity(ctx, post))
    return as2(body, status=status)


@router.get("/posts/{post_id}/announce", dependencies=Signed)
def post_announce(ctx: CtxDep, post_id: PostId) -> Response:
    """A local community's ``Announce`` of a post in it, at the id its outbox lists."""
    post = posts.get_visible(ctx, post_id)
    community = ctx.db.get(Community, post.community_id) if post.community_id else None
    if community is None or community.domain:
        raise NotFound("No local community announced that post.", code="not_announced")
    body, status = objects.served_activity(ctx, objects.announce_activity(ctx, post, community))
    return as2(body, status=status)


@router.get("/posts/{post_id}/replies", dependencies=Signed)
def replies(
    ctx: CtxDep, post_id: PostId, page: bool = False, before: Before = None, after: Before = None
) -> Response:
    """A post's replies (newest first, paged like every collection); deleted ones
    and those of authors hidden from everyone are left out."""
    post = posts.get_visible(ctx, post_id)
    q = (
        select(col(Post.id), col(Post.uri))
        .join(Account, col(Account.id) == col(Post.author_id))
        .where(
            col(Post.in_reply_to_id) == post.id,
            col(Post.deleted_at).is_(None),
            ~hides_account(None),
        )
    )
    return as2(_id_pages(ctx, objects.replies_uri(post), q, col(Post.id), page, before, after))
