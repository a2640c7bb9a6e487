"""Uploads processed in the background, and what a member may change on an upload
before it is on a post (its alt text and focal point).

Mastodon's v2 upload answers before a large file is processed (202, ``url:
null``) and apps poll until it is. Here :func:`receive` does the cheap checks
at once (empty, too many bytes or pixels, not an image, over quota: refused with
nothing stored), keeps the bytes as they came in ``media_uploads`` next to a
``processing`` row, and queues ``media.process`` in the same transaction: the
upload and its job exist together or not at all. The job runs
:func:`app.services.media.process` (the one cleaning every image gets) outside
any transaction, then records the result; a file that turns out bad inside
leaves the row ``failed`` with the reason in words (and its bytes kept), and a
job that keeps crashing does the same once its attempts are used up, so an upload
is never silently lost. Small files are processed in the request, as Mastodon
does for every image (``CG_MEDIA_PROCESS_INLINE_BYTES``).
"""

from __future__ import annotations

import asyncio
import math

from sqlalchemy import delete
from sqlmodel import Session, col

from app.db import hold
from app.errors import DomainError, Invalid, NotFound
from app.infra import jobs, ratelimit, storage
from app.models import Account, MediaFile, MediaUpload, get_row
from app.services import Ctx, media

PROCESS = "media.process"
ATTEMPTS = 3
CRASHED = "the server failed while processing it; please upload it again."


def parse_focus(value: str | None) -> tuple[float, float] | None:
    """Mastodon's ``focus``: ``"x,y"``, each from -1.0 to 1.0 (None: not given)."""
    if value is None or not value.strip():
        return None
    parts = value.split(",")
    try:
        x, y = (float(p) for p in parts) if len(parts) == 2 else (math.nan, math.nan)
    except ValueError:
        x = y = math.nan
    if not (-1.0 <= x <= 1.0 and -1.0 <= y <= 1.0):  # also NaN, which compares false
        raise Invalid(
            "The focus is two numbers from -1.0 to 1.0, as “x,y” (“0,0” is the middle).",
            code="invalid_focus",
        )
    return x, y


def _set_focus(row: MediaFile, focus: tuple[float, float] | None) -> None:
    if focus is not None:
        row.focus_x, row.focus_y = focus


def receive(
    ctx: Ctx,
    owner: Account,
    data: bytes,
    description: str | None = "",
    *,
    focus: str | None = None,
    client: str | None = None,
    later: bool = True,
) -> MediaFile:
    """A member's upload for a post: processed now (``later`` false, or a file of at
    most ``media_process_inline_bytes``), or checked, kept and queued for the job."""
    description = media.alt_text(description)
    point = parse_focus(focus)
    if not later or len(data) <= ctx.settings.media_process_inline_bytes:
        row = media.upload(ctx, owner, data, description, client=client)
        _set_focus(row, point)
        ctx.db.add(row)
        return row
    ratelimit.limit(ctx, "media", account=owner.id, client=client)
    media_type = media.peek(ctx.settings, data)
    hold(ctx.db, f"media-quota:{owner.id}")
    media.check_quota(ctx, owner, len(data))  # the raw bytes count until processed
    row = MediaFile(
        account_id=owner.id,
        media_type=media_type,
        file_key="",
        preview_key="",
        size=len(data),
        description=description,
        state="processing",
    )
    _set_focus(row, point)
    ctx.db.add(row)
    ctx.db.flush()
    ctx.db.add(MediaUpload(media_id=row.id, data=data))
    jobs.enqueue(ctx, PROCESS, {"media_id": row.id}, max_attempts=ATTEMPTS)
    return row


def own_upload(ctx: Ctx, owner: Account, media_id: int) -> MediaFile:
    """One of the member's uploads for posts; anyone else's is not found."""
    row = get_row(ctx.db, MediaFile, media_id)
    if row is None or row.account_id != owner.id or row.purpose != "attachment":
        raise NotFound("No such upload.", code="media_not_found")
    return row


