"""Mutes: a member choosing not to see a member, a remote domain, a thread or a
hashtag, for a while or until they change their mind.

Softer than a block (:mod:`app.services.blocks`): nothing is refused or ended
(follows stay, the muted side can still reply and react), the muted content only
leaves *the muter's* feeds, notifications and search results, and nothing is told
to anyone (no activity federates). :func:`hides_post` is the one definition feeds
and search use; :func:`mutes_actor` the one notifications use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BindParameter, ColumnElement, String, and_, cast, delete, exists, func, or_
from sqlalchemy.orm import Mapped
from sqlmodel import col, select

from app.errors import Invalid, NotFound
from app.models import Account, Mute, Post, PostTag, get_row, utcnow
from app.services import Ctx, follows
from app.text import normalize_tag

KINDS = ("account", "domain", "thread", "tag")
MAX_DURATION = 10 * 365 * 24 * 3600  # ten years: longer is "forever" (no duration)
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9-]{1,63})*(:\d{1,5})?$"
)


@dataclass(frozen=True)
class Target:
    """What a mute names, parsed from ``@name``, ``name@domain``, an actor URL,
    ``domain:example.org``, ``thread:<post id>`` or ``tag:<tag>``."""

    kind: str
    target: str


def names_an_actor(text: str) -> bool:
    """Whether ``text`` names a member (so a remote one may need looking up first)."""
    return text.strip().partition(":")[0] not in ("domain", "thread", "tag")


def parse(ctx: Ctx, text: str) -> Target:
    """The mute ``text`` names, among what this instance knows (a remote member
    is looked up first, as for a follow)."""
    text = (text or "").strip()
    if not text or len(text) > 2048:
        raise Invalid(
            "Say what to mute: @name, name@domain, domain:example.org, thread:<id> or tag:<tag>.",
            code="invalid_target",
        )
    prefix, _, rest = text.partition(":")
    if prefix == "domain":
        domain = rest.strip().lower()
        if not _DOMAIN.match(domain):
            raise Invalid(f"“{rest[:100]}” is not a domain name.", code="invalid_target")
        if domain == ctx.settings.domain:
            raise Invalid("Mute members of this server one by one.", code="invalid_target")
        return Target("domain", domain)
    if prefix == "thread":
        post = get_row(ctx.db, Post, int(rest)) if rest.isdigit() else None
        if post is None or post.is_deleted:
            raise NotFound(f"There is no thread {rest[:20]!r}.", code="not_found")
        return Target("thread", str(post.root_id or post.id))
    if prefix == "tag":
        tag = normalize_tag(rest.strip().lstrip("#"))[:100]
        if not tag:
            raise Invalid(f"“{rest[:100]}” is not a hashtag.", code="invalid_target")
        return Target("tag", tag)
    actor = follows.resolve_target(ctx, text)
    if not isinstance(actor, Account):
        raise Invalid(
            "Only members can be muted (leave a community instead).", code="invalid_target"
        )
    return Target("account", actor.uri)


def mute(ctx: Ctx, member: Account, target: Target, duration_seconds: int | None = None) -> Mute:
    """Mute ``target``; muting it again sets the new duration."""
    if target == Target("account", member.uri):
        raise Invalid("You can't mute yourself.", code="self_mute")
    if duration_seconds is not None and not 0 < duration_seconds <= MAX_DURATION:
        raise Invalid(
            f"A mute lasts between 1 and {MAX_DURATION} seconds "
            "(with no duration, until you unmute).",
            code="invalid_duration",
        )
    expires = utcnow() + timedelta(seconds=duration_seconds) if duration_seconds else None
    row = _find(ctx, member, target) or Mute(
        account_id=member.id, kind=target.kind, target=target.target
    )
    row.expires_at = expires
    row.created_at = utcnow()
    ctx.db.add(row)
    ctx.db.flush()
    return row


def unmute(ctx: Ctx, member: Account, target: Target) -> None:
    row = _find(ctx, member, target)
    if row is None:
        raise NotFound("You haven't muted that.", code="not_muted")
    ctx.db.delete(row)
    ctx.db.flush()


def listing(ctx: Ctx, member: Account) -> list[tuple[Mute, str]]:
    """The member's mutes still in force, newest first, each with the text that names it."""
    rows = ctx.db.exec(
        select(Mute)
        .where(col(Mute.account_id) == member.id, _in_force(utcnow()))
        .order_by(col(Mute.created_at).desc(), col(Mute.id).desc())
    ).all()
    uris = [r.target for r in rows if r.kind == "account"]
    handles = {
        a.uri: f"{a.username}@{a.domain or ctx.settings.domain}"
        for a in ctx.db.exec(select(Account).where(col(Account.uri).in_(uris or [""])))
    }
    out = []
    for row in rows:
        if row.kind == "account":
            out.append((row, handles.get(row.target, row.target)))
        else:
            out.append((row, f"{row.kind}:{row.target}"))
    return out


