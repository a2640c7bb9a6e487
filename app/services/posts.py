"""Posts: compose, reply (threads), edit with history, delete to a tombstone."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from types import EllipsisType

from sqlalchemy import delete, update
from sqlmodel import col, func, select

from app.db import hold
from app.errors import Forbidden, Gone, Invalid, NotFound
from app.infra import events, ratelimit
from app.models import (
    Account,
    Artifact,
    Community,
    IdempotencyKey,
    Post,
    PostMention,
    PostRevision,
    PostTag,
    Reaction,
    get_row,
    pending_uri,
    utcnow,
)
from app.services import Ctx, blocks, communities, media
from app.services import visibility as visibilities
from app.services.accounts import find_local, profile_url
from app.text import Rendered, normalize_tag, plain_text, render_markdown, sanitize_html

MAX_TITLE = 200
# What a remote post may carry beyond its text, bounded (docs/federation.md)
MAX_WARNING = 500
MAX_ATTACHMENTS = 8
MAX_ALT_TEXT = 1500
MAX_URL = 2048
MAX_POLL_OPTIONS = 20
MAX_OPTION_NAME = 200
MAX_VOTES = 10**9
SENSITIVE = "Sensitive content"
IDEMPOTENCY_WINDOW = timedelta(hours=24)
MAX_IDEMPOTENCY_KEY = 200
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9.+-]{0,49}/[a-z0-9][a-z0-9.+-]{0,49}$")
_URL = re.compile(r"^https?://[^\s\x00-\x1f\x7f]+$")


# A post's status id: the milliseconds of its time since 1970 above STATUS_ID_BITS
# bits, so ids sort by the post's time (Mastodon's "snowflake" ids): 14 bits of its
# row id, then two 0 bits. The low two bits say what a status id names: 0b00 a post,
# 0b01 the boost of a community post by its Group (its post's id + 1,
# app/mastodon/ids.py boost_id), 0b10 a member's boost (app/services/boosts.py, from
# the boost's own time and row id), so no two ever collide.
STATUS_ID_BITS = 16
KIND_BITS = 2  # the low bits that say what a status id names
MAX_STATUS_ID = 2**63 - 1  # a BIGINT


def status_id(created_at: datetime, row_id: int) -> int:
    """The time-sortable id of the post with this time and row id. A remote post
    has its own ``published`` time, so one that arrives late sorts where it was
    written, not where it arrived."""
    return time_sortable_id(created_at, row_id, 0)


def time_sortable_id(created_at: datetime, row_id: int, kind: int) -> int:
    """Milliseconds of ``created_at``, 14 bits of ``row_id``, then ``kind`` (two bits)."""
    ms = max(int(created_at.timestamp() * 1000), 0)
    low = ((row_id << KIND_BITS) | kind) & ((1 << STATUS_ID_BITS) - 1)
    return (ms << STATUS_ID_BITS) | low


def get_by_status_id(ctx: Ctx, value: int) -> Post:
    """The post with this status id, as :func:`get_visible` shows it."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_STATUS_ID:
        raise NotFound("No such post.", code="post_not_found")
    post = ctx.db.exec(select(Post).where(col(Post.status_id) == value)).first()
    if post is None:
        raise NotFound("No such post.", code="post_not_found")
    return _visible(ctx, post)


def author_counts(ctx: Ctx, author_ids: list[int]) -> dict[int, tuple[int, datetime | None]]:
    """Each author's posts that are not deleted, and when they last posted, in one query."""
    out: dict[int, tuple[int, datetime | None]] = dict.fromkeys(author_ids, (0, None))
    if not author_ids:
        return out
    rows = ctx.db.exec(
        select(col(Post.author_id), func.count(), func.max(col(Post.created_at)))
        .where(col(Post.author_id).in_(author_ids), col(Post.deleted_at).is_(None))
        .group_by(col(Post.author_id))
    ).all()
    for author_id, n, last in rows:
        out[author_id] = (n, last)
    return out


def tags_of(ctx: Ctx, post_ids: list[int]) -> dict[int, list[str]]:
    """Each post's hashtags, in one query."""
    found: dict[int, list[str]] = {}
    if post_ids:
        q = select(PostTag).where(col(PostTag.post_id).in_(post_ids)).order_by(col(PostTag.tag))
        for row in ctx.db.exec(q):
            found.setdefault(row.post_id, []).append(row.tag)
    return found


