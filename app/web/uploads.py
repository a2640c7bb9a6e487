"""Image uploads in page forms (the composer, the artifact forms): one file input
and one alt-text field per image, so each description stays with its image, and
a checkbox that marks them sensitive. The images go through ``media.upload``."""

from __future__ import annotations

from typing import Annotated

from fastapi import File, Form, Request, UploadFile

from app.api.media import read_upload
from app.api.schemas import CleanStr
from app.deps import client_ip
from app.models import Account
from app.services import Ctx, media

ALTS = tuple(f"alt{i}" for i in range(1, media.MAX_PER_POST + 1))
ImageField = Annotated[UploadFile | None, File()]
AltField = Annotated[CleanStr, Form(max_length=media.MAX_ALT_TEXT)]


def upload_chosen(
    request: Request,
    ctx: Ctx,
    viewer: Account,
    files: tuple[UploadFile | None, ...],
    alts: tuple[str, ...],
) -> list[int]:
    """Upload the images a form was sent with (empty inputs are skipped); their ids."""
    chosen = [(f, alt) for f, alt in zip(files, alts, strict=True) if f is not None and f.filename]
    return [
        media.upload(
            ctx,
            viewer,
            read_upload(f, ctx.settings.media_max_bytes),
            alt,
            client=client_ip(request),
        ).id
        for f, alt in chosen
    ]
