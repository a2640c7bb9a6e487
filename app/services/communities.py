"""Communities: creation, charter, join policy, membership and roles."""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, or_
from sqlmodel import col, func, select

from app.db import hold
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.infra import events
from app.models import Account, Community, CommunityBan, Membership, utcnow
from app.services import Ctx
from app.services.accounts import name_taken
from app.text import render_markdown

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,39}$")
JOIN_POLICIES = ("open", "approval")
ROLES = ("member", "moderator", "admin")
ROLE_RANK = {"member": 0, "moderator": 1, "admin": 2}


def community_uri(ctx: Ctx, name: str) -> str:
    return f"{ctx.base_url}/c/{name}"


def validate_name(name: str) -> str:
    name = (name or "").strip().lower()
    if not NAME_RE.match(name):
        raise Invalid(
            "Community names are 2–40 lower-case letters, digits, “-” or “_”, "
            "starting with a letter or digit.",
            code="invalid_community_name",
        )
    return name


def _validate_fields(title: str, description: str, charter: str, join_policy: str) -> None:
    if len(title) > 100:
        raise Invalid("Titles are at most 100 characters.", code="invalid_title")
    if len(description) > 2000:
        raise Invalid("Descriptions are at most 2,000 characters.", code="invalid_description")
    if len(charter) > 20000:
        raise Invalid("Charters are at most 20,000 characters.", code="invalid_charter")
    if join_policy not in JOIN_POLICIES:
        raise Invalid("Join policy must be “open” or “approval”.", code="invalid_join_policy")


def create(
    ctx: Ctx,
    creator: Account,
    name: str,
    *,
    title: str = "",
    description: str = "",
    charter: str = "",
    join_policy: str = "open",
) -> Community:
    name = validate_name(name)
    title, description, charter = title.strip(), description.strip(), charter.strip()
    _validate_fields(title, description, charter, join_policy)
    if name_taken(ctx, name):
        raise Conflict(f"The name “{name}” is taken.", code="community_name_taken")
    community = Community(
        name=name,
        name_key=name,
        uri=community_uri(ctx, name),
        title=title or name,
        description=description,
        charter=charter,
        charter_html=render_markdown(charter, base_url=ctx.base_url).html,
        join_policy=join_policy,
        created_by_id=creator.id,
    )
    ctx.db.add(community)
    ctx.db.flush()
    ctx.db.add(Membership(community_id=community.id, account_id=creator.id, role="admin"))
    return community


def get(ctx: Ctx, name: str) -> Community:
    community = find(ctx, name)
    if community is None:
        raise NotFound(f"No community named “{name}”.", code="community_not_found")
    return community


def get_by_handle(ctx: Ctx, handle: str) -> Community:
    """A community to post in: ``name`` here, or ``name@domain`` for one on another
    instance that this instance knows (following it is how one joins it)."""
    name, at, domain = (handle or "").strip().partition("@")
    domain = domain.lower()
    if not at or domain == ctx.settings.domain:
        return get(ctx, name)
    found = (
        ctx.db.exec(
            select(Community).where(
                col(Community.name_key) == name.lower(), col(Community.domain) == domain
            )
        ).first()
        if name and domain
        else None
    )
    if found is None:
        raise NotFound(
            f"No community called “{handle.strip()}” is known here: follow it first.",
            code="community_not_found",
        )
    return found


def find(ctx: Ctx, name: str) -> Community | None:
    return ctx.db.exec(
        select(Community).where(
            col(Community.name_key) == (name or "").strip().lower(), col(Community.domain) == ""
        )
    ).first()


def membership(ctx: Ctx, account: Account | None, community: Community) -> Membership | None:
    if account is None:
        return None
    return ctx.db.exec(
        select(Membership).where(
            col(Membership.community_id) == community.id, col(Membership.account_id) == account.id
        )
    ).first()


def is_active_member(ctx: Ctx, account: Account, community: Community) -> bool:
    m = membership(ctx, account, community)
    return m is not None and m.state == "active"


def can_moderate(
    ctx: Ctx, account: Account | None, community: Community, *, role: str = "moderator"
) -> bool:
    """Instance admins can moderate everywhere; otherwise the community role decides."""
    if account is None:
        return False
    if account.is_admin and account.is_local:
        return True
    m = membership(ctx, account, community)
    return m is not None and m.state == "active" and ROLE_RANK[m.role] >= ROLE_RANK[role]


