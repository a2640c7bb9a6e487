"""Follows: a member following another member or a community."""

from __future__ import annotations

from sqlmodel import col, func, select

from app.db import get_or_raise, hold
from app.errors import Forbidden, Invalid, NotFound
from app.infra import events
from app.models import Account, Block, Community, Follow, Membership
from app.services import Ctx, communities
from app.services.accounts import find_local


def resolve_target(ctx: Ctx, target: str) -> Account | Community:
    """Find a member or community from ``name``, ``name@domain``, ``@name@domain``
    or its actor URL, among the actors this instance knows (remote ones are
    looked up first by :func:`federation.lookup.ensure_known`)."""
    target = (target or "").strip()
    if not target or len(target) > 2048:
        raise Invalid(
            "Say whom to follow: a name, name@domain or an actor URL.", code="invalid_target"
        )
    if target.startswith(("http://", "https://")):
        found = (
            ctx.db.exec(select(Account).where(col(Account.uri) == target)).first()
            or ctx.db.exec(select(Community).where(col(Community.uri) == target)).first()
        )
    else:
        name, _, domain = target.lstrip("@").partition("@")
        domain = domain.lower()
        if domain and domain != ctx.settings.domain:
            found = (
                ctx.db.exec(
                    select(Account).where(
                        col(Account.username_key) == name.lower(), col(Account.domain) == domain
                    )
                ).first()
                or ctx.db.exec(
                    select(Community).where(
                        col(Community.name_key) == name.lower(), col(Community.domain) == domain
                    )
                ).first()
            )
        else:
            found = find_local(ctx, name) or communities.find(ctx, name)
    if found is None:
        raise NotFound(f"Nobody called “{target}” is known here.", code="target_not_found")
    return found


def _blocked(ctx: Ctx, member: Account, actor: Account) -> bool:
    """Has ``member`` blocked ``actor``? (See :mod:`app.services.blocks`.)"""
    q = select(col(Block.id)).where(
        col(Block.account_id) == member.id, col(Block.target_uri) == actor.uri
    )
    return ctx.db.exec(q).first() is not None


def _column(target: Account | Community):
    return (
        col(Follow.target_account_id)
        if isinstance(target, Account)
        else col(Follow.target_community_id)
    )


def _existing(ctx: Ctx, follower: Account, target: Account | Community) -> Follow | None:
    return ctx.db.exec(
        select(Follow).where(col(Follow.follower_id) == follower.id, _column(target) == target.id)
    ).first()


def _initial_state(ctx: Ctx, follower: Account, target: Account | Community) -> str:
    """Remote targets answer later (Accept); a remote follower of a local community
    joins it, and waits for a moderator if joining needs approval."""
    if target.domain:
        return "pending"
    if isinstance(target, Community) and not follower.is_local:
        membership = communities.join(ctx, follower, target)
        return "accepted" if membership.state == "active" else "pending"
    return "accepted"


def follow(
    ctx: Ctx, follower: Account, target: Account | Community, *, activity_uri: str | None = None
) -> Follow:
    """Follow, or return the existing follow (following twice is harmless).
    ``activity_uri`` is the remote Follow activity this came from."""
    if isinstance(target, Account) and target.id == follower.id:
        raise Invalid("You can't follow yourself.", code="self_follow")
    if not follower.is_local and target.domain:
        raise Invalid("Only local actors can be followed from elsewhere.", code="not_local")
    if isinstance(target, Account) and _blocked(ctx, target, follower):
        raise Forbidden("You can't follow them.", code="blocked")
    kind = "account" if isinstance(target, Account) else "community"
    hold(ctx.db, f"follow:{follower.id}:{kind}:{target.id}")  # the same follow, twice at once
    existing = _existing(ctx, follower, target)
    if existing is not None:
        if activity_uri and existing.activity_uri != activity_uri:
            existing.activity_uri = activity_uri  # a re-sent Follow: answer its id
            ctx.db.add(existing)
            events.emit(ctx, "follow.created", follow=existing)
        return existing
    follow = Follow(
        follower_id=follower.id,
        target_account_id=target.id if isinstance(target, Account) else None,
        target_community_id=target.id if isinstance(target, Community) else None,
        state=_initial_state(ctx, follower, target),
        activity_uri=activity_uri,
    )
    ctx.db.add(follow)
    ctx.db.flush()
    events.emit(ctx, "follow.created", follow=follow)
    return follow


def unfollow(ctx: Ctx, follower: Account, target: Account | Community) -> None:
    existing = _existing(ctx, follower, target)
    if existing is None:
        raise NotFound("You don't follow them.", code="not_following")
    remove(ctx, existing)


def remove(ctx: Ctx, follow: Follow) -> None:
    """End a follow (an unfollow here, or an Undo / Reject from elsewhere). A remote
    follower of a community leaves it too: for them following is membership."""
    follower = ctx.db.get(Account, follow.follower_id)
    community = (
        ctx.db.get(Community, follow.target_community_id) if follow.target_community_id else None
    )
    if community is not None and follower is not None and (community.domain or follower.domain):
        # Across instances, following a community and belonging to it are one thing.
        m = communities.membership(ctx, follower, community)
        if m is not None and m.role != "admin":
            ctx.db.delete(m)
    events.emit(ctx, "follow.removed", follow=follow)
    ctx.db.delete(follow)
    ctx.db.flush()


