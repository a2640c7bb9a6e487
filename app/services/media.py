"""Media: images on posts and profiles, each with its alt text.

Every file, uploaded here or fetched from a peer, goes through :func:`process`:
its type is read from its content (never its name or Content-Type), a header
claiming more than ``media_max_pixels`` is refused before a pixel is decoded
(decompression bombs), it is turned upright by its EXIF orientation, re-encoded
without any metadata (EXIF, GPS, XMP, comments), shrunk to ``media_max_side``, and
gets a preview and a blurhash. Re-encoding also drops anything appended to or
hidden in the file (an HTML page after a PNG's end), so what is served is only
pixels. Processing is slow: :func:`upload` does it outside the write lock.

Files are deleted by the ``media.delete_files`` job, queued in the transaction
that deletes their rows (a post, an account), so a rolled-back delete leaves them.

An artifact's images are shared like its text: each revision lists the ones it
shows (``artifact_revision_media``), so an image a revision takes off stays, file
and row, while an older revision shows it (a revert brings it back); artifacts are
not deleted by one member, so neither are their images.

``sensitive`` (Mastodon's flag of a status) folds a post's or artifact's images on
pages; :func:`sensitivity` says what it means next to a content warning.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from datetime import timedelta

import blurhash
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import ColumnElement, delete, func
from sqlmodel import col, select

from app.config import Settings
from app.db import hold, unlocked
from app.errors import Invalid, TooLarge
from app.infra import jobs, ratelimit, storage
from app.models import (
    Account,
    Artifact,
    ArtifactRevision,
    ArtifactRevisionMedia,
    MediaFile,
    Post,
    get_row,
    utcnow,
)
from app.services import Ctx

MAX_ALT_TEXT = 1500
MAX_PER_POST = 4
# what Pillow reads -> what we store it as (GIFs become PNGs: first frame only)
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/png", "WEBP": "image/webp"}
SAVE_AS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
NOT_AN_IMAGE = "That file isn't an image this instance accepts (JPEG, PNG, GIF or WebP)."


@dataclass(frozen=True)
class Processed:
    """An image made safe to serve: the file and its preview, re-encoded."""

    media_type: str
    data: bytes
    preview: bytes
    width: int
    height: int
    blurhash: str

    @property
    def size(self) -> int:
        return len(self.data) + len(self.preview)


def readable_size(n: int) -> str:
    """Bytes in words people read: "3 KB", "1.5 MB"."""
    if n < 1_000_000:
        return f"{max(n, 0) / 1000:.0f} KB"
    if n < 1_000_000_000:
        return f"{n / 1_000_000:.1f} MB"
    return f"{n / 1_000_000_000:.1f} GB"


EMPTY_FILE = "That file is empty; choose an image to upload."


def _opened(data: bytes, *, max_bytes: int, max_pixels: int) -> tuple[Image.Image, str]:
    """The image ``data`` holds, its header read (no pixel decoded yet), and the
    type it is stored as; raises :class:`Invalid` or :class:`TooLarge`."""
    if not data:
        raise Invalid(EMPTY_FILE, code="empty_file")
    if len(data) > max_bytes:
        raise TooLarge(
            f"That file is {readable_size(len(data))}; files are at most "
            f"{readable_size(max_bytes)} here.",
            code="file_too_large",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data), formats=list(FORMATS))
            width, height = opened.size
            media_type = FORMATS[opened.format or ""]
    except (UnidentifiedImageError, KeyError, OSError, SyntaxError, ValueError) as exc:
        raise Invalid(NOT_AN_IMAGE, code="not_an_image") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooLarge(str(exc), code="image_too_large") from exc
    if width * height > max_pixels:
        raise TooLarge(
            f"That image is {width:,}×{height:,} pixels; images of at most "
            f"{max_pixels / 1e6:g} million pixels are accepted.",
            code="image_too_large",
        )
    return opened, media_type


def peek(s: Settings, data: bytes) -> str:
    """The quick look at an upload that is processed later (its header only): the
    type it is stored as, or the refusal :func:`process` would give for its size,
    pixels or kind. A file cut short inside passes, and fails in the job."""
    return _opened(data, max_bytes=s.media_max_bytes, max_pixels=s.media_max_pixels)[1]


def process(
    data: bytes, *, max_bytes: int, max_pixels: int, max_side: int, preview: int
) -> Processed:
    """Check and clean one image file (see the module's docstring); raises
    :class:`Invalid` (not an image we take) or :class:`TooLarge` (bytes, pixels)."""
    opened, media_type = _opened(data, max_bytes=max_bytes, max_pixels=max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened.seek(0)
            opened.load()
            image: Image.Image = ImageOps.exif_transpose(opened)
    except (UnidentifiedImageError, KeyError, OSError, SyntaxError, ValueError) as exc:
        raise Invalid(NOT_AN_IMAGE, code="not_an_image") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooLarge(str(exc), code="image_too_large") from exc
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    image = image.convert("RGBA" if has_alpha and media_type != "image/jpeg" else "RGB")
    image.info = {}  # nothing of the original's metadata is written back
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    small = image.copy()
    small.thumbnail((preview, preview), Image.Resampling.LANCZOS)
    tiny = image.convert("RGB")
    tiny.thumbnail((64, 64))
    with warnings.catch_warnings():  # blurhash-python 1.2.2 reads pixels with getdata()
        warnings.simplefilter("ignore", DeprecationWarning)
        hashed = blurhash.encode(tiny, x_components=4, y_components=3)
    return Processed(
        media_type=media_type,
        data=_encode(image, media_type),
        preview=_encode(small, media_type),
        width=image.width,
        height=image.height,
        blurhash=hashed,
    )


def _encode(image: Image.Image, media_type: str) -> bytes:
    out = io.BytesIO()
    options = {"quality": 85} if media_type in ("image/jpeg", "image/webp") else {}
    image.save(out, SAVE_AS[media_type], **options)
    return out.getvalue()


def process_for(s: Settings, data: bytes, *, max_bytes: int | None = None) -> Processed:
    """:func:`process` with this instance's limits (``max_bytes``: a remote file's)."""
    return process(
        data,
        max_bytes=max_bytes or s.media_max_bytes,
        max_pixels=s.media_max_pixels,
        max_side=s.media_max_side,
        preview=s.media_preview_side,
    )


def alt_text(description: str | None) -> str:
    description = (description or "").strip()
    if len(description) > MAX_ALT_TEXT:
        raise Invalid(
            f"Alt text is at most {MAX_ALT_TEXT:,} characters.", code="description_too_long"
        )
    return description


def store(settings: Settings, processed: Processed) -> tuple[str, str]:
    """Write the file and its preview to the storage; their keys."""
    file_key, preview_key = storage.new_key(processed.media_type)
    files = storage.storage_for(settings)
    files.put(file_key, processed.data)
    files.put(preview_key, processed.preview)
    return file_key, preview_key


def used_bytes(ctx: Ctx, account: Account) -> int:
    """What a member's files take, against their quota (cached remote files are
    counted for nobody)."""
    q = select(func.coalesce(func.sum(col(MediaFile.size)), 0)).where(
        col(MediaFile.account_id) == account.id, col(MediaFile.remote_url).is_(None)
    )
    return int(ctx.db.exec(q).one())


def check_quota(ctx: Ctx, account: Account, adding: int) -> None:
    quota = ctx.settings.media_quota_bytes
    used = used_bytes(ctx, account)
    if used + adding > quota:
        raise TooLarge(
            f"This would take your media past your quota of {readable_size(quota)} "
            f"(you use {readable_size(used)}; this file needs {readable_size(adding)}). "
            "Delete some posts with images to make room.",
            code="media_quota_exceeded",
        )


def upload(
    ctx: Ctx,
    owner: Account,
    data: bytes,
    description: str | None = "",
    *,
    client: str | None = None,
    purpose: str = "attachment",
) -> MediaFile:
    """A member's upload, processed and stored, not yet on any post. Rate-limited
    (``client``: pages and the API) and counted against the member's quota."""
    description = alt_text(description)
    ratelimit.limit(ctx, "media", account=owner.id, client=client)
    check_quota(ctx, owner, min(len(data), ctx.settings.media_max_bytes))  # cheap, early
    with unlocked(ctx.db):  # decoding, resizing and writing files hold no lock
        processed = process_for(ctx.settings, data)
        file_key, preview_key = store(ctx.settings, processed)
    try:
        hold(ctx.db, f"media-quota:{owner.id}")
        check_quota(ctx, owner, processed.size)
        row = MediaFile(
            account_id=owner.id,
            purpose=purpose,
            media_type=processed.media_type,
            file_key=file_key,
            preview_key=preview_key,
            size=processed.size,
            width=processed.width,
            height=processed.height,
            blurhash=processed.blurhash,
            description=description,
        )
        ctx.db.add(row)
        ctx.db.flush()
    except BaseException:
        _delete_now(ctx, [file_key, preview_key])
        raise
    return row


