"""Candidate sourcing: which posts a feed considers, newest first, read with one
indexed query per source shape.

Candidate sourcing is index-driven: one ``ORDER BY created_at DESC LIMIT n``
subquery per followed community or author (each a range scan on a composite
index), merged by a UNION. A deep page costs the same as the first one, since
the cursor is a keyset ``(created_at, id)``, not an OFFSET.
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import BindParameter, ColumnElement, bindparam, inspect, tuple_, union
from sqlalchemy import select as core_select
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.models import Account, Follow, Membership, Mute, Post, PostTag, utcnow
from app.services import Ctx, blocks, communities, mutes
from app.services.ranking.types import CANDIDATE_COLUMNS, Candidate, Cursor, Ranked, Sources
from app.services.visibility import listed

# SQLite allows 500 terms in a compound SELECT; beyond this many sources we
# fall back to IN-lists, which are still indexed but sort more rows.
MAX_SOURCE_SUBQUERIES = 200


def _base_conditions(viewer: bool) -> list[ColumnElement[bool]]:
    """What no feed shows, for a viewer (bound as ``viewer_id``, with ``now``) or none."""
    # posts of authors hidden from this viewer (suspended, blocked...) are never
    # candidates: each post considered joins its author by primary key
    hidden = blocks.hides_account(bindparam("viewer_id") if viewer else None)
    limited = blocks.hides_limited(bindparam("viewer_id") if viewer else None)
    banned = communities.active_ban_clause(
        col(Post.community_id),
        col(Post.author_id),
        bindparam("ban_now", type_=inspect(Mute).columns["expires_at"].type),
    )
    # nor those of a limited domain's actors the viewer does not follow, nor a
    # banned member's in the community that banned them (while the ban holds)
    base = [col(Post.deleted_at).is_(None), ~hidden, ~limited, ~banned]
    if viewer:  # and what the viewer muted (authors, domains, threads, tags)
        now = bindparam("now", type_=inspect(Mute).columns["expires_at"].type)
        base.append(~mutes.hides_post(bindparam("viewer_id"), now))
    return base


base_conditions = _base_conditions  # for a query of another table's rows (boosts.py)


def _source_conditions(
    n_communities: int, n_authors: int, tag: bool, many: bool, threads: bool
) -> list[ColumnElement[bool]]:
    """One condition per source (a community, an author, the viewer's threads, a tag)."""
    conditions: list[ColumnElement[bool]] = []
    if many:
        if n_communities:
            conditions.append(col(Post.community_id).in_(bindparam("cids", expanding=True)))
        if n_authors:
            conditions.append(col(Post.author_id).in_(bindparam("aids", expanding=True)))
    else:
        conditions += [col(Post.community_id) == bindparam(f"c{i}") for i in range(n_communities)]
        conditions += [col(Post.author_id) == bindparam(f"a{i}") for i in range(n_authors)]
    if threads:  # replies in threads the viewer started
        root = aliased(Post)
        conditions.append(
            col(Post.root_id).in_(
                select(root.id).where(
                    root.author_id == bindparam("viewer_id"), col(root.in_reply_to_id).is_(None)
                )
            )
        )
    if tag:  # a hashtag's timeline: its public posts (app/services/visibility.py)
        conditions.append(
            col(Post.id).in_(
                select(col(PostTag.post_id)).where(col(PostTag.tag) == bindparam("tag"))
            )
            & listed()
        )
    return conditions


@lru_cache(maxsize=256)
def _candidate_statement(
    n_communities: int,
    n_authors: int,
    tag: bool,
    top_level_only: bool,
    after: bool,
    many: bool,
    viewer: bool = False,
    threads: bool = False,
    everyone: bool = False,
) -> SelectOfScalar[int] | None:
    """The candidate query for one *shape* of sources, with bound parameters for
    the ids, the cursor and the limit. Built once per shape: constructing a UNION of
    a dozen subqueries costs milliseconds of Python, more than running it."""
    base = _base_conditions(viewer)
    if top_level_only:
        base.append(col(Post.in_reply_to_id).is_(None))
    if after:
        base.append(
            tuple_(col(Post.created_at), col(Post.id))
            < tuple_(
                bindparam("before_t", type_=inspect(Post).columns["created_at"].type),
                bindparam("before_id"),
            )
        )
    conditions = _source_conditions(n_communities, n_authors, tag, many, threads)
    if everyone:  # every public post the instance holds (its ranking: trending statuses)
        conditions = [listed()]
    if not conditions:
        return None
    limit: BindParameter[int] = bindparam("lim")
    parts = [
        select(col(Post.id).label("id"), col(Post.created_at).label("created_at"))
        .join(Account, col(Account.id) == col(Post.author_id))
        .where(cond, *base)
        .order_by(col(Post.created_at).desc(), col(Post.id).desc())
        .limit(limit)
        .subquery()
        for cond in conditions
    ]
    if len(parts) == 1:
        merged = parts[0]
    else:
        merged = union(*[select(p.c.id, p.c.created_at) for p in parts]).subquery()
    return select(merged.c.id).order_by(merged.c.created_at.desc(), merged.c.id.desc()).limit(limit)


@lru_cache(maxsize=256)
def _status_id_statement(
    n_communities: int,
    n_authors: int,
    tag: bool,
    many: bool,
    viewer: bool,
    threads: bool,
    everyone: bool,
    origin: str | None,
    top_level_only: bool,
    below: bool,
    above: bool,
    oldest_first: bool,
) -> SelectOfScalar[int] | None:
    """Like :func:`_candidate_statement`, in status-id order between the bounds
    ``below`` (``max_id``) and ``above`` (``since_id`` or ``min_id``): newest first, or
    ``oldest_first`` (the page just newer than ``min_id``)."""
    base = _base_conditions(viewer)
    base.append(col(Post.status_id).is_not(None))
    if top_level_only:
        base.append(col(Post.in_reply_to_id).is_(None))
    if below:
        base.append(col(Post.status_id) < bindparam("below_sid"))
    if above:
        base.append(col(Post.status_id) > bindparam("above_sid"))
    if origin == "local":
        base.append(col(Account.domain) == "")
    elif origin == "remote":
        base.append(col(Account.domain) != "")
    conditions = _source_conditions(n_communities, n_authors, tag, many, threads)
    if everyone:
        conditions = [listed()]
    if not conditions:
        return None
    order = col(Post.status_id).asc() if oldest_first else col(Post.status_id).desc()
    limit: BindParameter[int] = bindparam("lim")
    parts = [
        select(col(Post.id).label("id"), col(Post.status_id).label("sid"))
        .join(Account, col(Account.id) == col(Post.author_id))
        .where(cond, *base)
        .order_by(order)
        .limit(limit)
        .subquery()
        for cond in conditions
    ]
    if len(parts) == 1:
        merged = parts[0]
    else:
        merged = union(*[select(p.c.id, p.c.sid) for p in parts]).subquery()
    merged_order = merged.c.sid.asc() if oldest_first else merged.c.sid.desc()
    return select(merged.c.id).order_by(merged_order).limit(limit)


def status_id_page(
    ctx: Ctx,
    sources: Sources,
    *,
    below: int | None = None,
    above: int | None = None,
    oldest_first: bool = False,
    limit: int = 20,
) -> list[Post]:
    """Up to ``limit`` posts from ``sources`` with status ids between ``above`` and
    ``below`` (both excluded), newest first; with ``oldest_first`` the ones just
    above ``above``, still returned newest first. What Mastodon's ``max_id``,
    ``since_id`` and ``min_id`` ask of a timeline; the same posts are hidden as in
    every feed."""
    many = len(sources.community_ids) + len(sources.author_ids) > MAX_SOURCE_SUBQUERIES
    stmt = _status_id_statement(
        len(sources.community_ids),
        len(sources.author_ids),
        bool(sources.tag),
        many,
        sources.viewer_id is not None,
        sources.replies_to_viewer and sources.viewer_id is not None,
        sources.everyone,
        sources.origin,
        sources.top_level_only,
        below is not None,
        above is not None,
        oldest_first,
    )
    if stmt is None:
        return []
    params = _source_params(sources, limit, many)
    if below is not None:
        params["below_sid"] = below
    if above is not None:
        params["above_sid"] = above
    ids = list(ctx.db.exec(stmt, params=params))
    if oldest_first:
        ids.reverse()
    if not ids:
        return []
    rows = {p.id: p for p in ctx.db.exec(select(Post).where(col(Post.id).in_(ids)))}
    return [rows[i] for i in ids if i in rows]


def candidate_posts(ctx: Ctx, sources: Sources, cursor: Cursor | None, limit: int) -> list[Post]:
    """Up to ``limit`` posts from ``sources`` older than ``cursor``, newest first."""
    ids = _candidate_ids(ctx, sources, cursor, limit)
    if not ids:
        return []
    rows = {p.id: p for p in ctx.db.exec(select(Post).where(col(Post.id).in_(ids)))}
    return [rows[i] for i in ids if i in rows]


def candidate_window(
    ctx: Ctx, sources: Sources, cursor: Cursor | None, limit: int
) -> list[Candidate]:
    """Like :func:`candidate_posts`, as light :class:`Candidate` rows (about half the
    cost of loading full posts, which only the page shown needs)."""
    ids = _candidate_ids(ctx, sources, cursor, limit)
    if not ids:
        return []
    rows = {
        row[0]: Candidate(*row)
        # SQLAlchemy's select: SQLModel's is typed for up to four columns
        for row in ctx.db.execute(core_select(*CANDIDATE_COLUMNS).where(col(Post.id).in_(ids)))
    }
    return [rows[i] for i in ids if i in rows]


def full_posts(ctx: Ctx, ranked: list[Ranked]) -> list[Ranked]:
    """The same ranking with each candidate replaced by its full post (one query)."""
    wanted = [r.post.id for r in ranked if not isinstance(r.post, Post)]
    if not wanted:
        return ranked
    posts = {p.id: p for p in ctx.db.exec(select(Post).where(col(Post.id).in_(wanted)))}
    out = []
    for r in ranked:
        post = r.post if isinstance(r.post, Post) else posts.get(r.post.id)
        if post is not None:  # deleted since it was ranked: left out
            out.append(Ranked(post, r.score, r.factors))
    return out


def _candidate_ids(ctx: Ctx, sources: Sources, cursor: Cursor | None, limit: int) -> list[int]:
    many = len(sources.community_ids) + len(sources.author_ids) > MAX_SOURCE_SUBQUERIES
    stmt = _candidate_statement(
        len(sources.community_ids),
        len(sources.author_ids),
        bool(sources.tag),
        sources.top_level_only,
        cursor is not None,
        many,
        sources.viewer_id is not None,
        sources.replies_to_viewer and sources.viewer_id is not None,
        sources.everyone,
    )
    if stmt is None:
        return []
    params = _source_params(sources, limit, many)
    if cursor is not None:
        params.update(before_t=cursor.created_at, before_id=cursor.id)
    return list(ctx.db.exec(stmt, params=params))


def _source_params(sources: Sources, limit: int, many: bool) -> dict[str, object]:
    params: dict[str, object] = {"lim": limit, "ban_now": utcnow()}
    if sources.viewer_id is not None:
        params.update(viewer_id=sources.viewer_id, now=utcnow())
    if sources.tag:
        params["tag"] = sources.tag
    if many:
        if sources.community_ids:
            params["cids"] = list(sources.community_ids)
        if sources.author_ids:
            params["aids"] = list(sources.author_ids)
    else:
        params.update({f"c{i}": cid for i, cid in enumerate(sources.community_ids)})
        params.update({f"a{i}": aid for i, aid in enumerate(sources.author_ids)})
    return params


def home_sources(ctx: Ctx, viewer: Account) -> Sources:
    """The viewer's own posts, posts by people they follow, posts in communities
    they belong to or follow, and replies in threads they started."""
    member_of = ctx.db.exec(
        select(col(Membership.community_id)).where(
            col(Membership.account_id) == viewer.id, col(Membership.state) == "active"
        )
    )
    follows = ctx.db.exec(
        select(col(Follow.target_account_id), col(Follow.target_community_id)).where(
            col(Follow.follower_id) == viewer.id, col(Follow.state) == "accepted"
        )
    ).all()
    community_ids = set(member_of) | {c for _, c in follows if c is not None}
    author_ids = {viewer.id} | {a for a, _ in follows if a is not None}
    return Sources(
        community_ids=sorted(community_ids),
        author_ids=sorted(author_ids),
        replies_to_viewer=True,
        viewer_id=viewer.id,
    )
