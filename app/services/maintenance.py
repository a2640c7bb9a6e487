"""Periodic housekeeping run by the worker: expired sessions, old rate-limit
hits, finished jobs, expired mutes, mailed links and OAuth codes are deleted so
tables stay small."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlmodel import col

from app.infra import jobs, ratelimit
from app.models import Job, utcnow
from app.services import Ctx, auth, emails, media, mutes, oauth

PRUNE_EVERY = timedelta(hours=1)
KEEP_DONE_JOBS = timedelta(days=7)


@jobs.handler("maintenance.prune")
def prune(ctx: Ctx, payload: dict) -> None:
    auth.prune_sessions(ctx)
    ratelimit.prune(ctx)
    media.prune_unattached(ctx)
    mutes.prune_expired(ctx)
    emails.prune_links(ctx)
    oauth.prune_codes(ctx)
    ctx.db.execute(
        delete(Job).where(
            col(Job.state) == "done", col(Job.finished_at) < utcnow() - KEEP_DONE_JOBS
        )
    )
    jobs.reschedule(ctx, "maintenance.prune", payload, utcnow() + PRUNE_EVERY)
