"""Blocking members (here or elsewhere)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from app.api.auth import Reader, Writer
from app.api.follows import look_up_target
from app.api.schemas import BoundedJSONRoute, FollowCreate
from app.deps import CtxDep
from app.services import blocks, follows

router = APIRouter(tags=["blocks"], route_class=BoundedJSONRoute)


class BlockOut(BaseModel):
    target: str
    handle: str | None
    created_at: datetime


@router.post(
    "/blocks", status_code=201, response_model=BlockOut, dependencies=[Depends(look_up_target)]
)
def block(body: FollowCreate, ctx: CtxDep, account: Writer) -> BlockOut:
    """Block ``name``, ``name@domain`` or an actor URL: follows between you end, their
    posts leave your feeds and threads, and nothing of yours is delivered to them."""
    target = follows.resolve_target(ctx, body.target)
    row = blocks.block(ctx, account, target)
    return BlockOut(
        target=row.target_uri, handle=blocks.handle_of(ctx, target), created_at=row.created_at
    )


@router.delete("/blocks", status_code=204)
def unblock(
    ctx: CtxDep, account: Writer, target: Annotated[str, Query(min_length=1, max_length=2048)]
) -> Response:
    """Undo a block; ``target`` as when blocking, or the actor URI listed."""
    uri = target if target.startswith(("http://", "https://")) else None
    blocks.unblock(ctx, account, uri or follows.resolve_target(ctx, target).uri)
    return Response(status_code=204)


@router.get("/blocks", response_model=list[BlockOut])
def listing(ctx: CtxDep, account: Reader) -> list[BlockOut]:
    return [
        BlockOut(
            target=row.target_uri,
            handle=blocks.handle_of(ctx, actor),
            created_at=row.created_at,
        )
        for row, actor in blocks.listing(ctx, account)
    ]
