"""Uploading media: an image with its alt text, to put on a post or a profile."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Request, UploadFile

from app.api.auth import Writer
from app.api.schemas import CleanStr, MediaOut
from app.deps import CtxDep, client_ip
from app.services import media
from app.services.views import media_view

router = APIRouter(tags=["media"])


def read_upload(file: UploadFile, limit: int) -> bytes:
    """The uploaded bytes, at most one past ``limit`` (the service refuses it in words)."""
    return file.file.read(limit + 1)


@router.post("/media", status_code=201, response_model=MediaOut)
def upload(
    ctx: CtxDep,
    account: Writer,
    request: Request,
    file: Annotated[UploadFile, File()],
    description: Annotated[CleanStr, Form(max_length=media.MAX_ALT_TEXT)] = "",
) -> MediaOut:
    """An image (JPEG, PNG, GIF or WebP, told by its content), stripped of its
    metadata, resized and previewed; then ``POST /posts`` with ``media: [id]``.
    ``description`` is its alt text, shown to those who can't see it."""
    data = read_upload(file, ctx.settings.media_max_bytes)
    row = media.upload(ctx, account, data, description, client=client_ip(request))
    return MediaOut.model_validate(media_view(ctx, row), from_attributes=True)


@router.post("/me/{which}", status_code=201, response_model=MediaOut)
def profile_image(
    which: Annotated[str, Path(pattern=r"^(avatar|header)$")],
    ctx: CtxDep,
    account: Writer,
    request: Request,
    file: Annotated[UploadFile, File()],
    description: Annotated[CleanStr, Form(max_length=media.MAX_ALT_TEXT)] = "",
) -> MediaOut:
    """Your avatar or header image, with its alt text; it replaces the previous one."""
    data = read_upload(file, ctx.settings.media_max_bytes)
    row = media.set_profile_image(ctx, account, which, data, description, client=client_ip(request))
    return MediaOut.model_validate(media_view(ctx, row), from_attributes=True)
