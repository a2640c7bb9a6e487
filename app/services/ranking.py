"""Feeds ranked by algorithm modules: candidates become contract-v1 items, the
module ranks them (built-ins in-process, submitted ones in the sandbox), and a
failure falls back to newest-first with a visible notice and a recorded error."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict, defaultdict

import orjson
from sqlalchemy import func
from sqlmodel import select

from algorithms import contract
from algorithms.runner import Module, RunFailed, run
from algorithms.sandbox import SandboxUnavailable
from app.models import (
    Account,
    AlgorithmModule,
    AlgorithmVersion,
    Community,
    Follow,
    Membership,
    Post,
    PostTag,
    Reaction,
)
from app.services import Ctx, algorithms, reactions
from app.services.feeds import CHRONOLOGICAL, Candidate, Chronological, FeedContext, Ranked
from app.text import plain_text

STANCE_VALUE = {"agree": 1.0, "pass": 0.0, "disagree": -1.0}
CACHE_SECONDS = 60.0
CACHE_ENTRIES = 512


class RankingCache:
    """Recent rankings by a fingerprint of everything a module sees (module hash,
    parameters, the candidates and their counters, the reactions on them, the
    viewer's follows and communities; the clock aside), so repeated page loads
    don't rerun a module. Per process, bounded, and short-lived: at most a minute."""

    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[float, list]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(sha: str, params: dict, inputs: list) -> str:
        raw = orjson.dumps(
            [sha, params, inputs],
            option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
            default=str,
        )
        return hashlib.sha256(raw).hexdigest()

    def get(self, key: str) -> list | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None or time.monotonic() - hit[0] > CACHE_SECONDS:
                return None
            self._entries.move_to_end(key)
            return hit[1]

    def put(self, key: str, value: list) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > CACHE_ENTRIES:
                self._entries.popitem(last=False)


CACHE = RankingCache()


def items_for(ctx: Ctx, posts: list[Post] | list[Candidate]) -> list[dict]:
    """Contract-v1 items for posts (or light candidates), in a fixed number of queries."""
    ids = [p.id for p in posts]
    html = (
        dict(ctx.db.exec(select(Post.id, Post.html).where(Post.id.in_(ids))).all()) if ids else {}
    )
    authors = (
        dict(
            ctx.db.exec(
                select(Account.id, Account.uri).where(Account.id.in_({p.author_id for p in posts}))
            ).all()
        )
        if posts
        else {}
    )
    community_ids = {p.community_id for p in posts if p.community_id}
    groups = (
        dict(
            ctx.db.exec(
                select(Community.id, Community.uri).where(Community.id.in_(community_ids))
            ).all()
        )
        if community_ids
        else {}
    )
    tags: dict[int, list[str]] = defaultdict(list)
    for post_id, tag in (
        ctx.db.exec(select(PostTag.post_id, PostTag.tag).where(PostTag.post_id.in_(ids)))
        if ids
        else []
    ):
        tags[post_id].append(tag)
    repliers = (
        dict(
            ctx.db.exec(
                select(Post.in_reply_to_id, func.count(func.distinct(Post.author_id)))
                .where(Post.in_reply_to_id.in_(ids))
                .group_by(Post.in_reply_to_id)
            ).all()
        )
        if ids
        else {}
    )
    counts = reactions.counts(ctx, ids)
    domain = ctx.settings.domain
    out = []
    for p in posts:
        author_uri = authors.get(p.author_id, "")
        out.append(
            {
                "id": p.uri,
                "kind": "post",
                "author": author_uri,
                "community": groups.get(p.community_id),
                "created_at": p.created_at.timestamp(),
                "text": plain_text(html.get(p.id, ""), 2000),
                "tags": tags.get(p.id, []),
                "reply_count": p.reply_count,
                "repliers": int(repliers.get(p.id, 0)),
                "reactions": dict(counts[p.id]),
                "is_reply": p.in_reply_to_id is not None,
                "origin": author_uri.split("/")[2] if "://" in author_uri else domain,
            }
        )
    return out


def fingerprint(ctx: Ctx, viewer: Account | None, posts: list[Post] | list[Candidate]) -> list:
    """Cheap to compute, and changes whenever an input to the module changes: every
    counter of the candidates, and count/max id of their reactions and of the
    viewer's follows and memberships (a change replaces rows, so ids move)."""
    ids = [p.id for p in posts]
    reactions_seen = (
        list(
            ctx.db.exec(
                select(func.count(), func.max(Reaction.id)).where(Reaction.post_id.in_(ids))
            ).one()
        )
        if ids
        else [0, None]
    )
    viewer_seen: list = []
    if viewer is not None:
        viewer_seen = [
            list(
                ctx.db.exec(
                    select(func.count(), func.max(Follow.id)).where(Follow.follower_id == viewer.id)
                ).one()
            ),
            list(
                ctx.db.exec(
                    select(func.count(), func.max(Membership.id)).where(
                        Membership.account_id == viewer.id
                    )
                ).one()
            ),
            viewer.id,
        ]
    candidates = [[p.id, p.reply_count, p.updated_at, p.deleted_at] for p in posts]
    return [candidates, reactions_seen, viewer_seen]


def context_for(
    ctx: Ctx, viewer: Account | None, posts: list[Post], now: float, limit: int
) -> dict:
    ratings = []
    if posts:
        by_id = {p.id: p.uri for p in posts}
        rows = ctx.db.exec(
            select(Reaction.post_id, Account.uri, Reaction.kind)
            .join(Account, Account.id == Reaction.account_id)
            .where(Reaction.post_id.in_(by_id), Reaction.slot == "stance")
        ).all()
        ratings = [[uri, by_id[pid], STANCE_VALUE[kind]] for pid, uri, kind in rows]
    following, member_of = [], []
    if viewer is not None:
        following = list(
            ctx.db.exec(
                select(Account.uri)
                .join(Follow, Follow.target_account_id == Account.id)
                .where(Follow.follower_id == viewer.id, Follow.state == "accepted")
            ).all()
        )
        member_of = list(
            ctx.db.exec(
                select(Community.uri)
                .join(Membership, Membership.community_id == Community.id)
                .where(Membership.account_id == viewer.id, Membership.state == "active")
            ).all()
        )
    return {
        "now": now,
        "viewer": viewer.uri if viewer else None,
        "following": following,
        "communities": member_of,
        "ratings": ratings,
        "limit": limit,
    }


class ModuleRanking:
    """A feed strategy backed by one module version and its parameter overrides."""

    keyset = False

    def __init__(self, version: AlgorithmVersion, module: AlgorithmModule, params: dict) -> None:
        self.version_row = version
        self.module = module
        self.params = params
        self.name = module.name
        self.version = version.version
        self.sha256 = version.sha256
        self.notice: str | None = None

    def rank(self, posts: list[Post] | list[Candidate], context: FeedContext) -> list[Ranked]:
        ctx = context.ctx
        by_uri = {p.uri: p for p in posts}
        key = CACHE.key(self.sha256, self.params, fingerprint(ctx, context.viewer, posts))
        if (cached := CACHE.get(key)) is not None:
            return [Ranked(by_uri[uri], score, why) for uri, score, why in cached if uri in by_uri]
        items = items_for(ctx, posts)
        module_context = context_for(
            ctx, context.viewer, posts, context.now.timestamp(), context.limit
        )
        module = (
            Module.builtin_module(self.module.builtin_key)
            if self.module.builtin_key
            else Module(self.module.name, self.version_row.source, self.sha256)
        )
        try:
            pool = None if self.module.builtin_key else algorithms.sandbox_pool()
            result = run(
                module,
                items,
                module_context,
                self.params,
                pool,
                defaults=json.loads(self.version_row.parameters),
            )
        except (RunFailed, SandboxUnavailable, contract.ContractError) as exc:
            kind = getattr(exc, "kind", "contract")
            algorithms.record_failure(ctx, self.version_row, kind, str(exc))
            self.notice = (
                f"“{self.name}” could not rank this feed ({kind}: {exc}); "
                "showing newest first instead."
            )
            return CHRONOLOGICAL.rank(posts, context)
        CACHE.put(key, [(r.item_id, r.score, r.why) for r in result.ranked])
        return [Ranked(by_uri[r.item_id], r.score, r.why) for r in result.ranked]


def strategy(ctx: Ctx, version: AlgorithmVersion, params: dict, community: Community | None = None):
    """Chronological stays a fast keyset feed; built-ins rank a window inline; a
    community's submitted module is served from its background snapshot."""
    module = ctx.db.get(AlgorithmModule, version.module_id)
    if module.builtin_key == algorithms.DEFAULT and not params:
        return Chronological(version.version, version.sha256)
    if community is not None and module.builtin_key is None:
        from app.services.snapshots import SnapshotRanking

        return SnapshotRanking(community, version, module, params)
    return ModuleRanking(version, module, params)
