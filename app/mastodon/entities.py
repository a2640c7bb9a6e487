"""Mastodon's entities (docs.joinmastodon.org/entities/) as plain dicts, built from
the domain's read models in a fixed number of queries per page.

Every field an app reads is present, and every array is an array (never missing,
never null): apps written against Mastodon index them without checking. What
Commonground has no counterpart for is its empty value (``emojis: []``,
``reblog: null``, ``reblogs_count: 0``)."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

from sqlmodel import col, select

from app.mastodon import ids
from app.models import Account, Post
from app.services import Ctx, blocks, follows, mutes, posts
from app.services.accounts import profile_url
from app.services.views import MediaView, PostView, present

Json = dict[str, Any]
DEFAULT_AVATAR = "/static/avatar.png"
DEFAULT_HEADER = "/static/header.png"


def when(moment: datetime | None) -> str | None:
    """Mastodon's time format: UTC with milliseconds and a Z."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def acct(account: Account) -> str:
    """``name`` for a member here, ``name@domain`` for one elsewhere."""
    return f"{account.username}@{account.domain}" if account.domain else account.username


def _image(ctx: Ctx, url: str, default: str) -> str:
    if not url:
        return ctx.base_url + default
    return url if url.startswith(("http://", "https://")) else ctx.base_url + url


def accounts(ctx: Ctx, rows: list[Account]) -> dict[int, Json]:
    """Account entities for these accounts, by id (four queries whatever their number)."""
    wanted = list({a.id for a in rows})
    counted = follows.counts(ctx, wanted)
    posted = posts.author_counts(ctx, wanted)
    out: dict[int, Json] = {}
    for a in rows:
        followers, following = counted.get(a.id, (0, 0))
        statuses, last = posted.get(a.id, (0, None))
        avatar = _image(ctx, a.avatar_url, DEFAULT_AVATAR)
        header = _image(ctx, a.header_url, DEFAULT_HEADER)
        note = "" if a.is_deleted else _note_html(a.bio)
        out[a.id] = {
            "id": ids.account_id(a),
            "username": a.username,
            "acct": acct(a),
            "display_name": a.name if a.display_name or a.is_deleted else "",
            "locked": False,
            "bot": False,
            "discoverable": True,
            "indexable": True,
            "group": False,
            "noindex": False,
            "hide_collections": False,
            "created_at": when(a.created_at),
            "note": note,
            "url": profile_url(ctx, a),
            "uri": a.uri,
            "avatar": avatar,
            "avatar_static": avatar,
            "header": header,
            "header_static": header,
            "followers_count": followers,
            "following_count": following,
            "statuses_count": statuses,
            "last_status_at": last.date().isoformat() if last else None,
            "emojis": [],
            "fields": [],
            "roles": [],
            "moved": None,
            "suspended": False,
            "limited": False,
        }
    return out


def _note_html(bio: str) -> str:
    """A bio is plain text (pages show it escaped): as HTML, one paragraph."""
    if not bio.strip():
        return ""
    return "<p>" + escape(bio.strip()).replace("\n", "<br>") + "</p>"


def account(ctx: Ctx, row: Account) -> Json:
    return accounts(ctx, [row])[row.id]


def credential_account(ctx: Ctx, row: Account) -> Json:
    """The member's own account, with what only they see: ``source`` (what they
    wrote, for editing) and ``role``."""
    out = account(ctx, row)
    out["source"] = {
        "note": row.bio,
        "fields": [],
        "privacy": "public",
        "sensitive": False,
        "language": None,
        "follow_requests_count": 0,
        "discoverable": True,
        "indexable": True,
        "hide_collections": False,
    }
    out["role"] = {
        "id": "1" if row.is_admin else "0",
        "name": "Admin" if row.is_admin else "",
        "color": "",
        "permissions": "1" if row.is_admin else "0",
        "highlighted": row.is_admin,
    }
    return out


def relationships(ctx: Ctx, viewer: Account, targets: list[Account]) -> list[Json]:
    """The viewer's Relationship with each target, in a few queries."""
    ids_ = [t.id for t in targets]
    pairs = follows.accepted_between(ctx, [viewer.id, *ids_], [viewer.id, *ids_])
    requested = follows.pending_from(ctx, viewer, ids_)
    blocked = blocks.blocked_uris(ctx, viewer)
    out = []
    for t in targets:
        muted = mutes.is_muted(ctx, viewer, mutes.Target("account", t.uri))
        out.append(
            {
                "id": ids.account_id(t),
                "following": (viewer.id, t.id) in pairs,
                "showing_reblogs": (viewer.id, t.id) in pairs,
                "notifying": False,
                "languages": None,
                "followed_by": (t.id, viewer.id) in pairs,
                "blocking": t.uri in blocked,
                "blocked_by": blocks.has_blocked(ctx, t.id, viewer.uri),
                "muting": muted,
                "muting_notifications": muted,
                "requested": t.id in requested,
                "requested_by": False,
                "domain_blocking": bool(t.domain)
                and mutes.is_muted(ctx, viewer, mutes.Target("domain", t.domain)),
                "endorsed": False,
                "note": "",
            }
        )
    return out


def _size(width: int, height: int) -> Json:
    aspect = round(width / height, 4) if width and height else None
    return {"width": width, "height": height, "size": f"{width}x{height}", "aspect": aspect}


