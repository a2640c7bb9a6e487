"""The Mastodon client API (docs/mastodon-api.md): one router of every part, for
the app factory. Left out of the native OpenAPI document (/api/cg/v1/openapi.json):
its shapes are Mastodon's, documented at docs.joinmastodon.org, and its parameters
come as a query, a form or JSON alike (app/mastodon/params.py)."""

from __future__ import annotations

from fastapi import APIRouter

from app.mastodon import (
    accounts,
    apps,
    instance,
    markers,
    notifications,
    oauth,
    placeholders,
    reports,
    statuses,
    streaming,
    timelines,
)

router = APIRouter(include_in_schema=False)
for part in (apps.router, oauth.pages, oauth.api):
    router.include_router(part)
for module in (
    instance,
    accounts,
    statuses,
    timelines,
    notifications,
    markers,
    reports,
    streaming,
    placeholders,
):
    router.include_router(module.router)