def mentions_of(ctx: Ctx, post_ids: list[int]) -> dict[int, list[Account]]:
    """The accounts each post mentions, in one query."""
    found: dict[int, list[Account]] = {}
    if post_ids:
        q = select(col(PostMention.post_id), Account).join(
            Account, col(Account.id) == col(PostMention.account_id)
        )
        for post_id, account in ctx.db.exec(q.where(col(PostMention.post_id).in_(post_ids))):
            found.setdefault(post_id, []).append(account)
    return found


def post_url(ctx: Ctx, post: Post) -> str:
    return f"{ctx.base_url}/posts/{post.id}"


def kind_of(post: Post) -> str:
    """A community thread starter with a title is a ``Page`` (FEP-1b12); the rest are ``Note``s."""
    if post.community_id is not None and post.in_reply_to_id is None and post.title:
        return "Page"
    return "Note"


def _validate(
    ctx: Ctx, text: str, title: str | None, *, with_media: bool = False
) -> tuple[str, str | None]:
    if not isinstance(text, str) or not (text.strip() or with_media):
        raise Invalid("A post needs some text.", code="empty_text")
    if len(text) > ctx.settings.max_post_chars:
        raise Invalid(
            f"Posts are at most {ctx.settings.max_post_chars:,} characters "
            f"(this one has {len(text):,}).",
            code="text_too_long",
        )
    if title is not None:
        title = title.strip() or None
        if title and len(title) > MAX_TITLE:
            raise Invalid(f"Titles are at most {MAX_TITLE} characters.", code="title_too_long")
    return text.strip(), title


def _render(ctx: Ctx, text: str) -> tuple[Rendered, dict[tuple[str, str | None], Account]]:
    """Render markdown, linking mentions of accounts this instance knows."""
    known: dict[tuple[str, str | None], Account] = {}
    own_domain = ctx.settings.domain

    def resolve(user: str, domain: str | None) -> str | None:
        if domain is None or domain.lower() == own_domain:
            account = find_local(ctx, user)
        else:
            account = ctx.db.exec(
                select(Account).where(
                    col(Account.username_key) == user.lower(), col(Account.domain) == domain.lower()
                )
            ).first()
        if account is None:
            return None
        known[(user.lower(), domain.lower() if domain else None)] = account
        return profile_url(ctx, account)

    return render_markdown(text, base_url=ctx.base_url, resolve_mention=resolve), known


def _store_links(
    ctx: Ctx, post: Post, rendered: Rendered, known: dict, *, replacing: bool = True
) -> None:
    """The post's tags and mentions, as its text has them (``replacing`` those an
    earlier version had; a new post has none to delete)."""
    if replacing:
        ctx.db.execute(delete(PostTag).where(col(PostTag.post_id) == post.id))
        ctx.db.execute(delete(PostMention).where(col(PostMention.post_id) == post.id))
    for tag in rendered.tags:
        ctx.db.add(PostTag(post_id=post.id, tag=tag[:100]))
    for account_id in {known[m].id for m in rendered.mentions if m in known}:
        ctx.db.add(PostMention(post_id=post.id, account_id=account_id))


def _check_reply_allowed(ctx: Ctx, author: Account, parent: Post) -> None:
    """A member who blocked someone gets no replies from them, from here or from
    elsewhere (the Create handler turns the refusal into an ignored activity)."""
    if blocks.has_blocked(ctx, parent.author_id, author.uri):
        raise Forbidden(
            "The author of that post has blocked you, so you can't reply to it.",
            code="blocked_by_author",
        )


