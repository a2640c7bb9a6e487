"""Notifications: what members are told about, grouped, with per-kind choices.

Every kind is a listener on a domain event (:mod:`app.infra.events`), so a reply
written here and one that arrived from another server (the federation handlers
call the same services, which emit the same events) notify alike, in the same
transaction as the write. Events of one kind on one thing group into one unread
row ("Ada and 4 others agreed with your post"). A member chooses per kind: on,
off, or email (shown here and sent in the e-mail digest, see digests.py).
Each change publishes the member's unread count for live pages (infra/live.py).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import and_, delete, func, or_, update
from sqlmodel import col, select

from app.db import hold
from app.errors import Invalid, NotFound
from app.infra import events, jobs, live
from app.models import (
    Account,
    AlgorithmChange,
    AlgorithmProposal,
    Appeal,
    Artifact,
    ArtifactRevision,
    Block,
    Boost,
    Community,
    Decision,
    Follow,
    Membership,
    ModerationAction,
    Notification,
    NotificationActor,
    NotificationPreference,
    Post,
    PostMention,
    Reaction,
    Stance,
    Statement,
    get_row,
    utcnow,
)
from app.services import Ctx, mutes

T = TypeVar("T", Post, Artifact, Community)

# kind -> what the list says after the actors' names
KINDS: dict[str, str] = {
    "reply": "replied to your post",
    "mention": "mentioned you",
    "follow": "followed you",
    "follow_request": "asked to join",
    "like": "liked your post",
    "boost": "boosted your post",
    "stance": "took a stance on your post",
    "revision": "revised an artifact you contributed to",
    "statement": "added a statement to an artifact you contributed to",
    "artifact_stance": "took a stance on an artifact you contributed to",
    "vote_opened": "A vote opened",
    "vote_closed": "A vote closed",
    "review_due": "An artifact is due for review",
    "algorithm_changed": "The ranking algorithm changed",
    "moderation": "Moderators acted on your account or content",
    "appeal_decided": "Your appeal was decided",
}
# what a moderation notification says, by action (app/services/moderation.py)
MODERATION_SAYS = {
    "remove": "Moderators removed your post",
    "warn": "Moderators warned you",
    "ban": "You were banned from a community",
    "suspend": "Your account was suspended",
    "appeal_granted": "Your appeal was granted",
    "appeal_denied": "Your appeal was denied",
}
MODES = ("on", "off", "email")
PAGE = 30
MAX_PAGE = 100
MAX_IDS = 500
SHOWN_ACTORS = 3
COUNTS_PER_MESSAGE = 300  # unread counts per live message (its payload stays small)


def _check_kinds(kinds: Iterable[str]) -> list[str]:
    out = [k for k in kinds if k]
    unknown = [k for k in out if k not in KINDS]
    if unknown:
        raise Invalid(
            f"Unknown notification kind “{unknown[0][:40]}”; the kinds are: {', '.join(KINDS)}.",
            code="invalid_kind",
        )
    return out


# --- preferences --------------------------------------------------------------


def preferences(ctx: Ctx, account: Account) -> dict[str, str]:
    """Every kind's mode for this member (no row: on)."""
    rows = ctx.db.exec(
        select(NotificationPreference).where(col(NotificationPreference.account_id) == account.id)
    ).all()
    chosen = {r.kind: r.mode for r in rows}
    return {kind: chosen.get(kind, "on") for kind in KINDS}


def set_preferences(ctx: Ctx, account: Account, modes: dict[str, str]) -> dict[str, str]:
    _check_kinds(modes)
    for mode in modes.values():
        if mode not in MODES:
            raise Invalid("A notification setting is on, off or email.", code="invalid_mode")
    for kind, mode in modes.items():
        row = ctx.db.get(NotificationPreference, (account.id, kind))
        if row is None:
            ctx.db.add(NotificationPreference(account_id=account.id, kind=kind, mode=mode))
        else:
            row.mode = mode
            ctx.db.add(row)
    ctx.db.flush()
    return preferences(ctx, account)


# --- recording ----------------------------------------------------------------


