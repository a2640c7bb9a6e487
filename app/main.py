"""The ASGI application: wiring of settings, database, middleware, routes and errors."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio.to_thread import run_sync
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import __version__, safejson
from app.config import Settings, load_settings
from app.db import make_engine, transaction
from app.errors import DomainError
from app.infra import live
from app.mastodon import problems
from app.middleware import BodyLimitMiddleware, CorsMiddleware, SecurityHeadersMiddleware
from app.web import forms
from app.web.templating import STATIC_DIR, render_error
from federation.negotiation import AS2Negotiation
from federation.vocab import wants_as2

log = logging.getLogger("commonground")

HTTP_CODES = {
    400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 410: "gone",
    413: "payload_too_large", 415: "unsupported_media_type", 422: "invalid", 429: "rate_limited",
}  # fmt: skip


JSON_PREFIXES = (
    "/api/", "/.well-known/", "/nodeinfo/", "/ap/", "/actor", "/inbox", "/activities/",
)  # fmt: skip


def wants_json(request: Request) -> bool:
    """API, discovery and ActivityPub callers get JSON errors; browsers get pages."""
    path = request.url.path
    return (
        path.startswith(JSON_PREFIXES)
        or path.endswith(("/inbox", "/outbox", "/followers", "/following", "/replies"))
        or wants_as2(request.headers.get("accept", ""))
    )


def error_response(
    request: Request, status: int, code: str, detail: object, headers: dict[str, str] | None = None
) -> Response:
    if problems.is_mastodon_path(request.url.path):  # the Mastodon client API's own shape
        return problems.response(status, code, detail, headers)
    if wants_json(request):
        return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)
    return render_error(request, status, detail if isinstance(detail, str) else code, headers)


def _validation_detail(exc: RequestValidationError) -> tuple[int, str, object]:
    errors = exc.errors()
    for e in errors:
        if e.get("type") == "json_invalid":
            reason = (e.get("ctx") or {}).get("error")
            if reason in (safejson.TOO_DEEP, safejson.LONE_SURROGATE):
                return 400, "invalid_json", f"The request body was refused: {reason}."
            return 400, "invalid_json", "The request body is not valid JSON."
    detail = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
            "message": e.get("msg", ""),
        }
        for e in errors
    ]
    return 422, "validation_error", detail


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        return error_response(request, exc.status, exc.code, exc.detail, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        status, code, detail = _validation_detail(exc)
        if not wants_json(request) and isinstance(detail, list):
            return await forms.redisplay(request, exc.errors())  # the form again, filled in
        return error_response(request, status, code, detail)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = HTTP_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else code
        return error_response(request, exc.status_code, code, detail, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(
            request, 500, "internal_error", "Something went wrong on our side; nothing was saved."
        )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Before the first request: record the built-in modules' current versions, so
    that no page has to write them."""
    await run_sync(_record_builtins, app.state.engine, app.state.settings)
    try:
        yield
    finally:
        # Peer connections and cached keys belong to this run of the app: close and
        # forget them, so nothing outlives the event loop it was made on.
        net = getattr(app.state, "network", None)
        app.state.network = None
        app.state.key_cache = None
        if net is not None:
            await net.aclose()
        await live.stop_listening(app.state.settings.resolved_database_url)


def _record_builtins(engine: Engine, settings: Settings) -> None:
    from app.services import Ctx
    from app.services.ranking import registry

    try:
        with transaction(engine) as db:
            registry.record_builtins(Ctx(db, settings))
    except DBAPIError as exc:  # not migrated (e.g. an app built only for its OpenAPI spec)
        log.warning("built-in modules not recorded at start-up: %s", exc.orig)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the application. ``uvicorn --factory app.main:create_app`` calls this
    once per worker process; tests pass their own settings and engine."""
    from app import plugins
    from app.api import router as api_router
    from app.mastodon import client_api
    from app.web import api_docs, media_pages
    from app.web import router as web_router
    from federation import discovery, endpoints, inbox, modules

    plugins.load()

    settings = settings or load_settings()
    settings.resolved_secret_key  # noqa: B018 - create the key file before serving
    app = FastAPI(
        title="Commonground API",
        version=__version__,
        description="JSON API of a Commonground instance. Authenticate with "
        "`Authorization: Bearer <token>`; create tokens with `POST /api/cg/v1/tokens`.",
        openapi_url="/api/cg/v1/openapi.json",
        docs_url=None,  # app/web/api_docs.py serves /docs without a CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine or make_engine(settings.resolved_database_url)
    install_error_handlers(app)
    app.include_router(api_router)
    app.include_router(client_api.router)
    app.include_router(discovery.router)
    app.include_router(endpoints.router)
    app.include_router(inbox.router)
    app.include_router(modules.router)
    app.include_router(web_router)
    app.include_router(media_pages.router)  # files, not pages
    app.include_router(api_docs.router)
    app.mount(api_docs.ASSETS, StaticFiles(directory=api_docs.SWAGGER_UI_DIR), name="docs-assets")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(AS2Negotiation)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    app.add_middleware(CorsMiddleware)
    return app