def create(
    ctx: Ctx,
    author: Account,
    text: str,
    *,
    community: str | None = None,
    in_reply_to: int | None = None,
    title: str | None = None,
    client: str | None = None,
    summary: str | None = None,
    sensitive: bool = False,
    media_ids: list[int] | None = None,
    sensitive_media: bool = False,
    idempotency_key: str | None = None,
    visibility: str = "public",
) -> Post:
    """A post or reply by a local member; ``client`` (the address of a page or API
    request) makes it rate-limited, trusted callers (demo data) pass none.
    ``summary``/``sensitive`` put the body behind a content warning.
    ``community`` is a local name or ``name@domain``: a member of a remote
    community starts threads there too (federation sends them to its Group).
    ``media_ids`` are the author's uploads it carries (at most four); they are
    sensitive with ``sensitive_media``, or ``sensitive`` read as Mastodon does
    (:func:`media.sensitivity`). A retry with the same ``idempotency_key`` (a
    client's, within :data:`IDEMPOTENCY_WINDOW`) answers the post the first made.
    ``visibility`` is ``public`` or ``unlisted`` (app/services/visibility.py); a post
    in a community is public."""
    if idempotency_key is not None:
        earlier = _made_with_key(ctx, author, idempotency_key)
        if earlier is not None:
            return earlier
    text, title = _validate(ctx, text, title, with_media=bool(media_ids))
    warned, folded = media.sensitivity(summary, sensitive, has_media=bool(media_ids))
    warning = own_warning(summary, warned)
    ratelimit.limit(ctx, "post", account=author.id, client=client)
    media.list_for_attaching(ctx, author, media_ids or [])  # refused before anything is written
    parent = None
    target: Community | None = None
    if in_reply_to is not None:
        parent = get_visible(ctx, in_reply_to)
        if parent.is_deleted:
            raise Gone("That post was deleted; it can't be replied to.", code="post_deleted")
        _check_reply_allowed(ctx, author, parent)
        if parent.community_id is not None:
            target = ctx.db.get(Community, parent.community_id)
    if community:
        named = communities.get_by_handle(ctx, community)
        if target is not None and named.id != target.id:
            raise Invalid("A reply stays in its thread's community.", code="community_mismatch")
        target = named
    if target is not None and not communities.is_active_member(ctx, author, target):
        raise Forbidden(f"Join “{target.display_title}” to post there.", code="not_a_member")
    visibility = visibilities.checked(visibility, into_community=target is not None)
    rendered, known = _render(ctx, text)
    post = Post(
        uri=pending_uri(),
        author_id=author.id,
        community_id=target.id if target else None,
        in_reply_to_id=parent.id if parent else None,
        root_id=(parent.root_id or parent.id) if parent else None,
        title=title if parent is None else None,
        text=text,
        html=rendered.html,
        content_warning=warning,
        visibility=visibility,
    )
    post.object_type = kind_of(post)
    ctx.db.add(post)
    ctx.db.flush()
    post.uri = post_url(ctx, post)
    post.status_id = status_id(post.created_at, post.id)
    _store_links(ctx, post, rendered, known, replacing=False)
    media.attach(ctx, author, post, media_ids or [], sensitive=folded or sensitive_media)
    if idempotency_key is not None:
        ctx.db.add(IdempotencyKey(account_id=author.id, key=idempotency_key, post_id=post.id))
    if parent is not None:
        ctx.db.execute(
            update(Post)
            .where(col(Post.id) == parent.id)
            .values(reply_count=col(Post.reply_count) + 1)
        )
    events.emit(ctx, "post.created", post=post)
    return post


def _made_with_key(ctx: Ctx, author: Account, key: str) -> Post | None:
    """The post ``author`` made with this idempotency key lately, if any. Holds the
    key until the transaction ends, so a retry sent at once waits for the first."""
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise Invalid(
            f"Idempotency keys are 1 to {MAX_IDEMPOTENCY_KEY} characters.",
            code="invalid_idempotency_key",
        )
    hold(ctx.db, f"idempotency:{author.id}:{key}")
    since = utcnow() - IDEMPOTENCY_WINDOW
    ctx.db.execute(
        delete(IdempotencyKey).where(
            col(IdempotencyKey.account_id) == author.id, col(IdempotencyKey.created_at) < since
        )
    )
    row = ctx.db.exec(
        select(IdempotencyKey).where(
            col(IdempotencyKey.account_id) == author.id, col(IdempotencyKey.key) == key
        )
    ).first()
    return ctx.db.get(Post, row.post_id) if row is not None else None