@dataclass
class What:
    """One thing to tell: its kind, what it is about, and who did it."""

    kind: str
    group: str
    actor: Account | None = None
    verb: str = ""
    post_id: int | None = None
    artifact_id: int | None = None
    community_id: int | None = None
    ref_id: int | None = None
    extra_actors: list[Account] = field(default_factory=list)
    once: bool = False  # the group is this one event's (a vote): nothing to join, no race


def _recipients(
    ctx: Ctx,
    kind: str,
    ids: Iterable[int | None],
    actor: Account | None,
    thread_id: int | None = None,
) -> list[int]:
    """Active local members among ``ids`` who want ``kind``, less the actor,
    whoever blocked or muted them, and whoever muted the thread: one query."""
    wanted = {i for i in ids if i is not None and (actor is None or i != actor.id)}
    if not wanted:
        return []
    switched_off = select(col(NotificationPreference.account_id)).where(
        col(NotificationPreference.account_id) == col(Account.id),
        col(NotificationPreference.kind) == kind,
        col(NotificationPreference.mode) == "off",
    )
    q = select(col(Account.id)).where(
        col(Account.id).in_(wanted),
        col(Account.domain) == "",
        col(Account.is_active),
        ~switched_off.exists(),
    )
    if actor is not None:
        blocked = select(col(Block.id)).where(
            col(Block.account_id) == col(Account.id), col(Block.target_uri) == actor.uri
        )
        q = q.where(~blocked.exists(), ~mutes.mutes_actor(col(Account.id), actor))
    if thread_id is not None:
        q = q.where(~mutes.mutes_thread(col(Account.id), thread_id))
    return sorted(ctx.db.exec(q).all())


def notify(ctx: Ctx, what: What, recipients: Iterable[int | None]) -> list[Notification]:
    """Record ``what`` for each recipient who wants this kind: joining their unread
    group for the same thing if there is one, else as a new row."""
    if what.actor is not None and not what.actor.is_active:
        return []
    post = ctx.db.get(Post, what.post_id) if what.post_id is not None else None
    thread = (post.root_id or post.id) if post is not None else None
    ids = _recipients(ctx, what.kind, recipients, what.actor, thread)
    if not ids:
        return []
    if not what.once:  # two events for one group at once must not make two groups
        hold(ctx.db, *(f"notification:{i}:{what.group}" for i in ids))
    now = utcnow()
    open_groups = {
        n.account_id: n
        for n in ctx.db.exec(
            select(Notification).where(
                col(Notification.account_id).in_(ids),
                col(Notification.group_key) == what.group,
                col(Notification.read_at).is_(None),
            )
        )
    }
    actors = [a for a in [what.actor, *what.extra_actors] if a is not None]
    out = []
    for account_id in ids:
        note = open_groups.get(account_id)
        if note is None:
            note = Notification(
                account_id=account_id,
                kind=what.kind,
                verb=what.verb,
                group_key=what.group,
                post_id=what.post_id,
                artifact_id=what.artifact_id,
                community_id=what.community_id,
                ref_id=what.ref_id,
                created_at=now,
                latest_at=now,
            )
            ctx.db.add(note)
            ctx.db.flush()
            known: set[int] = set()
        else:
            note.latest_at = now
            known = set(
                ctx.db.exec(
                    select(col(NotificationActor.account_id)).where(
                        col(NotificationActor.notification_id) == note.id,
                        col(NotificationActor.account_id).in_([a.id for a in actors] or [0]),
                    )
                ).all()
            )
        for actor in actors:
            if actor.id not in known and actor.id != account_id:
                ctx.db.add(
                    NotificationActor(notification_id=note.id, account_id=actor.id, created_at=now)
                )
                note.actor_count += 1
                known.add(actor.id)
        ctx.db.add(note)
        out.append(note)
    ctx.db.flush()
    publish_counts(ctx, ids)
    return out


def unread_counts(ctx: Ctx, account_ids: list[int]) -> dict[int, int]:
    if not account_ids:
        return {}
    rows = ctx.db.exec(
        select(col(Notification.account_id), func.count())
        .where(col(Notification.account_id).in_(account_ids), col(Notification.read_at).is_(None))
        .group_by(col(Notification.account_id))
    ).all()
    counts = dict.fromkeys(account_ids, 0)
    counts.update({a: int(n) for a, n in rows})
    return counts


