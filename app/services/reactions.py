"""Reactions on posts: a like, and a stance (agree / disagree / pass).

A member has at most one like and one current stance per post; a new stance
replaces the old one. Stances are the ratings bridging algorithms learn from.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlmodel import col, func, select

from app.db import hold
from app.errors import Forbidden, Gone, Invalid
from app.infra import events, ratelimit
from app.models import Account, Block, Post, Reaction
from app.services import Ctx, blocks, marks
from app.services.posts import get as get_post

KINDS = ("like", "agree", "disagree", "pass")
STANCES = ("agree", "disagree", "pass")


def slot_of(kind: str) -> str:
    if kind not in KINDS:
        raise Invalid("Reaction must be one of: like, agree, disagree, pass.", code="invalid_kind")
    return "like" if kind == "like" else "stance"


def react(
    ctx: Ctx,
    account: Account,
    post_id: int,
    kind: str,
    *,
    activity_uri: str | None = None,
    client: str | None = None,
) -> Reaction:
    """Like, or take a stance; ``activity_uri`` is the remote activity this came from,
    ``client`` the address of a page or API request (rate-limited; federation
    handlers pass none, the inbox limits them)."""
    slot = slot_of(kind)
    ratelimit.limit(ctx, "reaction", account=account.id, client=client)
    post = get_post(ctx, post_id)
    if post.is_deleted:
        raise Gone("That post was deleted.", code="post_deleted")
    author_blocked = select(col(Block.id)).where(
        col(Block.account_id) == post.author_id, col(Block.target_uri) == account.uri
    )
    if ctx.db.exec(author_blocked).first() is not None:
        raise Forbidden("You can't react to their posts.", code="blocked")
    # The same member reacting twice at once (a double click, two tabs, a retry):
    # each waits for the other to finish, then finds its reaction.
    hold(ctx.db, f"reaction:{account.id}:{post.id}:{slot}")
    existing = ctx.db.exec(
        select(Reaction).where(
            col(Reaction.post_id) == post.id,
            col(Reaction.account_id) == account.id,
            col(Reaction.slot) == slot,
        )
    ).first()
    if existing is not None:
        if existing.kind == kind:
            return existing
        # A changed stance is a new reaction: the old one is taken back (and its
        # activity undone), so every federated peer ends up with the same one.
        events.emit(ctx, "reaction.removed", reaction=existing)
        ctx.db.delete(existing)
        ctx.db.flush()
    reaction = Reaction(
        post_id=post.id, account_id=account.id, slot=slot, kind=kind, activity_uri=activity_uri
    )
    ctx.db.add(reaction)
    ctx.db.flush()
    events.emit(ctx, "reaction.added", reaction=reaction)
    return reaction


def unreact(ctx: Ctx, account: Account, post_id: int, kind: str) -> None:
    slot_of(kind)
    get_post(ctx, post_id)
    gone = ctx.db.exec(
        select(Reaction).where(
            col(Reaction.post_id) == post_id,
            col(Reaction.account_id) == account.id,
            col(Reaction.kind) == kind,
        )
    ).all()
    for reaction in gone:
        events.emit(ctx, "reaction.removed", reaction=reaction)
        ctx.db.delete(reaction)
    ctx.db.flush()


def counts(ctx: Ctx, post_ids: list[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(KINDS, 0))
    if not post_ids:
        return out
    rows = ctx.db.exec(
        select(col(Reaction.post_id), col(Reaction.kind), func.count())
        .where(col(Reaction.post_id).in_(post_ids))
        .group_by(col(Reaction.post_id), col(Reaction.kind))
    )
    for post_id, kind, n in rows:
        out[post_id][kind] = n
    return out


def mine(ctx: Ctx, account: Account | None, post_ids: list[int]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = defaultdict(set)
    if account is None or not post_ids:
        return out
    rows = ctx.db.exec(
        select(col(Reaction.post_id), col(Reaction.kind)).where(
            col(Reaction.post_id).in_(post_ids), col(Reaction.account_id) == account.id
        )
    )
    for post_id, kind in rows:
        out[post_id].add(kind)
    return out


def likers(ctx: Ctx, post_id: int, limit: int = 80) -> list[Account]:
    """Who likes this post, the latest first, without accounts hidden from everyone."""
    q = (
        select(Account)
        .join(Reaction, col(Reaction.account_id) == col(Account.id))
        .where(col(Reaction.post_id) == post_id, col(Reaction.kind) == "like")
        .where(~blocks.hides_account(None))
        .order_by(col(Reaction.id).desc())
        .limit(limit)
    )
    return list(ctx.db.exec(q))


def liked_page(ctx: Ctx, account: Account, **window: Any) -> list[tuple[int, Post]]:
    """The posts the member likes, the latest like first (:func:`marks.page`)."""
    return marks.page(
        ctx, account, col(Reaction.id), col(Reaction.post_id),
        col(Reaction.account_id) == account.id, col(Reaction.kind) == "like", **window,
    )  # fmt: skip