PROFILE_IMAGES = ("avatar", "header")


def set_profile_image(
    ctx: Ctx,
    account: Account,
    which: str,
    data: bytes,
    description: str | None = "",
    *,
    client: str | None = None,
) -> MediaFile:
    """A member's new avatar or header (an upload like any other, with its alt
    text); the one it replaces is deleted with its files."""
    if which not in PROFILE_IMAGES:
        raise Invalid("Profile images are an avatar or a header.", code="invalid_image_kind")
    row = upload(ctx, account, data, description, client=client, purpose=which)
    earlier = ctx.db.exec(
        select(MediaFile).where(
            col(MediaFile.account_id) == account.id,
            col(MediaFile.purpose) == which,
            col(MediaFile.id) != row.id,
        )
    )
    delete_rows(ctx, list(earlier))
    if which == "avatar":
        account.avatar_url = url_of(ctx, row.preview_key)
    else:
        account.header_url = url_of(ctx, row.file_key)
    ctx.db.add(account)
    return row


def profile_image(ctx: Ctx, account: Account, which: str) -> MediaFile | None:
    """A local member's avatar or header, for its alt text and type."""
    q = select(MediaFile).where(
        col(MediaFile.account_id) == account.id, col(MediaFile.purpose) == which
    )
    return ctx.db.exec(q.order_by(col(MediaFile.id).desc())).first()


