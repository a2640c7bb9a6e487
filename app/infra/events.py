"""Domain events: what just happened, for whoever needs to react to it.

The service layer emits an event after a write (``post.created``, ``follow.created``
…); listeners run *in the same transaction*, so whatever they record (for example
federation's outbox items and delivery jobs) exists if and only if the write does.
Services never import federation: federation subscribes here.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable

from app.infra.context import Ctx

log = logging.getLogger("commonground.events")
Listener = Callable[..., None]
LISTENERS: dict[str, list[Listener]] = defaultdict(list)

EVENTS = (
    "post.created",  # post
    "post.edited",  # post
    "post.deleted",  # post
    "reaction.added",  # reaction, replaced (the earlier Reaction it replaced, or None)
    "reaction.removed",  # reaction
    "boost.added",  # boost
    "boost.removed",  # boost (just before it is deleted)
    "follow.created",  # follow
    "follow.removed",  # follow
    "follow.accepted",  # follow (a pending follower was approved locally)
    "membership.approved",  # membership
    "membership.requested",  # membership (pending: the community needs approval)
    "community.dissolving",  # community (a local one, just before it is deleted)
    "account.deleting",  # account (a local one, its grace over, before anything is removed)
    "account.moved",  # account, target (a local member moved to another account)
    "artifact.created",  # artifact
    "artifact.revised",  # artifact, revision
    "artifact.staged",  # artifact, transition
    "artifact.proposed",  # artifact, editor, base, title, body, message (a remote artifact)
    "statement.created",  # statement
    "stance.taken",  # stance (on an artifact or a statement)
    "decision.opened",  # decision, artifact
    "decision.closed",  # decision, artifact
    "proposal.opened",  # proposal (an algorithm vote)
    "proposal.closed",  # proposal
    "algorithm.changed",  # change (a community's algorithm, by its admins or a vote)
    "block.created",  # block, member, target
    "block.removed",  # block, member
    "report.filed",  # report (a member's; forwarded as a Flag when asked)
    "moderation.acted",  # action (a ModerationAction, its effect applied)
    "moderation.appeal_decided",  # appeal, action (the appeal_granted/denied entry)
)


def on(name: str) -> Callable[[Listener], Listener]:
    if name not in EVENTS:
        raise ValueError(f"unknown event {name!r}")

    def register(fn: Listener) -> Listener:
        if fn not in LISTENERS[name]:
            LISTENERS[name].append(fn)
        return fn

    return register


def emit(ctx: Ctx, name: str, **data: object) -> None:
    """Tell every listener; an exception aborts the caller's transaction, which is
    what we want: a post must not exist without its deliveries."""
    for fn in LISTENERS.get(name, ()):
        fn(ctx, **data)
