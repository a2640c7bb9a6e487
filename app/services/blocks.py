"""Member blocks: a member blocking another actor, here or elsewhere.

Blocking ends follows both ways; afterwards nothing from the blocked actor
reaches the member (their posts and replies are left out of the member's feeds
and threads, and their follows, reactions and personal-inbox deliveries are
refused), and nothing of the member's is delivered to them. Federation is told
through the ``block.created`` / ``block.removed`` events (a ``Block`` activity,
as Mastodon sends, and its ``Undo``).

:func:`hides_account` is the one definition of whose posts a viewer does not
see: those they blocked, and for everyone suspended members, remote actors that
deleted themselves, and actors on a domain an admin blocked.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from app.errors import Invalid, NotFound
from app.infra import events
from app.models import Account, Block, Community, Follow, PeerDomain
from app.services import Ctx, follows


def block(ctx: Ctx, member: Account, target: Account | Community) -> Block:
    """Block ``target`` (blocking twice is harmless)."""
    if isinstance(target, Account) and target.id == member.id:
        raise Invalid("You can't block yourself.", code="self_block")
    existing = find(ctx, member, target.uri)
    if existing is not None:
        return existing
    for follow in _follows_between(ctx, member, target):
        follows.remove(ctx, follow)
    row = Block(account_id=member.id, target_uri=target.uri)
    try:
        with ctx.db.begin_nested():
            ctx.db.add(row)
    except IntegrityError:  # the same block, made a moment ago
        made = find(ctx, member, target.uri)
        if made is None:  # not that: some other constraint failed
            raise
        return made
    events.emit(ctx, "block.created", block=row, member=member, target=target)
    return row


def unblock(ctx: Ctx, member: Account, target_uri: str) -> None:
    row = find(ctx, member, target_uri)
    if row is None:
        raise NotFound("You haven't blocked them.", code="not_blocked")
    events.emit(ctx, "block.removed", block=row, member=member)
    ctx.db.delete(row)
    ctx.db.flush()


def find(ctx: Ctx, member: Account, target_uri: str) -> Block | None:
    return ctx.db.exec(
        select(Block).where(col(Block.account_id) == member.id, col(Block.target_uri) == target_uri)
    ).first()


def has_blocked(ctx: Ctx, member_id: int, actor_uri: str) -> bool:
    """Whether the account ``member_id`` blocked the actor at ``actor_uri``."""
    found = select(col(Block.id)).where(
        col(Block.account_id) == member_id, col(Block.target_uri) == actor_uri
    )
    return ctx.db.exec(found).first() is not None


def blocked_uris(ctx: Ctx, member: Account | None) -> set[str]:
    if member is None:
        return set()
    return set(
        ctx.db.exec(select(col(Block.target_uri)).where(col(Block.account_id) == member.id)).all()
    )


def listing(ctx: Ctx, member: Account) -> list[tuple[Block, Account | Community | None]]:
    """The member's blocks, newest first, with the actor each names (if known)."""
    rows = ctx.db.exec(
        select(Block).where(col(Block.account_id) == member.id).order_by(col(Block.id).desc())
    ).all()
    return [(row, _actor(ctx, row.target_uri)) for row in rows]


def handle_of(ctx: Ctx, actor: Account | Community | None) -> str | None:
    """``@name@domain`` for a member, ``!name@domain`` for a community."""
    if actor is None:
        return None
    if isinstance(actor, Community):
        return f"!{actor.name}@{actor.domain or ctx.settings.domain}"
    return f"@{actor.username}@{actor.domain or ctx.settings.domain}"


def hides_account(viewer_id: int | ColumnElement[int] | None) -> ColumnElement[bool]:
    """The condition on an :class:`Account` row that hides its posts from
    ``viewer_id`` (``None``: an anonymous reader): a suspended or self-deleted
    account, one on a domain an admin blocked, or one the viewer blocked. The one
    definition feeds, threads and single posts use; ``viewer_id`` may be a bound
    parameter of a cached statement."""
    # listed once per statement, however many feed sources test it
    domains = select(col(PeerDomain.domain)).where(col(PeerDomain.blocked))
    blocked_domains = domains.cte("blocked_domains").prefix_with("MATERIALIZED")
    hidden = or_(
        col(Account.is_active).is_(False), col(Account.domain).in_(select(blocked_domains.c.domain))
    )
    if viewer_id is None:
        return hidden
    by_viewer = select(col(Block.target_uri)).where(col(Block.account_id) == viewer_id)
    return or_(hidden, col(Account.uri).in_(by_viewer))


def hides_limited(viewer_id: int | ColumnElement[int] | None) -> ColumnElement[bool]:
    """The condition on an :class:`Account` row that keeps its posts out of public
    and community feeds and search: its domain was limited by an admin (a
    moderation action) and the viewer does not follow it. The one definition."""
    limited = select(col(PeerDomain.domain)).where(col(PeerDomain.limited))
    on_limited = col(Account.domain).in_(limited)
    if viewer_id is None:
        return on_limited
    followed = select(col(Follow.target_account_id)).where(
        col(Follow.follower_id) == viewer_id,
        col(Follow.state) == "accepted",
        col(Follow.target_account_id).is_not(None),
    )
    return and_(on_limited, col(Account.id).not_in(followed))


def hidden_from_everyone(ctx: Ctx, author_id: int) -> bool:
    """Whether this author's posts are hidden whoever looks (suspended, deleted,
    or on a blocked domain), so that even a link to one of them finds nothing."""
    found = select(col(Account.id)).where(col(Account.id) == author_id, hides_account(None))
    return ctx.db.exec(found).first() is not None


def hidden_among(ctx: Ctx, author_ids: Iterable[int]) -> set[int]:
    """:func:`hidden_from_everyone` for many authors, in one query."""
    wanted = set(author_ids)
    if not wanted:
        return set()
    found = select(col(Account.id)).where(col(Account.id).in_(wanted), hides_account(None))
    return set(ctx.db.exec(found).all())


def _actor(ctx: Ctx, uri: str) -> Account | Community | None:
    return (
        ctx.db.exec(select(Account).where(col(Account.uri) == uri)).first()
        or ctx.db.exec(select(Community).where(col(Community.uri) == uri)).first()
    )


def _follows_between(ctx: Ctx, member: Account, target: Account | Community) -> list[Follow]:
    if isinstance(target, Community):
        theirs = []
        mine = select(Follow).where(
            col(Follow.follower_id) == member.id, col(Follow.target_community_id) == target.id
        )
    else:
        theirs = list(
            ctx.db.exec(
                select(Follow).where(
                    col(Follow.follower_id) == target.id, col(Follow.target_account_id) == member.id
                )
            ).all()
        )
        mine = select(Follow).where(
            col(Follow.follower_id) == member.id, col(Follow.target_account_id) == target.id
        )
    return [*ctx.db.exec(mine).all(), *theirs]
