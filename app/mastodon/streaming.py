"""The Mastodon streaming API: Server-Sent Events under /api/v1/streaming/… and a
WebSocket at /api/v1/streaming (docs/mastodon-api.md, "Streaming").

No second fan-out: every stream subscribes to the live broker the native stream
uses (app/infra/live.py: PostgreSQL LISTEN/NOTIFY across web workers, in process
on SQLite), whose messages only name a post or the members whose notifications
changed. For each one a stream opens a short reading transaction and asks the
feeds' own query whether the post is in *its* timeline for *its* viewer (so the
hiding rules, mutes and blocks are the feeds', never a copy), and builds the
Status as the REST API does. A stream holds no transaction while it waits.

A stream ends after ``CG_STREAM_MAX_SECONDS`` (clients reconnect), when its token
stops being valid (checked at every event and every heartbeat), and when the
server shuts down."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect, WebSocketState

from app.api.auth import _bearer
from app.deps import read_apart
from app.errors import DomainError, NotAuthenticated
from app.infra import live
from app.mastodon import entities, problems, scopes
from app.mastodon import notifications as mastodon_notes
from app.models import Account, Post
from app.services import Ctx, auth, notifications
from app.services.ranking import feeds
from app.services.ranking.candidates import home_sources
from app.services.ranking.types import Sources
from app.text import normalize_tag

router = APIRouter(prefix="/api/v1/streaming")

HEARTBEAT_SECONDS = 15.0  # Mastodon's ":thump" interval
MAX_CLIENT_MESSAGE = 4096  # characters; a subscribe message is far shorter
MAX_SUBSCRIPTIONS = 50  # per WebSocket
STREAMS = (
    "user",
    "user:notification",
    "public",
    "public:local",
    "public:remote",
    "hashtag",
    "hashtag:local",
)
POST_EVENTS = {"feed.new": "update", "post.edited": "status.update"}


@dataclass(frozen=True)
class Channel:
    """One stream a connection listens to: its name, and for a hashtag its tag."""

    stream: str
    tag: str | None = None

    @property
    def names(self) -> list[str]:
        """The ``stream`` array of a WebSocket message, as Mastodon sends it."""
        return [self.stream, self.tag] if self.tag is not None else [self.stream]

    @property
    def hears_posts(self) -> bool:
        return self.stream != "user:notification"

    @property
    def hears_notifications(self) -> bool:
        return self.stream in ("user", "user:notification")


def channel(stream: object, tag: object = None) -> Channel:
    """The channel a client asked for, or 400 with the reason."""
    if not isinstance(stream, str) or stream not in STREAMS:
        shown = stream[:40] if isinstance(stream, str) else type(stream).__name__
        raise DomainError(
            f"Unknown stream type {shown!r}: one of {', '.join(STREAMS)}.", code="unknown_stream"
        )
    if not stream.startswith("hashtag"):
        return Channel(stream)
    name = normalize_tag(tag.lstrip("#"))[:100] if isinstance(tag, str) else ""
    if not name:
        raise DomainError("No tag for stream provided.", code="missing_tag")
    return Channel(stream, name)


def _sources(ctx: Ctx, viewer: Account, ch: Channel) -> Sources:
    """The timeline a channel follows, as the REST timelines read it (timelines.py)."""
    origin = "local" if ch.stream.endswith(":local") else None
    if ch.stream == "user":
        return home_sources(ctx, viewer)
    if ch.stream.startswith("public"):
        origin = "remote" if ch.stream == "public:remote" else origin
        return Sources(everyone=True, top_level_only=True, origin=origin)
    return Sources(tag=ch.tag, origin=origin)


def _in_timeline(ctx: Ctx, viewer: Account, ch: Channel, post: Post) -> bool:
    """Whether the timeline holds this post for this viewer: the feeds' own query,
    narrowed to the post's status id, so every hiding rule applies."""
    if post.status_id is None or post.deleted_at is not None:
        return False
    rows = feeds.in_time_order(
        ctx,
        _sources(ctx, viewer, ch),
        viewer,
        below=post.status_id + 1,
        above=post.status_id - 1,
        limit=5,
    )
    return any(r.id == post.id for r in rows)


Event = tuple[Channel, str, str]  # channel, event name, payload (a JSON text or an id)


