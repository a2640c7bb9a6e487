"""The Mastodon client API (issue 15), so Mastodon apps work with Commonground. So far
its OAuth 2 (docs/mastodon-api.md): app registration, authorization, tokens."""

from fastapi import APIRouter

from app.mastodon import apps, oauth

router = APIRouter(include_in_schema=False)
for module_router in (apps.router, oauth.pages, oauth.api):
    router.include_router(module_router)
