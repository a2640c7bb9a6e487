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
from app.models import Account, Boost, Community, Post
from app.services import (
    Ctx,
    blocks,
    bookmarks,
    follows,
    group_actors,
    mutes,
    pins,
    posts,
    reactions,
)
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


def _account_entity(
    *,
    id: str,
    username: str,
    acct: str,
    display_name: str,
    locked: bool,
    group: bool,
    created_at: datetime | None,
    note: str,
    url: str,
    uri: str,
    avatar: str,
    header: str,
    counts: tuple[int, int, int],
    last: datetime | None,
) -> Json:
    """Mastodon's Account, with every field apps read (a member's or a Group's)."""
    followers, following, statuses = counts
    return {
        "id": id,
        "username": username,
        "acct": acct,
        "display_name": display_name,
        "locked": locked,
        "bot": False,
        "discoverable": True,
        "indexable": True,
        "group": group,
        "noindex": False,
        "hide_collections": False,
        "created_at": when(created_at),
        "note": note,
        "url": url,
        "uri": uri,
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
        out[a.id] = _account_entity(
            id=ids.account_id(a),
            username=a.username,
            acct=acct(a),
            display_name=a.name if a.display_name or a.is_deleted else "",
            locked=False,
            group=False,
            created_at=a.created_at,
            note=note,
            url=profile_url(ctx, a),
            uri=a.uri,
            avatar=avatar,
            header=header,
            counts=(followers, following, statuses),
            last=last,
        )
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


def commonground(view: PostView) -> Json:
    """Commonground's own part of a status, namespaced so apps ignore it: the
    stance counts, the viewer's stance, and ``why`` it is in a ranked feed (set
    only by ranked answers, app/mastodon/lists.py; docs/mastodon-api.md)."""
    mine = [s for s in view.my_reactions if s in reactions.STANCES]
    return {
        "why": None,
        "stances": {s: view.reactions.get(s, 0) for s in reactions.STANCES},
        "my_stance": mine[0] if mine else None,
    }


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
    kept = bookmarks.marked(ctx, viewer, post_ids)
    pinned = pins.pinned_among(ctx, post_ids)
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
                "visibility": p.visibility,
                "language": None,
                "replies_count": p.reply_count,
                "reblogs_count": v.boosts,
                "favourites_count": v.reactions.get("like", 0),
                "favourited": "like" in v.my_reactions,
                "reblogged": v.boosted,
                "muted": False,
                "bookmarked": p.id in kept,
                "pinned": p.id in pinned,
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
                "commonground": commonground(v),
            }
        )
    return out


def status(ctx: Ctx, row: Post, viewer: Account | None) -> Json:
    return statuses(ctx, [row], viewer)[0]


# --- communities as Group accounts (docs/mastodon-api.md, "Communities as Group accounts")


def group_url(ctx: Ctx, community: Community) -> str:
    """A community's page: here, or its own actor URL on its instance."""
    return community.uri if community.domain else f"{ctx.base_url}/c/{community.name}"


def groups(ctx: Ctx, rows: list[Community]) -> dict[int, Json]:
    """Account entities (``group: true``) for these communities, by community id, in
    two queries: members are its followers, its posts its statuses; ``locked`` when a
    moderator approves who joins."""
    counted = group_actors.counts(ctx, list({c.id for c in rows}))
    avatar, header = ctx.base_url + DEFAULT_AVATAR, ctx.base_url + DEFAULT_HEADER
    out: dict[int, Json] = {}
    for c in rows:
        members, statuses_, last = counted.get(c.id, (0, 0, None))
        out[c.id] = _account_entity(
            id=ids.group_account_id(c),
            username=c.name,
            acct=c.handle,
            display_name=c.display_title,
            locked=c.join_policy == "approval",
            group=True,
            created_at=c.created_at,
            note=_note_html(c.description),
            url=group_url(ctx, c),
            uri=c.uri,
            avatar=avatar,
            header=header,
            counts=(members, 0, statuses_),
            last=last,
        )
    return out


def group(ctx: Ctx, row: Community) -> Json:
    return groups(ctx, [row])[row.id]