def require_role(ctx: Ctx, account: Account, community: Community, role: str) -> None:
    if not can_moderate(ctx, account, community, role=role):
        raise Forbidden(f"Only the community's {role}s can do that.", code="insufficient_role")


def update(
    ctx: Ctx,
    actor: Account,
    community: Community,
    *,
    title: str | None = None,
    description: str | None = None,
    charter: str | None = None,
    join_policy: str | None = None,
) -> Community:
    require_role(ctx, actor, community, "admin")
    title = community.title if title is None else title.strip()
    description = community.description if description is None else description.strip()
    charter = community.charter if charter is None else charter.strip()
    join_policy = community.join_policy if join_policy is None else join_policy
    _validate_fields(title, description, charter, join_policy)
    community.title, community.description, community.join_policy = (
        title or community.name,
        description,
        join_policy,
    )
    if charter != community.charter:
        community.charter = charter
        community.charter_html = render_markdown(charter, base_url=ctx.base_url).html
    community.updated_at = utcnow()
    ctx.db.add(community)
    return community


def active_ban_clause(community_id: object, account_id: object, now: object) -> ColumnElement[bool]:
    """The condition "a ban on this member in this community still holds" (the
    arguments may be columns or bound parameters, for feed statements)."""
    held = select(col(CommunityBan.id)).where(
        col(CommunityBan.community_id) == community_id,
        col(CommunityBan.account_id) == account_id,
        or_(col(CommunityBan.expires_at).is_(None), col(CommunityBan.expires_at) > now),
    )
    return held.exists()


def is_banned(ctx: Ctx, account: Account, community: Community) -> bool:
    """Whether a moderator's ban keeps this member out now (a lapsed one does not)."""
    return bool(ctx.db.exec(select(active_ban_clause(community.id, account.id, utcnow()))).one())


def set_modlog_names(ctx: Ctx, moderator: Account, community: Community, on: bool) -> Community:
    """Whether the public moderation log names the acting moderator (else only the role)."""
    require_role(ctx, moderator, community, "moderator")
    community.modlog_names = bool(on)
    ctx.db.add(community)
    return community


def join(ctx: Ctx, account: Account, community: Community) -> Membership:
    """Join an open community at once, or ask to join one that needs approval.
    Joining again is harmless and returns the existing membership. A banned member
    can't join (a ban also ended their membership, so they can't post or reply)."""
    hold(ctx.db, f"membership:{community.id}:{account.id}")  # joining twice at once
    existing = membership(ctx, account, community)
    if existing is not None:
        return existing
    if is_banned(ctx, account, community):
        raise Forbidden(
            f"You are banned from “{community.display_title}”.", code="banned_from_community"
        )
    state = "active" if community.join_policy == "open" else "pending"
    m = Membership(community_id=community.id, account_id=account.id, state=state)
    ctx.db.add(m)
    ctx.db.flush()
    if state == "pending":
        events.emit(ctx, "membership.requested", membership=m)
    return m


def is_only_admin(ctx: Ctx, account: Account | None, community: Community) -> bool:
    """Would the community be left without an admin if this member went?"""
    m = membership(ctx, account, community)
    return (
        m is not None
        and m.state == "active"
        and m.role == "admin"
        and _admin_count(ctx, community) == 1
    )


def leave(ctx: Ctx, account: Account, community: Community) -> None:
    """Leave a community. Its only admin must first hand over (make another member
    admin) or dissolve it on purpose: a community is never left without an admin,
    not even an empty one."""
    m = membership(ctx, account, community)
    if m is None:
        raise NotFound("You are not a member of this community.", code="not_a_member")
    if is_only_admin(ctx, account, community):
        raise Conflict(
            f"You are the only admin of “{community.display_title}”: make another member "
            "admin before you leave, or dissolve the community.",
            code="last_admin",
        )
    ctx.db.delete(m)


def dissolve(ctx: Ctx, admin: Account, community: Community) -> None:
    """End a community on purpose: it is deleted with everything in it (threads,
    artifacts, decisions, memberships, follows). Only its admins (and instance
    admins) may; pages ask for confirmation first, API callers ask explicitly."""
    require_role(ctx, admin, community, "admin")
    events.emit(ctx, "community.dissolving", community=community)
    ctx.db.delete(community)
    ctx.db.flush()


