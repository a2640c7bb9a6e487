"""What we send, and to whom: domain events become activities in the outbox.

Each listener runs inside the transaction of the write that caused it, so an
outbox item and its delivery jobs (one per remote inbox; shared inboxes
deduplicate fan-out) exist if and only if that write does. The delivery jobs
themselves run in :mod:`federation.delivery`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable

from sqlmodel import col, select

from app.db import get_or_raise
from app.infra import events, jobs
from app.models import (
    Account,
    Block,
    Boost,
    Community,
    Follow,
    OutboxItem,
    PeerDomain,
    Post,
    PostMention,
    Reaction,
)
from app.services import Ctx, blocks, follows
from federation import remote, vocab
from federation.objects import announce_activity, create_activity, note, tombstone
from federation.vocab import AS_PUBLIC, CONTEXT

DELIVERY_ATTEMPTS = 16  # about two days of backoff (see jobs.backoff)
STANCE_ACTIVITY = {"like": "Like", "agree": "Like", "disagree": "Dislike", "pass": "Ignore"}


def activity_id(ctx: Ctx) -> str:
    return f"{ctx.base_url}/activities/{uuid.uuid4().hex}"


def blocked_domains(ctx: Ctx) -> set[str]:
    return set(ctx.db.exec(select(col(PeerDomain.domain)).where(col(PeerDomain.blocked))).all())


def publish(ctx: Ctx, activity: dict, inboxes: Iterable[str], *, public: bool = True) -> OutboxItem:
    """Store an activity in its actor's outbox and queue one delivery per inbox."""
    activity = {"@context": CONTEXT, **activity}
    obj = activity.get("object")
    item = OutboxItem(
        uri=activity["id"],
        actor_uri=activity["actor"],
        activity_type=activity["type"],
        object_uri=vocab.id_of(obj),
        body=json.dumps(activity, separators=(",", ":")),
        public=public,
    )
    ctx.db.add(item)
    ctx.db.flush()
    blocked = blocked_domains(ctx)
    for inbox in sorted(set(inboxes)):
        if remote.authority_of(inbox) in blocked or remote.host_of(inbox) in blocked:
            continue
        jobs.enqueue(
            ctx,
            "ap.deliver",
            {"outbox_item": item.id, "inbox": inbox},
            max_attempts=DELIVERY_ATTEMPTS,
        )
    return item


def inboxes_of(ctx: Ctx, uris: Iterable[str]) -> set[str]:
    """Shared inboxes where a peer has one: one POST per server, not per follower."""
    return {inbox for uri in set(uris) if (inbox := remote.inbox_of(ctx, uri))}


def remote_follower_inboxes(ctx: Ctx, target: Account | Community) -> set[str]:
    return inboxes_of(ctx, [a.uri for a in follows.remote_followers(ctx, target)])


def _context(ctx: Ctx, post: Post) -> tuple[Account, Community | None, Post | None]:
    author = get_or_raise(ctx.db, Account, post.author_id)
    community = ctx.db.get(Community, post.community_id) if post.community_id else None
    parent = ctx.db.get(Post, post.in_reply_to_id) if post.in_reply_to_id else None
    return author, community, parent


def _post_audience(ctx: Ctx, post: Post, author: Account, community, parent) -> set[str]:
    """Who hears about a local member's post: their remote followers, remote people
    mentioned, the remote author replied to, and a remote community it is in."""
    uris = [a.uri for a in follows.remote_followers(ctx, author)]
    uris += ctx.db.exec(
        select(col(Account.uri))
        .join(PostMention, col(PostMention.account_id) == col(Account.id))
        .where(col(PostMention.post_id) == post.id, col(Account.domain) != "")
    ).all()
    if parent is not None:
        parent_author = ctx.db.get(Account, parent.author_id)
        if parent_author is not None and parent_author.domain:
            uris.append(parent_author.uri)
    if community is not None and community.domain:
        uris.append(community.uri)
    blocked = blocks.blocked_uris(ctx, author)
    return inboxes_of(ctx, [uri for uri in uris if uri not in blocked])


def _announce(
    ctx: Ctx,
    community: Community,
    inboxes: set[str],
    obj: dict | str,
    *,
    announce: dict | None = None,
) -> None:
    """FEP-1b12: a local community relays what happens in it to its remote followers
    (``inboxes``; ``announce``: a ready-made Announce with a stable id, else one is built)."""
    announce = announce or {
        "id": activity_id(ctx),
        "type": "Announce",
        "actor": community.uri,
        "object": obj,
        "to": [AS_PUBLIC],
        "cc": [f"{community.uri}/followers"],
    }
    publish(ctx, announce, inboxes)