@dataclass
class Viewer:
    """Who a stream is for: the token it checks again at every event."""

    token: str
    account_id: int
    channels: set[Channel] = field(default_factory=set)
    told_up_to: datetime | None = None  # the latest notification event sent (or at start)

    def account(self, ctx: Ctx) -> Account | None:
        """The token's account while the token is valid, else None (the stream ends)."""
        try:
            return auth.token_account(ctx, self.token)[0]
        except DomainError:
            return None

    def wants(self, message: dict) -> bool:
        """Cheaply, before any database work: could this message concern us?"""
        kind = message.get("e")
        if kind in POST_EVENTS or kind == "post.deleted":
            return any(ch.hears_posts for ch in self.channels)
        if kind == "notification" and str(self.account_id) in (message.get("u") or {}):
            return any(ch.hears_notifications for ch in self.channels)
        return False

    def events(self, ctx: Ctx, message: dict) -> list[Event] | None:
        """What this viewer's channels show of a message; None once the token is
        no longer valid."""
        viewer = self.account(ctx)
        if viewer is None:
            return None
        kind = message.get("e")
        if kind == "notification":
            return self._notifications(ctx, viewer)
        channels = sorted((ch for ch in self.channels if ch.hears_posts), key=lambda c: c.names)
        if kind == "post.deleted":
            sid = message.get("s")
            return [(ch, "delete", str(sid)) for ch in channels] if isinstance(sid, int) else []
        post = ctx.db.get(Post, message.get("p")) if isinstance(message.get("p"), int) else None
        if post is None or kind not in POST_EVENTS:
            return []
        shown = [ch for ch in channels if _in_timeline(ctx, viewer, ch, post)]
        if not shown:
            return []
        payload = json.dumps(entities.status(ctx, post, viewer), separators=(",", ":"))
        return [(ch, POST_EVENTS[kind], payload) for ch in shown]

    def _notifications(self, ctx: Ctx, viewer: Account) -> list[Event]:
        """The viewer's notifications made or moved up since the last ones told,
        as the REST API shows them; only the types Mastodon apps know."""
        rows = notifications.changed_since(ctx, viewer, self.told_up_to)
        if not rows:
            return []
        self.told_up_to = rows[-1].latest_at
        shown = [n for n in rows if mastodon_notes.is_standard(n)]
        channels = sorted(
            (c for c in self.channels if c.hears_notifications), key=lambda c: c.names
        )
        out: list[Event] = []
        for entity in mastodon_notes.entities(ctx, viewer, shown) if shown else []:
            payload = json.dumps(entity, separators=(",", ":"))
            out.extend((ch, "notification", payload) for ch in channels)
        return out


def _token(conn: HTTPConnection, *, subprotocol: str | None = None) -> str:
    """The access token, from ``Authorization: Bearer``, ``access_token=`` or (on a
    WebSocket) the subprotocol; 401 without one."""
    raw = _bearer(conn.headers.get("authorization"))
    raw = raw or conn.query_params.get("access_token") or subprotocol
    if not raw:
        raise NotAuthenticated("This needs an access token.", code="invalid_token")
    return raw


async def _start(conn: HTTPConnection, token: str, channels: set[Channel]) -> Viewer:
    """The viewer of a new stream (401 for a bad token), subscribed to the broker's
    fan-out once it listens, so nothing published after this is missed."""

    def check(ctx: Ctx) -> Viewer:
        account = auth.token_account(ctx, token)[0]
        scopes.refuse_outside(ctx, token, scopes.for_streams({c.stream for c in channels}))
        since = notifications.newest_latest_at(ctx, account)
        return Viewer(token, account.id, channels, since)

    viewer = await read_apart(conn, check)
    await live.ensure_listening(conn.app.state.settings.resolved_database_url)
    return viewer


async def _next(sub: live.Subscriber, wait: float) -> dict | None:
    """The next broker message, or None after ``wait`` seconds of quiet."""
    try:
        return await asyncio.wait_for(sub.queue.get(), wait)
    except TimeoutError:
        return None


# --- Server-Sent Events -------------------------------------------------------


@router.get("/health", response_class=PlainTextResponse)
def health() -> str:
    return "OK"


def _sse(event: str, data: str) -> str:
    return f"event: {event}\ndata: {data}\n\n"


async def _event_stream(request: Request, ch: Channel) -> StreamingResponse:
    viewer = await _start(request, _token(request), {ch})
    sub = live.BROKER.subscribe()
    ends_at = time.monotonic() + request.app.state.settings.stream_max_seconds

    async def events() -> AsyncIterator[str]:
        try:
            yield ":)\n\n"  # Mastodon's greeting: the stream is listening
            while (left := ends_at - time.monotonic()) > 0 and not await request.is_disconnected():
                message = await _next(sub, min(HEARTBEAT_SECONDS, left))
                if message is None:
                    if await read_apart(request, viewer.account) is None:
                        return
                    yield ":thump\n\n"
                    continue
                if not viewer.wants(message):
                    continue
                found = await read_apart(request, lambda ctx, m=message: viewer.events(ctx, m))
                if found is None:
                    return
                for _, event, payload in found:
                    yield _sse(event, payload)
        finally:
            live.BROKER.unsubscribe(sub)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def _sse_route(path: str, stream: str) -> None:
    async def endpoint(request: Request) -> StreamingResponse:
        return await _event_stream(request, channel(stream, request.query_params.get("tag")))

    endpoint.__name__ = f"stream_{stream.replace(':', '_')}"
    router.add_api_route(path, endpoint, methods=["GET"], response_class=StreamingResponse)


for _path, _stream in (
    ("/user", "user"),
    ("/user/notification", "user:notification"),
    ("/public", "public"),
    ("/public/local", "public:local"),
    ("/public/remote", "public:remote"),
    ("/hashtag", "hashtag"),
    ("/hashtag/local", "hashtag:local"),
):
    _sse_route(_path, _stream)


