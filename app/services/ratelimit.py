"""Sliding-window rate limits stored in the database, shared by all processes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func
from sqlmodel import select

from app.errors import RateLimited
from app.models import RateLimitHit, utcnow
from app.services import Ctx


def check(ctx: Ctx, bucket: str, *, limit: int, window_seconds: int) -> None:
    """Raise :class:`RateLimited` if ``bucket`` already has ``limit`` hits in the window."""
    since = utcnow() - timedelta(seconds=window_seconds)
    count = ctx.db.exec(
        select(func.count())
        .select_from(RateLimitHit)
        .where(RateLimitHit.bucket == bucket, RateLimitHit.created_at >= since)
    ).one()
    if count >= limit:
        raise RateLimited(
            "Too many attempts. Wait a few minutes and try again.", retry_after=window_seconds
        )


def record_failure(ctx: Ctx, *buckets: str) -> None:
    """Count one failed attempt in each bucket and commit it at once.

    The caller is about to fail (and its transaction to roll back), but the
    attempt must still count; committing here, in the same session, also avoids
    a second writer that SQLite would make wait on the first."""
    for bucket in buckets:
        ctx.db.add(RateLimitHit(bucket=bucket))
    ctx.db.commit()


def clear(ctx: Ctx, bucket: str) -> None:
    ctx.db.exec(delete(RateLimitHit).where(RateLimitHit.bucket == bucket))


def prune(ctx: Ctx, older_than_seconds: int) -> int:
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    result = ctx.db.exec(delete(RateLimitHit).where(RateLimitHit.created_at < cutoff))
    return result.rowcount or 0
