"""Posts as ActivityStreams objects.

A community thread starter is a ``Page`` with a ``name`` (FEP-1b12, shown by
Mastodon as a card); everything else is a ``Note``. Deleted posts are ``Tombstone``s.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

from sqlmodel import col, select

from app.db import get_or_raise
from app.errors import NotFound
from app.models import Account, Community, MediaFile, Post, PostMention, PostTag
from app.services import Ctx, blocks, media
from app.services.posts import find_by_uri, post_url
from federation import vocab
from federation.vocab import AS_PUBLIC, CONTEXT

K = TypeVar("K", bound=Hashable)

# Activities that carry (a copy of) their object; once it is deleted they are not served.
CARRIES_OBJECT = frozenset({"Create", "Update", "Announce"})


def tombstone(post: Post) -> dict:
    return {
        "@context": CONTEXT,
        "id": post.uri,
        "type": "Tombstone",
        "formerType": post.object_type,
        "deleted": post.deleted_at.isoformat() if post.deleted_at else None,
    }


def attachment(ctx: Ctx, row: MediaFile) -> dict:
    """One image of a post, as Mastodon and its kin read it (``name`` is the alt text)."""
    return {
        "type": "Image" if row.media_type.startswith("image/") else "Document",
        "mediaType": row.media_type,
        "url": media.url_of(ctx, row.file_key),
        "name": row.description,
        "blurhash": row.blurhash,
        "width": row.width,
        "height": row.height,
    }


def add_media(ctx: Ctx, doc: dict, rows: list[MediaFile]) -> None:
    """A Note's or an artifact's Page's images: ``attachment``, and Mastodon's
    ``sensitive: true`` when they are sensitive (with or without a summary)."""
    if rows:
        doc["attachment"] = [attachment(ctx, row) for row in rows]
    if any(row.sensitive for row in rows):
        doc["sensitive"] = True


def replies_uri(post: Post) -> str:
    return f"{post.uri}/replies"


def replies_collection(post: Post) -> dict:
    """A post's ``replies``, embedded as Mastodon sends it (some peers refuse a bare
    URL): the collection served at its id, with the URL of its first page."""
    uri = replies_uri(post)
    return {"id": uri, "type": "OrderedCollection", "first": f"{uri}?page=true"}


def note(ctx: Ctx, post: Post, *, with_context: bool = True) -> dict:
    """The AS2 object for a local post (or a Tombstone once deleted)."""
    if post.is_deleted:
        return tombstone(post)
    author = get_or_raise(ctx.db, Account, post.author_id)
    community = ctx.db.get(Community, post.community_id) if post.community_id else None
    parent = ctx.db.get(Post, post.in_reply_to_id) if post.in_reply_to_id else None
    tags = ctx.db.exec(select(col(PostTag.tag)).where(col(PostTag.post_id) == post.id)).all()
    mentioned = ctx.db.exec(
        select(Account)
        .join(PostMention, col(PostMention.account_id) == col(Account.id))
        .where(col(PostMention.post_id) == post.id)
    ).all()
    to, cc = [AS_PUBLIC], [f"{author.uri}/followers"] + [m.uri for m in mentioned]
    if post.visibility == "unlisted":  # Mastodon's unlisted addressing
        to, cc = [f"{author.uri}/followers"], [AS_PUBLIC] + [m.uri for m in mentioned]
    if community is not None:
        cc.insert(0, community.uri)
    doc: dict = {
        "id": post.uri,
        "type": post.object_type,
        "attributedTo": author.uri,
        "content": post.html,
        "source": {"content": post.text, "mediaType": "text/markdown"},
        "published": post.created_at.isoformat(),
        "url": post_url(ctx, post),
        "to": to,
        "cc": cc,
        "inReplyTo": parent.uri if parent else None,
        "tag": [
            {"type": "Hashtag", "href": f"{ctx.base_url}/tags/{t}", "name": f"#{t}"} for t in tags
        ]
        + [
            {
                "type": "Mention",
                "href": m.uri,
                "name": f"@{m.username}@{m.domain or ctx.settings.domain}",
            }
            for m in mentioned
        ],
        "replies": replies_collection(post),
    }
    add_media(ctx, doc, media.of_posts(ctx, [post.id]).get(post.id, []))
    if post.object_type == "Page":
        doc["name"] = post.title
    if post.content_warning:  # Mastodon's content warning; Lemmy reads it too
        doc["summary"] = post.content_warning
        doc["sensitive"] = True
    if community is not None:
        doc["audience"] = community.uri
    if post.updated_at:
        doc["updated"] = post.updated_at.isoformat()
    if with_context:
        doc = {"@context": CONTEXT, **doc}
    return doc


def create_activity(ctx: Ctx, post: Post) -> dict:
    """A local member's ``Create`` of their post, with an id derived from the post."""
    obj = note(ctx, post, with_context=False)
    author = get_or_raise(ctx.db, Account, post.author_id)
    return {
        "id": f"{post_url(ctx, post)}/activity",
        "type": "Create",
        "actor": author.uri,
        "published": post.created_at.isoformat(),
        "object": obj,
        "to": obj.get("to", [AS_PUBLIC]),
        "cc": obj.get("cc", [f"{author.uri}/followers"]),
    }


