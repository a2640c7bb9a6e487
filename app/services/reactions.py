"""Reactions on posts: a like, and a stance (agree / disagree / pass).

A member has at most one like and one current stance per post; a new stance
replaces the old one. Stances are the ratings bridging algorithms learn from.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import delete
from sqlmodel import func, select

from app.errors import Gone, Invalid
from app.models import Account, Reaction, utcnow
from app.services import Ctx
from app.services.posts import get as get_post

KINDS = ("like", "agree", "disagree", "pass")
STANCES = ("agree", "disagree", "pass")


def slot_of(kind: str) -> str:
    if kind not in KINDS:
        raise Invalid("Reaction must be one of: like, agree, disagree, pass.", code="invalid_kind")
    return "like" if kind == "like" else "stance"


def react(ctx: Ctx, account: Account, post_id: int, kind: str) -> Reaction:
    slot = slot_of(kind)
    post = get_post(ctx, post_id)
    if post.is_deleted:
        raise Gone("That post was deleted.", code="post_deleted")
    existing = ctx.db.exec(
        select(Reaction).where(
            Reaction.post_id == post.id, Reaction.account_id == account.id, Reaction.slot == slot
        )
    ).first()
    if existing is not None:
        if existing.kind != kind:
            existing.kind, existing.created_at = kind, utcnow()
            ctx.db.add(existing)
        return existing
    reaction = Reaction(post_id=post.id, account_id=account.id, slot=slot, kind=kind)
    ctx.db.add(reaction)
    ctx.db.flush()
    return reaction


def unreact(ctx: Ctx, account: Account, post_id: int, kind: str) -> None:
    slot_of(kind)
    get_post(ctx, post_id)
    ctx.db.execute(
        delete(Reaction).where(
            Reaction.post_id == post_id, Reaction.account_id == account.id, Reaction.kind == kind
        )
    )


def counts(ctx: Ctx, post_ids: list[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(KINDS, 0))
    if not post_ids:
        return out
    rows = ctx.db.exec(
        select(Reaction.post_id, Reaction.kind, func.count())
        .where(Reaction.post_id.in_(post_ids))
        .group_by(Reaction.post_id, Reaction.kind)
    )
    for post_id, kind, n in rows:
        out[post_id][kind] = n
    return out


def mine(ctx: Ctx, account: Account | None, post_ids: list[int]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = defaultdict(set)
    if account is None or not post_ids:
        return out
    rows = ctx.db.exec(
        select(Reaction.post_id, Reaction.kind).where(
            Reaction.post_id.in_(post_ids), Reaction.account_id == account.id
        )
    )
    for post_id, kind in rows:
        out[post_id].add(kind)
    return out
