"""Who follows a member and whom they follow: the lists a profile shows.

Newest follow first, paged by a keyset on the follow's id (a deep page costs what
the first does). Accounts hidden from everyone (suspended, deleted, on a blocked
domain) are left out, as they are from feeds."""

from __future__ import annotations

from sqlalchemy import or_
from sqlmodel import col, select

from app.errors import DomainError
from app.models import MAX_ID, Account, Community, Follow
from app.services import Ctx, blocks

MAX_LIMIT = 100


def _before(cursor: str | None) -> int | None:
    """The follow id a page starts before, from the ``next_cursor`` we gave."""
    if cursor is None:
        return None
    if not (cursor.isascii() and cursor.isdigit()) or not 0 < int(cursor) <= MAX_ID:
        raise DomainError("That page cursor is not valid.", code="invalid_cursor")
    return int(cursor)


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise DomainError(f"limit must be between 1 and {MAX_LIMIT}.", code="invalid_limit")
    return limit


def followers(
    ctx: Ctx, account: Account, *, cursor: str | None = None, limit: int = 40
) -> tuple[list[Account], str | None]:
    """Accepted followers of ``account``, local and remote, and the next page's cursor."""
    rows, next_cursor = _page(ctx, _followers(account), cursor, limit)
    return [a for _, a in rows], next_cursor


def _followers(account: Account):
    return (
        select(col(Follow.id), Account)
        .join(Account, col(Account.id) == col(Follow.follower_id))
        .where(
            col(Follow.target_account_id) == account.id,
            col(Follow.state) == "accepted",
            ~blocks.hides_account(None),
        )
    )


def _people_followed(account: Account):
    return (
        select(col(Follow.id), Account)
        .join(Account, col(Account.id) == col(Follow.target_account_id))
        .where(
            col(Follow.follower_id) == account.id,
            col(Follow.state) == "accepted",
            ~blocks.hides_account(None),
        )
    )


def between(
    ctx: Ctx,
    account: Account,
    direction: str,
    *,
    below: int | None = None,
    above: int | None = None,
    oldest_first: bool = False,
    limit: int = 40,
) -> list[tuple[int, Account]]:
    """A page of ``account``'s followers (``direction`` "followers") or of the members
    it follows ("following"), each with its follow's id, between the follow ids
    ``above`` and ``below`` (both excluded): newest follow first, or the ones just
    above ``above`` with ``oldest_first`` (still returned newest first). Mastodon's
    max_id / since_id / min_id; communities followed are not among them."""
    q = _followers(account) if direction == "followers" else _people_followed(account)
    if below is not None:
        q = q.where(col(Follow.id) < below)
    if above is not None:
        q = q.where(col(Follow.id) > above)
    order = col(Follow.id).asc() if oldest_first else col(Follow.id).desc()
    rows = [(fid, person) for fid, person in ctx.db.exec(q.order_by(order).limit(_limit(limit)))]
    return rows[::-1] if oldest_first else rows


def following(
    ctx: Ctx, account: Account, *, cursor: str | None = None, limit: int = 40
) -> tuple[list[Account | Community], str | None]:
    """The members and communities ``account`` follows (accepted follows)."""
    q = (
        select(col(Follow.id), Account, Community)
        .outerjoin(Account, col(Account.id) == col(Follow.target_account_id))
        .outerjoin(Community, col(Community.id) == col(Follow.target_community_id))
        .where(
            col(Follow.follower_id) == account.id,
            col(Follow.state) == "accepted",
            or_(col(Follow.target_community_id).is_not(None), ~blocks.hides_account(None)),
        )
    )
    rows, next_cursor = _page(ctx, q, cursor, limit)
    return [person or group for _, person, group in rows], next_cursor


def _page(ctx: Ctx, q, cursor: str | None, limit: int) -> tuple[list, str | None]:
    before, limit = _before(cursor), _limit(limit)
    if before is not None:
        q = q.where(col(Follow.id) < before)
    rows = list(ctx.db.exec(q.order_by(col(Follow.id).desc()).limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, str(rows[-1][0]) if more else None