def get(ctx: Ctx, post_id: int) -> Post:
    post = get_row(ctx.db, Post, post_id)
    if post is None:
        raise NotFound("No such post.", code="post_not_found")
    return post


def _require_author(post: Post, account: Account) -> None:
    if post.author_id != account.id:
        raise Forbidden("Only the author can edit a post.", code="not_author")


def edit(
    ctx: Ctx, editor: Account, post_id: int, text: str, title: str | None | EllipsisType = ...
) -> Post:
    """Replace a post's text (and title, unless it is ``...``: unchanged), saving
    the previous version in its history."""
    post = get(ctx, post_id)
    if post.is_deleted:
        raise Gone("That post was deleted.", code="post_deleted")
    _require_author(post, editor)
    has_media = bool(media.of_posts(ctx, [post.id]))
    text, title = _validate(ctx, text, post.title if title is ... else title, with_media=has_media)
    if post.in_reply_to_id is not None:
        title = None
    if text == post.text and title == post.title:
        return post
    ctx.db.add(
        PostRevision(
            post_id=post.id,
            title=post.title,
            text=post.text,
            written_at=post.updated_at or post.created_at,
        )
    )
    rendered, known = _render(ctx, text)
    post.text, post.title, post.html = text, title, rendered.html
    post.object_type = kind_of(post)
    post.updated_at = utcnow()
    ctx.db.add(post)
    _store_links(ctx, post, rendered, known)
    events.emit(ctx, "post.edited", post=post)
    return post


def can_delete(ctx: Ctx, actor: Account | None, post: Post) -> bool:
    """Authors delete their own posts; community moderators and instance admins
    may delete any post in their care. (Pages ask this to offer the action.)"""
    if actor is None or post.is_deleted:
        return False
    if post.author_id == actor.id or (actor.is_admin and actor.is_local):
        return True
    community = ctx.db.get(Community, post.community_id) if post.community_id else None
    return community is not None and communities.can_moderate(ctx, actor, community)


def delete_post(ctx: Ctx, actor: Account, post_id: int) -> Post:
    """Delete a post's content, leaving a tombstone so replies keep their place."""
    post = get(ctx, post_id)
    if post.is_deleted:
        return post
    if not can_delete(ctx, actor, post):
        raise Forbidden("Only the author or a moderator can delete this post.", code="not_author")
    return _tombstone(ctx, post)


def _tombstone(ctx: Ctx, post: Post) -> Post:
    post.text, post.html, post.title = "", "", None
    post.content_warning = post.attachments = post.poll = None
    post.deleted_at = utcnow()
    ctx.db.add(post)
    for model in (PostRevision, PostTag, PostMention, Reaction):
        ctx.db.execute(delete(model).where(col(model.post_id) == post.id))
    media.delete_for_post(ctx, post)
    events.emit(ctx, "post.deleted", post=post)
    return post


def find_by_uri(ctx: Ctx, uri: str) -> Post | None:
    return ctx.db.exec(select(Post).where(col(Post.uri) == uri)).first()


def _web_url(value: object) -> str | None:
    if isinstance(value, str) and len(value) <= MAX_URL and _URL.match(value):
        return value
    return None


def own_warning(summary: str | None, sensitive: bool) -> str | None:
    """A member's warning on their post: the summary they wrote (sent as AS2
    ``summary`` with ``sensitive: true``, Mastodon's content warning), or a general
    one when they only marked it sensitive."""
    summary = summary.strip() if isinstance(summary, str) else ""
    if len(summary) > MAX_WARNING:
        raise Invalid(
            f"Content warnings are at most {MAX_WARNING} characters "
            f"(this one has {len(summary):,}).",
            code="warning_too_long",
        )
    return summary or (SENSITIVE if sensitive else None)


def content_warning(summary: str | None, sensitive: bool) -> str | None:
    """A remote post's warning as plain text: its summary, or a general one when it
    is only marked sensitive."""
    warning = plain_text(sanitize_html(summary or ""), MAX_WARNING)
    return warning or (SENSITIVE if sensitive else None)


