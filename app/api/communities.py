"""Communities, membership and roles."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from app.api.auth import MaybeAccount, Reader, Writer
from app.api.schemas import (
    BoundedJSONRoute,
    CommunityCreate,
    CommunityOut,
    CommunityPage,
    CommunityUpdate,
    FeedOut,
    MembershipOut,
    RoleUpdate,
)
from app.deps import CtxDep
from app.errors import Forbidden
from app.models import Account, Community, Membership
from app.services import Ctx, communities
from app.services.ranking import feeds

router = APIRouter(prefix="/communities", tags=["communities"], route_class=BoundedJSONRoute)
Name = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Username = Annotated[
    str, Path(max_length=300, pattern=r"^[A-Za-z0-9_.-]+(@[A-Za-z0-9.:\[\]-]+)?$")
]  # name, or name@domain for a remote member


def community_out(ctx: Ctx, c: Community, members: int | None = None) -> CommunityOut:
    return CommunityOut(
        name=c.name,
        title=c.display_title,
        description=c.description,
        charter=c.charter,
        charter_html=c.charter_html,
        join_policy=c.join_policy,
        url=f"{ctx.base_url}/c/{c.name}",
        uri=c.uri,
        members=communities.member_count(ctx, c) if members is None else members,
        created_at=c.created_at,
    )


def membership_out(c: Community, a: Account, m: Membership) -> MembershipOut:
    handle = a.username if a.is_local else f"{a.username}@{a.domain}"
    return MembershipOut(community=c.name, username=handle, role=m.role, state=m.state)


@router.get("", response_model=CommunityPage)
def list_communities(
    ctx: CtxDep,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> CommunityPage:
    """Communities on this instance by name. ``next_cursor`` is the last name seen."""
    rows = communities.list_all(ctx, after=cursor, limit=limit + 1)
    items = [community_out(ctx, c, n) for c, n in rows[:limit]]
    return CommunityPage(items=items, next_cursor=items[-1].name if len(rows) > limit else None)


@router.post("", status_code=201, response_model=CommunityOut)
def create_community(body: CommunityCreate, ctx: CtxDep, account: Writer) -> CommunityOut:
    c = communities.create(
        ctx,
        account,
        body.name,
        title=body.title,
        description=body.description,
        charter=body.charter,
        join_policy=body.join_policy,
    )
    return community_out(ctx, c, 1)


@router.get("/{name}", response_model=CommunityOut)
def get_community(name: Name, ctx: CtxDep) -> CommunityOut:
    return community_out(ctx, communities.get(ctx, name))


@router.patch("/{name}", response_model=CommunityOut)
def update_community(
    name: Name, body: CommunityUpdate, ctx: CtxDep, account: Writer
) -> CommunityOut:
    c = communities.update(
        ctx,
        account,
        communities.get(ctx, name),
        title=body.title,
        description=body.description,
        charter=body.charter,
        join_policy=body.join_policy,
    )
    return community_out(ctx, c)


@router.get("/{name}/feed", response_model=FeedOut)
def community_feed(
    name: Name,
    ctx: CtxDep,
    viewer: MaybeAccount,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=feeds.MAX_LIMIT)] = 20,
) -> FeedOut:
    c = communities.get(ctx, name)
    return FeedOut.of(feeds.community(ctx, c, viewer, cursor=cursor, limit=limit))


@router.delete("/{name}", status_code=204)
def dissolve_community(name: Name, ctx: CtxDep, account: Writer) -> Response:
    """Dissolve the community: it is deleted with everything in it (its admins only)."""
    communities.dissolve(ctx, account, communities.get(ctx, name))
    return Response(status_code=204)


@router.post("/{name}/join", response_model=MembershipOut)
def join(name: Name, ctx: CtxDep, account: Writer) -> MembershipOut:
    """Join an open community, or ask to join one that needs approval (state ``pending``)."""
    c = communities.get(ctx, name)
    return membership_out(c, account, communities.join(ctx, account, c))


@router.post("/{name}/leave", status_code=204)
def leave(name: Name, ctx: CtxDep, account: Writer) -> Response:
    communities.leave(ctx, account, communities.get(ctx, name))
    return Response(status_code=204)


@router.get("/{name}/members", response_model=list[MembershipOut])
def members(
    name: Name,
    ctx: CtxDep,
    account: Reader,
    state: Literal["active", "pending"] = "active",
) -> list[MembershipOut]:
    c = communities.get(ctx, name)
    if state == "pending" and not communities.can_moderate(ctx, account, c):
        raise Forbidden("Only moderators see join requests.", code="insufficient_role")
    return [membership_out(c, a, m) for m, a in communities.members(ctx, c, state=state)]


@router.post("/{name}/members/{username}/approve", response_model=MembershipOut)
def approve(name: Name, username: Username, ctx: CtxDep, account: Writer) -> MembershipOut:
    c = communities.get(ctx, name)
    m = communities.approve(ctx, account, c, username)
    return MembershipOut(community=c.name, username=username, role=m.role, state=m.state)


@router.delete("/{name}/members/{username}", status_code=204)
def remove(name: Name, username: Username, ctx: CtxDep, account: Writer) -> Response:
    communities.remove(ctx, account, communities.get(ctx, name), username)
    return Response(status_code=204)


@router.put("/{name}/members/{username}/role", response_model=MembershipOut)
def set_role(
    name: Name, username: Username, body: RoleUpdate, ctx: CtxDep, account: Writer
) -> MembershipOut:
    c = communities.get(ctx, name)
    m = communities.set_role(ctx, account, c, username, body.role)
    return MembershipOut(community=c.name, username=username, role=m.role, state=m.state)
