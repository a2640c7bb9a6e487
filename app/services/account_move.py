"""Moving an account, as Mastodon does: the member names the accounts they also are
(``alsoKnownAs``, their aliases), and moves to one of them only if that account
names this one among its own aliases, which proves one person holds both.

Moving marks the account moved (``movedTo`` on its actor, a notice on its profile);
federation sends ``Move`` to its followers on ``account.moved``. Followers here
follow the new account and stop following the old one (:func:`carry_followers`),
whether the move was made here or announced by another server (``ap.move``, after
checking the target's own aliases afresh at its server).
"""

from __future__ import annotations

from sqlmodel import col, select

from app.errors import Conflict, DomainError, Forbidden, Invalid
from app.infra import events
from app.models import Account, Follow
from app.services import Ctx, follows

MAX_ALIASES = 10


def aliases_of(account: Account) -> list[str]:
    return [line for line in account.also_known_as.splitlines() if line]


def set_aliases(ctx: Ctx, account: Account, targets: list[Account]) -> list[str]:
    """Replace the member's aliases (the other accounts they hold)."""
    if len(targets) > MAX_ALIASES:
        raise Invalid(f"At most {MAX_ALIASES} aliases.", code="too_many_aliases")
    if any(t.id == account.id for t in targets):
        raise Invalid("An account is not its own alias.", code="self_alias")
    uris = list(dict.fromkeys(t.uri for t in targets))
    account.also_known_as = "\n".join(uris)
    ctx.db.add(account)
    return uris


def move(ctx: Ctx, account: Account, target: Account) -> None:
    """Move ``account`` (local) to ``target``, which must list it among its aliases
    (a remote target's were just fetched from its server by the edge)."""
    if target.id == account.id:
        raise Invalid("An account cannot move to itself.", code="self_move")
    if target.is_deleted or not target.is_active:
        raise Invalid("That account is gone.", code="target_gone")
    if account.moved_to_uri == target.uri:
        raise Conflict("This account has already moved there.", code="already_moved")
    if account.uri not in aliases_of(target):
        raise Forbidden(
            "That account must first list this one among its aliases (alsoKnownAs).",
            code="alias_missing",
        )
    account.moved_to_uri = target.uri
    ctx.db.add(account)
    events.emit(ctx, "account.moved", account=account, target=target)
    carry_followers(ctx, account, target)


def carry_followers(ctx: Ctx, origin: Account, target: Account) -> int:
    """Each local follower of ``origin`` follows ``target`` (a normal follow: a
    remote target answers with its Accept) and stops following ``origin``; answers
    how many moved. Refused unless ``target`` lists ``origin`` as its alias."""
    if origin.uri not in aliases_of(target):
        raise Forbidden("The new account does not list the old one.", code="alias_missing")
    origin.moved_to_uri = target.uri
    ctx.db.add(origin)
    followers = ctx.db.exec(
        select(Account)
        .join(Follow, col(Follow.follower_id) == col(Account.id))
        .where(col(Follow.target_account_id) == origin.id, col(Account.domain) == "")
    ).all()
    moved = 0
    for follower in followers:
        if follower.id != target.id:
            try:
                with ctx.db.begin_nested():  # e.g. the new account blocks them
                    follows.follow(ctx, follower, target)
                moved += 1
            except DomainError:
                pass
        follows.unfollow(ctx, follower, origin)
    return moved