Owner = Post | Artifact


def _owner_filter(owner: Owner) -> ColumnElement[bool]:
    """The media rows of a post or an artifact."""
    if isinstance(owner, Post):
        return col(MediaFile.post_id) == owner.id
    return col(MediaFile.artifact_id) == owner.id


def cache_remote(
    ctx: Ctx,
    owner: Owner,
    *,
    url: str,
    description: str,
    position: int,
    sensitive: bool,
    processed: Processed,
    keys: tuple[str, str],
) -> MediaFile | None:
    """Record a remote post's or artifact's file, fetched and processed
    (federation/media.py). A post deleted meanwhile, or a file cached twice, keeps
    nothing (the files go)."""
    known = ctx.db.exec(
        select(MediaFile.id).where(_owner_filter(owner), MediaFile.remote_url == url)
    ).first()
    if (isinstance(owner, Post) and owner.is_deleted) or known is not None:
        _delete_now(ctx, list(keys))
        return None
    row = MediaFile(
        account_id=owner.author_id,
        post_id=owner.id if isinstance(owner, Post) else None,
        artifact_id=owner.id if isinstance(owner, Artifact) else None,
        position=position,
        sensitive=sensitive,
        media_type=processed.media_type,
        file_key=keys[0],
        preview_key=keys[1],
        size=processed.size,
        width=processed.width,
        height=processed.height,
        blurhash=processed.blurhash,
        description=description[:MAX_ALT_TEXT],
        remote_url=url,
    )
    ctx.db.add(row)
    ctx.db.flush()
    return row


def forget_remote(ctx: Ctx, owner: Owner, kept: dict[str, bool]) -> None:
    """A remote post or artifact edited: its cached files no longer attached go,
    and those kept take its current ``sensitive`` (``kept``: url -> sensitive)."""
    rows = ctx.db.exec(
        select(MediaFile).where(_owner_filter(owner), col(MediaFile.remote_url).is_not(None))
    )
    gone = []
    for row in rows:
        if row.remote_url not in kept:
            gone.append(row)
        elif row.sensitive != kept[row.remote_url]:
            row.sensitive = kept[row.remote_url]
            ctx.db.add(row)
    delete_rows(ctx, gone)


