"""How much this instance holds: members, posts, the instances it knows, and
week by week what happened. NodeInfo and the Mastodon client API's instance
endpoints both read these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, func, select

from app.models import Account, Post, utcnow
from app.services import Ctx, blocks

WEEKS = 12


@dataclass(frozen=True)
class Usage:
    users: int  # active local members
    local_posts: int  # not deleted
    domains: int  # other instances with an account known here


@dataclass(frozen=True)
class Week:
    start: datetime
    posts: int
    registrations: int


def usage(ctx: Ctx) -> Usage:
    users = ctx.db.exec(
        select(func.count())
        .select_from(Account)
        .where(col(Account.domain) == "", col(Account.is_active))
    ).one()
    local_posts = ctx.db.exec(
        select(func.count())
        .select_from(Post)
        .join(Account, col(Account.id) == col(Post.author_id))
        .where(col(Account.domain) == "", col(Post.deleted_at).is_(None))
    ).one()
    domains = ctx.db.exec(
        select(func.count(func.distinct(col(Account.domain)))).where(col(Account.domain) != "")
    ).one()
    return Usage(users, local_posts, domains)


def known_domains(ctx: Ctx, limit: int = 10_000) -> list[str]:
    """Other instances with an account known here, but none this instance blocks."""
    q = (
        select(col(Account.domain))
        .where(col(Account.domain) != "", ~blocks.hides_account(None))
        .distinct()
        .order_by(col(Account.domain))
        .limit(limit)
    )
    return list(ctx.db.exec(q).all())


def weeks(ctx: Ctx, n: int = WEEKS) -> list[Week]:
    """The last ``n`` weeks (the current one first): local posts and sign-ups."""
    now = utcnow()
    start = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    starts = [start - timedelta(weeks=i) for i in range(n)]
    since = starts[-1]
    post_times = ctx.db.exec(
        select(col(Post.created_at))
        .join(Account, col(Account.id) == col(Post.author_id))
        .where(col(Account.domain) == "", col(Post.created_at) >= since)
    ).all()
    joined = ctx.db.exec(
        select(col(Account.created_at)).where(
            col(Account.domain) == "", col(Account.created_at) >= since
        )
    ).all()

    def week_of(moment: datetime) -> int:
        return min(max((start - moment).days // 7 + (moment < start), 0), n - 1)

    made = [0] * n
    signed = [0] * n
    for t in post_times:
        made[week_of(t)] += 1
    for t in joined:
        signed[week_of(t)] += 1
    return [Week(s, made[i], signed[i]) for i, s in enumerate(starts)]