def _post_activity(ctx: Ctx, post: Post, kind: str) -> None:
    author, community, parent = _context(ctx, post)
    local_community = community if community is not None and not community.domain else None
    if not author.is_local and local_community is None:
        return  # a remote post in a remote place: not ours to relay
    audience = _post_audience(ctx, post, author, community, parent) if author.is_local else set()
    inboxes = remote_follower_inboxes(ctx, local_community) if local_community else set()
    # Nobody elsewhere to hear of it: nothing is built or stored.
    relay_activity = bool(inboxes) and kind != "Create" and author.is_local
    activity = _activity(ctx, post, author, kind) if audience or relay_activity else {}
    if audience:
        publish(ctx, activity, audience)
    if community is None or not inboxes:
        return
    if kind != "Create":
        if relay_activity:
            _announce(ctx, community, inboxes, activity)
        return
    # Announce(Create), or by id for a remote member's post (peers fetch it from
    # its origin): the same activity, with the same id, as the community's outbox.
    announce = announce_activity(ctx, post, community)
    _announce(ctx, community, inboxes, post.uri, announce=announce)
    if author.is_local:
        # Mastodon ignores Announce(Create); it shows a boost of the object.
        _announce(ctx, community, inboxes, post.uri)


def _activity(ctx: Ctx, post: Post, author: Account, kind: str) -> dict:
    """The Create, Update or Delete of a post, as its author sends it."""
    if kind == "Create":
        return create_activity(ctx, post)  # its id is the post's, as in the outbox
    obj = tombstone(post) if kind == "Delete" else note(ctx, post, with_context=False)
    obj.pop("@context", None)
    activity = {
        "id": activity_id(ctx),
        "type": kind,
        "actor": author.uri,
        "object": obj,
        "to": obj.get("to", [AS_PUBLIC]),  # an unlisted post's Update: to its followers
        "cc": obj.get("cc", []) if kind != "Delete" else [f"{author.uri}/followers"],
    }
    if kind == "Update":
        activity["updated"] = obj.get("updated")
    return activity


@events.on("post.created")
def _created(ctx: Ctx, post: Post) -> None:
    _post_activity(ctx, post, "Create")


@events.on("post.edited")
def _edited(ctx: Ctx, post: Post) -> None:
    _post_activity(ctx, post, "Update")


@events.on("post.deleted")
def _deleted(ctx: Ctx, post: Post) -> None:
    _post_activity(ctx, post, "Delete")


@events.on("community.dissolving")
def _dissolving(ctx: Ctx, community: Community) -> None:
    """A dissolved community tells its remote followers' servers that its Group is
    gone (a Delete of the actor by itself, as when an account is deleted), while
    its followers are still known. It is signed with the Group's key, which stays
    (peers know it; its actor document is gone)."""
    if community.domain:
        return
    activity = {
        "id": activity_id(ctx),
        "type": "Delete",
        "actor": community.uri,
        "object": community.uri,
        "to": [AS_PUBLIC],
    }
    publish(ctx, activity, remote_follower_inboxes(ctx, community))


def _reaction_activity(ctx: Ctx, reaction: Reaction) -> tuple[dict, set[str]] | None:
    account = ctx.db.get(Account, reaction.account_id)
    post = ctx.db.get(Post, reaction.post_id)
    if account is None or not account.is_local or post is None:
        return None
    author, community, _ = _context(ctx, post)
    uris = [author.uri] if author.domain else []
    if community is not None and community.domain:
        uris.append(community.uri)
    inboxes = inboxes_of(ctx, uris)
    activity = {
        "id": reaction.activity_uri or activity_id(ctx),
        "type": STANCE_ACTIVITY[reaction.kind],
        "actor": account.uri,
        "object": post.uri,
    }
    if reaction.kind != "like":
        activity["stance"] = reaction.kind
    return activity, inboxes


@events.on("reaction.added")
def _reacted(ctx: Ctx, reaction: Reaction) -> None:
    built = _reaction_activity(ctx, reaction)
    if built is None:
        return
    activity, inboxes = built
    reaction.activity_uri = activity["id"]
    ctx.db.add(reaction)
    if inboxes:
        publish(ctx, activity, inboxes, public=False)


@events.on("reaction.removed")
def _unreacted(ctx: Ctx, reaction: Reaction) -> None:
    built = _reaction_activity(ctx, reaction)
    if built is None or not built[1] or not reaction.activity_uri:
        return
    activity, inboxes = built
    undo = {"id": activity_id(ctx), "type": "Undo", "actor": activity["actor"], "object": activity}
    publish(ctx, undo, inboxes, public=False)


def boost_announce(ctx: Ctx, boost: Boost) -> tuple[dict, set[str]] | None:
    """A local member's boost as its ``Announce`` (at the boost's stable id) and the
    inboxes that hear of it: the booster's remote followers and the post's remote
    author, but none the booster blocked. None for a remote account's boost."""
    booster = ctx.db.get(Account, boost.account_id)
    post = ctx.db.get(Post, boost.post_id)
    if booster is None or not booster.is_local or post is None:
        return None
    author = get_or_raise(ctx.db, Account, post.author_id)
    uris = [a.uri for a in follows.remote_followers(ctx, booster)]
    if author.domain:
        uris.append(author.uri)
    blocked = blocks.blocked_uris(ctx, booster)
    published = boost.created_at.isoformat().replace("+00:00", "Z")
    activity = {
        "id": boost.uri,
        "type": "Announce",
        "actor": booster.uri,
        "object": post.uri,
        "published": published,
        "to": [AS_PUBLIC],
        "cc": [f"{booster.uri}/followers", author.uri],
    }
    return activity, inboxes_of(ctx, [uri for uri in uris if uri not in blocked])