def _target_membership(ctx: Ctx, community: Community, username: str) -> Membership:
    target = ctx.db.exec(
        select(Membership)
        .join(Account, col(Account.id) == col(Membership.account_id))
        .where(col(Membership.community_id) == community.id, *_handle_clause(username))
    ).first()
    if target is None:
        raise NotFound(f"“{username}” has not joined or asked to join.", code="not_a_member")
    return target


def _handle_clause(handle: str) -> tuple:
    """``name`` for a local member, ``name@domain`` for a remote one."""
    name, _, domain = (handle or "").lstrip("@").partition("@")
    return col(Account.username_key) == name.lower(), col(Account.domain) == domain.lower()


def approve(ctx: Ctx, moderator: Account, community: Community, username: str) -> Membership:
    require_role(ctx, moderator, community, "moderator")
    m = _target_membership(ctx, community, username)
    if m.state != "active":
        m.state = "active"
        ctx.db.add(m)
        events.emit(ctx, "membership.approved", membership=m)
    return m


def remove(ctx: Ctx, moderator: Account, community: Community, username: str) -> None:
    """Remove a member (or reject a join request). Moderators remove members;
    only admins remove moderators and admins."""
    require_role(ctx, moderator, community, "moderator")
    m = _target_membership(ctx, community, username)
    if m.role != "member":
        require_role(ctx, moderator, community, "admin")
        if m.role == "admin" and _admin_count(ctx, community) == 1:
            raise Conflict("A community needs at least one admin.", code="last_admin")
    ctx.db.delete(m)


def set_role(
    ctx: Ctx, admin: Account, community: Community, username: str, role: str
) -> Membership:
    require_role(ctx, admin, community, "admin")
    if role not in ROLES:
        raise Invalid("Role must be member, moderator or admin.", code="invalid_role")
    m = _target_membership(ctx, community, username)
    if m.state != "active":
        raise Conflict("Approve the member before giving them a role.", code="not_active")
    if m.role == "admin" and role != "admin" and _admin_count(ctx, community) == 1:
        raise Conflict("A community needs at least one admin.", code="last_admin")
    m.role = role
    ctx.db.add(m)
    return m


def _admin_count(ctx: Ctx, community: Community) -> int:
    return ctx.db.exec(
        select(func.count())
        .select_from(Membership)
        .where(
            col(Membership.community_id) == community.id,
            col(Membership.role) == "admin",
            col(Membership.state) == "active",
        )
    ).one()


def member_count(ctx: Ctx, community: Community) -> int:
    return ctx.db.exec(
        select(func.count())
        .select_from(Membership)
        .where(col(Membership.community_id) == community.id, col(Membership.state) == "active")
    ).one()


def members(
    ctx: Ctx, community: Community, *, state: str = "active"
) -> list[tuple[Membership, Account]]:
    return list(
        ctx.db.exec(
            select(Membership, Account)
            .join(Account, col(Account.id) == col(Membership.account_id))
            .where(col(Membership.community_id) == community.id, col(Membership.state) == state)
            .order_by(col(Account.username_key))
        )
    )


def list_all(ctx: Ctx, *, after: str | None = None, limit: int = 50) -> list[tuple[Community, int]]:
    """Local communities by name, with active member counts, keyset-paginated by name."""
    counts = (
        select(col(Membership.community_id), func.count().label("n"))
        .where(col(Membership.state) == "active")
        .group_by(col(Membership.community_id))
        .subquery()
    )
    q = (
        select(Community, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.community_id == col(Community.id))
        .where(col(Community.domain) == "")
        .order_by(col(Community.name_key))
        .limit(limit)
    )
    if after:
        q = q.where(col(Community.name_key) > after)
    return [(c, int(n)) for c, n in ctx.db.exec(q)]


def of_member(ctx: Ctx, account: Account) -> list[tuple[Community, Membership]]:
    return list(
        ctx.db.exec(
            select(Community, Membership)
            .join(Membership, col(Membership.community_id) == col(Community.id))
            .where(col(Membership.account_id) == account.id)
            .order_by(col(Community.name_key))
        )
    )