@router.get("", response_class=StreamingResponse)
async def stream_by_name(request: Request) -> StreamingResponse:
    """``?stream=<name>`` (and ``tag``) over Server-Sent Events, as Mastodon allows."""
    query = request.query_params
    return await _event_stream(request, channel(query.get("stream"), query.get("tag")))


# --- the WebSocket ------------------------------------------------------------


def _refusal(exc: DomainError) -> JSONResponse:
    return problems.response(exc.status, exc.code, exc.detail)


def _client_change(viewer: Viewer, text: str) -> None:
    """Apply a client's ``subscribe`` or ``unsubscribe`` message; 400 if it is none."""
    if len(text) > MAX_CLIENT_MESSAGE:
        raise DomainError("That message is too long.", code="message_too_long")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        raise DomainError("Could not parse the message as JSON.", code="invalid_json") from None
    if not isinstance(message, dict) or message.get("type") not in ("subscribe", "unsubscribe"):
        raise DomainError(
            'A message is {"type": "subscribe" or "unsubscribe", "stream": …}.',
            code="invalid_message",
        )
    ch = channel(message.get("stream"), message.get("tag"))
    if message["type"] == "unsubscribe":
        viewer.channels.discard(ch)
    elif ch not in viewer.channels:
        if len(viewer.channels) >= MAX_SUBSCRIPTIONS:
            raise DomainError("Too many subscriptions on one connection.", code="too_many_streams")
        viewer.channels.add(ch)


def _error_text(exc: DomainError) -> str:
    return json.dumps({"error": problems.message(exc.status, exc.code, exc.detail)})


@router.websocket("")
async def websocket_stream(ws: WebSocket) -> None:
    """One connection, any number of streams: ``?stream=`` at once, then the
    client's ``subscribe``/``unsubscribe`` messages. Refused before the upgrade
    (401, 400) with Mastodon's ``{"error": …}``."""
    offered = ws.scope.get("subprotocols") or []
    subprotocol = offered[0] if offered else None
    try:
        token = _token(ws, subprotocol=subprotocol)
        query = ws.query_params
        first = {channel(query["stream"], query.get("tag"))} if query.get("stream") else set()
        viewer = await _start(ws, token, first)
    except DomainError as exc:
        await ws.send_denial_response(_refusal(exc))
        return
    sub = live.BROKER.subscribe()
    try:
        await ws.accept(subprotocol=subprotocol if subprotocol == token else None)
        await _serve_socket(ws, viewer, sub)
    except (WebSocketDisconnect, OSError):  # the client went away mid-send
        pass
    finally:
        live.BROKER.unsubscribe(sub)
        if ws.application_state == WebSocketState.CONNECTED:
            # a client that vanished is found gone here too: nothing to close
            with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):
                await ws.close()


async def _serve_socket(ws: WebSocket, viewer: Viewer, sub: live.Subscriber) -> None:
    ends_at = time.monotonic() + ws.app.state.settings.stream_max_seconds
    incoming = asyncio.ensure_future(ws.receive())
    published = asyncio.ensure_future(sub.queue.get())
    try:
        while (left := ends_at - time.monotonic()) > 0:
            done, _ = await asyncio.wait(
                {incoming, published},
                timeout=min(HEARTBEAT_SECONDS, left),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not done:  # quiet: is the token still good? (pings are uvicorn's)
                if await read_apart(ws, viewer.account) is None:
                    await ws.close(1008, "The access token is invalid")
                    return
                continue
            if incoming in done:
                message = incoming.result()
                if message["type"] == "websocket.disconnect":
                    return
                await _answer_client(ws, viewer, message)
                incoming = asyncio.ensure_future(ws.receive())
            if published in done:
                if not await _deliver(ws, viewer, published.result()):
                    return
                published = asyncio.ensure_future(sub.queue.get())
        await ws.close(1000, "This stream has reached its longest life; reconnect.")
    finally:
        for task in (incoming, published):
            task.cancel()


async def _answer_client(ws: WebSocket, viewer: Viewer, message: dict[str, Any]) -> None:
    text = message.get("text")
    if text is None:
        text = (message.get("bytes") or b"").decode("utf-8", "replace")
    try:
        _client_change(viewer, text)
    except DomainError as exc:
        await ws.send_text(_error_text(exc))


async def _deliver(ws: WebSocket, viewer: Viewer, message: dict) -> bool:
    """Send what this message means to the viewer's channels; False once the token
    is no longer valid (the socket is closed)."""
    if not viewer.wants(message):
        return True
    found = await read_apart(ws, lambda ctx: viewer.events(ctx, message))
    if found is None:
        await ws.close(1008, "The access token is invalid")
        return False
    for ch, event, payload in found:
        out = {"stream": ch.names, "event": event, "payload": payload}
        await ws.send_text(json.dumps(out, separators=(",", ":")))
    return True