def announce_activity(ctx: Ctx, post: Post, community: Community) -> dict:
    """FEP-1b12: a local community's ``Announce`` of a post in it. A local member's
    post is announced with its ``Create``; a remote member's by id only, so peers
    fetch it from its origin."""
    author = get_or_raise(ctx.db, Account, post.author_id)
    return {
        "id": f"{post_url(ctx, post)}/announce",
        "type": "Announce",
        "actor": community.uri,
        "published": post.created_at.isoformat(),
        "object": create_activity(ctx, post) if author.is_local else post.uri,
        "to": [AS_PUBLIC],
        "cc": [f"{community.uri}/followers"],
    }


def artifact_create(community: Community, page: dict) -> dict:
    """A local community's ``Create`` of one of its artifacts (``page``, its AS2
    object), with an id derived from the artifact, as its outbox lists it."""
    return {
        "id": f"{page['id']}/activity",
        "type": "Create",
        "actor": community.uri,
        "published": page["published"],
        "object": page,
        "to": [AS_PUBLIC],
        "cc": [f"{community.uri}/followers"],
    }


def withheld(ctx: Ctx, post: Post) -> bool:
    """Whether nothing of ``post`` may leave this instance, served or sent: it is
    deleted, or its author is hidden from everyone (suspended, self-deleted, on a
    blocked domain: :func:`app.services.blocks.hidden_from_everyone`)."""
    return post.is_deleted or blocks.hidden_from_everyone(ctx, post.author_id)


def carried_uris(activity: dict) -> list[str]:
    """The ids of what an activity carries, outermost first: its object, and the
    object of a carrying activity it wraps (Announce(Create(Note)) is as deep as we nest)."""
    uris: list[str] = []
    node: object = activity
    for _ in range(4):  # Announce(Create(Note)) is as deep as we nest
        if not isinstance(node, dict) or not vocab.is_type(node, *CARRIES_OBJECT):
            break
        node = node.get("object")
        uri = vocab.id_of(node)
        if uri:
            uris.append(uri)
    return uris


def carried_post(ctx: Ctx, activity: dict) -> Post | None:
    """The post an activity (or the activity it wraps) carries a copy of, if any."""
    for uri in carried_uris(activity):
        post = find_by_uri(ctx, uri)
        if post is not None:
            return post
    return None


def withheld_post_in(ctx: Ctx, activity: dict) -> Post | None:
    """The post an activity carries when that post is :func:`withheld`."""
    post = carried_post(ctx, activity)
    return post if post is not None and withheld(ctx, post) else None


def withheld_among(ctx: Ctx, chains: Mapping[K, list[str]]) -> set[K]:
    """The keys of the activities :func:`withheld_post_in` would refuse, for a whole
    batch in at most two queries (the delivery prefetch asks this per claimed batch),
    given what each carries (:func:`carried_uris`): a worker that keeps an activity
    need not parse it again to ask."""
    wanted = {uri for chain in chains.values() for uri in chain}
    if not wanted:
        return set()
    found = {
        uri: (author_id, deleted_at is not None)
        for uri, author_id, deleted_at in ctx.db.exec(
            select(col(Post.uri), col(Post.author_id), col(Post.deleted_at)).where(
                col(Post.uri).in_(wanted)
            )
        ).all()
    }
    carried = {
        key: next((found[uri] for uri in chain if uri in found), None)
        for key, chain in chains.items()
    }
    live = [post[0] for post in carried.values() if post is not None and not post[1]]
    hidden = blocks.hidden_among(ctx, live)
    return {
        key for key, post in carried.items() if post is not None and (post[1] or post[0] in hidden)
    }


def served_activity(ctx: Ctx, activity: dict) -> tuple[dict, int]:
    """The JSON to serve for an activity of ours and its status: the activity, or a
    ``Tombstone`` (410) once the post it carries is deleted, so neither its text
    nor any earlier version of it is served again. While the post's author is
    hidden from everyone (suspended), it is not found, as the post itself is not."""
    post = carried_post(ctx, activity)
    if post is not None and not post.is_deleted and withheld(ctx, post):
        raise NotFound("No such activity.", code="activity_not_found")
    gone = post if post is not None and post.is_deleted else None
    if gone is None:
        return {"@context": CONTEXT, **{k: v for k, v in activity.items() if k != "@context"}}, 200
    return {
        "@context": CONTEXT,
        "id": activity.get("id"),
        "type": "Tombstone",
        "formerType": activity.get("type"),
        "deleted": gone.deleted_at.isoformat() if gone.deleted_at else None,
    }, 410
