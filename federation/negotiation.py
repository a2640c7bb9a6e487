"""Content negotiation: one URL, HTML for browsers and AS2 JSON for servers.

A GET whose ``Accept`` asks for ActivityStreams is routed to the ``/ap/...``
twin of the page (see :mod:`federation.endpoints`); everything else is untouched.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from federation.vocab import wants_as2

TWINS = [
    (re.compile(r"^/users/([A-Za-z0-9_]+)/?$"), "/ap/users/{}"),
    (re.compile(r"^/@([A-Za-z0-9_]+)/?$"), "/ap/users/{}"),
    (re.compile(r"^/c/([A-Za-z0-9_-]+)/?$"), "/ap/c/{}"),
    (re.compile(r"^/posts/([0-9]+)/?$"), "/ap/posts/{}"),
    (re.compile(r"^/algorithm-versions/([0-9]+)/?$"), "/ap/algorithm-versions/{}"),
    (re.compile(r"^/algorithms/?()$"), "/ap/algorithms"),
    (re.compile(r"^/artifacts/([0-9]+)/?$"), "/ap/artifacts/{}"),
]


def as2_path(path: str) -> str | None:
    for pattern, target in TWINS:
        if match := pattern.match(path):
            return target.format(match.group(1))
    return None


class AS2Negotiation:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            accept = dict(scope.get("headers") or []).get(b"accept", b"").decode("latin-1")
            if wants_as2(accept) and (twin := as2_path(scope["path"])):
                original = scope.get("raw_path") or scope["path"].encode()
                scope = {**scope, "path": twin, "raw_path": twin.encode()}
                scope["cg.original_path"] = original  # what a signature covers
        await self.app(scope, receive, send)