def media_attachment(ctx: Ctx, m: MediaView, *, ready: bool = True) -> Json:
    """A MediaAttachment of an upload here (on a status, or just uploaded): the one
    builder of both. ``url`` and ``preview_url`` are null until it is processed
    (``ready``), as Mastodon's are; ``small`` is the preview's size."""
    meta: Json = {}
    if ready and m.width and m.height:
        side = ctx.settings.media_preview_side
        scale = min(1.0, side / max(m.width, m.height))
        meta["original"] = _size(m.width, m.height)
        meta["small"] = _size(max(round(m.width * scale), 1), max(round(m.height * scale), 1))
    if m.focus is not None:
        meta["focus"] = {"x": m.focus[0], "y": m.focus[1]}
    return {
        "id": str(m.id),
        "type": "image",
        "url": m.url if ready else None,
        "preview_url": m.preview_url if ready else None,
        "remote_url": None,
        "preview_remote_url": None,
        "text_url": None,
        "meta": meta,
        "description": m.description or None,
        "blurhash": (m.blurhash or None) if ready else None,
    }


def _remote_media(status_id: str, i: int, item: dict) -> Json:
    kind = (item.get("media_type") or "").split("/")[0]
    return {
        "id": f"{status_id}{i:02d}",
        "type": {"image": "image", "video": "video", "audio": "audio"}.get(kind, "unknown"),
        "url": item["url"],
        "preview_url": item["url"],
        "remote_url": item["url"],
        "preview_remote_url": None,
        "text_url": None,
        "meta": {},
        "description": item.get("name") or None,
        "blurhash": None,
    }


def _poll(status_id: str, poll: dict | None) -> Json | None:
    if not poll:
        return None
    end = poll.get("end_time")
    options = [{"title": o["name"], "votes_count": o["votes"]} for o in poll["options"]]
    return {
        "id": status_id,
        "expires_at": when(end),
        "expired": bool(end and end <= datetime.now(UTC)),
        "multiple": poll["multiple"],
        "votes_count": sum(o["votes_count"] for o in options),
        "voters_count": None,
        "options": options,
        "emojis": [],
        "voted": False,
        "own_votes": [],
    }


def _content(view: PostView) -> str:
    """The post's HTML; a community thread's title heads it, as Mastodon shows a Page."""
    if view.title:
        return f"<p><strong>{escape(view.title)}</strong></p>{view.html.strip()}"
    return view.html.strip()


def statuses(ctx: Ctx, rows: list[Post], viewer: Account | None) -> list[Json]:
    """Status entities for these posts, in their order, in a fixed number of queries."""
    if not rows:
        return []
    views = {v.id: v for v in present(ctx, rows, viewer)}
    post_ids = [p.id for p in rows]
    parent_ids = {p.in_reply_to_id for p in rows if p.in_reply_to_id}
    parents = (
        {
            pid: (sid, author)
            for pid, sid, author in ctx.db.exec(
                select(col(Post.id), col(Post.status_id), col(Post.author_id)).where(
                    col(Post.id).in_(parent_ids)
                )
            )
        }
        if parent_ids
        else {}
    )
    authors = {
        a.id: a
        for a in ctx.db.exec(
            select(Account).where(col(Account.id).in_({p.author_id for p in rows}))
        )
    }
    cards = accounts(ctx, list(authors.values()))
    tags = posts.tags_of(ctx, post_ids)
    mentioned = posts.mentions_of(ctx, post_ids)
    out = []
    for p in rows:
        v = views[p.id]
        sid = ids.status_id(p)
        parent = parents.get(p.in_reply_to_id) if p.in_reply_to_id else None
        warning = v.content_warning or ""
        spoiler = "" if warning == posts.SENSITIVE else warning
        media = [media_attachment(ctx, m) for m in v.media]
        media += [_remote_media(sid, i, a) for i, a in enumerate(v.attachments)]
        sensitive = bool(warning) or any(m.sensitive for m in v.media)
        sensitive = sensitive or any(a.get("sensitive") for a in v.attachments)
        out.append(
            {
                "id": sid,
                "uri": p.uri,
                "url": v.url,
                "created_at": when(p.created_at),
                "edited_at": when(p.updated_at),
                "account": cards[p.author_id],
                "in_reply_to_id": str(parent[0]) if parent and parent[0] else None,
                "in_reply_to_account_id": str(parent[1]) if parent else None,
                "content": "" if p.is_deleted else _content(v),
                "text": None,
                "spoiler_text": spoiler,
                "sensitive": sensitive,
                "visibility": "public",
                "language": None,
                "replies_count": p.reply_count,
                "reblogs_count": 0,
                "favourites_count": v.reactions.get("like", 0),
                "favourited": "like" in v.my_reactions,
                "reblogged": False,
                "muted": False,
                "bookmarked": False,
                "pinned": False,
                "reblog": None,
                "application": None,
                "media_attachments": media,
                "mentions": [
                    {
                        "id": ids.account_id(m),
                        "username": m.username,
                        "acct": acct(m),
                        "url": profile_url(ctx, m),
                    }
                    for m in mentioned.get(p.id, [])
                ],
                "tags": [
                    {"name": t, "url": f"{ctx.base_url}/tags/{t}"} for t in tags.get(p.id, [])
                ],
                "emojis": [],
                "card": None,
                "poll": _poll(sid, v.poll),
                "filtered": [],
            }
        )
    return out


def status(ctx: Ctx, row: Post, viewer: Account | None) -> Json:
    return statuses(ctx, [row], viewer)[0]
