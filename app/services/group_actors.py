"""Communities as Group actors, for clients that only know accounts (the Mastodon
client API): joining by following, a member's standing with each, their members in
the order they joined, and their counts.

Following is joining, as FEP-1b12 has it: a community here is joined at once (or
asked to join, where a moderator approves members); one elsewhere is followed, and
its answer (Accept) makes the member (app/services/follows.py). Leaving ends both
the membership and any follow, under the rules of each (the only admin stays)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, func, select

from app.errors import DomainError
from app.models import Account, Community, Follow, Membership, Post
from app.services import Ctx, blocks, communities, follows

MAX_LIMIT = 100


@dataclass(frozen=True)
class Standing:
    """A member's standing with a community: a member (or following it), or waiting."""

    following: bool = False
    requested: bool = False


def join(ctx: Ctx, member: Account, community: Community) -> None:
    """Join here (``communities.join``: a banned member is refused), or follow a
    community elsewhere, which makes the member when it accepts."""
    if community.domain:
        follows.follow(ctx, member, community)
    else:
        communities.join(ctx, member, community)


def leave(ctx: Ctx, member: Account, community: Community) -> None:
    """Leave (or stop asking to join) and stop following; neither is harmless."""
    if not community.domain and communities.membership(ctx, member, community) is not None:
        communities.leave(ctx, member, community)
    followed = follows.between(ctx, member, community)
    if followed is not None:
        follows.remove(ctx, followed)


def standings(ctx: Ctx, member: Account, community_ids: list[int]) -> dict[int, Standing]:
    """The member's standing with each of these communities, in two queries."""
    out = dict.fromkeys(community_ids, Standing())
    if not community_ids:
        return out
    joined = ctx.db.exec(
        select(col(Membership.community_id), col(Membership.state)).where(
            col(Membership.account_id) == member.id,
            col(Membership.community_id).in_(community_ids),
        )
    ).all()
    followed = ctx.db.exec(
        select(col(Follow.target_community_id), col(Follow.state)).where(
            col(Follow.follower_id) == member.id,
            col(Follow.target_community_id).in_(community_ids),
        )
    ).all()
    active = {c for c, state in [*joined, *followed] if state in ("active", "accepted")}
    waiting = {c for c, state in [*joined, *followed] if state == "pending"}
    for c in community_ids:
        out[c] = Standing(following=c in active, requested=c in waiting and c not in active)
    return out


def counts(ctx: Ctx, community_ids: list[int]) -> dict[int, tuple[int, int, datetime | None]]:
    """Each community's active members, its posts that are not deleted, and when the
    last was written, in two queries."""
    out: dict[int, tuple[int, int, datetime | None]] = dict.fromkeys(community_ids, (0, 0, None))
    if not community_ids:
        return out
    members = dict(
        ctx.db.exec(
            select(col(Membership.community_id), func.count())
            .where(
                col(Membership.community_id).in_(community_ids), col(Membership.state) == "active"
            )
            .group_by(col(Membership.community_id))
        ).all()
    )
    posted = {
        c: (n, last)
        for c, n, last in ctx.db.exec(
            select(col(Post.community_id), func.count(), func.max(col(Post.created_at)))
            .where(col(Post.community_id).in_(community_ids), col(Post.deleted_at).is_(None))
            .group_by(col(Post.community_id))
        ).all()
    }
    for c in community_ids:
        n, last = posted.get(c, (0, None))
        out[c] = (members.get(c, 0), n, last)
    return out


def members_between(
    ctx: Ctx,
    community: Community,
    *,
    below: int | None = None,
    above: int | None = None,
    oldest_first: bool = False,
    limit: int = 40,
) -> list[tuple[int, Account]]:
    """A page of the community's active members, each with its membership's id,
    between the ids ``above`` and ``below`` (both excluded): the newest member first,
    or those just above ``above`` with ``oldest_first`` (still newest first).
    Accounts hidden from everyone are left out, as from every list."""
    if not 1 <= limit <= MAX_LIMIT:
        raise DomainError(f"limit must be between 1 and {MAX_LIMIT}.", code="invalid_limit")
    q = (
        select(col(Membership.id), Account)
        .join(Account, col(Account.id) == col(Membership.account_id))
        .where(
            col(Membership.community_id) == community.id,
            col(Membership.state) == "active",
            ~blocks.hides_account(None),
        )
    )
    if below is not None:
        q = q.where(col(Membership.id) < below)
    if above is not None:
        q = q.where(col(Membership.id) > above)
    order = col(Membership.id).asc() if oldest_first else col(Membership.id).desc()
    rows = [(mid, person) for mid, person in ctx.db.exec(q.order_by(order).limit(limit))]
    return rows[::-1] if oldest_first else rows
