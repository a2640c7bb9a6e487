"""Boosts: a member sharing a post with their followers (Mastodon's reblog,
ActivityPub's ``Announce`` by a person). The one place of their rules, which the
Mastodon client API, the native API, the pages and federation share.

A boost is of a visible post that is not deleted, by someone its author has not
blocked; twice is once, and it is rate-limited as reactions are. Each boost has a
time-sortable status id of its own (posts.time_sortable_id, kind 0b10), so it sorts
in timelines by when it was boosted. Federation hears of boosts through the
``boost.added`` and ``boost.removed`` events (federation/outbound.py) and records
remote people's boosts with :func:`boost` too (federation/handlers.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import col, func, select

from app.db import hold
from app.errors import Forbidden, Gone, NotFound
from app.infra import events, ratelimit
from app.models import Account, Block, Boost, Post, utcnow
from app.services import Ctx, blocks, posts

MEMBER_BOOST = 0b10  # a boost's status id's kind bits (posts.KIND_BITS)
MAX_BOOSTERS = 80


def status_id(created_at: datetime, row_id: int) -> int:
    return posts.time_sortable_id(created_at, row_id, MEMBER_BOOST)


def boost(
    ctx: Ctx,
    account: Account,
    post: Post,
    *,
    uri: str | None = None,
    at: datetime | None = None,
    client: str | None = None,
) -> Boost:
    """Boost ``post`` (one the caller found visible); twice is once. ``uri`` is a
    remote Announce's id (ours get one at :data:`ctx.base_url`), ``at`` its time,
    ``client`` the address of a page or API request (rate-limited; the inbox limits
    federation's)."""
    ratelimit.limit(ctx, "reaction", account=account.id, client=client)
    if post.is_deleted:
        raise Gone("That post was deleted.", code="post_deleted")
    author_blocked = select(col(Block.id)).where(
        col(Block.account_id) == post.author_id, col(Block.target_uri) == account.uri
    )
    if ctx.db.exec(author_blocked).first() is not None:
        raise Forbidden("You can't boost their posts.", code="blocked")
    # a double click, two tabs, a retry: the second waits for the first, then finds it
    hold(ctx.db, f"boost:{account.id}:{post.id}")
    existing = _find(ctx, account, post)
    if existing is not None:
        return existing
    made = Boost(
        account_id=account.id,
        post_id=post.id,
        uri=uri or f"{ctx.base_url}/activities/{uuid.uuid4().hex}",
        # a remote boost's own time, but never before its post nor in the future
        created_at=min(max(at, post.created_at), utcnow()) if at is not None else utcnow(),
    )
    ctx.db.add(made)
    ctx.db.flush()
    made.status_id = status_id(made.created_at, made.id)
    ctx.db.add(made)
    ctx.db.flush()
    events.emit(ctx, "boost.added", boost=made)
    return made


def unboost(ctx: Ctx, account: Account, post: Post) -> None:
    """Take a boost back; one that is not there is already gone."""
    found = _find(ctx, account, post)
    if found is not None:
        remove(ctx, found)


def remove(ctx: Ctx, found: Boost) -> None:
    events.emit(ctx, "boost.removed", boost=found)
    ctx.db.delete(found)
    ctx.db.flush()


def _find(ctx: Ctx, account: Account, post: Post) -> Boost | None:
    return ctx.db.exec(
        select(Boost).where(col(Boost.account_id) == account.id, col(Boost.post_id) == post.id)
    ).first()


def find_by_uri(ctx: Ctx, uri: str) -> Boost | None:
    return ctx.db.exec(select(Boost).where(col(Boost.uri) == uri)).first()


def remove_all_by(ctx: Ctx, account: Account) -> int:
    """Every boost by this account (a remote actor deleted itself): how many."""
    gone = list(ctx.db.exec(select(Boost).where(col(Boost.account_id) == account.id)))
    for b in gone:
        remove(ctx, b)
    return len(gone)


def by_status_id(ctx: Ctx, value: int) -> Boost:
    """The boost with this status id, by an account shown to anyone, else 404."""
    found = ctx.db.exec(select(Boost).where(col(Boost.status_id) == value)).first()
    if found is None or blocks.hidden_from_everyone(ctx, found.account_id):
        raise NotFound("No such status.", code="post_not_found")
    return found


def post_of(ctx: Ctx, found: Boost) -> Post:
    """The boosted post, as :func:`posts.get_by_status_id` shows it."""
    post = posts.get(ctx, found.post_id)
    return posts.get_by_status_id(ctx, post.status_id or 0)


def counts(ctx: Ctx, post_ids: list[int]) -> dict[int, int]:
    """How many boost each of these posts, in one query."""
    if not post_ids:
        return {}
    rows = ctx.db.exec(
        select(col(Boost.post_id), func.count())
        .where(col(Boost.post_id).in_(post_ids))
        .group_by(col(Boost.post_id))
    )
    return dict(rows.all())


def mine(ctx: Ctx, viewer: Account | None, post_ids: list[int]) -> set[int]:
    """Which of these posts the viewer boosted, in one query."""
    if viewer is None or not post_ids:
        return set()
    q = select(col(Boost.post_id)).where(
        col(Boost.account_id) == viewer.id, col(Boost.post_id).in_(post_ids)
    )
    return set(ctx.db.exec(q))


def boosters(ctx: Ctx, post_id: int, limit: int = MAX_BOOSTERS) -> list[Account]:
    """Who boosted this post, the latest first, without accounts hidden from everyone."""
    q = (
        select(Account)
        .join(Boost, col(Boost.account_id) == col(Account.id))
        .where(col(Boost.post_id) == post_id, ~blocks.hides_account(None))
        .order_by(col(Boost.id).desc())
        .limit(limit)
    )
    return list(ctx.db.exec(q))
