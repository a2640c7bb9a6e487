"""The signed-in member's own data: exports (archives), imports of Mastodon CSVs,
and deleting the account (docs/accounts.md)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Path, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from app.api.auth import Reader, Writer
from app.api.media import read_upload
from app.api.schemas import MAX_ID, Body, BoundedJSONRoute, CleanStr
from app.deps import CtxDep
from app.models import AccountExport
from app.services import Ctx, account_deletion, account_export, account_import
from app.services.accounts import MAX_PASSWORD

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


def export_out(ctx: Ctx, export: AccountExport) -> ExportOut:
    state = account_export.state_of(export)
    url = f"{ctx.base_url}/api/v1/me/exports/{export.id}/download" if state == "ready" else None
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