def unread_count(ctx: Ctx, account: Account) -> int:
    return unread_counts(ctx, [account.id])[account.id]


def publish_counts(ctx: Ctx, account_ids: list[int]) -> None:
    """Tell live pages these members' unread counts, once the transaction commits."""
    counts = unread_counts(ctx, account_ids)
    items = sorted(counts.items())
    for start in range(0, len(items), COUNTS_PER_MESSAGE):
        chunk = items[start : start + COUNTS_PER_MESSAGE]
        live.publish(ctx.db, {"e": "notification", "u": {str(a): n for a, n in chunk}})


# --- reading ------------------------------------------------------------------


@dataclass
class Item:
    """A notification as lists show it."""

    note: Notification
    actors: list[Account]  # the latest few
    post: Post | None
    artifact: Artifact | None
    community: Community | None
    pending: set[int]  # for a join request: actors still waiting for an answer

    @property
    def others(self) -> int:
        return max(self.note.actor_count - len(self.actors), 0)

    @property
    def summary(self) -> str:
        """'Ada and 4 others agreed with your post', in plain words."""
        note, says = self.note, KINDS[self.note.kind]
        if note.kind == "stance":
            says = {
                "agree": "agreed with your post",
                "disagree": "disagreed with your post",
                "pass": "passed on your post",
            }.get(note.verb, says)
        if note.kind == "artifact_stance" and note.verb:
            says = f"{_past(note.verb)} an artifact you contributed to"
        if note.kind == "vote_closed" and note.verb:
            says = f"A vote closed: {note.verb.replace('_', ' ')}"
        if note.kind in ("moderation", "appeal_decided"):
            return MODERATION_SAYS.get(note.verb, says)
        if not self.actors or note.kind in ("vote_opened", "vote_closed", "review_due"):
            return says
        if self.note.actor_count <= 2:
            who = " and ".join(a.name for a in self.actors[:2])
        else:
            who = f"{self.actors[0].name} and {_others(self.note.actor_count - 1)}"
        if note.kind == "algorithm_changed":
            return f"{says} ({who})"
        return f"{who} {says}"


def _past(stance: str) -> str:
    return {"agree": "agreed with", "disagree": "disagreed with", "pass": "passed on"}.get(
        stance, "took a stance on"
    )


def _others(n: int) -> str:
    return "1 other" if n == 1 else f"{n:,} others"


