"""Remote posts' and artifacts' images: fetched, cleaned and cached here, or left
as links.

When a remote post or artifact with attachments is stored (or edited), a
``media.fetch_remote`` job is queued in the same transaction (payload ``post`` or
``artifact``: one code path for both). The job fetches each image through the
SSRF-safe fetcher (``federation/fetcher.py``: public addresses only, redirects
re-checked, at most ``CG_REMOTE_MEDIA_MAX_BYTES``), processes it exactly as an
upload (``app.services.media.process``: type by content, no EXIF, resized,
previewed) and records it on the post. A file that is too large, not an image, or
refused by its server stays a link. Fetching is bounded per domain: at most
``CG_REMOTE_MEDIA_LIMIT_PER_DOMAIN`` files per window (the one rate limiter; the
job waits for the window) and at most two at once from one host per worker.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from app.errors import DomainError, RateLimited
from app.infra import events, jobs, ratelimit
from app.models import Artifact, Post, get_row, utcnow
from app.services import Ctx, media
from app.services.posts import attachments_of
from federation import network
from federation.fetcher import Fetcher, FetchError, normalize_host, parse_media_type

PER_HOST_AT_ONCE = 2
IMAGE_ACCEPT = "image/jpeg, image/png, image/gif, image/webp;q=0.9, image/*;q=0.5"


def _fetchable(item: dict) -> bool:
    """An image link (or one that does not say): what we try to cache."""
    kind = item.get("media_type") or ""
    return kind == "" or kind.startswith("image/")


def queue(ctx: Ctx, owner: media.Owner) -> None:
    """A remote post or artifact stored or edited: forget the files it no longer
    carries and fetch the ones not cached yet."""
    if owner.uri.startswith(ctx.base_url + "/"):
        return  # a local post's or artifact's media are its own rows
    if owner.attachments is None and isinstance(owner, Post):
        return  # (a copy of an artifact may have had images taken off: forgotten below)
    links = attachments_of(owner)
    media.forget_remote(ctx, owner, {a["url"]: a["sensitive"] for a in links})
    if any(_fetchable(a) for a in links):
        kind = "post" if isinstance(owner, Post) else "artifact"
        jobs.enqueue(ctx, "media.fetch_remote", {kind: owner.id}, max_attempts=5)


@events.on("post.created")
def _created(ctx: Ctx, post: Post) -> None:
    queue(ctx, post)


@events.on("post.edited")
def _edited(ctx: Ctx, post: Post) -> None:
    queue(ctx, post)


def _owner(ctx: Ctx, payload: dict) -> media.Owner | None:
    """The post or artifact a job names, if it is still there."""
    post_id, artifact_id = payload.get("post"), payload.get("artifact")
    if isinstance(post_id, int) and not isinstance(post_id, bool):
        post = get_row(ctx.db, Post, post_id)
        return None if post is None or post.is_deleted else post
    if isinstance(artifact_id, int) and not isinstance(artifact_id, bool):
        return get_row(ctx.db, Artifact, artifact_id)
    raise jobs.PermanentError("no post or artifact named")


def _to_fetch(ctx: Ctx, payload: dict) -> list[tuple[int, dict]]:
    owner = _owner(ctx, payload)
    if owner is None:
        return []
    cached = media.cached_urls(ctx, owner)
    return [
        (i, a)
        for i, a in enumerate(attachments_of(owner))
        if _fetchable(a) and a["url"] not in cached
    ]


def _is_image_type(value: str) -> bool:
    """A first filter on what a server says it sends; the content decides."""
    kind = parse_media_type(value)[0]
    return kind.startswith("image/") or kind in ("application/octet-stream", "")


def _hosts(job: jobs.JobContext) -> dict[str, asyncio.Semaphore]:
    found: dict[str, asyncio.Semaphore] = job.shared.setdefault("media_hosts", {})
    return found


@jobs.handler("media.fetch_remote")
async def fetch_remote(job: jobs.JobContext, payload: dict) -> None:
    wanted = await job.run_db(lambda ctx: _to_fetch(ctx, payload))
    if not wanted:
        return
    net = network.shared(job)
    fetcher = Fetcher(
        client=net.http,
        timeout=job.settings.delivery_timeout_seconds,
        max_bytes=job.settings.remote_media_max_bytes,
    )
    retry: FetchError | None = None
    for position, item in wanted:
        try:
            await _fetch_one(job, fetcher, payload, position, item)
        except FetchError as exc:
            if exc.retryable:
                retry = exc  # the others are tried; the job comes back for this one
    if retry is not None:
        raise retry


async def _fetch_one(
    job: jobs.JobContext, fetcher: Fetcher, payload: dict, position: int, item: dict
) -> None:
    url = item["url"]
    host = normalize_host(url)

    def count(ctx: Ctx) -> None:
        ratelimit.limit(ctx, "remote_media", domain=host)

    try:
        await job.run_db(count)
    except RateLimited as exc:
        when = utcnow() + timedelta(seconds=exc.retry_after)
        raise jobs.RetryAt(when, str(exc.detail), free=True) from exc
    gate = _hosts(job).setdefault(host, asyncio.Semaphore(PER_HOST_AT_ONCE))
    async with gate:
        try:
            fetched = await fetcher.get(url, accept=IMAGE_ACCEPT, content_type=_is_image_type)
        except FetchError as exc:
            if exc.retryable:
                raise
            return  # too large, refused, not an image type: it stays a link
    settings = job.settings
    try:
        processed = await asyncio.to_thread(
            media.process_for, settings, fetched.body, max_bytes=settings.remote_media_max_bytes
        )
    except DomainError:
        return  # not an image we take, or too many pixels: a link
    keys = await asyncio.to_thread(media.store, settings, processed)
    name = item.get("name") or ""

    def record(ctx: Ctx) -> None:
        owner = _owner(ctx, payload)
        if owner is None:  # deleted meanwhile: the files go
            media.delete_stored(ctx, list(keys))
            return
        media.cache_remote(
            ctx,
            owner,
            url=url,
            description=name,
            position=position,
            sensitive=item.get("sensitive") is True,
            processed=processed,
            keys=keys,
        )

    await job.run_db(record)
