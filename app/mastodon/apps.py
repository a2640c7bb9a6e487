"""``POST /api/v1/apps`` (register a client app) and
``GET /api/v1/apps/verify_credentials``, answering Mastodon's Application entity."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from app.deps import CtxDep, client_ip
from app.errors import NotAuthenticated
from app.mastodon.body import BodyFields, text
from app.mastodon.errors import MastodonRoute
from app.services import oauth

router = APIRouter(include_in_schema=False, route_class=MastodonRoute)


@router.post("/api/v1/apps")
def create_app(request: Request, ctx: CtxDep, fields: BodyFields) -> JSONResponse:
    uris = fields.get("redirect_uris", "")
    if isinstance(uris, str):
        uris = uris.split()  # space or newline separated
    app, secret = oauth.register_app(
        ctx,
        text(fields, "client_name"),
        uris,
        text(fields, "scopes") or None,
        text(fields, "website"),
        client=client_ip(request),
    )
    return JSONResponse(oauth.app_entity(app, secret=secret))


@router.get("/api/v1/apps/verify_credentials")
def verify_credentials(
    ctx: CtxDep, authorization: Annotated[str | None, Header()] = None
) -> JSONResponse:
    scheme, _, raw = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        raise NotAuthenticated("The access token is invalid.", code="invalid_token")
    return JSONResponse(oauth.app_entity(oauth.token_app(ctx, raw.strip())))
