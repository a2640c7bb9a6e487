"""Why a post is in my feed: the candidate source that brought it, in words.

A ranking module scores what it is given; where its candidates came from is the
host's knowledge (:class:`~app.services.ranking.types.Sources`), so every feed
item can say it whatever module ranks it. Computed for the page shown only, with
a few queries for the whole page."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select

from app.models import Account, Community, Follow, Membership, Post
from app.services import Ctx
from app.services.ranking.types import Reason, Sources


def handle(account: Account) -> str:
    return f"@{account.username}" if account.is_local else f"@{account.username}@{account.domain}"


def explain(
    ctx: Ctx, sources: Sources, viewer: Account | None, posts: Sequence[Post]
) -> dict[int, list[Reason]]:
    """Each post's reasons, in the order: its author, its place, its thread, a tag."""
    if not posts:
        return {}
    authors = {
        a.id: a
        for a in ctx.db.exec(
            select(Account).where(col(Account.id).in_({p.author_id for p in posts}))
        )
    }
    place_ids = {p.community_id for p in posts if p.community_id}
    places = {
        c.id: c for c in ctx.db.exec(select(Community).where(col(Community.id).in_(place_ids)))
    }
    followed, joined, followed_places, my_threads = _viewer_ties(ctx, viewer, posts)
    out: dict[int, list[Reason]] = {}
    for post in posts:
        author = authors[post.author_id]
        found: list[Reason] = []
        if post.author_id in sources.author_ids:
            if viewer is not None and post.author_id == viewer.id:
                found.append(Reason("own", "Your post."))
            elif post.author_id in followed:
                found.append(Reason("follow", f"You follow {handle(author)}.", author.uri))
            else:
                found.append(Reason("author", f"Posted by {handle(author)}.", author.uri))
        place = places.get(post.community_id) if post.community_id else None
        if place is not None and place.id in sources.community_ids:
            title = place.display_title
            if place.id in joined:
                text = f"Posted in {title}, which you joined."
            elif place.id in followed_places:
                text = f"Posted in {title}, which you follow."
            else:
                text = f"A thread in {title}."
            found.append(Reason("community", text, place.uri))
            if author.domain != place.domain:  # the community relayed another server's post
                by = f"{author.username}@{author.domain or ctx.settings.domain}"
                found.append(Reason("boost", f"Boosted by {title} from {by}.", place.uri))
        if sources.replies_to_viewer and post.root_id in my_threads:
            found.append(Reason("reply", "A reply in a thread you started."))
        if sources.tag:
            found.append(Reason("tag", f"Tagged #{sources.tag}."))
        out[post.id] = found
    return out


def _viewer_ties(
    ctx: Ctx, viewer: Account | None, posts: Sequence[Post]
) -> tuple[set[int], set[int], set[int], set[int]]:
    """Whom the viewer follows, which communities they joined or follow, and which
    of these posts' threads they started: only for the page's authors and places."""
    if viewer is None:
        return set(), set(), set(), set()
    author_ids = {p.author_id for p in posts}
    place_ids = {p.community_id for p in posts if p.community_id}
    root_ids = {p.root_id for p in posts if p.root_id}
    follows = ctx.db.exec(
        select(col(Follow.target_account_id), col(Follow.target_community_id)).where(
            col(Follow.follower_id) == viewer.id,
            col(Follow.state) == "accepted",
            col(Follow.target_account_id).in_(author_ids)
            | col(Follow.target_community_id).in_(place_ids),
        )
    ).all()
    joined = set(
        ctx.db.exec(
            select(col(Membership.community_id)).where(
                col(Membership.account_id) == viewer.id,
                col(Membership.state) == "active",
                col(Membership.community_id).in_(place_ids),
            )
        )
    )
    mine = (
        set(
            ctx.db.exec(
                select(col(Post.id)).where(
                    col(Post.id).in_(root_ids), col(Post.author_id) == viewer.id
                )
            )
        )
        if root_ids
        else set()
    )
    return (
        {a for a, _ in follows if a is not None},
        joined,
        {c for _, c in follows if c is not None},
        mine,
    )
