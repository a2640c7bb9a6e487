"""Errors of the Mastodon client API in the shapes its clients read: Mastodon's
``{"error": "<sentence>"}`` on /api/*, OAuth's ``{"error": "<code>",
"error_description": "<sentence>"}`` on /oauth/*. Each route class turns the
domain errors of its routes (and of their dependencies: the request's
transaction is rolled back first) into that shape, never a 500 for bad input."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from app.errors import DomainError
from app.mastodon import problems

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _headers(exc: DomainError) -> dict[str, str]:
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    if exc.code == "invalid_client":
        headers["WWW-Authenticate"] = 'Basic realm="oauth"'
    return headers


def mastodon_error(exc: DomainError) -> JSONResponse:
    """The sentence comes from :mod:`app.mastodon.problems`, as for every other
    error under /api/v1 and /api/v2."""
    return problems.response(exc.status, exc.code, exc.detail, headers=_headers(exc))


def oauth_error(exc: DomainError) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else exc.code
    body = {"error": exc.code, "error_description": detail}
    return JSONResponse(body, status_code=exc.status, headers=_headers(exc))


class _Shaped(APIRoute):
    shape: Callable[[DomainError], JSONResponse] = staticmethod(mastodon_error)

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        shape = type(self).shape

        async def shaped(request: Request) -> Response:
            try:
                return await handler(request)
            except DomainError as exc:
                return shape(exc)

        return shaped


class MastodonRoute(_Shaped):
    shape = staticmethod(mastodon_error)


class OAuthRoute(_Shaped):
    shape = staticmethod(oauth_error)
