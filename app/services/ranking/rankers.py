"""Ranking strategies: newest first, a module version ranking a window now (built-ins
in-process, submitted ones in the sandbox), for posts and artifacts alike. A
module failure falls back to newest first with a visible notice and, for
posts, a recorded error."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import replace

import orjson
from sqlalchemy import func
from sqlmodel import col, select

from algorithms import contract
from algorithms.runner import Module, Result, RunFailed, run
from algorithms.sandbox import Pool, SandboxUnavailable, bubblewrap, isolation
from app.config import Settings
from app.db import side_transaction
from app.models import (
    Account,
    AlgorithmModule,
    AlgorithmRunError,
    AlgorithmVersion,
    Artifact,
    Community,
    Follow,
    Membership,
    Post,
    PostTag,
    Reaction,
    utcnow,
)
from app.services import Ctx, reactions
from app.services.ranking import artifact_items
from app.services.ranking.types import (
    STANCE_VALUE,
    ArtifactItem,
    Candidate,
    FeedContext,
    Ranked,
    unix,
)
from app.text import plain_text


class Chronological:
    """Newest first. The placeholder strategy until communities choose modules."""

    name = "Chronological"
    keyset = True
    notice = None

    def __init__(self, version: int | None = None, sha256: str | None = None) -> None:
        self.version, self.sha256 = version, sha256

    def rank(self, posts: Sequence[Post | Candidate], context: FeedContext) -> list[Ranked]:
        ordered = sorted(posts, key=lambda p: (p.created_at, p.id), reverse=True)
        return [
            Ranked(p, unix(p.created_at), {"posted at (unix time)": unix(p.created_at)})
            for p in ordered
        ]


CHRONOLOGICAL = Chronological()


_pool: Pool | None = None


def sandbox_pool(settings: Settings | None = None) -> Pool:
    """This process's pool of sandbox zygotes (refuses to exist without bubblewrap),
    sized by ``settings.sandbox_max_zygotes`` when a caller has the settings."""
    global _pool
    if _pool is None:
        if bubblewrap() is None:
            raise SandboxUnavailable("bubblewrap (bwrap) is not installed on this server")
        _pool = Pool()
    if settings is not None and _pool.limits.max_zygotes != settings.sandbox_max_zygotes:
        _pool.limits = replace(_pool.limits, max_zygotes=settings.sandbox_max_zygotes)
    return _pool


def sandbox_status(settings: Settings) -> dict:
    """For the admin page: how submitted modules are confined, and the pool."""
    status = isolation()
    status["zygotes"] = (
        f"{_pool.live() if _pool else 0} live, at most {settings.sandbox_max_zygotes}"
    )
    return status


_RAISED = re.compile(r"^(\w{1,80})(?: \(line (\d{1,6})\))?: ")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def public_error(message: str) -> str:
    """What anyone may see of a live run's failure: for an exception the module
    raised, its class and line only (its text can carry the viewer's data); our
    own words otherwise, minus anything quoted from the module's output (an item
    id or factor name can smuggle data out too). The full text is shown only for
    dry runs on the shipped fixtures, to the author who submits."""
    if raised := _RAISED.match(message):
        return f"{raised[1]} at line {raised[2]}" if raised[2] else raised[1]
    return _QUOTED.sub("…", message)[:300]


def record_failure(ctx: Ctx, version: AlgorithmVersion, kind: str, message: str) -> None:
    """Count a failed run against its version (also while a page is only read),
    keeping only the data-free part of its message."""
    row = AlgorithmRunError(version_id=version.id, kind=kind[:20], message=public_error(message))
    if not ctx.db.info.get("read_only"):
        ctx.db.add(row)
        return
    with side_transaction(ctx.db) as own:
        own.add(row)


RUN_ERRORS = (RunFailed, SandboxUnavailable, contract.ContractError)


def run_module(
    version: AlgorithmVersion,
    module_row: AlgorithmModule,
    items: list[dict],
    context: dict,
    params: dict,
    window: str | None = None,
) -> Result:
    """Run one module version on contract-v1 items, the one way every feed does:
    a built-in in-process, a submitted module in this process's sandbox pool.
    ``window`` (see :func:`window_key`) lets the sandbox reuse the candidates and
    their ratings, already decoded, for every viewer of the same window.
    Raises one of ``RUN_ERRORS`` when it cannot rank them."""
    module = (
        Module.builtin_module(module_row.builtin_key)
        if module_row.builtin_key
        else Module(module_row.name, version.source, version.sha256)
    )
    pool = None if module_row.builtin_key else sandbox_pool()
    return run(
        module, items, context, params, pool, defaults=json.loads(version.parameters), window=window
    )


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


def items_for(ctx: Ctx, posts: Sequence[Post | Candidate]) -> list[dict]:
    """Contract-v1 items for posts (or light candidates), in a fixed number of queries."""
    ids = [p.id for p in posts]
    html = (
        dict(ctx.db.exec(select(col(Post.id), col(Post.html)).where(col(Post.id).in_(ids))).all())
        if ids
        else {}
    )
    authors = (
        dict(
            ctx.db.exec(
                select(col(Account.id), col(Account.uri)).where(
                    col(Account.id).in_({p.author_id for p in posts})
                )
            ).all()
        )
        if posts
        else {}
    )
    community_ids = {p.community_id for p in posts if p.community_id}
    groups: dict[int | None, str] = (  # a post in no community finds None
        dict(
            ctx.db.exec(
                select(col(Community.id), col(Community.uri)).where(
                    col(Community.id).in_(community_ids)
                )
            ).all()
        )
        if community_ids
        else {}
    )
    tags: dict[int, list[str]] = defaultdict(list)
    for post_id, tag in (
        ctx.db.exec(
            select(col(PostTag.post_id), col(PostTag.tag)).where(col(PostTag.post_id).in_(ids))
        )
        if ids
        else []
    ):
        tags[post_id].append(tag)
    repliers = (
        dict(
            ctx.db.exec(
                select(col(Post.in_reply_to_id), func.count(func.distinct(col(Post.author_id))))
                .where(col(Post.in_reply_to_id).in_(ids))
                .group_by(col(Post.in_reply_to_id))
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


def fingerprint(ctx: Ctx, viewer: Account | None, posts: Sequence[Post | Candidate]) -> list:
    """Cheap to compute, and changes whenever an input to the module changes: every
    counter of the candidates, and count/max id of their reactions and of the
    viewer's follows and memberships (a change replaces rows, so ids move)."""
    ids = [p.id for p in posts]
    reactions_seen = (
        list(
            ctx.db.exec(
                select(func.count(), func.max(col(Reaction.id))).where(
                    col(Reaction.post_id).in_(ids)
                )
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
                    select(func.count(), func.max(col(Follow.id))).where(
                        col(Follow.follower_id) == viewer.id
                    )
                ).one()
            ),
            list(
                ctx.db.exec(
                    select(func.count(), func.max(col(Membership.id))).where(
                        col(Membership.account_id) == viewer.id
                    )
                ).one()
            ),
            viewer.id,
        ]
    candidates = [[p.id, p.reply_count, p.updated_at, p.deleted_at] for p in posts]
    return [candidates, reactions_seen, viewer_seen]


