"""Following members and communities."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.api.auth import Reader, Writer
from app.api.schemas import BoundedJSONRoute, FollowCreate, FollowOut
from app.deps import CtxDep
from app.models import Account
from app.services import follows
from app.web.lookup import remote_lookup

router = APIRouter(tags=["follows"], route_class=BoundedJSONRoute)


async def look_up_target(request: Request, body: FollowCreate) -> None:
    """Before the transaction: fetch a remote target we have not met yet."""
    await remote_lookup(request, body.target)


@router.post(
    "/follows", status_code=201, response_model=FollowOut, dependencies=[Depends(look_up_target)]
)
def follow(body: FollowCreate, ctx: CtxDep, account: Writer, response: Response) -> FollowOut:
    """Follow ``name``, ``name@domain`` or an actor URL (member or community), here or
    on another instance. A remote follow is ``pending`` (202) until the other side accepts."""
    target = follows.resolve_target(ctx, body.target)
    f = follows.follow(ctx, account, target)
    kind = "account" if isinstance(target, Account) else "community"
    if f.state == "pending":
        response.status_code = 202
    return FollowOut(target=target.uri, kind=kind, state=f.state)


@router.delete("/follows", status_code=204)
def unfollow(
    ctx: CtxDep, account: Writer, target: Annotated[str, Query(min_length=1, max_length=2048)]
) -> Response:
    follows.unfollow(ctx, account, follows.resolve_target(ctx, target))
    return Response(status_code=204)


@router.get("/me/following", response_model=list[FollowOut])
def following(ctx: CtxDep, account: Reader) -> list[FollowOut]:
    people, groups = follows.following(ctx, account)
    return [FollowOut(target=p.uri, kind="account", state="accepted") for p in people] + [
        FollowOut(target=g.uri, kind="community", state="accepted") for g in groups
    ]