def cached_urls(ctx: Ctx, owner: Owner) -> set[str]:
    q = select(MediaFile.remote_url).where(_owner_filter(owner))
    return {url for url in ctx.db.exec(q) if url}


def delete_stored(ctx: Ctx, keys: list[str]) -> None:
    """Remove files no row names (a fetch for a post deleted meanwhile)."""
    _delete_now(ctx, keys)


def _delete_now(ctx: Ctx, keys: list[str]) -> None:
    files = storage.storage_for(ctx.settings)
    for key in keys:
        files.delete(key)


def sensitivity(summary: str | None, sensitive: bool, *, has_media: bool) -> tuple[bool, bool]:
    """Mastodon's ``sensitive`` read our way, for local and remote posts alike:
    (is the text warned without a summary, are the images sensitive). On a post
    with images and no summary it folds only the images (the text stays in view);
    without images it is a general content warning, as before media existed."""
    has_summary = bool(summary.strip()) if isinstance(summary, str) else False
    return sensitive and not (has_media and not has_summary), sensitive and has_media


def attach(
    ctx: Ctx, author: Account, post: Post, media_ids: list[int], *, sensitive: bool = False
) -> None:
    """Put a member's uploads on their new post, in the order given."""
    if not media_ids:
        return
    rows = list_for_attaching(ctx, author, media_ids)
    for position, row in enumerate(rows):
        row.post_id, row.position, row.sensitive = post.id, position, sensitive
        ctx.db.add(row)


def _too_many(media_ids: list[int], what: str) -> None:
    if len(media_ids) > MAX_PER_POST:
        raise Invalid(f"{what} carries at most {MAX_PER_POST} images.", code="too_many_media")
    if len(set(media_ids)) != len(media_ids):
        raise Invalid("The same image is named twice.", code="duplicate_media")


def _free_upload(ctx: Ctx, author: Account, media_id: int) -> MediaFile:
    row = get_row(ctx.db, MediaFile, media_id)
    if row is None or row.account_id != author.id or row.purpose != "attachment":
        raise Invalid(f"You have no uploaded image {media_id}.", code="media_not_found")
    if row.post_id is not None or row.artifact_id is not None:
        raise Invalid(f"Image {media_id} is already on a post or artifact.", code="media_in_use")
    if row.state == "processing":  # waiting for the media.process job (media_processing.py)
        raise Invalid(
            f"Image {media_id} is still being processed; try again in a moment.",
            code="media_processing",
        )
    if row.state == "failed":
        raise Invalid(f"Image {media_id} could not be processed: {row.error}", code="media_failed")
    return row


def list_for_attaching(
    ctx: Ctx, author: Account, media_ids: list[int], *, what: str = "A post"
) -> list[MediaFile]:
    """The uploads a post (or a new artifact) is to carry, checked: at most four,
    the author's own attachments, on no post or artifact yet."""
    _too_many(media_ids, what)
    return [_free_upload(ctx, author, media_id) for media_id in media_ids]


def for_revision(
    ctx: Ctx, editor: Account, artifact: Artifact, media_ids: list[int]
) -> list[MediaFile]:
    """The images a new revision of ``artifact`` is to show, checked: at most four,
    each one the artifact has shown in some revision, or the editor's free upload."""
    _too_many(media_ids, "An artifact")
    rows = []
    for media_id in media_ids:
        row = get_row(ctx.db, MediaFile, media_id)
        if row is None or row.artifact_id != artifact.id:
            row = _free_upload(ctx, editor, media_id)
        rows.append(row)
    return rows


def set_revision_media(
    ctx: Ctx,
    artifact: Artifact,
    revision: ArtifactRevision,
    rows: list[MediaFile],
    *,
    sensitive: bool | None = None,
) -> None:
    """Record what ``revision`` shows; new uploads become the artifact's, and
    ``sensitive`` (unless None: unchanged) marks them all."""
    for position, row in enumerate(rows):
        row.artifact_id = artifact.id
        if sensitive is not None:
            row.sensitive = sensitive
        ctx.db.add(row)
        ctx.db.add(
            ArtifactRevisionMedia(revision_id=revision.id, media_id=row.id, position=position)
        )


