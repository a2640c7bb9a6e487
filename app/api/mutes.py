"""Muting members, remote domains, threads and hashtags (nothing federates)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from app.api.auth import Reader, Writer
from app.api.schemas import BoundedJSONRoute, CleanStr
from app.deps import CtxDep
from app.services import mutes
from app.web.lookup import remote_lookup

router = APIRouter(tags=["mutes"], route_class=BoundedJSONRoute)


class MuteCreate(BaseModel):
    target: CleanStr = Field(max_length=2048)
    duration_seconds: int | None = Field(default=None, ge=1, le=mutes.MAX_DURATION)


class MuteOut(BaseModel):
    target: str  # as it is named to unmute: name@domain, domain:…, thread:…, tag:…
    kind: str
    expires_at: datetime | None
    created_at: datetime


async def look_up_mute_target(request: Request, body: MuteCreate) -> None:
    """Before the transaction: fetch a remote member we have not met yet."""
    if mutes.names_an_actor(body.target):
        await remote_lookup(request, body.target)


@router.post(
    "/mutes", status_code=201, response_model=MuteOut, dependencies=[Depends(look_up_mute_target)]
)
def mute(body: MuteCreate, ctx: CtxDep, account: Writer) -> MuteOut:
    """Mute ``@name``, ``name@domain``, ``domain:example.org``, ``thread:<post id>`` or
    ``tag:<tag>``, for ``duration_seconds`` or until unmuted: it leaves your feeds,
    notifications and search results. Nobody is told."""
    row = mutes.mute(ctx, account, mutes.parse(ctx, body.target), body.duration_seconds)
    named = dict((m.id, text) for m, text in mutes.listing(ctx, account))
    return MuteOut(
        target=named.get(row.id, row.target),
        kind=row.kind,
        expires_at=row.expires_at,
        created_at=row.created_at,
    )


@router.delete("/mutes", status_code=204)
def unmute(
    ctx: CtxDep, account: Writer, target: Annotated[str, Query(min_length=1, max_length=2048)]
) -> Response:
    """Undo a mute; ``target`` as when muting, or as listed."""
    mutes.unmute(ctx, account, mutes.parse(ctx, target))
    return Response(status_code=204)


@router.get("/mutes", response_model=list[MuteOut])
def listing(ctx: CtxDep, account: Reader) -> list[MuteOut]:
    """Your mutes still in force, newest first."""
    return [
        MuteOut(target=text, kind=row.kind, expires_at=row.expires_at, created_at=row.created_at)
        for row, text in mutes.listing(ctx, account)
    ]
