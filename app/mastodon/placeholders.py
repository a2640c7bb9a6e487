"""Empty but valid answers for what apps ask at start-up and Commonground does not
have (yet): filters, emojis, announcements, trending tags, conversations...

Mastodon answers these with 200 and ``[]`` (or ``{}``) for an account that has
none, and apps treat an error here as a broken server; so these say "none", in
the right shape, rather than 404. docs/mastodon-api.md ("Start-up endpoints")
lists them and which are placeholders until the feature exists."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from app.api.auth import reader, writer
from app.errors import NotFound

router = APIRouter()

# a member's own (empty) collections: a token is needed, as in Mastodon
MEMBER_LISTS = (
    "/api/v1/filters",
    "/api/v2/filters",
    "/api/v1/announcements",
    "/api/v1/followed_tags",
    "/api/v1/conversations",
    "/api/v1/scheduled_statuses",
    "/api/v1/suggestions",
    "/api/v2/suggestions",
    "/api/v1/follow_requests",  # members here are never locked; see docs/mastodon-api.md
    "/api/v1/endorsements",
    "/api/v1/featured_tags",
)
# the instance's (empty) collections: public
PUBLIC_LISTS = (
    "/api/v1/custom_emojis",
    "/api/v1/trends",
    "/api/v1/trends/tags",
    "/api/v1/trends/links",
)


def _member_list() -> list[Any]:
    return []


def _public_list() -> list[Any]:
    return []


for path in MEMBER_LISTS:
    router.add_api_route(path, _member_list, methods=["GET"], dependencies=[Depends(reader)])
for path in PUBLIC_LISTS:
    router.add_api_route(path, _public_list, methods=["GET"])


@router.get("/api/v1/push/subscription", dependencies=[Depends(reader)])
def push_subscription() -> dict[str, Any]:
    """Web Push is not offered, so there is never a subscription (Mastodon's 404)."""
    raise NotFound("No push subscription.", code="not_found")


@router.post("/api/v1/follow_requests/{account_id}/authorize", dependencies=[Depends(writer)])
@router.post("/api/v1/follow_requests/{account_id}/reject", dependencies=[Depends(writer)])
def decide_follow_request(account_id: str) -> dict[str, Any]:
    """Follows of members here need no approval, so there is never a request."""
    raise NotFound("No such follow request.", code="not_found")
