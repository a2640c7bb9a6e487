"""The Mastodon client API (docs/mastodon-api.md): one router of every part, for
the app factory. Left out of the native OpenAPI document (/api/cg/v1/openapi.json):
its shapes are Mastodon's, documented at docs.joinmastodon.org, and its parameters
come as a query, a form or JSON alike (app/mastodon/params.py)."""

from __future__ import annotations

from fastapi import APIRouter

from app.mastodon import (
    accounts,
    apps,
    bookmarks,
    instance,
    lists,
    markers,
    media,
    notifications,
    oauth,
    placeholders,
    relations,
    reports,
    scopes,
    search,
    stances,
    statuses,
    streaming,
    timelines,
)

router = APIRouter(include_in_schema=False)
for part in (apps.router, oauth.pages, oauth.api):
    router.include_router(part)
PARTS = (
    instance,
    accounts,
    relations,
    statuses,
    stances,
    timelines,
    lists,
    bookmarks,
    notifications,
    markers,
    reports,
    media,
    search,
    placeholders,  # last: what the others do not serve yet
)
# every call's scope is checked once, here (app/mastodon/scopes.py); the streams,
# which hold no request transaction, check theirs as they start
for module in PARTS:
    router.include_router(module.router, dependencies=[scopes.Checked])
router.include_router(streaming.router)