@events.on("boost.added")
def _boosted(ctx: Ctx, boost: Boost) -> None:
    built = boost_announce(ctx, boost)
    if built is not None and built[1]:
        publish(ctx, built[0], built[1])


@events.on("boost.removed")
def _unboosted(ctx: Ctx, boost: Boost) -> None:
    built = boost_announce(ctx, boost)
    if built is None or not built[1]:
        return
    activity, inboxes = built
    undo = {
        "id": activity_id(ctx),
        "type": "Undo",
        "actor": activity["actor"],
        "object": activity,
        "to": [AS_PUBLIC],
    }
    publish(ctx, undo, inboxes)


def _follow_parts(ctx: Ctx, follow: Follow) -> tuple[Account, Account | Community]:
    follower = get_or_raise(ctx.db, Account, follow.follower_id)
    target: Account | Community = (
        get_or_raise(ctx.db, Account, follow.target_account_id)
        if follow.target_account_id
        else get_or_raise(ctx.db, Community, follow.target_community_id)
    )
    return follower, target


def _follow_object(follow: Follow, follower: Account, target: Account | Community) -> dict:
    return {
        "id": follow.activity_uri,
        "type": "Follow",
        "actor": follower.uri,
        "object": target.uri,
    }


def _accept(ctx: Ctx, follow: Follow, follower: Account, target: Account | Community) -> None:
    accept = {
        "id": activity_id(ctx),
        "type": "Accept",
        "actor": target.uri,
        "object": _follow_object(follow, follower, target),
    }
    publish(ctx, accept, inboxes_of(ctx, [follower.uri]), public=False)


@events.on("follow.created")
def _followed(ctx: Ctx, follow: Follow) -> None:
    follower, target = _follow_parts(ctx, follow)
    if follower.is_local and target.domain:
        follow.activity_uri = follow.activity_uri or activity_id(ctx)
        ctx.db.add(follow)
        inbox = remote.inbox_of(ctx, target.uri, shared=False)
        publish(
            ctx, _follow_object(follow, follower, target), [inbox] if inbox else [], public=False
        )
    elif not follower.is_local and follow.state == "accepted" and follow.activity_uri:
        _accept(ctx, follow, follower, target)


@events.on("follow.accepted")
def _follow_accepted(ctx: Ctx, follow: Follow) -> None:
    follower, target = _follow_parts(ctx, follow)
    if not follower.is_local and not target.domain and follow.activity_uri:
        _accept(ctx, follow, follower, target)
    elif follower.is_local and target.domain:
        jobs.enqueue(ctx, "ap.backfill", {"actor": target.uri, "follower": follower.id})


@events.on("follow.removed")
def _unfollowed(ctx: Ctx, follow: Follow) -> None:
    follower, target = _follow_parts(ctx, follow)
    if follower.is_local and target.domain and follow.activity_uri:
        undo = {
            "id": activity_id(ctx),
            "type": "Undo",
            "actor": follower.uri,
            "object": _follow_object(follow, follower, target),
        }
        publish(ctx, undo, inboxes_of(ctx, [target.uri]), public=False)


# --- member blocks -----------------------------------------------------------


@events.on("block.created")
def _blocked(ctx: Ctx, block: Block, member: Account, target: Account | Community) -> None:
    """Tell the blocked actor's server (as Mastodon does), so it can stop showing
    them our member's posts; sent to their own inbox, not the shared one."""
    if not member.is_local or not target.domain:
        return
    inbox = remote.inbox_of(ctx, target.uri, shared=False)
    if inbox:
        activity = {
            "id": activity_id(ctx),
            "type": "Block",
            "actor": member.uri,
            "object": target.uri,
        }
        publish(ctx, activity, [inbox], public=False)


@events.on("block.removed")
def _unblocked(ctx: Ctx, block: Block, member: Account) -> None:
    sent = ctx.db.exec(
        select(OutboxItem).where(
            col(OutboxItem.actor_uri) == member.uri,
            col(OutboxItem.activity_type) == "Block",
            col(OutboxItem.object_uri) == block.target_uri,
        )
    ).first()
    inbox = remote.inbox_of(ctx, block.target_uri, shared=False)
    if sent is None or not inbox:
        return
    undo = {
        "id": activity_id(ctx),
        "type": "Undo",
        "actor": member.uri,
        "object": {
            "id": sent.uri,
            "type": "Block",
            "actor": member.uri,
            "object": block.target_uri,
        },
    }
    publish(ctx, undo, [inbox], public=False)
