"""Read models: posts joined with what every page and API answer shows about them.

Built in a fixed number of queries per page (authors, communities, reaction
counts, the viewer's own reactions), never one query per post.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select

from app.models import Account, Community, MediaFile, Post
from app.services import Ctx, boosts, media, reactions
from app.services.accounts import profile_url
from app.services.posts import attachments_of, poll_of, post_url


@dataclass
class AuthorView:
    username: str
    display_name: str
    domain: str
    url: str
    uri: str
    avatar_url: str

    @property
    def handle(self) -> str:
        return f"@{self.username}" + (f"@{self.domain}" if self.domain else "")


@dataclass
class CommunityRef:
    name: str
    title: str
    url: str


@dataclass
class MediaView:
    id: int
    url: str
    preview_url: str
    blurhash: str
    width: int
    height: int
    description: str
    sensitive: bool = False  # folded behind a disclosure
    focus: tuple[float, float] | None = None  # the focal point, -1..1 (Mastodon's focus)

    @property
    def path(self) -> str:
        """The file on this instance, however the page was reached."""
        return "/media/" + self.url.rsplit("/", 1)[-1]

    @property
    def preview_path(self) -> str:
        return "/media/" + self.preview_url.rsplit("/", 1)[-1]


def media_view(ctx: Ctx, row: MediaFile) -> MediaView:
    return MediaView(
        id=row.id,
        url=media.url_of(ctx, row.file_key),
        preview_url=media.url_of(ctx, row.preview_key),
        blurhash=row.blurhash,
        width=row.width,
        height=row.height,
        description=row.description,
        sensitive=row.sensitive,
        focus=(row.focus_x, row.focus_y)
        if row.focus_x is not None and row.focus_y is not None
        else None,
    )


@dataclass
class PostView:
    id: int
    uri: str
    url: str
    author: AuthorView
    community: CommunityRef | None
    in_reply_to: int | None
    root: int | None
    title: str | None
    text: str
    html: str
    created_at: datetime
    updated_at: datetime | None
    deleted: bool
    reply_count: int
    reactions: dict[str, int] = field(default_factory=dict)
    thread_url: str = ""
    my_reactions: list[str] = field(default_factory=list)
    # a remote post's warning, media links and read-only poll (posts.store_remote)
    content_warning: str | None = None
    attachments: list[dict] = field(default_factory=list)
    poll: dict | None = None
    media: list[MediaView] = field(default_factory=list)  # images stored here
    boosts: int = 0  # members' boosts of it (app/services/boosts.py)
    boosted: bool = False  # by the viewer
    visibility: str = "public"  # or "unlisted" (app/services/visibility.py)


def author_view(ctx: Ctx, account: Account) -> AuthorView:
    return AuthorView(
        username=account.username,
        display_name=account.name,
        domain=account.domain,
        url=profile_url(ctx, account),
        uri=account.uri,
        avatar_url=account.avatar_url,
    )


def _community_ref(ctx: Ctx, c: Community) -> CommunityRef:
    """A local community links to its page here; a remote one to its home."""
    if c.domain:
        return CommunityRef(f"{c.name}@{c.domain}", c.display_title, c.uri)
    return CommunityRef(c.name, c.display_title, f"{ctx.base_url}/c/{c.name}")


def present(ctx: Ctx, posts: list[Post], viewer: Account | None) -> list[PostView]:
    if not posts:
        return []
    ids = [p.id for p in posts]
    authors = {
        a.id: a
        for a in ctx.db.exec(
            select(Account).where(col(Account.id).in_({p.author_id for p in posts}))
        )
    }
    community_ids = {p.community_id for p in posts if p.community_id}
    groups = (
        {
            c.id: c
            for c in ctx.db.exec(select(Community).where(col(Community.id).in_(community_ids)))
        }
        if community_ids
        else {}
    )
    counts = reactions.counts(ctx, ids)
    mine = reactions.mine(ctx, viewer, ids)
    boosted = boosts.counts(ctx, ids)
    my_boosts = boosts.mine(ctx, viewer, ids)
    files = media.of_posts(ctx, ids)
    out = []
    for p in posts:
        c = groups.get(p.community_id) if p.community_id else None
        images = files.get(p.id, [])
        cached = {row.remote_url for row in images}
        out.append(
            PostView(
                id=p.id,
                uri=p.uri,
                url=p.url or (post_url(ctx, p) if p.uri.startswith(ctx.base_url) else p.uri),
                author=author_view(ctx, authors[p.author_id]),
                community=_community_ref(ctx, c) if c else None,
                in_reply_to=p.in_reply_to_id,
                root=p.root_id,
                title=p.title,
                text=p.text,
                html=p.html,
                created_at=p.created_at,
                updated_at=p.updated_at,
                deleted=p.is_deleted,
                reply_count=p.reply_count,
                reactions=dict(counts[p.id]),
                thread_url=post_url(ctx, p)
                if p.root_id is None
                else f"{ctx.base_url}/posts/{p.root_id}#p{p.id}",
                my_reactions=sorted(mine[p.id]),
                content_warning=p.content_warning,
                attachments=[a for a in attachments_of(p) if a["url"] not in cached],
                poll=poll_of(p),
                media=[media_view(ctx, row) for row in images],
                boosts=boosted.get(p.id, 0),
                boosted=p.id in my_boosts,
                visibility=p.visibility,
            )
        )
    return out