def is_muted(ctx: Ctx, member: Account | None, target: Target) -> bool:
    if member is None:
        return False
    row = _find(ctx, member, target)
    return row is not None and (row.expires_at is None or row.expires_at > utcnow())


def hides_post(
    viewer_id: int | BindParameter[int], now: datetime | BindParameter[datetime]
) -> ColumnElement[bool]:
    """The condition on a :class:`Post` joined to its author's :class:`Account`
    that hides it from ``viewer_id``'s feeds and searches: its author, the
    author's domain, its thread or one of its tags is muted by them and the mute
    has not expired. Both may be bound parameters of a cached statement."""
    thread = func.coalesce(col(Post.root_id), col(Post.id))
    tagged = (
        select(col(PostTag.post_id))
        .where(col(PostTag.post_id) == col(Post.id), col(PostTag.tag) == col(Mute.target))
        .correlate_except(PostTag)  # the post and the mute are the enclosing queries'
    )
    return exists(
        select(col(Mute.id)).where(
            col(Mute.account_id) == viewer_id,
            _in_force(now),
            or_(
                and_(col(Mute.kind) == "account", col(Mute.target) == col(Account.uri)),
                and_(
                    col(Mute.kind) == "domain",
                    col(Account.domain) != "",
                    col(Mute.target) == col(Account.domain),
                ),
                and_(col(Mute.kind) == "thread", col(Mute.target) == cast(thread, String)),
                and_(col(Mute.kind) == "tag", tagged.exists()),
            ),
        )
    )


def mutes_actor(member_id: ColumnElement[int] | Mapped[int], actor: Account) -> ColumnElement[bool]:
    """Whether the member ``member_id`` (a column of the query) muted ``actor`` or
    its domain: their notifications about what ``actor`` did are not made."""
    targets = [and_(col(Mute.kind) == "account", col(Mute.target) == actor.uri)]
    if actor.domain:
        targets.append(and_(col(Mute.kind) == "domain", col(Mute.target) == actor.domain))
    return exists(
        select(col(Mute.id)).where(
            col(Mute.account_id) == member_id, _in_force(utcnow()), or_(*targets)
        )
    )


def mutes_thread(
    member_id: ColumnElement[int] | Mapped[int], thread_id: int
) -> ColumnElement[bool]:
    """Whether the member ``member_id`` (a column of the query) muted the thread
    whose root is ``thread_id``: notifications about it are not made for them."""
    return exists(
        select(col(Mute.id)).where(
            col(Mute.account_id) == member_id,
            _in_force(utcnow()),
            col(Mute.kind) == "thread",
            col(Mute.target) == str(thread_id),
        )
    )


def mutes_actor_row(viewer_id: int) -> ColumnElement[bool]:
    """The condition on an :class:`Account` row (or one joined to what it wrote)
    that the viewer muted it or its domain: left out of their search results."""
    return exists(
        select(col(Mute.id)).where(
            col(Mute.account_id) == viewer_id,
            _in_force(utcnow()),
            or_(
                and_(col(Mute.kind) == "account", col(Mute.target) == col(Account.uri)),
                and_(
                    col(Mute.kind) == "domain",
                    col(Account.domain) != "",
                    col(Mute.target) == col(Account.domain),
                ),
            ),
        )
    )


def prune_expired(ctx: Ctx) -> None:
    """Delete mutes that have run out (they already hide nothing)."""
    ctx.db.execute(delete(Mute).where(col(Mute.expires_at) <= utcnow()))


def _in_force(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    return or_(col(Mute.expires_at).is_(None), col(Mute.expires_at) > now)


def _find(ctx: Ctx, member: Account, target: Target) -> Mute | None:
    return ctx.db.exec(
        select(Mute).where(
            col(Mute.account_id) == member.id,
            col(Mute.kind) == target.kind,
            col(Mute.target) == target.target,
        )
    ).first()