def describe(
    ctx: Ctx,
    owner: Account,
    media_id: int,
    *,
    description: str | None = None,
    focus: str | None = None,
) -> MediaFile:
    """Change an upload's alt text or focal point (None: unchanged), until it is on
    a post or artifact (then its post is what is edited)."""
    row = own_upload(ctx, owner, media_id)
    if row.post_id is not None or row.artifact_id is not None:
        raise Invalid(
            "That image is already on a post; its description can no longer be changed here.",
            code="media_in_use",
        )
    if description is not None:
        row.description = media.alt_text(description)
    _set_focus(row, parse_focus(focus))
    ctx.db.add(row)
    return row


# --- the job ------------------------------------------------------------------


def _waiting(ctx: Ctx, media_id: int) -> bytes | None:
    row = get_row(ctx.db, MediaFile, media_id)
    raw = ctx.db.get(MediaUpload, media_id)
    if row is None or raw is None or row.state != "processing":
        return None  # deleted meanwhile, or done by an earlier attempt
    return raw.data


def _fail(db: Session, media_id: int, reason: str) -> None:
    row = db.get(MediaFile, media_id)
    if row is not None and row.state == "processing":
        row.state, row.error = "failed", reason
        db.add(row)


def _record(ctx: Ctx, media_id: int, done: media.Processed, keys: tuple[str, str]) -> None:
    """Put the processed file on its row; if the row went meanwhile, or the file
    takes the member past their quota, the files go (the latter says so)."""
    row = get_row(ctx.db, MediaFile, media_id)
    if row is None or row.state != "processing":
        media.delete_stored(ctx, list(keys))
        return
    hold(ctx.db, f"media-quota:{row.account_id}")
    owner = ctx.db.get(Account, row.account_id)
    try:
        if owner is not None:
            media.check_quota(ctx, owner, done.size - row.size)
    except DomainError as exc:
        media.delete_stored(ctx, list(keys))
        _fail(ctx.db, media_id, str(exc.detail))
        return
    row.media_type, row.file_key, row.preview_key = done.media_type, *keys
    row.size, row.width, row.height = done.size, done.width, done.height
    row.blurhash, row.state, row.error = done.blurhash, "ready", ""
    ctx.db.add(row)
    ctx.db.execute(delete(MediaUpload).where(col(MediaUpload.media_id) == media_id))


@jobs.handler(PROCESS)
async def process_upload(job: jobs.JobContext, payload: dict) -> None:
    """Process a kept upload: read it (one short transaction), clean it and write
    its files (none open), record the result (another)."""
    media_id = payload.get("media_id")
    if not isinstance(media_id, int):
        raise jobs.PermanentError("media.process needs a media_id")
    data = await job.run_db(lambda ctx: _waiting(ctx, media_id))
    if data is None:
        return
    try:
        done = await asyncio.to_thread(media.process_for, job.settings, data)
    except DomainError as exc:  # the file itself: retrying cannot help
        reason = str(exc.detail)
        await job.run_db(lambda ctx: _fail(ctx.db, media_id, reason))
        return
    keys = await asyncio.to_thread(media.store, job.settings, done)
    try:
        await job.run_db(lambda ctx: _record(ctx, media_id, done, keys))
    except BaseException:
        await asyncio.to_thread(_delete_files, job, keys)
        raise


def _delete_files(job: jobs.JobContext, keys: tuple[str, str]) -> None:
    files = storage.storage_for(job.settings)
    for key in keys:
        files.delete(key)


@jobs.on_dead(PROCESS)
def _crashed(db: Session, payload: dict, error: str) -> None:
    """Attempts used up (the handler kept failing, or its worker died): the upload
    says it failed, instead of waiting for ever."""
    media_id = payload.get("media_id")
    if isinstance(media_id, int):
        _fail(db, media_id, CRASHED)