def window_key(fingerprinted: list, posts: Sequence[Post | Candidate]) -> str:
    """The name of a window for the sandbox: a digest of the part of a
    :func:`fingerprint` that is the same for every viewer (the candidates and
    their counters, the reactions on them), which fixes the items and the ratings
    a module is given, plus when each candidate was posted (ids alone repeat
    across databases, e.g. tests in one process). Two viewers share a window only
    when all of it is equal."""
    candidates, reactions_seen, _viewer = fingerprinted
    posted = [p.created_at for p in posts]
    raw = orjson.dumps([candidates, posted, reactions_seen], default=str)
    return "posts:" + hashlib.sha256(raw).hexdigest()


def context_for(
    ctx: Ctx, viewer: Account | None, posts: Sequence[Post | Candidate], now: float, limit: int
) -> dict:
    ratings = []
    if posts:
        by_id = {p.id: p.uri for p in posts}
        rows = ctx.db.exec(
            select(col(Reaction.post_id), col(Account.uri), col(Reaction.kind))
            .join(Account, col(Account.id) == col(Reaction.account_id))
            .where(col(Reaction.post_id).in_(by_id), col(Reaction.slot) == "stance")
        ).all()
        ratings = [[uri, by_id[pid], STANCE_VALUE[kind]] for pid, uri, kind in rows]
    following, member_of = [], []
    if viewer is not None:
        following = list(
            ctx.db.exec(
                select(col(Account.uri))
                .join(Follow, col(Follow.target_account_id) == col(Account.id))
                .where(col(Follow.follower_id) == viewer.id, col(Follow.state) == "accepted")
            ).all()
        )
        member_of = list(
            ctx.db.exec(
                select(col(Community.uri))
                .join(Membership, col(Membership.community_id) == col(Community.id))
                .where(col(Membership.account_id) == viewer.id, col(Membership.state) == "active")
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

    def rank(self, posts: Sequence[Post | Candidate], context: FeedContext) -> list[Ranked]:
        ctx = context.ctx
        by_uri = {p.uri: p for p in posts}
        fingerprinted = fingerprint(ctx, context.viewer, posts)
        key = CACHE.key(self.sha256, self.params, fingerprinted)
        if (cached := CACHE.get(key)) is not None:
            return [Ranked(by_uri[uri], score, why) for uri, score, why in cached if uri in by_uri]
        items = items_for(ctx, posts)
        module_context = context_for(
            ctx, context.viewer, posts, context.now.timestamp(), context.limit
        )
        try:
            result = run_module(
                self.version_row,
                self.module,
                items,
                module_context,
                self.params,
                window=window_key(fingerprinted, posts),
            )
        except RUN_ERRORS as exc:
            kind = getattr(exc, "kind", "contract")
            record_failure(ctx, self.version_row, kind, str(exc))
            self.notice = (
                f"“{self.name}” could not rank this feed ({kind}: {exc}); "
                "showing newest first instead."
            )
            return CHRONOLOGICAL.rank(posts, context)
        CACHE.put(key, [(r.item_id, r.score, r.why) for r in result.ranked])
        return [Ranked(by_uri[r.item_id], r.score, r.why) for r in result.ranked]


def newest_artifacts_first(rows: list[Artifact]) -> list[ArtifactItem]:
    return [
        ArtifactItem(
            a, a.updated_at.timestamp(), {"updated at (unix time)": a.updated_at.timestamp()}
        )
        for a in sorted(rows, key=lambda a: a.updated_at, reverse=True)
    ]


def rank_artifacts(
    ctx: Ctx,
    viewer: Account | None,
    rows: list[Artifact],
    version: AlgorithmVersion,
    module_row: AlgorithmModule,
    params: dict,
    limit: int,
) -> tuple[list[ArtifactItem], str | None]:
    """Run the module now: (ranked items, or newest first with a notice if it failed)."""
    items = artifact_items.items_for(ctx, rows)
    context = context_for(ctx, viewer, [], utcnow().timestamp(), limit)
    context["ratings"] = artifact_items.ratings(ctx, rows)
    by_uri = {a.uri: a for a in rows}
    try:
        result = run_module(version, module_row, items, context, params)
    except RUN_ERRORS as exc:
        kind = getattr(exc, "kind", "contract")
        notice = f"“{module_row.name}” could not rank these ({kind}); showing the newest first."
        return newest_artifacts_first(rows), notice
    return [ArtifactItem(by_uri[r.item_id], r.score, r.why) for r in result.ranked], None