def encode_cursor(note: Notification) -> str:
    raw = f"{note.latest_at.isoformat()}|{note.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    bad = Invalid("That page link is not valid; start from the first page.", code="invalid_cursor")
    if len(cursor) > 200:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, ident = raw.partition("|")
        at, note_id = datetime.fromisoformat(when), int(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise bad from exc
    if at.tzinfo is None or not 0 < note_id < 2**31:
        raise bad
    return at, note_id


def listing(
    ctx: Ctx,
    account: Account,
    *,
    cursor: str | None = None,
    kinds: Iterable[str] = (),
    unread_only: bool = False,
    limit: int = PAGE,
) -> tuple[list[Item], str | None]:
    """Newest first (by latest activity), keyset-paginated; filtered by kinds."""
    kinds = _check_kinds(kinds)
    limit = max(1, min(limit, MAX_PAGE))
    q = select(Notification).where(col(Notification.account_id) == account.id)
    if kinds:
        q = q.where(col(Notification.kind).in_(kinds))
    if unread_only:
        q = q.where(col(Notification.read_at).is_(None))
    if cursor:
        at, note_id = decode_cursor(cursor)
        q = q.where(
            or_(
                col(Notification.latest_at) < at,
                and_(col(Notification.latest_at) == at, col(Notification.id) < note_id),
            )
        )
    q = q.order_by(col(Notification.latest_at).desc(), col(Notification.id).desc())
    rows = list(ctx.db.exec(q.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return _items(ctx, rows), (encode_cursor(rows[-1]) if more and rows else None)


def _items(ctx: Ctx, rows: list[Notification]) -> list[Item]:
    """Read models for a page of notifications, in a fixed number of queries."""
    if not rows:
        return []
    ids = [n.id for n in rows]
    by_note: dict[int, list[int]] = {i: [] for i in ids}
    actor_rows = ctx.db.exec(
        select(col(NotificationActor.notification_id), col(NotificationActor.account_id))
        .where(col(NotificationActor.notification_id).in_(ids))
        .order_by(col(NotificationActor.created_at).desc())
    ).all()
    for note_id, account_id in actor_rows:
        if len(by_note[note_id]) < SHOWN_ACTORS:
            by_note[note_id].append(account_id)
    wanted = {a for ids_ in by_note.values() for a in ids_}
    people = {a.id: a for a in ctx.db.exec(select(Account).where(col(Account.id).in_(wanted)))}
    posts = _by_id(ctx, Post, {n.post_id for n in rows})
    arts = _by_id(ctx, Artifact, {n.artifact_id for n in rows})
    comms = _by_id(ctx, Community, {n.community_id for n in rows})
    pending: dict[int, set[int]] = {}
    requests = [n for n in rows if n.kind == "follow_request" and n.community_id]
    if requests:
        waiting = ctx.db.exec(
            select(col(Membership.community_id), col(Membership.account_id)).where(
                col(Membership.community_id).in_({n.community_id for n in requests}),
                col(Membership.state) == "pending",
            )
        ).all()
        for community_id, account_id in waiting:
            pending.setdefault(community_id, set()).add(account_id)
    return [
        Item(
            note=n,
            actors=[people[a] for a in by_note[n.id] if a in people],
            post=posts.get(n.post_id) if n.post_id else None,
            artifact=arts.get(n.artifact_id) if n.artifact_id else None,
            community=comms.get(n.community_id) if n.community_id else None,
            pending=pending.get(n.community_id or 0, set()),
        )
        for n in rows
    ]


def _by_id(ctx: Ctx, model: type[T], ids: set[int | None]) -> dict[int, T]:
    keys = [i for i in ids if i is not None]
    if not keys:
        return {}
    rows = ctx.db.exec(select(model).where(col(model.id).in_(keys)))
    return {r.id: r for r in rows}


def get(ctx: Ctx, account: Account, note_id: int) -> Notification:
    note = get_row(ctx.db, Notification, note_id)
    if note is None or note.account_id != account.id:
        raise NotFound("No such notification.", code="notification_not_found")
    return note


def mark_read(
    ctx: Ctx, account: Account, *, ids: list[int] | None = None, up_to: int | None = None
) -> int:
    """Mark some (``ids``), or everything up to one (``up_to``: that notification
    and all older ones), as read; how many changed."""
    if (ids is None) == (up_to is None):
        raise Invalid("Send either “ids” or “up_to”.", code="invalid_read")
    q = update(Notification).where(
        col(Notification.account_id) == account.id, col(Notification.read_at).is_(None)
    )
    if ids is not None:
        whole = all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        if len(ids) > MAX_IDS or not whole:
            raise Invalid(f"Send at most {MAX_IDS} notification ids.", code="invalid_read")
        q = q.where(col(Notification.id).in_(ids or [0]))
    else:
        last = get(ctx, account, up_to or 0)
        q = q.where(
            or_(
                col(Notification.latest_at) < last.latest_at,
                and_(
                    col(Notification.latest_at) == last.latest_at,
                    col(Notification.id) <= last.id,
                ),
            )
        )
    changed = ctx.db.execute(q.values(read_at=utcnow())).rowcount or 0  # type: ignore[attr-defined]
    if changed:
        publish_counts(ctx, [account.id])
    return changed


def items(ctx: Ctx, rows: list[Notification]) -> list[Item]:
    """Read models for notifications already found (e.g. a page in id order)."""
    return _items(ctx, rows)


def by_id(
    ctx: Ctx,
    account: Account,
    *,
    kinds: Iterable[str] = (),
    actor_id: int | None = None,
    below: int | None = None,
    above: int | None = None,
    oldest_first: bool = False,
    limit: int = PAGE,
) -> list[Notification]:
    """The member's notifications of these kinds in the order they were first made
    (row id), for clients that page by id (the Mastodon API): newest first, or
    oldest first just above ``above``; ``actor_id``: only those that actor is in."""
    kinds = _check_kinds(kinds)
    if not kinds:
        return []
    q = select(Notification).where(
        col(Notification.account_id) == account.id, col(Notification.kind).in_(kinds)
    )
    if actor_id is not None:
        q = q.where(
            select(col(NotificationActor.account_id))
            .where(
                col(NotificationActor.notification_id) == col(Notification.id),
                col(NotificationActor.account_id) == actor_id,
            )
            .exists()
        )
    if below is not None:
        q = q.where(col(Notification.id) < below)
    if above is not None:
        q = q.where(col(Notification.id) > above)
    order = col(Notification.id).asc() if oldest_first else col(Notification.id).desc()
    rows = list(ctx.db.exec(q.order_by(order).limit(max(1, min(limit, MAX_PAGE)))))
    return sorted(rows, key=lambda n: n.id, reverse=True)


def newest_latest_at(ctx: Ctx, account: Account) -> datetime | None:
    """When the member's latest notification event happened (a stream starts there)."""
    return ctx.db.exec(
        select(func.max(col(Notification.latest_at))).where(
            col(Notification.account_id) == account.id
        )
    ).first()


def changed_since(
    ctx: Ctx, account: Account, since: datetime | None, limit: int = PAGE
) -> list[Notification]:
    """The member's unread notifications made or joined by a new event after
    ``since``, oldest first: what a live stream has not told yet."""
    q = select(Notification).where(
        col(Notification.account_id) == account.id, col(Notification.read_at).is_(None)
    )
    if since is not None:
        q = q.where(col(Notification.latest_at) > since)
    order = (col(Notification.latest_at), col(Notification.id))
    return list(ctx.db.exec(q.order_by(*order).limit(limit)))


def latest_replies(ctx: Ctx, found: list[Item]) -> dict[int, Post]:
    """For reply notifications (which name the member's post replied to): the
    latest actor's newest visible reply to it, by notification id; one query."""
    wanted = {
        (i.note.post_id, i.actors[0].id): i.note.id
        for i in found
        if i.note.kind == "reply" and i.note.post_id and i.actors
    }
    if not wanted:
        return {}
    rows = ctx.db.exec(
        select(Post)
        .where(
            col(Post.in_reply_to_id).in_({p for p, _ in wanted}),
            col(Post.author_id).in_({a for _, a in wanted}),
            col(Post.deleted_at).is_(None),
        )
        .order_by(col(Post.id))
    )
    out: dict[int, Post] = {}
    for post in rows:  # oldest first: the newest reply of each pair is kept
        note_id = wanted.get((post.in_reply_to_id or 0, post.author_id))
        if note_id is not None:
            out[note_id] = post
    return out


def dismiss(ctx: Ctx, account: Account, note_id: int) -> None:
    """Remove one notification for good (its group is gone: a later event starts
    a new one); another member's, or one already dismissed, is not found."""
    note = get(ctx, account, note_id)
    ctx.db.delete(note)
    ctx.db.flush()
    publish_counts(ctx, [account.id])


def clear(ctx: Ctx, account: Account) -> int:
    """Dismiss every notification of the member; how many there were."""
    q = delete(Notification).where(col(Notification.account_id) == account.id)
    gone = ctx.db.execute(q).rowcount or 0  # type: ignore[attr-defined]
    if gone:  # their actors go with them (ON DELETE CASCADE)
        publish_counts(ctx, [account.id])
    return gone


# --- who contributed, who belongs ---------------------------------------------


def contributors(ctx: Ctx, artifact: Artifact) -> list[int]:
    """Everyone who wrote a revision of the artifact (its author among them)."""
    rows = ctx.db.exec(
        select(col(ArtifactRevision.author_id))
        .where(col(ArtifactRevision.artifact_id) == artifact.id)
        .distinct()
    ).all()
    return sorted({*rows, artifact.author_id})


def members(ctx: Ctx, community_id: int) -> list[int]:
    return list(
        ctx.db.exec(
            select(col(Membership.account_id)).where(
                col(Membership.community_id) == community_id, col(Membership.state) == "active"
            )
        ).all()
    )


def moderators(ctx: Ctx, community_id: int) -> list[int]:
    return list(
        ctx.db.exec(
            select(col(Membership.account_id)).where(
                col(Membership.community_id) == community_id,
                col(Membership.state) == "active",
                col(Membership.role).in_(("moderator", "admin")),
            )
        ).all()
    )


# --- the listeners ------------------------------------------------------------


@events.on("post.created")
def _post_created(ctx: Ctx, post: Post) -> None:
    author = ctx.db.get(Account, post.author_id)
    if author is None:
        return
    parent = ctx.db.get(Post, post.in_reply_to_id) if post.in_reply_to_id else None
    if parent is not None:
        what = What("reply", f"reply:{parent.id}", author, post_id=parent.id)
        notify(ctx, what, [parent.author_id])
    mentioned = ctx.db.exec(
        select(col(PostMention.account_id)).where(col(PostMention.post_id) == post.id)
    ).all()
    skip = {parent.author_id} if parent is not None else set()
    notify(
        ctx,
        What("mention", f"mention:{post.id}", author, post_id=post.id),
        [m for m in mentioned if m not in skip],
    )
    live.publish(
        ctx.db,
        {
            "e": "feed.new",
            "p": post.id,
            "a": post.author_id,
            "c": post.community_id,
            "r": post.in_reply_to_id is not None,
        },
    )


@events.on("follow.created")
def _follow_created(ctx: Ctx, follow: Follow) -> None:
    follower = ctx.db.get(Account, follow.follower_id)
    if follower is None or follow.target_account_id is None or follow.state != "accepted":
        return
    notify(ctx, What("follow", "follow", follower), [follow.target_account_id])


@events.on("membership.requested")
def _membership_requested(ctx: Ctx, membership: Membership) -> None:
    who = ctx.db.get(Account, membership.account_id)
    if who is None:
        return
    what = What(
        "follow_request",
        f"follow_request:{membership.community_id}",
        who,
        verb="follow" if who.domain else "join",
        community_id=membership.community_id,
    )
    notify(ctx, what, moderators(ctx, membership.community_id))


@events.on("reaction.added")
def _reaction_added(ctx: Ctx, reaction: Reaction) -> None:
    post = ctx.db.get(Post, reaction.post_id)
    who = ctx.db.get(Account, reaction.account_id)
    if post is None or who is None:
        return
    if reaction.kind == "like":
        what = What("like", f"like:{post.id}", who, post_id=post.id)
    else:
        kind = reaction.kind
        what = What("stance", f"stance:{kind}:{post.id}", who, verb=kind, post_id=post.id)
    notify(ctx, what, [post.author_id])


@events.on("boost.added")
def _boost_added(ctx: Ctx, boost: Boost) -> None:
    post = ctx.db.get(Post, boost.post_id)
    who = ctx.db.get(Account, boost.account_id)
    if post is None or who is None:
        return
    notify(ctx, What("boost", f"boost:{post.id}", who, post_id=post.id), [post.author_id])


@events.on("artifact.revised")
def _artifact_revised(ctx: Ctx, artifact: Artifact, revision: ArtifactRevision) -> None:
    who = ctx.db.get(Account, revision.author_id)
    what = What("revision", f"revision:{artifact.id}", who, artifact_id=artifact.id)
    notify(ctx, what, contributors(ctx, artifact))


@events.on("statement.created")
def _statement_created(ctx: Ctx, statement: Statement) -> None:
    artifact = ctx.db.get(Artifact, statement.artifact_id)
    who = ctx.db.get(Account, statement.author_id)
    if artifact is None:
        return
    what = What("statement", f"statement:{artifact.id}", who, artifact_id=artifact.id)
    notify(ctx, what, contributors(ctx, artifact))


@events.on("stance.taken")
def _stance_taken(ctx: Ctx, stance: Stance) -> None:
    artifact = ctx.db.get(Artifact, stance.artifact_id)
    who = ctx.db.get(Account, stance.account_id)
    if artifact is None:
        return
    on = "statement" if stance.statement_id else "artifact"
    what = What(
        "artifact_stance",
        f"artifact_stance:{on}:{stance.stance}:{artifact.id}",
        who,
        verb=stance.stance,
        artifact_id=artifact.id,
    )
    notify(ctx, what, contributors(ctx, artifact))


@events.on("decision.opened")
def _decision_opened(ctx: Ctx, decision: Decision, artifact: Artifact) -> None:
    what = What(
        "vote_opened",
        f"vote_opened:decision:{decision.id}",
        ctx.db.get(Account, decision.opened_by_id),
        once=True,
        verb="decision",
        artifact_id=artifact.id,
        community_id=artifact.community_id,
        ref_id=decision.id,
    )
    notify(ctx, what, members(ctx, artifact.community_id))


@events.on("decision.closed")
def _decision_closed(ctx: Ctx, decision: Decision, artifact: Artifact) -> None:
    what = What(
        "vote_closed",
        f"vote_closed:decision:{decision.id}",
        once=True,
        verb=decision.state,
        artifact_id=artifact.id,
        community_id=artifact.community_id,
        ref_id=decision.id,
    )
    notify(ctx, what, members(ctx, artifact.community_id))


@events.on("proposal.opened")
def _proposal_opened(ctx: Ctx, proposal: AlgorithmProposal) -> None:
    what = What(
        "vote_opened",
        f"vote_opened:proposal:{proposal.id}",
        ctx.db.get(Account, proposal.proposer_id) if proposal.proposer_id else None,
        once=True,
        verb="algorithm",
        community_id=proposal.community_id,
        ref_id=proposal.id,
    )
    notify(ctx, what, members(ctx, proposal.community_id))


@events.on("proposal.closed")
def _proposal_closed(ctx: Ctx, proposal: AlgorithmProposal) -> None:
    what = What(
        "vote_closed",
        f"vote_closed:proposal:{proposal.id}",
        once=True,
        verb=proposal.state,
        community_id=proposal.community_id,
        ref_id=proposal.id,
    )
    notify(ctx, what, members(ctx, proposal.community_id))


@events.on("algorithm.changed")
def _algorithm_changed(ctx: Ctx, change: AlgorithmChange) -> None:
    what = What(
        "algorithm_changed",
        f"algorithm_changed:{change.id}",
        ctx.db.get(Account, change.changed_by_id) if change.changed_by_id else None,
        once=True,
        community_id=change.community_id,
        ref_id=change.id,
    )
    notify(ctx, what, members(ctx, change.community_id))


@events.on("moderation.acted")
def _moderation_acted(ctx: Ctx, action: ModerationAction) -> None:
    """The member acted on learns what was done and under which rule (the
    notification links to the action's page, where they may appeal)."""
    if action.action not in MODERATION_SAYS or action.target_account_id is None:
        return
    what = What(
        "moderation",
        f"moderation:{action.id}",
        once=True,
        verb=action.action,
        community_id=action.community_id,
        ref_id=action.id,
    )
    notify(ctx, what, [action.target_account_id])


@events.on("moderation.appeal_decided")
def _appeal_decided(ctx: Ctx, appeal: Appeal, action: ModerationAction) -> None:
    what = What(
        "appeal_decided",
        f"appeal_decided:{appeal.id}",
        once=True,
        verb=action.action,
        community_id=action.community_id,
        ref_id=appeal.action_id,
    )
    notify(ctx, what, [appeal.account_id])


# --- artifacts due for review -------------------------------------------------


@events.on("artifact.revised")
def _schedule_review(ctx: Ctx, artifact: Artifact, revision: ArtifactRevision) -> None:
    """An outcome with a review date: tell its contributors when the day comes."""
    if revision.change == "outcome" and artifact.review_at is not None:
        payload = {"artifact": artifact.id, "review_at": artifact.review_at.isoformat()}
        jobs.enqueue(ctx, "notifications.review_due", payload, run_at=artifact.review_at)


@jobs.handler("notifications.review_due")
def review_due(ctx: Ctx, payload: dict) -> None:
    artifact = ctx.db.get(Artifact, payload.get("artifact"))
    if artifact is None or artifact.review_at is None:
        return
    if artifact.review_at.isoformat() != payload.get("review_at"):
        return  # rescheduled: that date's job tells
    if artifact.review_at > utcnow() + timedelta(seconds=1):
        raise jobs.RetryAt(artifact.review_at, "not due yet", free=True)
    when = artifact.review_at.date().isoformat()
    what = What(
        "review_due",
        f"review_due:{artifact.id}:{when}",
        once=True,
        artifact_id=artifact.id,
        community_id=artifact.community_id,
    )
    notify(ctx, what, contributors(ctx, artifact) + moderators(ctx, artifact.community_id))
