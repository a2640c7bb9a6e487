"""Search: posts, artifacts (title, body, statements), communities and members,
by words or by hashtag, newest first, with a keyset cursor.

The index is the database's own (:mod:`app.infra.fulltext`: FTS5 on SQLite, GIN
over ``to_tsvector('simple', …)`` on PostgreSQL), kept in the same transaction
as the rows. A search reads *matching ids* from the index in batches, newest
first below the cursor (a cost that does not grow with the table), then keeps
those the viewer may see with the one set of rules feeds use: deleted posts,
authors hidden by :func:`blocks.hides_account` and what the viewer muted
(:func:`mutes.hides_post`) are left out.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal_column, text
from sqlalchemy import select as core_select
from sqlmodel import col, select

from app.errors import DomainError, Invalid
from app.infra import fulltext
from app.models import (
    Account,
    Artifact,
    ArtifactTag,
    Block,
    Community,
    PeerDomain,
    Post,
    PostTag,
    utcnow,
)
from app.services import Ctx, blocks, follows, mutes, visibility
from app.services.views import PostView, present
from app.text import normalize_tag

TYPES = ("posts", "artifacts", "communities", "members")
MAX_QUERY = 500
MAX_TERMS = 20
MAX_LIMIT = 50
BATCH = 200  # ids read from the index at a time
MAX_BATCHES = 10  # a page stops after this many batches (the cursor goes on from there)
_WORD = re.compile(r"[^\W_]+")
_TAG = re.compile(r"(?<![\w#])#(\w+)")


@dataclass(frozen=True)
class Query:
    """What was asked: words (every one must match, as a prefix) and at most one hashtag."""

    words: tuple[str, ...]
    tag: str | None


@dataclass
class SearchPage:
    """One page of results: ``PostView``s, or ``Artifact``/``Community``/``Account`` rows."""

    type: str
    items: list[Any]
    next_cursor: str | None


def parse_query(q: str | None) -> Query:
    """Words and a hashtag from what was typed, or a clear 4xx."""
    q = (q or "").strip()
    if not q:
        raise Invalid("Type something to search for.", code="empty_query")
    if len(q) > MAX_QUERY:
        raise Invalid(f"A search is at most {MAX_QUERY} characters.", code="query_too_long")
    tags = [normalize_tag(t)[:100] for t in _TAG.findall(q)]
    tag = next((t for t in tags if t), None)
    rest = _TAG.sub(" ", q)
    words = tuple(dict.fromkeys(w.lower() for w in _WORD.findall(rest)))[:MAX_TERMS]
    if not words and tag is None:
        raise Invalid("Search for words or a #hashtag.", code="empty_query")
    return Query(words, tag)


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"s1:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = raw.partition(":")
        value = int(number) if prefix == "s1" and number.isdigit() else 0
    except (binascii.Error, UnicodeDecodeError, ValueError):
        value = 0
    if not 0 < value < 2**31:
        raise DomainError("That cursor is not one this search gave out.", code="invalid_cursor")
    return value


def search(
    ctx: Ctx,
    viewer: Account | None,
    q: str | None,
    *,
    type: str = "posts",
    cursor: str | None = None,
    limit: int = 20,
) -> SearchPage:
    """One page of ``type`` matching ``q`` that ``viewer`` may see, newest first."""
    if type not in TYPES:
        raise Invalid(f"type must be one of {', '.join(TYPES)}.", code="invalid_type")
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}.", code="invalid_limit")
    query = parse_query(q)
    before = decode_cursor(cursor) if cursor else None
    if before is None and (found := exact(ctx, viewer, q or "")) is not None:
        return found
    source, keep = _KINDS[type](ctx, query, viewer)
    ids, next_before = _page(source, keep, before, limit)
    items: list[Any] = _load(ctx, type, ids, viewer)
    return SearchPage(type, items, encode_cursor(next_before) if next_before else None)


def exact(ctx: Ctx, viewer: Account | None, q: str) -> SearchPage | None:
    """What ``@name``, ``name@domain``, an actor URL or a post URL names, if this
    instance knows it (a remote one is looked up first by the caller, before the
    transaction: :mod:`federation.resolve`) and the viewer may see it."""
    q = q.strip()
    is_url = q.startswith(("http://", "https://"))
    if not is_url and not (q.startswith("@") or "@" in q) or " " in q:
        return None
    if is_url:
        post = ctx.db.exec(select(Post).where(col(Post.uri) == q)).first()
        if post is not None:
            kept = _posts(ctx, Query((), None), viewer)[1]([post.id])
            return SearchPage("posts", _load(ctx, "posts", list(kept), viewer), None)
    try:
        actor = follows.resolve_target(ctx, q)
    except DomainError:
        return None
    if isinstance(actor, Community):
        kept = _communities(ctx, Query(("x",), None), viewer)[1]([actor.id])
        return SearchPage("communities", [actor] if kept else [], None)
    kept = _members(ctx, Query(("x",), None), viewer)[1]([actor.id])
    return SearchPage("members", [actor] if kept else [], None)


def _page(
    source: Callable[[int | None, int], list[int]],
    keep: Callable[[list[int]], set[int]],
    before: int | None,
    limit: int,
) -> tuple[list[int], int | None]:
    """Walk the index newest first below ``before`` until ``limit`` ids are kept:
    the ids and where the next page starts (None: the index has no more)."""
    found: list[int] = []
    for _ in range(MAX_BATCHES):
        batch = source(before, BATCH)
        if not batch:
            return found, None
        visible = keep(batch)
        for i in batch:
            if i in visible:
                found.append(i)
                if len(found) == limit:
                    return found, i
        before = batch[-1]
        if len(batch) < BATCH:
            return found, None
    return found, before


# --- reading the index ----------------------------------------------------------


def _match_ids(ctx: Ctx, table: str, words: Sequence[str], id_column: str = "id") -> Select:
    """The ids of ``table`` rows whose document has every word (as a prefix)."""
    if ctx.db.get_bind().dialect.name == "postgresql":
        tsquery = " & ".join(f"{w}:*" for w in words)
        return (
            core_select(literal_column(f"{table}.{id_column}").label("id"))
            .select_from(text(table))
            .where(
                text(
                    f"{fulltext.pg_document(table)} @@ to_tsquery('simple', :q_{table})"
                ).bindparams(**{f"q_{table}": tsquery})
            )
        )
    fts = f"{fulltext.PREFIX}{table}"
    match = " ".join(f'"{w}"*' for w in words)
    if id_column == "id":
        return (
            core_select(literal_column(f"{fts}.rowid").label("id"))
            .select_from(text(fts))
            .where(text(f"{fts} MATCH :q_{table}").bindparams(**{f"q_{table}": match}))
        )
    return (
        core_select(literal_column(f"{table}.{id_column}").label("id"))
        .select_from(text(f"{fts} JOIN {table} ON {table}.id = {fts}.rowid"))
        .where(text(f"{fts} MATCH :q_{table}").bindparams(**{f"q_{table}": match}))
    )


def _newest(ctx: Ctx, stmt: Select, before: int | None, n: int) -> list[int]:
    """The ``n`` newest ids of ``stmt`` below ``before``. On PostgreSQL the matches
    are read from the GIN index first (a MATERIALIZED CTE): left to itself, the
    planner may walk the primary key backwards and compute ``to_tsvector`` for
    every row it passes (300 ms at 100,000 posts, bench/search.py)."""
    ident: ColumnElement[Any]
    if ctx.db.get_bind().dialect.name == "postgresql":
        matches = stmt.cte("matches").prefix_with("MATERIALIZED")
        ident = matches.c.id
        stmt = core_select(ident)
    else:
        ident = stmt.selected_columns[0]
    if before is not None:
        stmt = stmt.where(ident < before)
    return [int(i) for i in ctx.db.execute(stmt.order_by(ident.desc()).limit(n)).scalars()]


def _stream(ctx: Ctx, *stmts: Select) -> Callable[[int | None, int], list[int]]:
    """Newest ids first from one or more id queries (merged, without repeats)."""

    def source(before: int | None, n: int) -> list[int]:
        ids: set[int] = set()
        for stmt in stmts:
            ids.update(_newest(ctx, stmt, before, n))
        return sorted(ids, reverse=True)[:n]

    return source


def _kept(ctx: Ctx, stmt: Select) -> Callable[[list[int]], set[int]]:
    def keep(ids: list[int]) -> set[int]:
        ident = stmt.selected_columns[0]
        return set(ctx.db.execute(stmt.where(ident.in_(ids))).scalars())

    return keep


# --- what each type matches, and who may see it ----------------------------------

Kind = tuple[Callable[[int | None, int], list[int]], Callable[[list[int]], set[int]]]


def _posts(ctx: Ctx, query: Query, viewer: Account | None) -> Kind:
    conditions: list[ColumnElement[bool]] = [
        col(Post.deleted_at).is_(None),
        ~blocks.hides_account(viewer.id if viewer else None),
        ~blocks.hides_limited(viewer.id if viewer else None),
    ]
    if viewer is not None:
        conditions.append(~mutes.hides_post(viewer.id, utcnow()))
    # others' unlisted posts are not found (their own are)
    mine = col(Post.author_id) == viewer.id if viewer is not None else None
    conditions.append(visibility.listed() if mine is None else visibility.listed() | mine)
    if query.words:
        source = _stream(ctx, _match_ids(ctx, "posts", query.words))
        if query.tag:
            tagged = select(col(PostTag.post_id)).where(col(PostTag.tag) == query.tag)
            conditions.append(col(Post.id).in_(tagged))
    else:
        source = _stream(
            ctx,
            core_select(col(PostTag.post_id).label("id")).where(col(PostTag.tag) == query.tag),
        )
    visible = (
        core_select(col(Post.id))
        .join(Account, col(Account.id) == col(Post.author_id))
        .where(*conditions)
    )
    return source, _kept(ctx, visible)


def _artifacts(ctx: Ctx, query: Query, viewer: Account | None) -> Kind:
    conditions: list[ColumnElement[bool]] = [
        ~blocks.hides_account(viewer.id if viewer else None),
        ~_community_hidden(viewer),
    ]
    if viewer is not None:
        conditions.append(~mutes.mutes_actor_row(viewer.id))
    if query.words:
        source = _stream(
            ctx,
            _match_ids(ctx, "artifacts", query.words),
            _match_ids(ctx, "statements", query.words, id_column="artifact_id"),
        )
        if query.tag:
            tagged = select(col(ArtifactTag.artifact_id)).where(col(ArtifactTag.tag) == query.tag)
            conditions.append(col(Artifact.id).in_(tagged))
    else:
        source = _stream(
            ctx,
            core_select(col(ArtifactTag.artifact_id).label("id")).where(
                col(ArtifactTag.tag) == query.tag
            ),
        )
    visible = (
        core_select(col(Artifact.id))
        .join(Account, col(Account.id) == col(Artifact.author_id))
        .join(Community, col(Community.id) == col(Artifact.community_id))
        .where(*conditions)
    )
    return source, _kept(ctx, visible)


def _communities(ctx: Ctx, query: Query, viewer: Account | None) -> Kind:
    words = query.words or (query.tag or "",)
    visible = core_select(col(Community.id)).where(~_community_hidden(viewer))
    return _stream(ctx, _match_ids(ctx, "communities", words)), _kept(ctx, visible)


def _members(ctx: Ctx, query: Query, viewer: Account | None) -> Kind:
    words = query.words or (query.tag or "",)
    conditions = [~blocks.hides_account(viewer.id if viewer else None)]
    if viewer is not None:
        conditions.append(~mutes.mutes_actor_row(viewer.id))
    visible = core_select(col(Account.id)).where(*conditions)
    return _stream(ctx, _match_ids(ctx, "accounts", words)), _kept(ctx, visible)


def _community_hidden(viewer: Account | None) -> ColumnElement[bool]:
    """A community on a domain an admin blocked, or one the viewer blocked."""
    domains = select(col(PeerDomain.domain)).where(col(PeerDomain.blocked))
    hidden = col(Community.domain).in_(domains)
    if viewer is None:
        return hidden
    by_viewer = select(col(Block.target_uri)).where(col(Block.account_id) == viewer.id)
    return hidden | col(Community.uri).in_(by_viewer)


_KINDS: dict[str, Callable[[Ctx, Query, Account | None], Kind]] = {
    "posts": _posts,
    "artifacts": _artifacts,
    "communities": _communities,
    "members": _members,
}


def _load(ctx: Ctx, type: str, ids: list[int], viewer: Account | None) -> list[Any]:
    if not ids:
        return []
    model: Any = {"posts": Post, "artifacts": Artifact, "communities": Community}.get(type, Account)
    rows = {r.id: r for r in ctx.db.exec(select(model).where(col(model.id).in_(ids)))}
    ordered = [rows[i] for i in ids if i in rows]
    if type == "posts":
        views: list[PostView] = present(ctx, ordered, viewer)
        return views
    return ordered


_WHOLE_TAG = re.compile(r"^#?(\w{1,100})$")


def hashtags(ctx: Ctx, q: str | None, *, limit: int = 20, offset: int = 0) -> list[str]:
    """Hashtags in use that begin with ``q`` (one word, ``#`` or not), the most used
    first; none for anything else (words, handles, URLs)."""
    found = _WHOLE_TAG.match((q or "").strip())
    if found is None:
        return []
    prefix = normalize_tag(found.group(1))
    uses = func.count(col(PostTag.post_id))
    q_ = (
        select(col(PostTag.tag))
        .where(col(PostTag.tag).startswith(prefix, autoescape=True))
        .group_by(col(PostTag.tag))
        .order_by(uses.desc(), col(PostTag.tag))
        .offset(max(offset, 0))
        .limit(min(max(limit, 1), MAX_LIMIT))
    )
    return list(ctx.db.exec(q_))