def group_relationships(ctx: Ctx, viewer: Account, targets: list[Community]) -> list[Json]:
    """The viewer's Relationship with each Group: ``following`` is membership (or a
    follow), ``requested`` a request to join (or a follow elsewhere) not yet answered."""
    standing = group_actors.standings(ctx, viewer, [t.id for t in targets])
    blocked = blocks.blocked_uris(ctx, viewer)
    return [
        {
            "id": ids.group_account_id(t),
            "following": standing[t.id].following,
            "showing_reblogs": standing[t.id].following,
            "notifying": False,
            "languages": None,
            "followed_by": False,
            "blocking": t.uri in blocked,
            "blocked_by": False,
            "muting": False,
            "muting_notifications": False,
            "requested": standing[t.id].requested,
            "requested_by": False,
            "domain_blocking": False,
            "endorsed": False,
            "note": "",
        }
        for t in targets
    ]


def _announce_uri(ctx: Ctx, post: Post, community: Community) -> str:
    """The Announce's id where this instance makes it (federation/endpoints.py)."""
    if community.domain:
        return f"{community.uri}#announce-{post.id}"
    return f"{ctx.base_url}/posts/{post.id}/announce"


def boost(ctx: Ctx, post: Post, shown: Json, community: Community, card: Json) -> Json:
    """The Group's boost of a post in it (``shown``, the post's Status): a Status of
    its own, as Mastodon shows a FEP-1b12 Group's Announce, at the post's time."""
    return _reblog(shown, ids.boost_id(post), _announce_uri(ctx, post, community), card)


def member_boosts(ctx: Ctx, rows: list[Boost], viewer: Account | None) -> list[Json]:
    """Statuses for members' boosts (app/services/boosts.py), in their order: each a
    Status of its own by the booster, at the boost's time, whose ``reblog`` is the
    post (in a fixed number of queries)."""
    if not rows:
        return []
    found = {
        p.id: p
        for p in ctx.db.exec(select(Post).where(col(Post.id).in_({b.post_id for b in rows})))
    }
    wanted = [found[b.post_id] for b in rows if b.post_id in found]
    shown = {p.id: s for p, s in zip(wanted, statuses(ctx, wanted, viewer), strict=True)}
    boosters = list(
        ctx.db.exec(select(Account).where(col(Account.id).in_({b.account_id for b in rows})))
    )
    cards = accounts(ctx, boosters)
    return [
        {
            **_reblog(shown[b.post_id], str(b.status_id or 0), b.uri, cards[b.account_id]),
            "created_at": when(b.created_at),
        }
        for b in rows
        if b.post_id in shown and b.account_id in cards
    ]


def _reblog(shown: Json, status_id: str, uri: str, card: Json) -> Json:
    """A boost of the post whose Status is ``shown``, with this id, uri and booster."""
    return {
        **shown,
        "id": status_id,
        "uri": uri,
        "account": card,
        "edited_at": None,
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "content": "",
        "text": None,
        "spoiler_text": "",
        "sensitive": False,
        "language": None,
        "replies_count": 0,
        "reblogs_count": 0,
        "favourites_count": 0,
        "pinned": False,
        "reblog": shown,
        "media_attachments": [],
        "mentions": [],
        "tags": [],
        "emojis": [],
        "card": None,
        "poll": None,
        "filtered": [],
    }


def statuses_or_boosts(
    ctx: Ctx, rows: list[Post], viewer: Account | None, boosted_in: set[int] | None
) -> list[Json]:
    """Statuses for ``rows``, each post in one of the communities ``boosted_in``
    (None: any community) shown as its Group's boost."""
    shown = statuses(ctx, rows, viewer)
    wanted = {
        p.community_id
        for p in rows
        if p.community_id is not None and (boosted_in is None or p.community_id in boosted_in)
    }
    if not wanted:
        return shown
    found = list(ctx.db.exec(select(Community).where(col(Community.id).in_(wanted))))
    by_id = {c.id: c for c in found}
    cards = groups(ctx, found)
    return [
        boost(ctx, p, s, by_id[p.community_id], cards[p.community_id])
        if p.community_id in by_id
        else s
        for p, s in zip(rows, shown, strict=True)
    ]
