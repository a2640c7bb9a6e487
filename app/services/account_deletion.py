"""A member deleting their own account: asked for with their password, carried out
by the ``accounts.delete`` job when the grace period (``CG_DELETION_GRACE_HOURS``)
is over, and cancelled meanwhile at no cost, since nothing is touched before.

The deletion tombstones the member's posts (through the posts service, so each
Delete federates as a deleted post does), removes their files, follows,
memberships, blocks, mutes, sessions, tokens and archives, and empties the
profile. What they gave to shared work stays: artifact revisions and statements
keep their place, shown as by "a former member" (``Account.name``). The account row
stays as a tombstone: the name is never given out again and the actor answers 410;
federation sends a ``Delete`` of the actor on ``account.deleting``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_
from sqlmodel import col, select

from app.db import unlocked
from app.errors import Conflict, Invalid
from app.infra import events, jobs
from app.models import (
    Account,
    ApiToken,
    Block,
    Follow,
    Membership,
    Mute,
    Post,
    Reaction,
    WebSession,
    utcnow,
)
from app.security.passwords import verify_password
from app.services import Ctx, account_export, boosts, media, posts


def request(ctx: Ctx, account: Account, password: str) -> datetime:
    """Start the grace period; answers when the deletion will happen."""
    with unlocked(ctx.db):  # argon2: hold no lock meanwhile
        if not verify_password(ctx.settings, account.password_hash, password or ""):
            raise Invalid("The password is wrong.", code="bad_password")
    if account.deletion_due_at is not None:
        return account.deletion_due_at
    due = utcnow() + timedelta(hours=ctx.settings.deletion_grace_hours)
    account.deletion_due_at = due
    ctx.db.add(account)
    jobs.enqueue(ctx, "accounts.delete", {"account_id": account.id}, run_at=due)
    return due


def cancel(ctx: Ctx, account: Account) -> None:
    if account.deletion_due_at is None:
        raise Conflict("No deletion of this account is planned.", code="no_deletion_planned")
    account.deletion_due_at = None
    ctx.db.add(account)


@jobs.handler("accounts.delete")
def carry_out(ctx: Ctx, payload: dict) -> None:
    """Delete the account if its deletion is still asked for and due (a cancelled
    one, or one asked for again later, leaves this job nothing to do)."""
    account = ctx.db.get(Account, payload.get("account_id"))
    if account is None or not account.is_local or account.is_deleted:
        return
    if account.deletion_due_at is None or account.deletion_due_at > utcnow():
        return
    erase(ctx, account)


def remote_left(ctx: Ctx, account: Account) -> None:
    """A remote actor deleted itself (federation checked it asked): its posts here
    become tombstones, its boosts, follows (both ways) and memberships end, its
    cached files go, and it is hidden from then on. The row stays, so a late copy finds it gone."""
    own = ctx.db.exec(
        select(Post).where(col(Post.author_id) == account.id, col(Post.deleted_at).is_(None))
    ).all()
    for post in own:
        posts.delete_remote(ctx, post)
    boosts.remove_all_by(ctx, account)
    _end_ties(ctx, account)
    media.delete_for_account(ctx, account)
    account.is_active = False
    ctx.db.add(account)


def _end_ties(ctx: Ctx, account: Account) -> None:
    ctx.db.execute(
        delete(Follow).where(
            or_(col(Follow.follower_id) == account.id, col(Follow.target_account_id) == account.id)
        )
    )
    ctx.db.execute(delete(Membership).where(col(Membership.account_id) == account.id))


def erase(ctx: Ctx, account: Account) -> None:
    events.emit(ctx, "account.deleting", account=account)  # while its followers are known
    own = ctx.db.exec(
        select(col(Post.id)).where(
            col(Post.author_id) == account.id, col(Post.deleted_at).is_(None)
        )
    ).all()
    for post_id in own:
        posts.delete_post(ctx, account, post_id)
    media.delete_for_account(ctx, account)
    account_export.expire_all(ctx, account)
    boosts.remove_all_by(ctx, account)  # each boost's Undo, while followers are known
    _end_ties(ctx, account)
    ctx.db.execute(delete(Block).where(col(Block.target_uri) == account.uri))
    for model in (Block, Mute, Reaction, ApiToken, WebSession):
        ctx.db.execute(delete(model).where(col(model.account_id) == account.id))
    account.display_name = account.bio = account.avatar_url = account.header_url = ""
    account.also_known_as = ""
    account.password_hash = None
    account.is_active = False
    account.is_admin = False
    account.deletion_due_at = None
    account.deleted_at = utcnow()
    ctx.db.add(account)
