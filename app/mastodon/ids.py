"""Ids as the Mastodon client API spells them: strings of digits.

A status id is its post's time-sortable ``status_id`` (app/services/posts.py); an
account keeps its row id. Artifacts and their statements read as statuses too,
from ranges of their own above every post's: a post's id is its time in
milliseconds shifted left 16 bits, below 2**62 until the year 4199 (and a post's
time is never later than its arrival), so ``2**62 + row id`` (an artifact) and
``3 * 2**61 + row id`` (a statement) never meet one. Whatever a client sends
that is no such id (``abc``, ``-1``, a number past 64 bits) finds nothing: 404,
as Mastodon answers."""

from __future__ import annotations

from app.errors import NotFound
from app.models import MAX_ID, Account, Post, get_row
from app.services import Ctx, blocks, posts

MAX_DIGITS = 19  # 2**63 - 1 has 19
ARTIFACTS = 2**62  # an artifact's status id: this + its row id
STATEMENTS = 3 * 2**61  # a statement's: this + its row id


def number(value: str | None) -> int | None:
    """The positive integer a string of digits spells, or None."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        return None
    if len(value) > MAX_DIGITS:
        return None
    n = int(value)
    return n if 0 < n <= posts.MAX_STATUS_ID else None


def status_id(post: Post) -> str:
    return str(post.status_id or 0)


def account_id(account: Account) -> str:
    return str(account.id)


def post_by_status_id(ctx: Ctx, value: str) -> Post:
    """The visible post with this status id, else 404."""
    n = number(value)
    if n is None:
        raise NotFound("No such status.", code="post_not_found")
    return posts.get_by_status_id(ctx, n)


def account_by_id(ctx: Ctx, value: str) -> Account:
    """The account with this id that is shown to anyone (not suspended, not deleted,
    not on a blocked domain), else 404."""
    n = number(value)
    account = get_row(ctx.db, Account, n) if n is not None and n <= MAX_ID else None
    if account is None or account.is_deleted or blocks.hidden_from_everyone(ctx, account.id):
        raise NotFound("No such account.", code="account_not_found")
    return account


def artifact_status_id(artifact_id: int) -> str:
    return str(ARTIFACTS + artifact_id)


def statement_status_id(statement_id: int) -> str:
    return str(STATEMENTS + statement_id)


def artifact_or_statement(value: str) -> tuple[str, int] | None:
    """``("artifact", row id)`` or ``("statement", row id)`` for a status id in
    their ranges, else None (a post's, or no id at all)."""
    n = number(value)
    if n is None or n <= ARTIFACTS:
        return None
    if n <= STATEMENTS:
        return "artifact", n - ARTIFACTS
    return "statement", n - STATEMENTS