def attachments_json(
    items: list[dict] | tuple[dict, ...], *, sensitive: bool = False
) -> str | None:
    """Links to a remote post's (or artifact's) media, until they are cached here:
    http(s) URLs only, a bounded number, the alt text as plain text, and whether
    they are sensitive (the object's ``sensitive``)."""
    kept = []
    for item in items:
        url = _web_url(item.get("url")) if isinstance(item, dict) else None
        if url is None:
            continue
        media_type = item.get("media_type")
        media_type = media_type.lower() if isinstance(media_type, str) else ""
        name = item.get("name")
        if not isinstance(name, str):
            name = ""
        kept.append(
            {
                "url": url,
                "media_type": media_type if _MEDIA_TYPE.match(media_type) else "",
                "name": plain_text(sanitize_html(name), MAX_ALT_TEXT),
                "sensitive": sensitive,
            }
        )
        if len(kept) == MAX_ATTACHMENTS:
            break
    return json.dumps(kept) if kept else None


def _poll_json(poll: dict | None) -> str | None:
    """A remote poll, read-only: its options with their vote counts, and when it ends."""
    if not isinstance(poll, dict):
        return None
    options = []
    for option in poll.get("options") or []:
        name = plain_text(sanitize_html(str(option.get("name") or "")), MAX_OPTION_NAME)
        votes = option.get("votes")
        votes = votes if isinstance(votes, int) and not isinstance(votes, bool) else 0
        if name:
            options.append({"name": name, "votes": min(max(votes, 0), MAX_VOTES)})
        if len(options) == MAX_POLL_OPTIONS:
            break
    if not options:
        return None
    end = poll.get("end_time")
    return json.dumps(
        {
            "multiple": bool(poll.get("multiple")),
            "options": options,
            "end_time": end.isoformat() if isinstance(end, datetime) and end.tzinfo else None,
        }
    )


def attachments_of(owner: Post | Artifact) -> list[dict]:
    """A remote post's or artifact's media links (older rows say nothing of
    ``sensitive``: not sensitive)."""
    items = json.loads(owner.attachments) if owner.attachments else []
    return [{"sensitive": False, **item} for item in items]


def poll_of(post: Post) -> dict | None:
    if not post.poll:
        return None
    poll = json.loads(post.poll)
    end = poll.get("end_time")
    return {**poll, "end_time": datetime.fromisoformat(end) if end else None}


