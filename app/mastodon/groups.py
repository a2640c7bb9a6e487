"""Communities as Group accounts in the Mastodon client API (docs/mastodon-api.md,
"Communities as Group accounts"), as Mastodon shows a FEP-1b12 Group: the account
routes answer for a Group id (app/mastodon/ids.py) from here; following joins;
a community's posts are its Group's boosts in home and on its profile; and a status
whose first word mentions a community is posted into it (Lemmy's way for Mastodon
users), through ``posts.create`` and its rules alone."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request, Response

from app.errors import NotFound
from app.mastodon import boosts as mastodon_boosts
from app.mastodon import entities, ids
from app.mastodon.pagination import Page, linked, set_link
from app.models import Account, Community, Post
from app.services import Ctx, communities, group_actors
from app.services.ranking import feeds
from app.services.ranking.candidates import home_sources
from app.services.ranking.types import Sources

Json = dict[str, Any]
# ``@name`` or ``@name@domain`` as the first word of a status
FIRST_MENTION = re.compile(r"\A\s*@([A-Za-z0-9_-]{1,100}(?:@[A-Za-z0-9.:\[\]-]{1,255})?)(?=\s|\Z)")


def answer(
    ctx: Ctx,
    request: Request,
    response: Response,
    rows: list[Post],
    viewer: Account | None,
    boosted_in: set[int] | None,
) -> list[Json]:
    """Statuses for ``rows`` (posts in ``boosted_in`` as their Group's boosts) with
    the Link header that pages on from them."""
    out = entities.statuses_or_boosts(ctx, rows, viewer, boosted_in)
    return linked(response, request, ctx.base_url, out)


def home(ctx: Ctx, request: Request, response: Response, viewer: Account, page: Page) -> list[Json]:
    """The home timeline in time order: a post that came in through a community the
    member belongs to or follows is that Group's boost of it, and members' boosts by
    the people followed come in at their own ids (app/mastodon/boosts.py)."""
    window: dict[str, Any] = {
        "below": ids.below(page.below),
        "above": page.above,
        "oldest_first": page.oldest_first,
        "limit": page.limit,
    }
    rows = feeds.home_in_time_order(ctx, viewer, **window)
    sources = home_sources(ctx, viewer)
    boosted = feeds.boosts_in_time_order(ctx, viewer, sources.author_ids, **window)
    shown = entities.statuses_or_boosts(ctx, rows, viewer, set(sources.community_ids))
    out, cursors = mastodon_boosts.merged(
        ctx, rows, shown, boosted, viewer, oldest_first=page.oldest_first, limit=page.limit
    )
    set_link(response, request, ctx.base_url, cursors)
    return out


def statuses(
    ctx: Ctx,
    request: Request,
    response: Response,
    community: Community,
    viewer: Account | None,
    page: Page,
    exclude_replies: bool,
) -> list[Json]:
    """The community's posts newest first, as its boosts (``exclude_replies``: its
    threads only, the community feed)."""
    sources = Sources(community_ids=[community.id], top_level_only=exclude_replies)
    rows = feeds.in_time_order(
        ctx,
        sources,
        viewer,
        below=ids.below(page.below),
        above=page.above,
        oldest_first=page.oldest_first,
        limit=page.limit,
    )
    return answer(ctx, request, response, rows, viewer, None)


def followers(
    ctx: Ctx, request: Request, response: Response, community: Community, page: Page
) -> list[Json]:
    """Its members, the newest first, paged by the membership's id."""
    rows = group_actors.members_between(
        ctx,
        community,
        below=page.below,
        above=page.above,
        oldest_first=page.oldest_first,
        limit=page.limit,
    )
    cards = entities.accounts(ctx, [a for _, a in rows])
    set_link(response, request, ctx.base_url, [mid for mid, _ in rows])
    return [cards[a.id] for _, a in rows]


def shown(ctx: Ctx, community: Community) -> Community:
    """The community if it is shown to anyone (not on a blocked domain), else 404."""
    found = ids.group_by_account_id(ctx, ids.group_account_id(community))
    if found is None:
        raise NotFound("No such account.", code="account_not_found")
    return found


def follow(ctx: Ctx, viewer: Account, community: Community) -> Json:
    group_actors.join(ctx, viewer, community)
    return entities.group_relationships(ctx, viewer, [community])[0]


def unfollow(ctx: Ctx, viewer: Account, community: Community) -> Json:
    group_actors.leave(ctx, viewer, community)
    return entities.group_relationships(ctx, viewer, [community])[0]


def addressed(ctx: Ctx, text: str) -> tuple[str | None, str | None, str]:
    """The community a new status is posted into when its first word mentions one,
    with its title and text: a first line after the mention is the title when more
    lines follow; the mention itself is left out. Else ``(None, None, text)``."""
    m = FIRST_MENTION.match(text)
    if m is None:
        return None, None, text
    try:
        community = communities.get_by_handle(ctx, m.group(1))
    except NotFound:
        return None, None, text  # a person, or nobody known: an ordinary status
    rest = text[m.end() :].strip()
    first, newline, body = rest.partition("\n")
    if newline and body.strip():
        return community.handle, first.strip(), body.strip()
    return community.handle, None, rest
