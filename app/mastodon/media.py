"""Media in the Mastodon client API: upload (v2: processed later when large, 202;
v1: processed in the request, 200), poll (206 while processing), and the alt
text and focal point of an upload not yet on a status. The rules are
app/services/media.py's and app/services/media_processing.py's; here are
Mastodon's names, shapes and status codes. See docs/mastodon-api.md ("Media")."""

from __future__ import annotations

from typing import Any

from anyio.to_thread import run_sync
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from app.api.auth import Writer
from app.deps import CtxDep, client_ip
from app.errors import Invalid, NotFound
from app.mastodon import entities, ids, params
from app.models import MAX_ID, Account, MediaFile
from app.services import Ctx, media_processing
from app.services.views import media_view

router = APIRouter()

Json = dict[str, Any]
NO_FILE = "Choose an image to upload: send it as the form field “file”."


class UploadParams(params.Params):
    """``thumbnail`` (for audio and video) is read and ignored: uploads are images."""

    description: params.Text | None = Field(default=None, max_length=10_000)
    focus: params.Text | None = Field(default=None, max_length=100)


def entity(ctx: Ctx, row: MediaFile) -> Json:
    return entities.media_attachment(ctx, media_view(ctx, row), ready=row.state == "ready")


def _answer(ctx: Ctx, row: MediaFile, done: int, waiting: int) -> JSONResponse:
    """The entity with ``done`` once processed, ``waiting`` before; a failed
    upload is Mastodon's 422, with why."""
    if row.state == "failed":
        raise Invalid(f"This image could not be processed: {row.error}", code="media_failed")
    return JSONResponse(entity(ctx, row), status_code=waiting if row.state != "ready" else done)


async def _upload(request: Request, ctx: Ctx, owner: Account, later: bool) -> JSONResponse:
    values = await params.read(request)
    sent = params.file(values, "file")
    params.file(values, "thumbnail")  # not used for images
    given = params.parse(UploadParams, values)
    if sent is None:
        raise Invalid(NO_FILE, code="file_missing")
    data = await sent.read(ctx.settings.media_max_bytes + 1)  # one past: refused in words
    client = client_ip(request)

    def work() -> JSONResponse:
        row = media_processing.receive(
            ctx, owner, data, given.description, focus=given.focus, client=client, later=later
        )
        return _answer(ctx, row, 200, 202)

    return await run_sync(work)


@router.post("/api/v2/media")
async def upload(request: Request, ctx: CtxDep, owner: Writer) -> JSONResponse:
    """200 when processed in the request (small images, as Mastodon does), 202 with
    ``url: null`` when left to the job: then poll GET /api/v1/media/:id."""
    return await _upload(request, ctx, owner, later=True)


@router.post("/api/v1/media")
async def upload_v1(request: Request, ctx: CtxDep, owner: Writer) -> JSONResponse:
    """The old upload: always processed before answering (200)."""
    return await _upload(request, ctx, owner, later=False)


def _media_id(value: str) -> int:
    n = ids.number(value)
    if n is None or n > MAX_ID:
        raise NotFound("No such upload.", code="media_not_found")
    return n


@router.get("/api/v1/media/{media_id}")
def get_media(media_id: str, ctx: CtxDep, owner: Writer) -> JSONResponse:
    """206 while processing, 200 once done; only the member's own uploads."""
    row = media_processing.own_upload(ctx, owner, _media_id(media_id))
    return _answer(ctx, row, 200, 206)


class DescribeParams(params.Params):
    description: params.Text | None = Field(default=None, max_length=10_000)
    focus: params.Text | None = Field(default=None, max_length=100)


@router.put("/api/v1/media/{media_id}")
async def update_media(media_id: str, request: Request, ctx: CtxDep, owner: Writer) -> JSONResponse:
    """Alt text and focal point, until the upload is on a status (then 422)."""
    values = await params.read(request)
    params.file(values, "thumbnail")
    given = params.parse(DescribeParams, values)
    number = _media_id(media_id)

    def work() -> JSONResponse:
        row = media_processing.describe(
            ctx, owner, number, description=given.description, focus=given.focus
        )
        return _answer(ctx, row, 200, 206)

    return await run_sync(work)
