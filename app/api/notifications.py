"""Notifications over the JSON API, and the live stream (Server-Sent Events)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from app.api.auth import Reader, Writer, _bearer
from app.api.schemas import BoundedJSONRoute
from app.deps import CtxDep
from app.errors import Invalid, NotAuthenticated
from app.infra import live
from app.models import Account
from app.services import Ctx, auth, communities, digests, notifications
from app.services.notifications import Item
from app.web.templating import SESSION_COOKIE

router = APIRouter(tags=["notifications"], route_class=BoundedJSONRoute)
KEEP_ALIVE_SECONDS = 15.0


class ActorOut(BaseModel):
    uri: str
    handle: str
    name: str


class PostRef(BaseModel):
    id: int
    uri: str


class ArtifactRef(BaseModel):
    id: int
    uri: str
    title: str


class CommunityRef(BaseModel):
    name: str
    uri: str
    title: str


class NotificationOut(BaseModel):
    id: int
    kind: str
    verb: str
    summary: str
    created_at: str = Field(description="when the latest event of this group happened")
    read: bool
    actors: list[ActorOut]
    actor_count: int
    post: PostRef | None = None
    artifact: ArtifactRef | None = None
    community: CommunityRef | None = None
    pending: list[str] = Field(default=[], description="join requests still waiting (handles)")


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None
    unread: int


class ReadIn(BaseModel):
    ids: list[int] | None = Field(default=None, max_length=notifications.MAX_IDS)
    up_to: int | None = None


class ReadOut(BaseModel):
    changed: int
    unread: int


def _handle(a: Account) -> str:
    return f"{a.username}@{a.domain}" if a.domain else a.username


def notification_out(item: Item) -> NotificationOut:
    n = item.note
    return NotificationOut(
        id=n.id,
        kind=n.kind,
        verb=n.verb,
        summary=item.summary,
        created_at=n.latest_at.isoformat(),
        read=n.read_at is not None,
        actors=[ActorOut(uri=a.uri, handle=_handle(a), name=a.name) for a in item.actors],
        actor_count=n.actor_count,
        post=PostRef(id=item.post.id, uri=item.post.uri) if item.post else None,
        artifact=(
            ArtifactRef(id=item.artifact.id, uri=item.artifact.uri, title=item.artifact.title)
            if item.artifact
            else None
        ),
        community=(
            CommunityRef(
                name=item.community.name,
                uri=item.community.uri,
                title=item.community.display_title,
            )
            if item.community
            else None
        ),
        pending=[_handle(a) for a in item.actors if a.id in item.pending],
    )


def _kinds(kinds: str | None) -> list[str]:
    return [k.strip() for k in (kinds or "").split(",") if k.strip()]


@router.get("/notifications", response_model=NotificationPage)
def listing(
    ctx: CtxDep,
    account: Reader,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    kinds: Annotated[str | None, Query(max_length=500, description="comma-separated")] = None,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=notifications.MAX_PAGE)] = notifications.PAGE,
) -> NotificationPage:
    """Newest first; ``next_cursor`` fetches the next page."""
    items, next_cursor = notifications.listing(
        ctx, account, cursor=cursor, kinds=_kinds(kinds), unread_only=unread, limit=limit
    )
    return NotificationPage(
        items=[notification_out(i) for i in items],
        next_cursor=next_cursor,
        unread=notifications.unread_count(ctx, account),
    )


@router.post("/notifications/read", response_model=ReadOut)
def mark_read(body: ReadIn, ctx: CtxDep, account: Writer) -> ReadOut:
    """Mark ``ids``, or ``up_to`` one notification and everything older, as read."""
    changed = notifications.mark_read(ctx, account, ids=body.ids, up_to=body.up_to)
    return ReadOut(changed=changed, unread=notifications.unread_count(ctx, account))


@router.get("/notifications/preferences", response_model=dict[str, str])
def get_preferences(ctx: CtxDep, account: Reader) -> dict[str, str]:
    """Each kind: ``on``, ``off`` or ``email`` (shown, and in the e-mail digest)."""
    return notifications.preferences(ctx, account)


@router.put("/notifications/preferences", response_model=dict[str, str])
def set_preferences(body: dict[str, str], ctx: CtxDep, account: Writer) -> dict[str, str]:
    return notifications.set_preferences(ctx, account, body)


class DigestIn(BaseModel):
    email: str = Field(max_length=320, description="empty: no digest")
    frequency: str = Field(default="daily", description="daily or weekly")


class DigestOut(BaseModel):
    email: str
    frequency: str


@router.put("/notifications/digest", response_model=DigestOut)
def set_digest(body: DigestIn, ctx: CtxDep, account: Writer) -> DigestOut:
    """Where the e-mail digest of kinds set to ``email`` goes, and how often."""
    row = digests.subscribe(ctx, account, body.email, body.frequency)
    return DigestOut(email=row.email if row else "", frequency=row.frequency if row else "")


# --- the live stream ----------------------------------------------------------


@dataclass
class StreamStart:
    account_id: int
    unread: int
    feed: str | None
    authors: set[int]
    communities: set[int]


def _stream_account(ctx: Ctx, request: Request, authorization: str | None) -> Account:
    raw = _bearer(authorization)
    if raw is not None:
        return auth.token_account(ctx, raw)[0]
    account = auth.session_account(ctx, request.cookies.get(SESSION_COOKIE))
    if account is None:
        raise NotAuthenticated("Log in, or send an API token, to follow live updates.")
    return account


def stream_start(
    request: Request,
    ctx: CtxDep,
    authorization: Annotated[str | None, Header()] = None,
    feed: Annotated[str | None, Query(max_length=120)] = None,
) -> StreamStart:
    """Everything the stream needs from the database, read before it starts: a
    stream holds no transaction and no database slot while it waits."""
    account = _stream_account(ctx, request, authorization)
    authors: set[int] = set()
    groups: set[int] = set()
    if feed == "home":
        from app.services import follows

        people, followed = follows.following(ctx, account)
        authors = {account.id, *(p.id for p in people)}
        joined = {c.id for c, m in communities.of_member(ctx, account) if m.state == "active"}
        groups = joined | {g.id for g in followed}
    elif feed and feed.startswith("community:"):
        groups = {communities.get(ctx, feed.removeprefix("community:")).id}
    elif feed:
        raise Invalid("The feed is “home” or “community:<name>”.", code="invalid_feed")
    return StreamStart(account.id, notifications.unread_count(ctx, account), feed, authors, groups)


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _wanted(start: StreamStart, message: dict) -> tuple[str, dict] | None:
    """What of a published message this stream's client should hear."""
    if message.get("e") == "notification":
        counts = message.get("u") or {}
        unread = counts.get(str(start.account_id))
        return ("notification", {"unread": unread}) if unread is not None else None
    if message.get("e") == "feed.new" and start.feed and not message.get("r"):
        ours = message.get("c") in start.communities or (
            start.feed == "home" and message.get("c") is None and message.get("a") in start.authors
        )
        if ours and message.get("a") != start.account_id:
            return "feed.new", {"post": message.get("p")}
    return None


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    request: Request, start: Annotated[StreamStart, Depends(stream_start)]
) -> StreamingResponse:
    """Server-Sent Events: ``notification`` (``{"unread": n}``) whenever the
    member's unread count changes, and with ``?feed=home`` or
    ``?feed=community:<name>`` a ``feed.new`` (``{"post": id}``) for each new
    thread in that feed. Works across web workers (PostgreSQL LISTEN/NOTIFY)."""
    settings = request.app.state.settings
    await live.ensure_listening(settings.resolved_database_url)
    sub = live.BROKER.subscribe()

    ends_at = time.monotonic() + settings.stream_max_seconds

    async def events() -> AsyncIterator[str]:
        try:
            yield f": worker {os.getpid()}\nretry: 5000\n\n"
            yield _sse("notification", {"unread": start.unread})
            while (left := ends_at - time.monotonic()) > 0 and not await request.is_disconnected():
                try:
                    message = await asyncio.wait_for(sub.queue.get(), min(KEEP_ALIVE_SECONDS, left))
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                wanted = _wanted(start, message)
                if wanted is not None:
                    yield _sse(*wanted)
        finally:
            live.BROKER.unsubscribe(sub)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