def revision_media(ctx: Ctx, revision_ids: list[int]) -> dict[int, list[MediaFile]]:
    """The images each revision shows, in order, in one query."""
    found: dict[int, list[MediaFile]] = {}
    if not revision_ids:
        return found
    q = (
        select(ArtifactRevisionMedia.revision_id, MediaFile)
        .join(MediaFile, col(MediaFile.id) == col(ArtifactRevisionMedia.media_id))
        .where(col(ArtifactRevisionMedia.revision_id).in_(revision_ids))
        .order_by(col(ArtifactRevisionMedia.position))
    )
    for revision_id, row in ctx.db.exec(q):
        found.setdefault(revision_id, []).append(row)
    return found


def of_artifacts(ctx: Ctx, artifacts: list[Artifact]) -> dict[int, list[MediaFile]]:
    """Each artifact's images now, in two queries: what its current revision shows,
    or for a remote copy with media links, its cached files."""
    local = {a.current_revision_id: a.id for a in artifacts if a.attachments is None}
    found = {
        local[revision_id]: rows
        for revision_id, rows in revision_media(ctx, [r for r in local if r]).items()
    }
    copies = [a.id for a in artifacts if a.attachments is not None]
    if copies:
        q = select(MediaFile).where(
            col(MediaFile.artifact_id).in_(copies), col(MediaFile.remote_url).is_not(None)
        )
        for row in ctx.db.exec(q.order_by(col(MediaFile.position), col(MediaFile.id))):
            if row.artifact_id is not None:
                found.setdefault(row.artifact_id, []).append(row)
    return found


def of_posts(ctx: Ctx, post_ids: list[int]) -> dict[int, list[MediaFile]]:
    """Each post's media in order, in one query."""
    found: dict[int, list[MediaFile]] = {}
    if not post_ids:
        return found
    q = select(MediaFile).where(col(MediaFile.post_id).in_(post_ids))
    for row in ctx.db.exec(q.order_by(col(MediaFile.position), col(MediaFile.id))):
        if row.post_id is not None:
            found.setdefault(row.post_id, []).append(row)
    return found


def url_of(ctx: Ctx, key: str) -> str:
    return f"{ctx.base_url}/media/{key}"


def delete_rows(ctx: Ctx, rows: list[MediaFile]) -> None:
    """Delete media rows now and their files once this transaction commits."""
    if not rows:
        return
    keys = [k for row in rows for k in (row.file_key, row.preview_key)]
    ctx.db.execute(delete(MediaFile).where(col(MediaFile.id).in_([row.id for row in rows])))
    jobs.enqueue(ctx, "media.delete_files", {"keys": keys})


def delete_for_post(ctx: Ctx, post: Post) -> None:
    rows = list(ctx.db.exec(select(MediaFile).where(col(MediaFile.post_id) == post.id)))
    delete_rows(ctx, rows)


def delete_for_account(ctx: Ctx, account: Account) -> None:
    """Every file of an account: its uploads and the cached files of its posts."""
    rows = list(ctx.db.exec(select(MediaFile).where(col(MediaFile.account_id) == account.id)))
    delete_rows(ctx, rows)


UNATTACHED_FOR = timedelta(days=1)


def prune_unattached(ctx: Ctx) -> None:
    """Uploads for a post that was never written (its form refused, the client gone)
    go after a day, so they stop counting against their member's quota."""
    q = select(MediaFile).where(
        col(MediaFile.purpose) == "attachment",
        col(MediaFile.post_id).is_(None),
        col(MediaFile.artifact_id).is_(None),
        col(MediaFile.created_at) < utcnow() - UNATTACHED_FOR,
    )
    delete_rows(ctx, list(ctx.db.exec(q.limit(1000))))


@jobs.handler("media.delete_files")
def delete_files(ctx: Ctx, payload: dict) -> None:
    """Remove files whose rows are gone (a deleted post or account)."""
    keys = [k for k in payload.get("keys", []) if isinstance(k, str) and storage.valid_key(k)]
    _delete_now(ctx, keys)
