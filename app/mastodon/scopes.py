"""Which OAuth scope each call of the Mastodon client API needs, in one table, and
the one check of it (a dependency of the whole client API's router).

An app's token carries the Mastodon scopes the member granted
(``api_tokens.oauth_scopes``); a call outside them is refused with Mastodon's
403 "This action is outside the authorized scopes", as Mastodon's controllers
refuse (``doorkeeper_authorize!``). ``read`` covers every ``read:…``, ``write``
every ``write:…``, ``follow`` the follow, block and mute scopes
(:func:`app.services.oauth.covers`). A token made with the native API
(``POST /api/cg/v1/tokens``) has no Mastodon scopes: its own scope (read, or
write, which reads too) is what the endpoints' reader/writer check."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Header
from fastapi.requests import HTTPConnection
from sqlmodel import col, select

from app.api.auth import _bearer
from app.deps import read_apart
from app.errors import DomainError, Forbidden
from app.models import ApiToken
from app.security.tokens import digest
from app.services import Ctx, oauth

# (methods, route template pattern, scope): the first that matches decides. A
# read is GET; the rest write. Public calls (instance, emojis, trends, health)
# need no scope, and are left out.
_W = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_R = frozenset({"GET", "HEAD"})
RULES: tuple[tuple[frozenset[str], str, str], ...] = (
    (_W, r"/accounts/\{account_id\}/(un)?follow", "write:follows"),
    (_W, r"/accounts/\{account_id\}/(un)?block", "write:blocks"),
    (_W, r"/accounts/\{account_id\}/(un)?mute", "write:mutes"),
    (_R, r"/accounts/relationships", "read:follows"),
    (_R, r"/accounts/\{account_id\}/follow(ers|ing)", "read:accounts"),
    (_W, r"/accounts/", "write:accounts"),
    (_R, r"/accounts/", "read:accounts"),
    (_W, r"/statuses/\{status_id\}/(un)?favourite", "write:favourites"),
    (_W, r"/statuses/\{status_id\}/commonground/stance", "write:favourites"),
    (_W, r"/statuses/\{status_id\}/(un)?bookmark", "write:bookmarks"),
    (_W, r"/statuses/\{status_id\}/(un)?pin", "write:accounts"),
    (_W, r"/statuses/\{status_id\}/(un)?mute", "write:mutes"),
    (_W, r"/statuses", "write:statuses"),
    (_R, r"/statuses", "read:statuses"),
    (_R, r"/timelines/list/", "read:lists"),
    (_R, r"/timelines/", "read:statuses"),
    (_W, r"/lists", "write:lists"),
    (_R, r"/lists", "read:lists"),
    (_W, r"/notifications", "write:notifications"),
    (_R, r"/notifications", "read:notifications"),
    (_R, r"/streaming/user/notification", "read:notifications"),
    (_R, r"/streaming/(user|public|hashtag)|/streaming$", "read:statuses"),
    (_W, r"/markers", "write:statuses"),
    (_R, r"/markers", "read:statuses"),
    (_R | _W, r"/media", "write:media"),
    (_W, r"/reports", "write:reports"),
    (_R, r"/search", "read:search"),
    (_R, r"/bookmarks", "read:bookmarks"),
    (_R, r"/favourites", "read:favourites"),
    (_W, r"/follow_requests", "write:follows"),
    (_R, r"/follow_requests", "read:follows"),
    (_W, r"/domain_blocks", "write:blocks"),
    (_R, r"/blocks|/domain_blocks", "read:blocks"),
    (_R, r"/mutes", "read:mutes"),
    (_R, r"/filters", "read:filters"),
    (_R, r"/(followed_tags|featured_tags|endorsements)", "read:follows"),
    (_R, r"/(conversations|scheduled_statuses)", "read:statuses"),
    (_R, r"/(suggestions|announcements|preferences)", "read"),
    (_R | _W, r"/push/", "push"),
)
_COMPILED = tuple((ms, re.compile(r"^/api/v[12]" + pattern), s) for ms, pattern, s in RULES)


def needed(method: str, path: str) -> str | None:
    """The scope a call to the route ``path`` (its template) needs; None: public,
    or decided by the endpoint itself (apps' own credentials)."""
    for methods, pattern, scope in _COMPILED:
        if method in methods and pattern.search(path):
            return scope
    return None


async def check(
    connection: HTTPConnection, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Refuse a call its app's token was not granted (before the endpoint runs).
    Not on the streaming router, whose streams check in :func:`refuse_outside`."""
    route = connection.scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return
    method = connection.scope.get("method") or "GET"  # a WebSocket opens with a GET
    scope = needed(method, path)
    try:
        raw = _bearer(authorization)
    except DomainError:
        return  # a malformed header: the endpoint's own check says so
    if scope is not None and raw is not None:
        # in a short read of its own: the request's transaction is not opened yet,
        # as a search that resolves a remote account must look it up first
        await read_apart(connection, lambda ctx: refuse_outside(ctx, raw, scope))


def refuse_outside(ctx: Ctx, raw: str, scope: str) -> None:
    """403 if ``raw`` is an app's token that was not granted ``scope`` (the streams
    call this themselves: they keep no request transaction open)."""
    if not 0 < len(raw) <= 200:
        return
    granted = ctx.db.exec(
        select(col(ApiToken.oauth_scopes)).where(col(ApiToken.token_hash) == digest(raw))
    ).first()
    if granted and not oauth.covers(granted.split(), scope):
        raise Forbidden(f"This token was not granted {scope}.", code="insufficient_scope")


def for_streams(streams: set[str]) -> str:
    """What a stream needs: notifications alone, or statuses (Mastodon's rule)."""
    return "read:notifications" if streams == {"user:notification"} else "read:statuses"


Checked = Depends(check)
