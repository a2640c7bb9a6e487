"""Follows: a member following another member or a community."""

from __future__ import annotations

from sqlmodel import func, select

from app.errors import Invalid, NotFound
from app.models import Account, Community, Follow
from app.services import Ctx, communities
from app.services.accounts import find_local


def resolve_target(ctx: Ctx, target: str) -> Account | Community:
    """Find a local member or community from ``name``, ``name@domain``,
    ``@name@domain`` or its actor URL."""
    target = (target or "").strip()
    if not target or len(target) > 2048:
        raise Invalid(
            "Say whom to follow: a name, name@domain or an actor URL.", code="invalid_target"
        )
    if target.startswith(("http://", "https://")):
        found = (
            ctx.db.exec(select(Account).where(Account.uri == target)).first()
            or ctx.db.exec(select(Community).where(Community.uri == target)).first()
        )
    else:
        name, _, domain = target.lstrip("@").partition("@")
        if domain and domain.lower() != ctx.settings.domain:
            raise NotFound(
                f"“{target}” is not on this instance, and following remote actors "
                "needs federation, which this instance does not have yet.",
                code="target_not_found",
            )
        found = find_local(ctx, name) or communities.find(ctx, name)
    if found is None:
        raise NotFound(f"Nobody called “{target}” here.", code="target_not_found")
    return found


def _existing(ctx: Ctx, follower: Account, target: Account | Community) -> Follow | None:
    column = Follow.target_account_id if isinstance(target, Account) else Follow.target_community_id
    return ctx.db.exec(
        select(Follow).where(Follow.follower_id == follower.id, column == target.id)
    ).first()


def follow(ctx: Ctx, follower: Account, target: Account | Community) -> Follow:
    """Follow, or return the existing follow (following twice is harmless)."""
    if isinstance(target, Account) and target.id == follower.id:
        raise Invalid("You can't follow yourself.", code="self_follow")
    existing = _existing(ctx, follower, target)
    if existing is not None:
        return existing
    follow = Follow(
        follower_id=follower.id,
        target_account_id=target.id if isinstance(target, Account) else None,
        target_community_id=target.id if isinstance(target, Community) else None,
    )
    ctx.db.add(follow)
    ctx.db.flush()
    return follow


def unfollow(ctx: Ctx, follower: Account, target: Account | Community) -> None:
    existing = _existing(ctx, follower, target)
    if existing is None:
        raise NotFound("You don't follow them.", code="not_following")
    ctx.db.delete(existing)


def is_following(ctx: Ctx, follower: Account | None, target: Account | Community) -> bool:
    return follower is not None and _existing(ctx, follower, target) is not None


def following(ctx: Ctx, account: Account) -> tuple[list[Account], list[Community]]:
    people = ctx.db.exec(
        select(Account)
        .join(Follow, Follow.target_account_id == Account.id)
        .where(Follow.follower_id == account.id, Follow.state == "accepted")
        .order_by(Account.username_key)
    )
    groups = ctx.db.exec(
        select(Community)
        .join(Follow, Follow.target_community_id == Community.id)
        .where(Follow.follower_id == account.id, Follow.state == "accepted")
        .order_by(Community.name_key)
    )
    return list(people), list(groups)


def followers_count(ctx: Ctx, account: Account) -> int:
    return ctx.db.exec(
        select(func.count())
        .select_from(Follow)
        .where(Follow.target_account_id == account.id, Follow.state == "accepted")
    ).one()
