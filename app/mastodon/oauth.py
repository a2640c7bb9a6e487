"""OAuth 2 endpoints: ``/oauth/authorize`` (the consent page), ``/oauth/token``,
``/oauth/revoke`` and the authorization server metadata. The rules are in
app/services/oauth.py; these only read requests and shape answers."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from app.deps import CtxDep, client_ip
from app.mastodon.body import BasicAuth, BodyFields, strings
from app.mastodon.errors import OAuthRoute
from app.middleware import content_security_policy
from app.services import oauth
from app.web.deps import Csrf, Viewer
from app.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(include_in_schema=False, route_class=OAuthRoute)


def _consent(request: Request, checked: oauth.AuthorizationRequest) -> Response:
    response = render(
        request,
        "oauth_authorize.html",
        app=checked.app,
        scopes=oauth.scope_words(checked.scopes),
        fields=checked.form(),
        oob=checked.redirect_uri == oauth.OOB,
    )
    # the form's answer redirects to the app: let it through, this page only
    source = oauth.form_action_source(checked.redirect_uri)
    if source:
        form_action = f"'self' {source}"
        response.headers["content-security-policy"] = content_security_policy(
            form_action=form_action
        )
    return response


@pages.get("/oauth/authorize")
def authorize(request: Request, ctx: CtxDep, viewer: Viewer) -> Response:
    checked = oauth.check_authorization(ctx, dict(request.query_params))
    if viewer is None:
        back = f"{request.url.path}?{request.url.query}"
        return RedirectResponse(f"/login?next={quote(back, safe='')}", status_code=303)
    return _consent(request, checked)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


@pages.post("/oauth/authorize", dependencies=[Csrf])
def decide(
    request: Request,
    ctx: CtxDep,
    viewer: Viewer,
    form: Annotated[dict[str, str], Depends(_form)],
) -> Response:
    """Approve or deny: back to the app with a code (or error=access_denied), or for
    an out-of-band app a page showing the code."""
    if viewer is None:
        return RedirectResponse("/login", status_code=303)
    checked = oauth.check_authorization(ctx, form)
    if form.get("decision") != "approve":
        if checked.redirect_uri == oauth.OOB:
            return render(request, "oauth_code.html", app=checked.app, code=None)
        target = oauth.redirect_target(
            checked.redirect_uri, {"error": "access_denied", "state": checked.state}
        )
        return RedirectResponse(target, status_code=303)
    code = oauth.issue_code(ctx, viewer, checked)
    if checked.redirect_uri == oauth.OOB:
        return render(request, "oauth_code.html", app=checked.app, code=code)
    target = oauth.redirect_target(checked.redirect_uri, {"code": code, "state": checked.state})
    return RedirectResponse(target, status_code=303)


@api.post("/oauth/token")
def token(request: Request, ctx: CtxDep, fields: BodyFields, basic: BasicAuth) -> JSONResponse:
    issued = oauth.token(ctx, strings(fields), basic=basic, client=client_ip(request))
    return JSONResponse(issued.body(), headers={"Cache-Control": "no-store"})


@api.post("/oauth/revoke")
def revoke(request: Request, ctx: CtxDep, fields: BodyFields, basic: BasicAuth) -> JSONResponse:
    oauth.revoke(ctx, strings(fields), basic=basic, client=client_ip(request))
    return JSONResponse({})


@api.get("/.well-known/oauth-authorization-server")
def metadata(ctx: CtxDep) -> JSONResponse:
    return JSONResponse(oauth.metadata(ctx))
