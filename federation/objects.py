"""Posts as ActivityStreams objects.

A community thread starter is a ``Page`` with a ``name`` (FEP-1b12, shown by
Mastodon as a card); everything else is a ``Note``. Deleted posts are ``Tombstone``s.
"""

from __future__ import annotations

from sqlmodel import select

from app.models import Account, Community, Post, PostMention, PostTag
from app.services import Ctx
from app.services.posts import post_url
from federation.vocab import AS_PUBLIC, CONTEXT


def tombstone(post: Post) -> dict:
    return {
        "@context": CONTEXT,
        "id": post.uri,
        "type": "Tombstone",
        "formerType": post.object_type,
        "deleted": post.deleted_at.isoformat() if post.deleted_at else None,
    }


def note(ctx: Ctx, post: Post, *, with_context: bool = True) -> dict:
    """The AS2 object for a local post (or a Tombstone once deleted)."""
    if post.is_deleted:
        return tombstone(post)
    author = ctx.db.get(Account, post.author_id)
    community = ctx.db.get(Community, post.community_id) if post.community_id else None
    parent = ctx.db.get(Post, post.in_reply_to_id) if post.in_reply_to_id else None
    tags = ctx.db.exec(select(PostTag.tag).where(PostTag.post_id == post.id)).all()
    mentioned = ctx.db.exec(
        select(Account)
        .join(PostMention, PostMention.account_id == Account.id)
        .where(PostMention.post_id == post.id)
    ).all()
    cc = [f"{author.uri}/followers"] + [m.uri for m in mentioned]
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
        "to": [AS_PUBLIC],
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
        "replies": f"{post.uri}/replies",
    }
    if post.object_type == "Page":
        doc["name"] = post.title
    if community is not None:
        doc["audience"] = community.uri
    if post.updated_at:
        doc["updated"] = post.updated_at.isoformat()
    if with_context:
        doc = {"@context": CONTEXT, **doc}
    return doc