def store_remote(
    ctx: Ctx,
    *,
    uri: str,
    author: Account,
    html: str,
    object_type: str = "Note",
    title: str | None = None,
    url: str | None = None,
    published: datetime | None = None,
    updated: datetime | None = None,
    parent: Post | None = None,
    community: Community | None = None,
    tags: list[str] | tuple[str, ...] = (),
    summary: str | None = None,
    sensitive: bool = False,
    attachments: list[dict] | tuple[dict, ...] = (),
    poll: dict | None = None,
    mentions: list[Account] | tuple[Account, ...] = (),
    visibility: str = "public",
) -> Post | None:
    """Insert, or update, a post that lives on another instance.

    The HTML is sanitized here with the same allow-list as local posts, whatever the
    caller did, and so are its content warning (``summary``, or ``sensitive``),
    attachments (``url``, ``media_type``, ``name``) and poll (``multiple``,
    ``options`` of ``name`` and ``votes``, ``end_time``). An update keeps the
    previous version in the history (a poll's new counts alone are no new version);
    a post already deleted stays deleted (None is returned). Only the author may
    change a post. ``mentions`` are the accounts of this instance it names.
    ``visibility`` (``public`` or ``unlisted``, as it was addressed) is set when it
    is stored; an edit does not change it, as Mastodon's edits do not.
    """
    html = sanitize_html(html or "")
    text = plain_text(html)[: ctx.settings.max_post_chars * 2]
    title = plain_text(sanitize_html(title or ""))[:MAX_TITLE] or None  # plain text, as AS2 says
    links = attachments_json(attachments)
    warned, folded = media.sensitivity(summary, sensitive, has_media=links is not None)
    extras = {
        "content_warning": content_warning(summary, warned),
        "attachments": attachments_json(attachments, sensitive=folded),
        "poll": _poll_json(poll),
    }
    existing = find_by_uri(ctx, uri)
    if existing is not None:
        if existing.author_id != author.id:
            raise Forbidden("Only the author can change a post.", code="not_author")
        if existing.is_deleted:
            return None
        if existing.html == html and existing.title == title:
            if any(getattr(existing, k) != v for k, v in extras.items()):
                for k, v in extras.items():
                    setattr(existing, k, v)
                ctx.db.add(existing)
            return existing
        for k, v in extras.items():
            setattr(existing, k, v)
        ctx.db.add(
            PostRevision(
                post_id=existing.id,
                title=existing.title,
                text=existing.text,
                written_at=existing.updated_at or existing.created_at,
            )
        )
        existing.html, existing.text, existing.title = html, text, title
        existing.updated_at = updated or utcnow()
        ctx.db.add(existing)
        _store_remote_tags(ctx, existing, tags)
        events.emit(ctx, "post.edited", post=existing)
        return existing
    if parent is not None:
        _check_reply_allowed(ctx, author, parent)
    if parent is not None and community is None and parent.community_id is not None:
        community = ctx.db.get(Community, parent.community_id)
    now = utcnow()
    post = Post(
        uri=uri,
        author_id=author.id,
        community_id=community.id if community else None,
        in_reply_to_id=parent.id if parent else None,
        root_id=(parent.root_id or parent.id) if parent else None,
        title=title if parent is None else None,
        text=text,
        html=html,
        url=url,
        object_type=object_type if object_type in ("Note", "Page", "Article") else "Note",
        created_at=min(published, now) if published else now,
        content_warning=extras["content_warning"],
        attachments=extras["attachments"],
        poll=extras["poll"],
        visibility=visibilities.checked(visibility, into_community=False),
    )
    ctx.db.add(post)
    ctx.db.flush()
    post.status_id = status_id(post.created_at, post.id)
    ctx.db.add(post)
    _store_remote_tags(ctx, post, tags)
    for account_id in {m.id for m in mentions if m.is_local}:
        ctx.db.add(PostMention(post_id=post.id, account_id=account_id))
    if parent is not None:
        ctx.db.execute(
            update(Post)
            .where(col(Post.id) == parent.id)
            .values(reply_count=col(Post.reply_count) + 1)
        )
    events.emit(ctx, "post.created", post=post)
    return post


def _store_remote_tags(ctx: Ctx, post: Post, tags: list[str] | tuple[str, ...]) -> None:
    ctx.db.execute(delete(PostTag).where(col(PostTag.post_id) == post.id))
    for tag in {normalize_tag(t)[:100] for t in tags if t and normalize_tag(t)}:
        ctx.db.add(PostTag(post_id=post.id, tag=tag))


def delete_remote(ctx: Ctx, post: Post) -> Post:
    """Tombstone a remote post whose author deleted it (federation checked who asked)."""
    if post.is_deleted:
        return post
    return _tombstone(ctx, post)


def history(ctx: Ctx, post: Post) -> list[PostRevision]:
    return list(
        ctx.db.exec(
            select(PostRevision)
            .where(col(PostRevision.post_id) == post.id)
            .order_by(col(PostRevision.id).desc())
        )
    )


def get_visible(ctx: Ctx, post_id: int) -> Post:
    """A post to show: like :func:`get`, but a post whose author is hidden from
    everyone (suspended, deleted, on a blocked domain) is not found."""
    return _visible(ctx, get(ctx, post_id))


def _visible(ctx: Ctx, post: Post) -> Post:
    if blocks.hidden_from_everyone(ctx, post.author_id):
        raise NotFound("No such post.", code="post_not_found")
    return post


def thread(
    ctx: Ctx, post: Post, *, limit: int = 1000, viewer: Account | None = None
) -> tuple[Post, list[Post]]:
    """The thread's root and its replies in the order they were written, without
    those by authors hidden from the viewer (:func:`blocks.hides_account`)."""
    root = _visible(ctx, get(ctx, post.root_id) if post.root_id else post)
    hidden = blocks.hides_account(viewer.id if viewer is not None else None)
    q = select(Post).join(Account, col(Account.id) == col(Post.author_id))
    q = q.where(col(Post.root_id) == root.id, ~hidden)
    replies = list(ctx.db.exec(q.order_by(col(Post.created_at), col(Post.id)).limit(limit)))
    return root, replies
