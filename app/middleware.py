"""ASGI middleware: request body limits, security headers, and CORS for client apps."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.mastodon import problems


class BodyLimitMiddleware:
    """Refuse request bodies over the configured limit with 413, whether the
    client announces the size (Content-Length) or streams it (chunked).
    Multipart uploads get ``max_upload_bytes``; everything else ``max_body_bytes``.
    URLs carrying NUL bytes are refused too: no database stores them."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("raw_path", b"").lower() or b"%00" in scope.get("query_string", b""):
            await _send_error(
                scope, send, 400, "bad_request", "NUL characters are not allowed in URLs."
            )
            return
        headers = dict(scope.get("headers") or [])
        ctype = headers.get(b"content-type", b"").decode("latin-1")
        limit = (
            self.settings.max_upload_bytes
            if ctype.startswith("multipart/form-data")
            else self.settings.max_body_bytes
        )
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                await _send_error(
                    scope, send, 400, "bad_request", "Content-Length is not a number."
                )
                return
            if too_big:
                await _send_error(scope, send, 413, "payload_too_large", _too_large(limit))
                return

        seen = 0
        exceeded = False

        async def limited_receive() -> Message:
            nonlocal seen, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Stop feeding the app; whatever it answers is replaced by a 413.
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not exceeded:
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded:
            await _send_error(scope, send, 413, "payload_too_large", _too_large(limit))


def _too_large(limit: int) -> str:
    return f"The request body is larger than this instance accepts ({limit:,} bytes)."


async def _send_error(scope: Scope, send: Send, status: int, code: str, detail: str) -> None:
    shape: dict[str, str] = {"error": code, "detail": detail}
    if problems.is_mastodon_path(scope.get("path", "")):  # the Mastodon client API's shape
        shape = {"error": problems.message(status, code, detail)}
    body = json.dumps(shape).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def content_security_policy(script_src: str = "'self'", form_action: str = "'self'") -> str:
    """The Content-Security-Policy of every response; a page that must run an inline
    script (only /docs) sets its own header with that script's hash in ``script_src``,
    and one whose form's answer redirects to another site (only the OAuth consent
    page, to the app's redirect URI) names that site in ``form_action``."""
    return (
        "default-src 'self'; img-src 'self' https: data:; style-src 'self'; "
        f"script-src {script_src}; frame-ancestors 'none'; form-action {form_action}; "
        "base-uri 'none'"
    )


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", content_security_policy().encode()),
]


class SecurityHeadersMiddleware:
    """Adds SECURITY_HEADERS to every response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in SECURITY_HEADERS if k not in existing
                ]
            await send(message)

        await self.app(scope, receive, add_headers)


# Paths browser-based client apps (Mastodon web clients such as Elk and Phanpy) call
# from other origins: every API, as Mastodon allows. There is no Allow-Credentials,
# so a browser never lets another origin read an answer made with a member's
# cookie: they get in with bearer tokens and client secrets only, and allowing
# every origin hands no one a member's login.
CORS_PATHS = ("/api/", "/oauth/token", "/oauth/revoke", "/.well-known/")
CORS_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"Link, Retry-After"),
]
PREFLIGHT_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
    (b"access-control-allow-headers", b"Authorization, Content-Type, Accept, Idempotency-Key"),
    (b"access-control-max-age", b"86400"),
    (b"content-length", b"0"),
]


def cors_applies(path: str, paths: tuple[str, ...] = CORS_PATHS) -> bool:
    return any(
        path.startswith(p) if p.endswith("/") else path == p or path.startswith(p + "/")
        for p in paths
    )


class CorsMiddleware:
    """CORS for CORS_PATHS only: ``Access-Control-Allow-Origin: *`` on their answers,
    and an OPTIONS preflight answered here (204) without reaching the routes."""

    def __init__(self, app: ASGIApp, paths: tuple[str, ...] = CORS_PATHS) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not cors_applies(scope["path"], self.paths):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": PREFLIGHT_HEADERS})
            await send({"type": "http.response.body", "body": b""})
            return

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in CORS_HEADERS if k not in existing
                ]  # a route's own (discovery's) stays, once
            await send(message)

        await self.app(scope, receive, add_headers)
