"""Ids as the Mastodon client API spells them: strings of digits.

A status id is its post's time-sortable ``status_id`` (app/services/posts.py); an
account keeps its row id. Whatever a client sends that is no such id (``abc``,
``-1``, a number past 64 bits) finds nothing: 404, as Mastodon answers.

Artifacts and their statements read as statuses too, from ranges of their own
above every post's: a post's id is its time in milliseconds shifted left 16 bits,
below 2**62 until the year 4199 (and a post's time is never later than its
arrival), so ``2**62 + row id`` (an artifact) and ``3 * 2**61 + row id`` (a
statement) never meet one.

Communities are Group accounts (docs/mastodon-api.md, "Communities as Group
accounts"). A Group's account id is :data:`GROUP_ACCOUNT_BASE` plus the community's
row id: every such id is above any account's (row ids are 32-bit), below 2**53 (safe
where JavaScript reads ids as numbers), and the same for as long as the community
exists. The low two bits of a status id say what it names (posts.status_id): 0b00 a
post; 0b01 a community post's boost by its Group, the post's status id plus one, so
it sorts just above its post and below anything newer; 0b10 a member's boost
(app/services/boosts.py), from the boost's own time and row id. None is ever another's."""

from __future__ import annotations

from app.errors import NotFound
from app.models import MAX_ID, Account, Community, Post, get_row
from app.services import Ctx, blocks, boosts, peers, posts

MAX_DIGITS = 19  # 2**63 - 1 has 19
ARTIFACTS = 2**62  # an artifact's status id: this + its row id
STATEMENTS = 3 * 2**61  # a statement's: this + its row id
GROUP_ACCOUNT_BASE = 10**15  # a Group's account id: this plus its community's row id
GROUP_BOOST = 1  # a status id's low two bits (posts.KIND_BITS): a Group's boost
MEMBER_BOOST = 2  # a member's boost


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


def boost_id(post: Post) -> str:
    """The id of the boost of this community post by its Group."""
    return str((post.status_id or 0) + 1)


def _kind(value: str) -> int | None:
    """A post's id's low two bits, or None for an artifact's, a statement's or no id."""
    n = number(value)
    return n % 4 if n is not None and n < ARTIFACTS else None


def is_boost_id(value: str) -> bool:
    """A Group's boost's id (below the artifacts' range, whose ids are row ids above
    a base)."""
    return _kind(value) == GROUP_BOOST


def is_member_boost_id(value: str) -> bool:
    return _kind(value) == MEMBER_BOOST


def below(max_id: int | None) -> int | None:
    """What ``max_id`` pages below: a Group boost's post is just below the boost, so
    paging on from the boost starts under its post (which the boost showed)."""
    if max_id is None:
        return None
    return max_id - 1 if max_id < ARTIFACTS and max_id % 4 == GROUP_BOOST else max_id


def post_by_status_id(ctx: Ctx, value: str) -> Post:
    """The visible post with this status id, else 404. A boost id names the post
    boosted (what a verb on a boost acts on, as in Mastodon)."""
    n = number(value)
    if n is None:
        raise NotFound("No such status.", code="post_not_found")
    kind = n % 4 if n < ARTIFACTS else 0
    if kind == GROUP_BOOST:
        post = posts.get_by_status_id(ctx, n - GROUP_BOOST)
        if post.community_id is None:
            raise NotFound("No such status.", code="post_not_found")
        return post
    if kind == MEMBER_BOOST:
        return boosts.post_of(ctx, boosts.by_status_id(ctx, n))
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


def group_account_id(community: Community) -> str:
    return str(GROUP_ACCOUNT_BASE + community.id)


def group_by_account_id(ctx: Ctx, value: str) -> Community | None:
    """The community whose Group account id this is; None for an id that is no
    Group's (a member's, or no id at all); 404 for a Group that does not exist."""
    n = number(value)
    if n is None or n <= GROUP_ACCOUNT_BASE or n > GROUP_ACCOUNT_BASE + MAX_ID:
        return None
    community = get_row(ctx.db, Community, n - GROUP_ACCOUNT_BASE)
    if community is None or (community.domain and peers.is_blocked(ctx, community.domain)):
        raise NotFound("No such account.", code="account_not_found")
    return community
