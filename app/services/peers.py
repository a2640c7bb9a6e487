"""Other instances as an admin sees them: delivery health per domain, and blocks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, or_
from sqlmodel import col, func, select

from app.errors import Forbidden, Invalid
from app.models import Account, DeliveryAttempt, InboxItem, Job, PeerDomain, utcnow
from app.services import Ctx

DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$"
)
DEAD_AFTER = timedelta(days=7)


@dataclass
class PeerHealth:
    domain: str
    blocked: bool
    consecutive_failures: int
    open_until: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    failures_24h: int
    attempts_24h: int

    @property
    def state(self) -> str:
        """blocked, dead (nothing delivered for a week while failing), open (breaker), or ok."""
        if self.blocked:
            return "blocked"
        now = utcnow()
        silent = self.last_success_at is None or self.last_success_at < now - DEAD_AFTER
        if self.consecutive_failures >= 10 and silent:
            return "dead"
        if self.open_until is not None and self.open_until > now:
            return "open"
        return "ok"


@dataclass
class FederationStats:
    deliveries: dict[str, int]
    inbox: dict[str, int]
    peers: list[PeerHealth]


def stats(ctx: Ctx, *, limit: int = 200) -> FederationStats:
    since = utcnow() - timedelta(days=1)
    deliveries = dict(
        ctx.db.exec(
            select(col(Job.state), func.count())
            .where(col(Job.kind) == "ap.deliver")
            .group_by(col(Job.state))
        ).all()
    )
    inbox = dict(
        ctx.db.exec(select(col(InboxItem.state), func.count()).group_by(col(InboxItem.state))).all()
    )
    failed = or_(
        col(DeliveryAttempt.status_code).is_(None), col(DeliveryAttempt.status_code) >= 300
    )
    recent = (
        select(
            col(DeliveryAttempt.domain),
            func.count().label("attempts"),
            func.sum(case((failed, 1), else_=0)).label("failures"),
        )
        .where(col(DeliveryAttempt.attempted_at) >= since)
        .group_by(col(DeliveryAttempt.domain))
        .subquery()
    )
    rows = ctx.db.exec(
        select(PeerDomain, recent.c.attempts, recent.c.failures)
        .outerjoin(recent, recent.c.domain == col(PeerDomain.domain))
        .order_by(col(PeerDomain.blocked).desc(), col(PeerDomain.consecutive_failures).desc())
        .limit(limit)
    ).all()
    peers = [
        PeerHealth(
            p.domain,
            p.blocked,
            p.consecutive_failures,
            p.open_until,
            p.last_success_at,
            p.last_failure_at,
            int(failures or 0),
            int(attempts or 0),
        )
        for p, attempts, failures in rows
    ]
    return FederationStats(deliveries, inbox, peers)


def _require_admin(actor: Account) -> None:
    if not (actor.is_admin and actor.is_local):
        raise Forbidden("Only instance admins can block domains.", code="not_admin")


def validate_domain(domain: str) -> str:
    domain = (domain or "").strip().lower().rstrip(".")
    if not DOMAIN_RE.match(domain):
        raise Invalid("Give a domain such as social.example.org.", code="invalid_domain")
    return domain


def set_blocked(ctx: Ctx, admin: Account, domain: str, blocked: bool, note: str = "") -> PeerDomain:
    """Block (or unblock) an instance: its activities are refused, nothing is delivered to it."""
    _require_admin(admin)
    domain = validate_domain(domain)
    if domain == ctx.settings.domain:
        raise Invalid("That is this instance.", code="own_domain")
    peer = ctx.db.get(PeerDomain, domain) or PeerDomain(domain=domain)
    peer.blocked = blocked
    peer.note = (note or "").strip()[:500]
    ctx.db.add(peer)
    return peer


def is_blocked(ctx: Ctx, domain: str) -> bool:
    return (
        ctx.db.exec(
            select(col(PeerDomain.domain)).where(
                and_(col(PeerDomain.domain) == domain, col(PeerDomain.blocked))
            )
        ).first()
        is not None
    )
