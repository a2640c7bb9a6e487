"""The signed-in member's own data: exports (archives), imports of Mastodon CSVs,
deleting the account, and moving it (docs/accounts.md)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from app.api.auth import Reader, Writer
from app.api.media import read_upload
from app.api.schemas import MAX_ID, Body, BoundedJSONRoute, CleanStr
from app.deps import CtxDep
from app.errors import Invalid, NotFound
from app.models import Account, AccountExport
from app.services import (
    Ctx,
    account_deletion,
    account_export,
    account_import,
    account_move,
    follows,
)
from app.services.accounts import MAX_PASSWORD
from app.web.lookup import remote_lookup
from federation.fetcher import FetchError
from federation.lifecycle import fetch_actor_afresh
from federation.remote import InvalidActor

router = APIRouter(tags=["your data"], route_class=BoundedJSONRoute)
ExportId = Annotated[int, Path(ge=1, le=MAX_ID)]


class ExportOut(BaseModel):
    id: int
    state: str  # queued | ready | failed | expired
    size: int
    created_at: datetime
    ready_at: datetime | None
    expires_at: datetime | None
    download_url: str | None


class ImportLineError(BaseModel):
    line: int
    error: str


class ImportOut(BaseModel):
    applied: list[str]
    queued: list[str]
    errors: list[ImportLineError]


class DeletionRequest(Body):
    password: CleanStr = Field(max_length=MAX_PASSWORD)


class DeletionOut(BaseModel):
    deletion_due_at: datetime | None


Target = Annotated[CleanStr, Field(min_length=1, max_length=2048)]


class AliasesIn(Body):
    aliases: list[Target] = Field(max_length=account_move.MAX_ALIASES)


class AliasesOut(BaseModel):
    aliases: list[str]
    moved_to: str | None


class MoveIn(Body):
    target: Target


def export_out(ctx: Ctx, export: AccountExport) -> ExportOut:
    state = account_export.state_of(export)
    url = f"{ctx.base_url}/api/cg/v1/me/exports/{export.id}/download" if state == "ready" else None
    return ExportOut(
        id=export.id,
        state=state,
        size=export.size,
        created_at=export.created_at,
        ready_at=export.ready_at,
        expires_at=export.expires_at,
        download_url=url,
    )


@router.post("/me/export", status_code=202, response_model=ExportOut)
def request_export(ctx: CtxDep, account: Writer) -> ExportOut:
    """Ask for an archive of your data; a job builds it (see ``GET /me/exports``)."""
    return export_out(ctx, account_export.request(ctx, account))


@router.get("/me/exports", response_model=list[ExportOut])
def list_exports(ctx: CtxDep, account: Reader) -> list[ExportOut]:
    return [export_out(ctx, e) for e in account_export.listing(ctx, account)]


@router.get(
    "/me/exports/{export_id}/download",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}}, 410: {"description": "expired"}},
)
def download_export(export_id: ExportId, ctx: CtxDep, account: Reader) -> FileResponse:
    """The zip, for its owner only, until it expires."""
    return export_file(account_export.archive(ctx, account, export_id))


def export_file(path: FilePath) -> FileResponse:
    return FileResponse(path, media_type="application/zip", filename="commonground-export.zip")


@router.post("/me/import", response_model=ImportOut)
def import_csv(
    ctx: CtxDep,
    account: Writer,
    type: Annotated[Literal["following", "blocks", "mutes"], Form()],
    file: Annotated[UploadFile, File()],
) -> ImportOut:
    """A Mastodon CSV of accounts to follow, block or mute. Bad lines are listed
    and skipped; remote accounts not known yet are looked up by a job (``queued``)."""
    data = read_upload(file, ctx.settings.import_max_bytes)
    outcome = account_import.run(ctx, account, type, data)
    return ImportOut(
        applied=outcome.applied,
        queued=outcome.queued,
        errors=[ImportLineError(line=n, error=e) for n, e in outcome.errors],
    )


@router.delete("/me", status_code=202, response_model=DeletionOut)
def delete_me(body: DeletionRequest, ctx: CtxDep, account: Writer) -> DeletionOut:
    """Delete your account after the grace period (``CG_DELETION_GRACE_HOURS``);
    until then ``POST /me/deletion/cancel`` keeps it."""
    return DeletionOut(deletion_due_at=account_deletion.request(ctx, account, body.password))


@router.post("/me/deletion/cancel", response_model=DeletionOut)
def cancel_deletion(ctx: CtxDep, account: Writer) -> DeletionOut:
    account_deletion.cancel(ctx, account)
    return DeletionOut(deletion_due_at=None)


async def look_up_aliases(request: Request, body: AliasesIn) -> None:
    """Before the transaction: make each named account known here."""
    for alias in body.aliases:
        await remote_lookup(request, alias)


async def fetch_move_target(request: Request, body: MoveIn) -> None:
    """Before the transaction: read the target afresh from its server."""
    try:
        await fetch_actor_afresh(request.app.state.engine, request.app.state.settings, body.target)
    except (FetchError, InvalidActor) as exc:
        raise NotFound(f"Could not find “{body.target[:200]}”.", code="target_not_found") from exc


def _account(ctx: Ctx, target: str) -> Account:
    found = follows.resolve_target(ctx, target)
    if not isinstance(found, Account):
        raise Invalid("Only an account can be an alias or a move's target.", code="not_an_account")
    return found


@router.get("/me/aliases", response_model=AliasesOut)
def get_aliases(account: Reader) -> AliasesOut:
    return AliasesOut(aliases=account_move.aliases_of(account), moved_to=account.moved_to_uri)


@router.put("/me/aliases", response_model=AliasesOut, dependencies=[Depends(look_up_aliases)])
def put_aliases(body: AliasesIn, ctx: CtxDep, account: Writer) -> AliasesOut:
    """Name the other accounts you hold (``alsoKnownAs``), so one of them can move
    here: Mastodon moves an account only to one that names it this way."""
    targets = [_account(ctx, alias) for alias in body.aliases]
    return AliasesOut(
        aliases=account_move.set_aliases(ctx, account, targets), moved_to=account.moved_to_uri
    )


@router.post("/me/move", response_model=AliasesOut, dependencies=[Depends(fetch_move_target)])
def move(body: MoveIn, ctx: CtxDep, account: Writer) -> AliasesOut:
    """Move to ``target`` (a handle or an actor URL), which must list this account
    among its aliases: followers are sent a ``Move`` and follow it there."""
    account_move.move(ctx, account, _account(ctx, body.target))
    return AliasesOut(aliases=account_move.aliases_of(account), moved_to=account.moved_to_uri)
