"""Rate limits: the one limiter every limited action calls, shared by all processes.

An action (a login attempt, a sign-up, a post or reply, a reaction, an API token,
an algorithm module, an inbox delivery, a report, an OAuth app) is counted in
buckets (per account, per client address, per remote domain) as a sliding window
of rows in ``rate_limit_hits``. :func:`limit` checks every bucket and counts the attempt in
one short transaction of its own, committed *before* the action does its work:

- it is atomic (``app.db.hold`` on each bucket: on PostgreSQL a transaction-level
  advisory lock per bucket, on SQLite the write lock), so concurrent
  attempts can never all slip under the limit together;
- an attempt counts whatever happens next (a wrong password, a module that fails
  its dry run), since the expensive work is what a limit protects;
- no lock is held while the action works (e.g. checks a password).

Only requests from people (pages and the API, which pass the client address) and
remote servers (the inbox, per domain) are limited; the CLI, demo data and
federation handlers are trusted callers and pass neither.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from app.config import Settings
from app.db import begin_writing, commit_without_waiting_for_disk, hold
from app.errors import RateLimited
from app.infra.context import Ctx
from app.models import RateLimitHit, utcnow

BUCKET_MAX = 255  # RateLimitHit.bucket
Action = Literal[
    "login",
    "signup",
    "post",
    "reaction",
    "token",
    "module",
    "inbox",
    "media",
    "remote_media",
    "report",
    "mail",
    "app",
]

# What a refused person was doing, for "You're … faster than this instance allows".
DOING: dict[str, str] = {
    "signup": "signing up",
    "post": "posting",
    "reaction": "reacting to posts",
    "token": "creating API tokens",
    "module": "submitting algorithm modules",
    "inbox": "delivering activities",
    "media": "uploading media",
    "remote_media": "sending media",
    "report": "filing reports",
    "mail": "asking for e-mails",
    "app": "registering apps",
}

# action -> (per-account setting, per-client setting, window setting); see app/config.py
SETTINGS: dict[str, tuple[str | None, str, str]] = {
    "signup": (None, "signup_limit_per_client", "signup_limit_window_seconds"),
    "post": ("post_limit_per_account", "post_limit_per_client", "post_limit_window_seconds"),
    "reaction": (
        "reaction_limit_per_account",
        "reaction_limit_per_client",
        "reaction_limit_window_seconds",
    ),
    "token": ("token_limit_per_account", "token_limit_per_client", "token_limit_window_seconds"),
    "module": (
        "module_limit_per_account",
        "module_limit_per_client",
        "module_limit_window_seconds",
    ),
    "media": ("media_limit_per_account", "media_limit_per_client", "media_limit_window_seconds"),
    "report": (
        "report_limit_per_account",
        "report_limit_per_client",
        "report_limit_window_seconds",
    ),
    # per address asked about (``account`` is the lower-cased address)
    "mail": ("mail_limit_per_address", "mail_limit_per_client", "mail_limit_window_seconds"),
    "app": (None, "app_limit_per_client", "app_limit_window_seconds"),  # OAuth app registration
}


@dataclass(frozen=True)
class Rule:
    """At most ``limit`` hits in ``bucket`` within the last ``window_seconds``."""

    bucket: str
    limit: int
    window_seconds: int
    per_account: bool = False


@dataclass(frozen=True)
class Attempt:
    """The hits one counted attempt wrote (none for a trusted caller), so that an
    attempt which turns out fine can be taken back (:func:`refund`)."""

    hit_ids: tuple[int, ...] = ()
    account_bucket: str | None = None


def rules(
    settings: Settings,
    action: Action,
    *,
    account: int | str | None = None,
    client: str | None = None,
    domain: str | None = None,
) -> list[Rule]:
    """The buckets an attempt counts in. ``account`` is an account id, or for a
    login the lower-cased name typed (unknown names count too)."""
    found = _rules(settings, action, account=account, client=client, domain=domain)
    return [replace(rule, bucket=_fitting(rule.bucket)) for rule in found]


def _fitting(bucket: str) -> str:
    """The bucket name, shortened to fit its column (255) if a long host or name
    would overflow it; a digest of the whole keeps it distinct."""
    if len(bucket) <= BUCKET_MAX:
        return bucket
    return f"{bucket[:160]}#{hashlib.sha256(bucket.encode()).hexdigest()}"


def _rules(
    settings: Settings,
    action: Action,
    *,
    account: int | str | None = None,
    client: str | None = None,
    domain: str | None = None,
) -> list[Rule]:
    s = settings
    if action == "inbox":
        if not domain:
            return []
        return [Rule(f"inbox:{domain}", s.inbox_limit_per_domain, s.inbox_limit_window_seconds)]
    if action == "remote_media":  # files fetched from one remote domain
        if not domain:
            return []
        return [
            Rule(
                f"remote-media:{domain}",
                s.remote_media_limit_per_domain,
                s.remote_media_limit_window_seconds,
            )
        ]
    if client is None:
        return []  # a trusted caller: the CLI, demo data, a federation handler
    if action == "login":  # failed logins, per (name, client) and per client
        window = s.login_window_seconds
        return [
            Rule(f"login:{account}:{client}", s.login_max_failures, window, per_account=True),
            Rule(f"login-ip:{client}", s.login_max_failures * 5, window),
        ]
    per_account, per_client, window_setting = SETTINGS[action]
    window = getattr(s, window_setting)
    found = [Rule(f"{action}-ip:{client}", getattr(s, per_client), window)]
    if per_account and account is not None:
        found.append(Rule(f"{action}:{account}", getattr(s, per_account), window, True))
    return found


def limit(
    ctx: Ctx,
    action: Action,
    *,
    account: int | str | None = None,
    client: str | None = None,
    domain: str | None = None,
) -> Attempt:
    """Refuse the attempt with :class:`RateLimited` if any of its buckets is full,
    else count it, committed at once. Call it first, before the action writes.

    It ends the caller's transaction (on SQLite that transaction may hold the write
    lock the count needs) and counts in a new one, leaving the session with none:
    the action's next statement begins the session's own kind of transaction
    (a writing one in a request, :func:`app.db.open_session`), so no lock is held
    until then (e.g. across a password check)."""
    found = rules(ctx.settings, action, account=account, client=client, domain=domain)
    if not found:
        return Attempt()
    ctx.db.commit()
    begin_writing(ctx.db)
    commit_without_waiting_for_disk(ctx.db)  # a hit lost in a crash only forgives an attempt
    try:
        hit_ids = _count(ctx.db, found, action)
    except RateLimited:
        ctx.db.rollback()
        raise
    ctx.db.commit()
    account_bucket = next((rule.bucket for rule in found if rule.per_account), None)
    return Attempt(hit_ids, account_bucket)


def refund(ctx: Ctx, attempt: Attempt, *, forget_earlier: bool = False) -> None:
    """Take back an attempt that went well (a login with the right password) and,
    with ``forget_earlier``, the earlier hits of its per-account bucket (a right
    password wipes the failures before it). Runs in a new writing transaction, in
    which the caller then goes on writing."""
    if ctx.db.in_transaction():
        ctx.db.commit()  # the read-only stretch (the password check) ends here
    begin_writing(ctx.db)
    if attempt.hit_ids:
        ctx.db.exec(delete(RateLimitHit).where(col(RateLimitHit.id).in_(attempt.hit_ids)))
    if forget_earlier and attempt.account_bucket:
        ctx.db.exec(delete(RateLimitHit).where(col(RateLimitHit.bucket) == attempt.account_bucket))


def _count(db: Session, found: list[Rule], action: Action) -> tuple[int, ...]:
    """Check and count in the session's (writing) transaction: all buckets or none."""
    hold(db, *(f"rate-limit:{rule.bucket}" for rule in found))
    now = utcnow()
    wait = 0
    for rule in found:
        in_window = select(col(RateLimitHit.created_at)).where(
            col(RateLimitHit.bucket) == rule.bucket,
            col(RateLimitHit.created_at) >= now - timedelta(seconds=rule.window_seconds),
        )
        count = db.exec(select(func.count()).select_from(in_window.subquery())).one()
        if count >= rule.limit:
            # one more fits once this hit (the oldest, if the limit was not lowered) leaves
            leaving = db.exec(
                in_window.order_by(col(RateLimitHit.created_at)).offset(count - rule.limit).limit(1)
            ).one()
            wait = max(wait, _seconds_until(leaving + timedelta(seconds=rule.window_seconds), now))
    if wait:
        raise RateLimited(_refusal(action, wait), retry_after=wait)
    hits = [RateLimitHit(bucket=rule.bucket, created_at=now) for rule in found]
    db.add_all(hits)
    db.flush()
    return tuple(hit.id for hit in hits if hit.id is not None)


def _seconds_until(when: datetime, now: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(1, math.ceil((when - now).total_seconds()))


def _refusal(action: Action, seconds: int) -> str:
    wait = f"{seconds} second{'s' if seconds != 1 else ''}"
    if action == "login":
        return f"Too many failed logins; try again in {wait}."
    return f"You're {DOING[action]} faster than this instance allows; try again in {wait}."


def longest_window(settings: Settings) -> int:
    """The longest window any limit looks back over."""
    windows = [getattr(settings, window) for _, _, window in SETTINGS.values()]
    return max(
        settings.login_window_seconds,
        settings.inbox_limit_window_seconds,
        settings.remote_media_limit_window_seconds,
        *windows,
    )


def prune(ctx: Ctx) -> int:
    """Delete the hits no limit can see any more (kept at least an hour)."""
    cutoff = utcnow() - timedelta(seconds=max(longest_window(ctx.settings), 3600))
    result = ctx.db.exec(delete(RateLimitHit).where(col(RateLimitHit.created_at) < cutoff))
    return result.rowcount or 0
