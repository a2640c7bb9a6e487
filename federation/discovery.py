"""Discovery: WebFinger, host-meta and NodeInfo 2.1."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from app import __version__
from app.deps import CtxDep
from app.errors import DomainError, NotFound
from app.mastodon.instance import MASTODON_VERSION
from app.models import Account
from app.services import accounts, communities, registration, usage
from federation.vocab import AS2_TYPE, JRD_TYPE

router = APIRouter(include_in_schema=False)
CORS = {"Access-Control-Allow-Origin": "*"}


def parse_acct(ctx, resource: str) -> str:
    """The local name a WebFinger resource names, or a 400/404 with the reason."""
    resource = resource.strip()
    if resource.startswith(("http://", "https://")):
        for prefix in (f"{ctx.base_url}/users/", f"{ctx.base_url}/c/", f"{ctx.base_url}/@"):
            if resource.startswith(prefix) and "/" not in resource[len(prefix) :]:
                return resource[len(prefix) :]
        raise NotFound("That URL is not an actor on this instance.", code="unknown_resource")
    if not resource.startswith("acct:"):
        raise DomainError(
            "resource must be acct:name@domain or an actor URL.", code="invalid_resource"
        )
    name, sep, domain = resource[5:].lstrip("@").partition("@")
    if not sep or not name or not domain or "@" in domain:
        raise DomainError("resource must be acct:name@domain.", code="invalid_resource")
    if domain.lower() != ctx.settings.domain:
        raise NotFound(f"{domain} is not this instance.", code="unknown_resource")
    return name


@router.get("/.well-known/webfinger")
def webfinger(ctx: CtxDep, resource: Annotated[str, Query(max_length=2048)] = "") -> Response:
    if not resource:
        raise DomainError("The resource parameter is required.", code="invalid_resource")
    name = parse_acct(ctx, resource)
    target = accounts.find_local(ctx, name) or communities.find(ctx, name)
    if target is None:
        raise NotFound(f"No actor named “{name}” here.", code="unknown_resource")
    if isinstance(target, Account):
        handle, html = target.username, accounts.profile_url(ctx, target)
    else:
        handle, html = target.name, target.uri
    body = {
        "subject": f"acct:{handle}@{ctx.settings.domain}",
        "aliases": sorted({target.uri, html}),
        "links": [
            {"rel": "self", "type": AS2_TYPE, "href": target.uri},
            {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": html},
        ],
    }
    return JSONResponse(body, media_type=JRD_TYPE, headers=CORS)


@router.get("/.well-known/host-meta")
def host_meta(ctx: CtxDep) -> Response:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" template="{ctx.base_url}/.well-known/webfinger?resource={{uri}}"/>\n'
        "</XRD>\n"
    )
    return Response(xml, media_type="application/xrd+xml", headers=CORS)


@router.get("/.well-known/nodeinfo")
def nodeinfo_links(ctx: CtxDep) -> Response:
    body = {
        "links": [
            {
                "rel": "http://nodeinfo.diaspora.software/ns/schema/2.1",
                "href": f"{ctx.base_url}/nodeinfo/2.1",
            }
        ]
    }
    return JSONResponse(body, headers=CORS)


@router.get("/nodeinfo/2.1")
def nodeinfo(ctx: CtxDep) -> Response:
    counted = usage.usage(ctx)
    body = {
        "version": "2.1",
        "software": {
            "name": "commonground",
            "version": __version__,
            "homepage": "https://commonground.social/",
        },
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": registration.is_open(ctx),
        "usage": {"users": {"total": counted.users}, "localPosts": counted.local_posts},
        "metadata": {
            "nodeName": ctx.settings.instance_name,
            # where this instance publishes its ranking modules (docs/algorithms.md)
            "algorithmModules": f"{ctx.base_url}/algorithms",
            # it serves the Mastodon client API (docs/mastodon-api.md): what client
            # libraries such as megalodon look for beside an unknown software name
            "upstream": {"name": "mastodon", "version": MASTODON_VERSION},
        },
    }
    profile = 'application/json; profile="http://nodeinfo.diaspora.software/ns/schema/2.1#"'
    return JSONResponse(body, media_type=profile, headers=CORS)
