"""Server-rendered pages (Jinja2). They work without JavaScript."""

from fastapi import APIRouter

from app.web import (
    account_pages,
    admin,
    algorithm_pages,
    artifact_pages,
    auth_pages,
    community_pages,
    email_pages,
    feed_pages,
    moderation_pages,
    notification_pages,
    post_pages,
    profile_pages,
    report_pages,
    rules_pages,
    search_pages,
    session_pages,
)

router = APIRouter(include_in_schema=False)
for module in (
    auth_pages,
    feed_pages,
    community_pages,
    post_pages,
    profile_pages,
    account_pages,
    admin,
    algorithm_pages,
    artifact_pages,
    notification_pages,
    search_pages,
    rules_pages,
    report_pages,
    moderation_pages,
    email_pages,
    session_pages,
):
    router.include_router(module.router)
