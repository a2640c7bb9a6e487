"""Who a post is shown to beyond its thread: ``public`` (everywhere) or ``unlisted``
(Mastodon's: on the author's profile, in threads, followers' and members' homes and
by link, but not in the public or hashtag timelines nor in others' search).

The rule lives here once; the feeds (app/services/ranking/candidates.py), search,
posting and federation read it from here."""

from __future__ import annotations

from sqlalchemy import ColumnElement
from sqlmodel import col

from app.errors import Invalid
from app.models import Post

PUBLIC = "public"
UNLISTED = "unlisted"
VISIBILITIES = (PUBLIC, UNLISTED)


def checked(visibility: str, *, into_community: bool) -> str:
    """``visibility`` if a member may post with it, else :class:`Invalid` (422)."""
    if visibility not in VISIBILITIES:
        raise Invalid(
            f"visibility must be one of {', '.join(VISIBILITIES)}.", code="invalid_visibility"
        )
    if visibility == UNLISTED and into_community:
        raise Invalid(
            "A post in a community is public: it is for the community's feed, which "
            "every member and follower reads. Post it outside the community to keep it "
            "unlisted.",
            code="unlisted_in_community",
        )
    return visibility


def listed() -> ColumnElement[bool]:
    """The posts public and hashtag timelines show: the public ones."""
    return col(Post.visibility) == PUBLIC