def accepted(ctx: Ctx, follow: Follow) -> Follow:
    """The followed actor said yes."""
    if follow.state != "accepted":
        follow.state = "accepted"
        ctx.db.add(follow)
        follower = ctx.db.get(Account, follow.follower_id)
        if follow.target_community_id is not None and follower is not None and follower.is_local:
            # Following a remote community is how one joins it: members may post there.
            community = get_or_raise(ctx.db, Community, follow.target_community_id)
            if community.domain and communities.membership(ctx, follower, community) is None:
                ctx.db.add(Membership(community_id=community.id, account_id=follower.id))
        events.emit(ctx, "follow.accepted", follow=follow)
    return follow


def find_by_activity(ctx: Ctx, activity_uri: str) -> Follow | None:
    return ctx.db.exec(select(Follow).where(col(Follow.activity_uri) == activity_uri)).first()


def between(ctx: Ctx, follower: Account, target: Account | Community) -> Follow | None:
    return _existing(ctx, follower, target)


def is_following(ctx: Ctx, follower: Account | None, target: Account | Community) -> bool:
    return follower is not None and _existing(ctx, follower, target) is not None


def following(ctx: Ctx, account: Account) -> tuple[list[Account], list[Community]]:
    people = ctx.db.exec(
        select(Account)
        .join(Follow, col(Follow.target_account_id) == col(Account.id))
        .where(col(Follow.follower_id) == account.id, col(Follow.state) == "accepted")
        .order_by(col(Account.username_key))
    )
    groups = ctx.db.exec(
        select(Community)
        .join(Follow, col(Follow.target_community_id) == col(Community.id))
        .where(col(Follow.follower_id) == account.id, col(Follow.state) == "accepted")
        .order_by(col(Community.name_key))
    )
    return list(people), list(groups)


def remote_followers(ctx: Ctx, target: Account | Community) -> list[Account]:
    """Accepted followers on other instances: where this actor's activities go."""
    return list(
        ctx.db.exec(
            select(Account)
            .join(Follow, col(Follow.follower_id) == col(Account.id))
            .where(
                _column(target) == target.id,
                col(Follow.state) == "accepted",
                col(Account.domain) != "",
            )
        )
    )


def remote_is_followed(ctx: Ctx, target: Account | Community) -> bool:
    """Does anyone here follow this (remote) actor? Only then do we take its boosts."""
    return (
        ctx.db.exec(
            select(col(Follow.id)).where(
                _column(target) == target.id, col(Follow.state) == "accepted"
            )
        ).first()
        is not None
    )


def followers_count(ctx: Ctx, account: Account) -> int:
    return ctx.db.exec(
        select(func.count())
        .select_from(Follow)
        .where(col(Follow.target_account_id) == account.id, col(Follow.state) == "accepted")
    ).one()


@events.on("membership.approved")
def _membership_approved(ctx: Ctx, membership: Membership) -> None:
    """A remote actor asked to join by following: approving them accepts the follow."""
    pending = ctx.db.exec(
        select(Follow).where(
            col(Follow.follower_id) == membership.account_id,
            col(Follow.target_community_id) == membership.community_id,
        )
    ).first()
    if pending is not None:
        accepted(ctx, pending)


def counts(ctx: Ctx, account_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Each account's accepted followers and the members it follows, in two queries."""
    out = dict.fromkeys(account_ids, (0, 0))
    if not account_ids:
        return out
    accepted_ = col(Follow.state) == "accepted"
    followers = dict(
        ctx.db.exec(
            select(col(Follow.target_account_id), func.count())
            .where(col(Follow.target_account_id).in_(account_ids), accepted_)
            .group_by(col(Follow.target_account_id))
        ).all()
    )
    following_ = dict(
        ctx.db.exec(
            select(col(Follow.follower_id), func.count())
            .where(
                col(Follow.follower_id).in_(account_ids),
                col(Follow.target_account_id).is_not(None),
                accepted_,
            )
            .group_by(col(Follow.follower_id))
        ).all()
    )
    return {i: (followers.get(i, 0), following_.get(i, 0)) for i in account_ids}


def pending_from(ctx: Ctx, follower: Account, target_ids: list[int]) -> set[int]:
    """Which of these accounts ``follower`` asked to follow and still waits for."""
    if not target_ids:
        return set()
    rows = ctx.db.exec(
        select(col(Follow.target_account_id)).where(
            col(Follow.follower_id) == follower.id,
            col(Follow.target_account_id).in_(target_ids),
            col(Follow.state) == "pending",
        )
    ).all()
    return {i for i in rows if i is not None}


def accepted_between(
    ctx: Ctx, follower_ids: list[int], target_ids: list[int]
) -> set[tuple[int, int]]:
    """The accepted (follower, followed) pairs among these accounts."""
    if not follower_ids or not target_ids:
        return set()
    rows = ctx.db.exec(
        select(col(Follow.follower_id), col(Follow.target_account_id)).where(
            col(Follow.follower_id).in_(follower_ids),
            col(Follow.target_account_id).in_(target_ids),
            col(Follow.state) == "accepted",
        )
    ).all()
    return {(a, b) for a, b in rows if b is not None}
