"""Database tables.

Accounts and communities are *actors*: local ones have ``domain == ""`` and remote
ones (added by federation) carry their home domain. Times are timezone-aware UTC.
Counters that feeds read on every page (``reply_count``) are kept on the row and
updated in the same transaction as the write that changes them.

Surrogate keys are typed ``id: int = Field(default=None, primary_key=True)``: the
database assigns them at flush, and every row code reads (or flushes) has one, so
the type says ``int`` rather than making every caller handle a ``None`` that only
exists between ``Model(...)`` and ``db.flush()``. The DDL is the same either way.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    LargeBinary,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, Session, SQLModel

MAX_ID = 2**31 - 1  # primary keys are 32-bit INTEGER columns


def utcnow() -> datetime:
    return datetime.now(UTC)


def pending_uri() -> str:
    """A URI for a row whose real one is made from its id, so is known only after
    the insert; the caller sets the real one in the same transaction. Unique, so
    that concurrent inserts never meet on the unique index of ``uri``: with one
    shared placeholder each insert waited for the transaction holding it to end,
    and on PostgreSQL every post of the instance took its turn."""
    return f"urn:uuid:{uuid.uuid4()}"


T = TypeVar("T")
# how pages, the API and federation name the author of what a deleted account left
FORMER_MEMBER = "a former member"


def get_row(db: Session, model: type[T], row_id: object) -> T | None:
    """The row with this id, or None; ids outside the column's range (which the
    database would reject with an error) simply find nothing."""
    if isinstance(row_id, bool) or not isinstance(row_id, int) or not 0 < row_id <= MAX_ID:
        return None
    return db.get(model, row_id)


class Account(SQLModel, table=True):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("username_key", "domain", name="uq_accounts_username"),)

    id: int = Field(default=None, primary_key=True)
    # local usernames are at most 30 characters; remote ones may be longer
    username: str = Field(max_length=100)
    username_key: str = Field(max_length=100)  # lower-cased, for lookups
    domain: str = Field(default="", max_length=255)  # "" for local accounts
    uri: str = Field(max_length=2048, unique=True)
    display_name: str = Field(default="", max_length=100)
    bio: str = Field(default="", sa_column=Column(Text, nullable=False))
    avatar_url: str = Field(default="", max_length=2048)
    header_url: str = Field(  # a profile's header image (app/services/media.py)
        default="", max_length=2048, sa_column_kwargs={"server_default": text("''")}
    )
    password_hash: str | None = Field(default=None, max_length=255)
    is_admin: bool = False
    is_active: bool = True
    # a member's preference: show every content warning's body opened
    expand_warnings: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    # a local member's address, lower-cased (app/services/emails.py); None: none given
    email: str | None = Field(default=None, max_length=320, unique=True, index=True)
    email_verified_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # account lifecycle (app/services/account_deletion.py, account_move.py): deletion
    # asked for and due at the end of its grace period; done (the row stays, a
    # tombstone keeping the name); moved to another actor; the actors it also is
    deletion_due_at: datetime | None = None
    deleted_at: datetime | None = None
    moved_to_uri: str | None = Field(default=None, max_length=2048)
    also_known_as: str = Field(  # actor URIs, one a line
        default="", sa_column=Column(Text, nullable=False, server_default=text("''"))
    )

    @property
    def is_local(self) -> bool:
        return self.domain == ""

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def name(self) -> str:
        if self.deleted_at is not None:
            return FORMER_MEMBER
        return self.display_name or self.username


class Invite(SQLModel, table=True):
    """A sign-up link for invite-only instances: it expires, and it lets in at most
    ``max_uses`` accounts (each records which invite it came through)."""

    __tablename__ = "invites"

    id: int = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    created_by_id: int | None = Field(
        default=None, foreign_key="accounts.id", index=True, ondelete="SET NULL"
    )
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None  # None: never
    max_uses: int = 1
    uses: int = 0


class InviteUse(SQLModel, table=True):
    """Who joined through which invite (an admin sees the list)."""

    __tablename__ = "invite_uses"

    id: int = Field(default=None, primary_key=True)
    invite_id: int = Field(foreign_key="invites.id", index=True, ondelete="CASCADE")
    account_id: int = Field(foreign_key="accounts.id", unique=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)


class Application(SQLModel, table=True):
    """A sign-up waiting for an admin (registration mode ``approval``): the account
    exists but cannot log in until it is approved."""

    __tablename__ = "applications"

    id: int = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", unique=True, ondelete="CASCADE")
    reason: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(default="pending", max_length=10, index=True)  # approved, rejected
    created_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None
    decided_by_id: int | None = Field(default=None, foreign_key="accounts.id", ondelete="SET NULL")


class WebSession(SQLModel, table=True):
    """A browser login. The cookie holds a random key; only its hash is stored."""

    __tablename__ = "web_sessions"

    id: int = Field(default=None, primary_key=True)
    key_hash: str = Field(max_length=64, unique=True)
    account_id: int = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)
    # shown on /settings/sessions so a member can tell their logins apart
    last_used_at: datetime | None = None  # coarse: noted at most every few minutes
    user_agent: str = Field(
        default="", max_length=200, sa_column_kwargs={"server_default": text("''")}
    )
    ip_prefix: str = Field(
        default="", max_length=64, sa_column_kwargs={"server_default": text("''")}
    )


class EmailToken(SQLModel, table=True):
    """A mailed one-time link: confirm an address (``verify``, with the address it
    confirms) or set a new password (``reset``). Only its SHA-256 is stored."""

    __tablename__ = "email_tokens"

    id: int = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    purpose: str = Field(max_length=10)  # "verify" | "reset"
    token_hash: str = Field(max_length=64, unique=True)
    email: str = Field(max_length=320)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)
    used_at: datetime | None = None


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: int = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    name: str = Field(default="", max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)  # shown in settings so members can tell tokens apart
    scope: str = Field(max_length=10)  # "read" | "write" ("" for an app's push-only token)
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    # a token an OAuth app got for the member (app/services/oauth.py); None for personal ones
    app_id: int | None = Field(
        default=None, foreign_key="oauth_apps.id", index=True, ondelete="CASCADE"
    )
    oauth_scopes: str = Field(
        default="", max_length=1000, sa_column_kwargs={"server_default": text("''")}
    )  # the Mastodon scopes granted, space-separated
    refresh_hash: str | None = Field(default=None, max_length=64, unique=True, index=True)


class OAuthApp(SQLModel, table=True):
    """A client app registered through ``POST /api/v1/apps`` (app/services/oauth.py).
    Only the SHA-256 of its client secret is stored."""

    __tablename__ = "oauth_apps"

    id: int = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    website: str = Field(default="", max_length=2048)
    redirect_uris: str = Field(default="", sa_column=Column(Text, nullable=False))  # one a line
    scopes: str = Field(max_length=1000)  # space-separated
    client_id: str = Field(max_length=64, unique=True)
    secret_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class OAuthCode(SQLModel, table=True):
    """An authorization code a member approved: single use, short-lived, bound to its
    app, redirect URI, scopes and PKCE challenge. Only its SHA-256 is stored."""

    __tablename__ = "oauth_codes"

    id: int = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64, unique=True)
    app_id: int = Field(foreign_key="oauth_apps.id", index=True, ondelete="CASCADE")
    account_id: int = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    redirect_uri: str = Field(max_length=2048)
    scopes: str = Field(max_length=1000)
    code_challenge: str = Field(default="", max_length=128)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)


class OAuthAppToken(SQLModel, table=True):
    """A token of the app itself (the ``client_credentials`` grant): no member behind
    it, so the native API refuses it; ``GET /api/v1/apps/verify_credentials`` takes it."""

    __tablename__ = "oauth_app_tokens"

    id: int = Field(default=None, primary_key=True)
    app_id: int = Field(foreign_key="oauth_apps.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    scopes: str = Field(max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)


class AccountExport(SQLModel, table=True):
    """A member's archive of their data (app/services/account_export.py): built by a
    job into the data directory, downloadable by its owner until ``expires_at``."""

    __tablename__ = "account_exports"

    id: int = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    state: str = Field(default="queued", max_length=10)  # queued | ready | failed | expired
    file_name: str = Field(max_length=100, unique=True)  # random, under data_dir/exports
    size: int = 0
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    ready_at: datetime | None = None
    expires_at: datetime | None = None


class RateLimitHit(SQLModel, table=True):
    """One counted event (e.g. a failed login). Kept in the database so every
    web worker process shares the same limits."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_bucket_at", "bucket", "created_at"),)

    id: int = Field(default=None, primary_key=True)
    bucket: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow)


class Community(SQLModel, table=True):
    __tablename__ = "communities"
    __table_args__ = (UniqueConstraint("name_key", "domain", name="uq_communities_name"),)

    id: int = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)  # URL slug, e.g. "riverside-commons" (≤ 40 locally)
    name_key: str = Field(max_length=100)
    domain: str = Field(default="", max_length=255)
    uri: str = Field(max_length=2048, unique=True)
    title: str = Field(default="", max_length=100)
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    charter: str = Field(default="", sa_column=Column(Text, nullable=False))
    charter_html: str = Field(default="", sa_column=Column(Text, nullable=False))
    join_policy: str = Field(default="open", max_length=10)  # "open" | "approval"
    # who changes the ranking algorithm: "admins", or "vote" (member proposals)
    algorithm_governance: str = Field(
        default="admins", max_length=10, sa_column_kwargs={"server_default": "admins"}
    )
    # floors on every vote it takes (app/services/governance.py VoteRules)
    vote_min_hours: int = Field(default=24, sa_column_kwargs={"server_default": "24"})
    vote_quorum_percent: int = Field(default=10, sa_column_kwargs={"server_default": "10"})
    vote_openers: str = Field(  # "members" | "moderators"
        default="members", max_length=10, sa_column_kwargs={"server_default": "members"}
    )
    # the public moderation log names the acting moderator (else only the role)
    modlog_names: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    created_by_id: int | None = Field(default=None, foreign_key="accounts.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def display_title(self) -> str:
        return self.title or self.name

    @property
    def handle(self) -> str:
        """How members name it when they post: ``name`` here, ``name@domain`` elsewhere."""
        return f"{self.name}@{self.domain}" if self.domain else self.name


class Rule(SQLModel, table=True):
    """One numbered rule of the instance (``community_id`` None) or of a community;
    reports and moderation actions name the rule they cite by its id."""

    __tablename__ = "rules"

    id: int = Field(default=None, primary_key=True)
    community_id: int | None = Field(
        default=None, foreign_key="communities.id", index=True, ondelete="CASCADE"
    )
    position: int
    text: str = Field(max_length=500)
    updated_at: datetime = Field(default_factory=utcnow)


class Membership(SQLModel, table=True):
    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("community_id", "account_id", name="uq_memberships_pair"),
        Index("ix_memberships_account_state", "account_id", "state"),
    )

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id", ondelete="CASCADE")
    account_id: int = Field(foreign_key="accounts.id", ondelete="CASCADE")
    role: str = Field(default="member", max_length=10)  # member | moderator | admin
    state: str = Field(default="active", max_length=10)  # pending | active
    created_at: datetime = Field(default_factory=utcnow)


class Post(SQLModel, table=True):
    __tablename__ = "posts"
    __table_args__ = (
        Index("ix_posts_community_created", "community_id", "created_at", "id"),
        Index("ix_posts_author_created", "author_id", "created_at", "id"),
        Index("ix_posts_root_created", "root_id", "created_at", "id"),
        Index("ix_posts_created", "created_at", "id"),
        # the Mastodon client API's timelines, in status-id order per source
        Index("ix_posts_author_status", "author_id", "status_id"),
        Index("ix_posts_community_status", "community_id", "status_id"),
    )

    id: int = Field(default=None, primary_key=True)
    uri: str = Field(max_length=2048, unique=True)
    author_id: int = Field(foreign_key="accounts.id", ondelete="CASCADE")
    community_id: int | None = Field(default=None, foreign_key="communities.id", ondelete="CASCADE")
    in_reply_to_id: int | None = Field(
        default=None, foreign_key="posts.id", index=True, ondelete="SET NULL"
    )
    root_id: int | None = Field(default=None, foreign_key="posts.id", ondelete="SET NULL")
    title: str | None = Field(default=None, max_length=200)
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    html: str = Field(default="", sa_column=Column(Text, nullable=False))
    url: str | None = Field(default=None, max_length=2048)  # HTML page of a remote post
    object_type: str = Field(
        default="Note", max_length=20, sa_column_kwargs={"server_default": "Note"}
    )  # Note | Page | Article
    # what a remote post carries beyond its text (see docs/federation.md, "Objects we accept")
    content_warning: str | None = Field(default=None, max_length=500)  # AS2 summary / sensitive
    attachments: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # JSON
    poll: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # JSON, Question
    # "public" | "unlisted": an unlisted post is left out of the public and hashtag
    # timelines (app/services/ranking/candidates.py), shown everywhere else
    visibility: str = Field(
        default="public", max_length=20, sa_column_kwargs={"server_default": "public"}
    )
    reply_count: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    # a time-sortable id (posts.status_id: milliseconds of created_at, then bits of
    # the row id), which the Mastodon client API shows as the status id; set in the
    # transaction that inserts the row
    status_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True, unique=True, index=True)
    )

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class IdempotencyKey(SQLModel, table=True):
    """A client's ``Idempotency-Key`` for a post it made: a retry with the same key
    (within a day) answers the same post instead of making another."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("account_id", "key", name="uq_idempotency_keys"),)

    id: int = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", ondelete="CASCADE")
    key: str = Field(max_length=200)
    post_id: int = Field(foreign_key="posts.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)


class MediaFile(SQLModel, table=True):
    """An image a member uploaded (or a remote post's, fetched and cached): its
    processed file and preview in the storage (``app/infra/storage.py``), and what
    pages and peers need to show it. ``post_id`` is set once a post carries it."""

    __tablename__ = "media"

    id: int = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    post_id: int | None = Field(
        default=None, foreign_key="posts.id", index=True, ondelete="SET NULL"
    )
    # the artifact it was put on (its revisions say when it was shown; see artifact_revision_media)
    artifact_id: int | None = Field(
        default=None, foreign_key="artifacts.id", index=True, ondelete="SET NULL"
    )
    position: int = 0
    # folded behind a disclosure on pages; AS2 ``sensitive: true`` on the post or artifact
    sensitive: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    purpose: str = Field(default="attachment", max_length=10)  # attachment | avatar | header
    media_type: str = Field(max_length=50)
    file_key: str = Field(max_length=100)
    preview_key: str = Field(max_length=100)
    size: int = 0  # bytes stored, file and preview; counted against the quota
    width: int = 0
    height: int = 0
    blurhash: str = Field(default="", max_length=100)
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    remote_url: str | None = Field(default=None, max_length=2048)  # a cached remote file
    created_at: datetime = Field(default_factory=utcnow)
    # ready | processing (its bytes wait in media_uploads for the media.process job) | failed
    state: str = Field(default="ready", max_length=10, sa_column_kwargs={"server_default": "ready"})
    error: str = Field(  # why processing failed, in words for its member
        default="", sa_column=Column(Text, nullable=False, server_default=text("''"))
    )
    # the focal point (Mastodon's focus: -1..1 left to right, bottom to top), if set
    focus_x: float | None = None
    focus_y: float | None = None


class MediaUpload(SQLModel, table=True):
    """The bytes of an upload left to the ``media.process`` job, as they came: in the
    database, so they are kept exactly when their row is (and go with it)."""

    __tablename__ = "media_uploads"

    media_id: int = Field(primary_key=True, foreign_key="media.id", ondelete="CASCADE")
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class PostRevision(SQLModel, table=True):
    """An earlier version of a post, saved when the post is edited."""

    __tablename__ = "post_revisions"

    id: int = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="posts.id", index=True, ondelete="CASCADE")
    title: str | None = Field(default=None, max_length=200)
    text: str = Field(sa_column=Column(Text, nullable=False))
    written_at: datetime  # when this version was written
    replaced_at: datetime = Field(default_factory=utcnow)


class PostTag(SQLModel, table=True):
    __tablename__ = "post_tags"
    __table_args__ = (Index("ix_post_tags_tag_post", "tag", "post_id"),)

    post_id: int = Field(foreign_key="posts.id", primary_key=True, ondelete="CASCADE")
    tag: str = Field(max_length=100, primary_key=True)


class PostMention(SQLModel, table=True):
    __tablename__ = "post_mentions"

    post_id: int = Field(foreign_key="posts.id", primary_key=True, ondelete="CASCADE")
    account_id: int = Field(foreign_key="accounts.id", primary_key=True, ondelete="CASCADE")


class Reaction(SQLModel, table=True):
    """A member's current like, or current stance (agree/disagree/pass), on a post.

    ``slot`` makes "one current reaction of each kind" a database rule: a member
    has at most one like and at most one stance per post.
    """

    __tablename__ = "reactions"
    __table_args__ = (
        UniqueConstraint("post_id", "account_id", "slot", name="uq_reactions_slot"),
        Index("ix_reactions_post_kind", "post_id", "kind"),
    )

    id: int = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="posts.id", ondelete="CASCADE")
    account_id: int = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    slot: str = Field(max_length=10)  # "like" | "stance"
    kind: str = Field(max_length=10)  # like | agree | disagree | pass
    activity_uri: str | None = Field(default=None, max_length=2048, index=True)
    created_at: datetime = Field(default_factory=utcnow)


class Bookmark(SQLModel, table=True):
    """A post a member keeps to read again; only they see it (app/services/bookmarks.py)."""

    __tablename__ = "bookmarks"
    __table_args__ = (UniqueConstraint("account_id", "post_id", name="uq_bookmarks_pair"),)

    id: int = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    post_id: int = Field(foreign_key="posts.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)


class Boost(SQLModel, table=True):
    """A member's boost (Mastodon's reblog, ActivityPub's Announce) of a post: here,
    or received from a remote account's Announce (app/services/boosts.py)."""

    __tablename__ = "boosts"
    __table_args__ = (
        UniqueConstraint("account_id", "post_id", name="uq_boosts_pair"),
        # home timelines: the boosts of the accounts a member follows, by status id
        Index("ix_boosts_account_status", "account_id", "status_id"),
    )

    id: int = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", ondelete="CASCADE")
    post_id: int = Field(foreign_key="posts.id", index=True, ondelete="CASCADE")
    uri: str = Field(max_length=2048, unique=True)  # the Announce's id
    created_at: datetime = Field(default_factory=utcnow)
    # a time-sortable status id of its own (boosts.status_id), set with the row
    status_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True, unique=True)
    )


class Pin(SQLModel, table=True):
    """A member's own post shown first on their profile (app/services/pins.py)."""

    __tablename__ = "pins"
    __table_args__ = (UniqueConstraint("account_id", "post_id", name="uq_pins_pair"),)

    id: int = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    post_id: int = Field(foreign_key="posts.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)


class Follow(SQLModel, table=True):
    """A member following another account or a community."""

    __tablename__ = "follows"
    __table_args__ = (
        UniqueConstraint("follower_id", "target_account_id", name="uq_follows_account"),
        UniqueConstraint("follower_id", "target_community_id", name="uq_follows_community"),
        CheckConstraint(
            "(target_account_id IS NULL) <> (target_community_id IS NULL)",
            name="ck_follows_one_target",
        ),
    )

    id: int = Field(default=None, primary_key=True)
    follower_id: int = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    target_account_id: int | None = Field(
        default=None, foreign_key="accounts.id", index=True, ondelete="CASCADE"
    )
    target_community_id: int | None = Field(
        default=None, foreign_key="communities.id", index=True, ondelete="CASCADE"
    )
    state: str = Field(default="accepted", max_length=10)  # pending | accepted
    activity_uri: str | None = Field(default=None, max_length=2048, index=True)
    created_at: datetime = Field(default_factory=utcnow)


class Job(SQLModel, table=True):
    """Durable background work: a row per job, claimed by ``commonground worker``."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_run_at", "state", "run_at"),)

    id: int = Field(default=None, primary_key=True)
    kind: str = Field(max_length=60, index=True)
    payload: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    state: str = Field(default="queued", max_length=10)  # queued | running | done | dead
    attempts: int = 0
    max_attempts: int = 10
    run_at: datetime = Field(default_factory=utcnow)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    locked_by: str | None = Field(default=None, max_length=100)
    locked_at: datetime | None = None
    # new with every claim; a completion must name it, so a worker whose claim was
    # taken over (its lock expired) cannot mark the job done or failed
    claim_token: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class InstanceSetting(SQLModel, table=True):
    """Small key/value facts about this instance (e.g. the first-run setup token hash)."""

    __tablename__ = "instance_settings"

    key: str = Field(primary_key=True, max_length=100)
    value: str = Field(sa_column=Column(Text, nullable=False))


# --- federation --------------------------------------------------------------


class ActorKey(SQLModel, table=True):
    """An actor's RSA key. Local actors hold the private half; remote keys are
    cached from fetched actor documents and refreshed when a signature fails."""

    __tablename__ = "actor_keys"

    id: int = Field(default=None, primary_key=True)
    key_id: str = Field(max_length=2048, unique=True)
    owner_uri: str = Field(max_length=2048, index=True)
    public_key_pem: str = Field(sa_column=Column(Text, nullable=False))
    private_key_pem: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    fetched_at: datetime = Field(default_factory=utcnow)


class RemoteActor(SQLModel, table=True):
    """Endpoints of a remote actor (a Person or a Group), from its actor document.
    The actor itself is an :class:`Account` or a :class:`Community` row."""

    __tablename__ = "remote_actors"

    id: int = Field(default=None, primary_key=True)
    uri: str = Field(max_length=2048, unique=True)
    actor_type: str = Field(max_length=20)
    inbox: str = Field(max_length=2048)
    shared_inbox: str | None = Field(default=None, max_length=2048)
    outbox: str | None = Field(default=None, max_length=2048)
    followers: str | None = Field(default=None, max_length=2048)
    url: str | None = Field(default=None, max_length=2048)
    fetched_at: datetime = Field(default_factory=utcnow)


class InboxItem(SQLModel, table=True):
    """A verified incoming activity, stored raw before it is processed, so a
    crash between "202 Accepted" and processing loses nothing."""

    __tablename__ = "inbox_items"

    id: int = Field(default=None, primary_key=True)
    activity_id: str = Field(max_length=2048, unique=True)
    activity_type: str = Field(max_length=40)
    actor_uri: str = Field(max_length=2048, index=True)
    key_id: str = Field(default="", max_length=2048)
    body: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(default="queued", max_length=10)  # queued | done | ignored | failed
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    received_at: datetime = Field(default_factory=utcnow)
    processed_at: datetime | None = None


class OutboxItem(SQLModel, table=True):
    """An activity a local actor published: the outbox collection, and what
    delivery jobs send."""

    __tablename__ = "outbox_items"
    __table_args__ = (Index("ix_outbox_items_actor_id", "actor_uri", "id"),)

    id: int = Field(default=None, primary_key=True)
    uri: str = Field(max_length=2048, unique=True)
    actor_uri: str = Field(max_length=2048)
    activity_type: str = Field(max_length=40)
    object_uri: str | None = Field(default=None, max_length=2048, index=True)
    body: str = Field(sa_column=Column(Text, nullable=False))
    public: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class DeliveryAttempt(SQLModel, table=True):
    __tablename__ = "delivery_attempts"

    id: int = Field(default=None, primary_key=True)
    job_id: int | None = Field(default=None, index=True)
    inbox: str = Field(max_length=2048)
    domain: str = Field(max_length=255, index=True)
    status_code: int | None = None
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    attempted_at: datetime = Field(default_factory=utcnow)


class PeerDomain(SQLModel, table=True):
    """What we know of another instance: its circuit-breaker state, and whether
    an admin blocked it."""

    __tablename__ = "peer_domains"

    domain: str = Field(primary_key=True, max_length=255)
    consecutive_failures: int = 0
    open_until: datetime | None = None
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    blocked: bool = False
    # limited by an admin: its actors' posts stay out of public feeds and search,
    # shown only to members who follow them (a moderation action, in the log)
    limited: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    note: str = Field(default="", max_length=500)


class DeletedObject(SQLModel, table=True):
    """A remote object deleted before (or after) we saw it: a Create arriving
    after its Delete must not resurrect it."""

    __tablename__ = "deleted_objects"

    id: int = Field(default=None, primary_key=True)
    uri: str = Field(max_length=2048, unique=True)
    actor_uri: str = Field(max_length=2048)
    deleted_at: datetime = Field(default_factory=utcnow)


class Block(SQLModel, table=True):
    """A member blocking an actor: nothing from it reaches them, nothing of
    theirs is delivered to it."""

    __tablename__ = "blocks"
    __table_args__ = (UniqueConstraint("account_id", "target_uri", name="uq_blocks_pair"),)

    id: int = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    target_uri: str = Field(max_length=2048, index=True)
    created_at: datetime = Field(default_factory=utcnow)


# --- ranking modules ---------------------------------------------------------


class AlgorithmModule(SQLModel, table=True):
    """A ranking module: a named line of versions, possibly forked from another."""

    __tablename__ = "algorithm_modules"

    id: int = Field(default=None, primary_key=True)
    name: str = Field(max_length=60)
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))
    builtin_key: str | None = Field(default=None, max_length=40, unique=True)
    author_id: int | None = Field(default=None, foreign_key="accounts.id", ondelete="SET NULL")
    origin_url: str | None = Field(default=None, max_length=2048)  # where it was imported from
    license: str = Field(default="AGPL-3.0-or-later", max_length=60)
    created_at: datetime = Field(default_factory=utcnow)


class AlgorithmVersion(SQLModel, table=True):
    """An immutable version of a module: its source, hash and submission report."""

    __tablename__ = "algorithm_versions"
    __table_args__ = (UniqueConstraint("module_id", "version", name="uq_algorithm_versions"),)

    id: int = Field(default=None, primary_key=True)
    module_id: int = Field(foreign_key="algorithm_modules.id", index=True, ondelete="CASCADE")
    version: int
    sha256: str = Field(max_length=64, index=True)
    source: str = Field(sa_column=Column(Text, nullable=False))
    parameters: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON defaults
    report: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON
    author_id: int | None = Field(default=None, foreign_key="accounts.id", ondelete="SET NULL")
    # The version this one was forked or edited from (lineage), with its hash.
    parent_id: int | None = Field(
        default=None, foreign_key="algorithm_versions.id", ondelete="SET NULL"
    )
    forked_from_sha256: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class FeedAlgorithmChoice(SQLModel, table=True):
    """The algorithm a community (``community_id``) or a member (``account_id``)
    ranks with, and its parameter overrides."""

    __tablename__ = "feed_algorithm_choices"
    __table_args__ = (
        CheckConstraint(
            "(community_id IS NULL) <> (account_id IS NULL)", name="ck_feed_algorithm_choices_owner"
        ),
    )

    id: int = Field(default=None, primary_key=True)
    community_id: int | None = Field(
        default=None, foreign_key="communities.id", unique=True, ondelete="CASCADE"
    )
    account_id: int | None = Field(
        default=None, foreign_key="accounts.id", unique=True, ondelete="CASCADE"
    )
    version_id: int = Field(foreign_key="algorithm_versions.id", ondelete="CASCADE")
    params: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON overrides
    updated_at: datetime = Field(default_factory=utcnow)


class AlgorithmChange(SQLModel, table=True):
    """The public changelog of a community's algorithm: what, who, when, why."""

    __tablename__ = "algorithm_changes"

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id", index=True, ondelete="CASCADE")
    version_id: int = Field(foreign_key="algorithm_versions.id", ondelete="CASCADE")
    params: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    changed_by_id: int | None = Field(default=None, foreign_key="accounts.id", ondelete="SET NULL")
    reason: str = Field(default="", max_length=1000)
    tally: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # JSON, votes
    created_at: datetime = Field(default_factory=utcnow)


class AlgorithmRunError(SQLModel, table=True):
    """A failed run (timeout, crash, contract violation), so authors and admins
    see error counts and the last message on the module's page."""

    __tablename__ = "algorithm_run_errors"
    __table_args__ = (Index("ix_algorithm_run_errors_version_at", "version_id", "created_at"),)

    id: int = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="algorithm_versions.id", ondelete="CASCADE")
    kind: str = Field(max_length=20)
    message: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class AlgorithmProposal(SQLModel, table=True):
    """A member-voted proposal to change a community's algorithm: it passes when,
    at its closing time, enough members voted (quorum) and more than
    ``threshold`` of the yes/no votes are yes; then it is applied automatically."""

    __tablename__ = "algorithm_proposals"
    __table_args__ = (Index("ix_algorithm_proposals_state_closes", "state", "closes_at"),)

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id", index=True, ondelete="CASCADE")
    version_id: int = Field(foreign_key="algorithm_versions.id", ondelete="CASCADE")
    params: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    proposer_id: int | None = Field(default=None, foreign_key="accounts.id", ondelete="SET NULL")
    reason: str = Field(default="", max_length=1000)
    quorum: int
    threshold: float
    state: str = Field(default="open", max_length=10)  # open | passed | rejected
    tally: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    closes_at: datetime


class AlgorithmVote(SQLModel, table=True):
    __tablename__ = "algorithm_votes"
    __table_args__ = (UniqueConstraint("proposal_id", "account_id", name="uq_algorithm_votes"),)

    id: int = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="algorithm_proposals.id", ondelete="CASCADE")
    account_id: int = Field(foreign_key="accounts.id", ondelete="CASCADE")
    choice: str = Field(max_length=10)  # yes | no | abstain
    created_at: datetime = Field(default_factory=utcnow)


class RankingSnapshot(SQLModel, table=True):
    """A community's threads (or artifacts) as ranked by a submitted module,
    computed by a background job, so page loads never wait on untrusted code."""

    __tablename__ = "ranking_snapshots"
    __table_args__ = (
        UniqueConstraint(
            "community_id", "feed", "sha256", "params_key", name="uq_ranking_snapshots"
        ),
    )

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id", ondelete="CASCADE")
    feed: str = Field(
        default="posts", max_length=10, sa_column_kwargs={"server_default": "posts"}
    )  # posts | artifacts
    sha256: str = Field(max_length=64)
    params_key: str = Field(max_length=64)
    ranked: str = Field(sa_column=Column(Text, nullable=False))  # JSON [[row id, score, why]]
    computed_at: datetime = Field(default_factory=utcnow)


# --- shared-reality artifacts ------------------------------------------------


class Artifact(SQLModel, table=True):
    """A co-built problem, idea, solution, vision, assumption, decision or lesson.

    Its text lives in immutable revisions; the row holds the current one (and
    denormalised counters feeds read) so pages need no history walk.
    """

    __tablename__ = "artifacts"
    __table_args__ = (Index("ix_artifacts_community_updated", "community_id", "updated_at", "id"),)

    id: int = Field(default=None, primary_key=True)
    uri: str = Field(max_length=2048, unique=True)
    community_id: int = Field(foreign_key="communities.id", ondelete="CASCADE")
    author_id: int = Field(foreign_key="accounts.id", ondelete="CASCADE")
    kind: str = Field(max_length=20)
    stage: str = Field(default="draft", max_length=20)
    title: str = Field(max_length=200)
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    html: str = Field(default="", sa_column=Column(Text, nullable=False))
    current_revision_id: int | None = None
    revision_count: int = 0
    review_at: datetime | None = Field(default=None, index=True)
    url: str | None = Field(default=None, max_length=2048)  # HTML page of a remote artifact
    content_warning: str | None = Field(default=None, max_length=500)  # AS2 summary + sensitive
    # a remote copy's media links, JSON as posts.attachments (its cached files are media rows)
    attachments: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ArtifactTag(SQLModel, table=True):
    __tablename__ = "artifact_tags"

    artifact_id: int = Field(foreign_key="artifacts.id", primary_key=True, ondelete="CASCADE")
    tag: str = Field(max_length=100, primary_key=True)


class ArtifactRevision(SQLModel, table=True):
    """One immutable version of an artifact's text: who wrote it, on top of what."""

    __tablename__ = "artifact_revisions"
    __table_args__ = (
        Index("ix_artifact_revisions_artifact_id", "artifact_id", "id"),
        # one revision per number: two saves racing to the same number cannot both land
        UniqueConstraint("artifact_id", "number", name="uq_artifact_revisions_number"),
    )

    id: int = Field(default=None, primary_key=True)
    artifact_id: int = Field(foreign_key="artifacts.id", ondelete="CASCADE")
    parent_id: int | None = Field(
        default=None, foreign_key="artifact_revisions.id", ondelete="SET NULL"
    )
    author_id: int = Field(foreign_key="accounts.id", ondelete="CASCADE")
    number: int
    title: str = Field(max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    message: str = Field(default="", max_length=500)
    sha256: str = Field(max_length=64)
    # how it came about: edit | merge (a stale base merged cleanly) | revert | outcome | create
    change: str = Field(default="edit", max_length=10)
    remote_uri: str | None = Field(default=None, max_length=2048, unique=True)
    created_at: datetime = Field(default_factory=utcnow)


class ArtifactRevisionMedia(SQLModel, table=True):
    """The images a revision of a local artifact shows, in order: comparing a
    revision's with its parent's says which were added or removed, and by whom."""

    __tablename__ = "artifact_revision_media"

    revision_id: int = Field(
        foreign_key="artifact_revisions.id", primary_key=True, ondelete="CASCADE"
    )
    media_id: int = Field(foreign_key="media.id", primary_key=True, index=True, ondelete="CASCADE")
    position: int = 0


class ArtifactLink(SQLModel, table=True):
    """A typed edge of the artifact graph: source --kind--> target."""

    __tablename__ = "artifact_links"
    __table_args__ = (UniqueConstraint("source_id", "target_id", "kind", name="uq_artifact_links"),)

    id: int = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="artifacts.id", index=True, ondelete="CASCADE")
    target_id: int = Field(foreign_key="artifacts.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=20)
    author_id: int = Field(foreign_key="accounts.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)


class ArtifactTransition(SQLModel, table=True):
    """A stage change on the idea trip: who moved it, when and why."""

    __tablename__ = "artifact_transitions"

    id: int = Field(default=None, primary_key=True)
    artifact_id: int = Field(foreign_key="artifacts.id", index=True, ondelete="CASCADE")
    from_stage: str = Field(max_length=20)
    to_stage: str = Field(max_length=20)
    actor_id: int = Field(foreign_key="accounts.id", ondelete="CASCADE")
    reason: str = Field(default="", max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)


class Statement(SQLModel, table=True):
    """A short claim about an artifact that members take stances on (Pol.is)."""

    __tablename__ = "statements"

    id: int = Field(default=None, primary_key=True)
    uri: str = Field(max_length=2048, unique=True)
    artifact_id: int = Field(foreign_key="artifacts.id", index=True, ondelete="CASCADE")
    author_id: int = Field(foreign_key="accounts.id", ondelete="CASCADE")
    text: str = Field(max_length=500)
    created_at: datetime = Field(default_factory=utcnow)


class Stance(SQLModel, table=True):
    """A member's current stance on an artifact (``statement_id`` empty) or on one
    of its statements. Earlier stances are kept in :class:`StanceHistory`."""

    __tablename__ = "stances"
    __table_args__ = (
        UniqueConstraint("target", "account_id", name="uq_stances_target_account"),
        Index("ix_stances_artifact", "artifact_id", "statement_id"),
    )

    id: int = Field(default=None, primary_key=True)
    target: str = Field(max_length=30)  # "a:{artifact id}" or "s:{statement id}"
    artifact_id: int = Field(foreign_key="artifacts.id", ondelete="CASCADE")
    statement_id: int | None = Field(default=None, foreign_key="statements.id", ondelete="CASCADE")
    account_id: int = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    stance: str = Field(max_length=10)  # agree | disagree | pass
    reason: str = Field(default="", max_length=1000)
    activity_uri: str | None = Field(default=None, max_length=2048)
    updated_at: datetime = Field(default_factory=utcnow)


class StanceHistory(SQLModel, table=True):
    __tablename__ = "stance_history"

    id: int = Field(default=None, primary_key=True)
    target: str = Field(max_length=30, index=True)
    account_id: int = Field(foreign_key="accounts.id", ondelete="CASCADE")
    stance: str = Field(max_length=10)
    reason: str = Field(default="", max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)


class CommonGroundMap(SQLModel, table=True):
    """The computed opinion map of an artifact's statements (see docs/artifacts.md)."""

    __tablename__ = "common_ground_maps"

    artifact_id: int = Field(foreign_key="artifacts.id", primary_key=True, ondelete="CASCADE")
    data: str = Field(sa_column=Column(Text, nullable=False))  # JSON
    stances_seen: int = 0
    computed_at: datetime = Field(default_factory=utcnow)


class Decision(SQLModel, table=True):
    """A Loomio-style vote on a proposed artifact."""

    __tablename__ = "decisions"

    id: int = Field(default=None, primary_key=True)
    artifact_id: int = Field(foreign_key="artifacts.id", index=True, ondelete="CASCADE")
    method: str = Field(max_length=10)  # consent | consensus
    quorum: int = 1
    closes_at: datetime = Field(index=True)
    state: str = Field(default="open", max_length=10)  # open | adopted | rejected | no_quorum
    opened_by_id: int = Field(foreign_key="accounts.id", ondelete="CASCADE")
    outcome: str = Field(default="", sa_column=Column(Text, nullable=False))
    review_at: datetime | None = None
    tally: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON at close
    created_at: datetime = Field(default_factory=utcnow)
    closed_at: datetime | None = None


class Ballot(SQLModel, table=True):
    __tablename__ = "ballots"
    __table_args__ = (UniqueConstraint("decision_id", "account_id", name="uq_ballots"),)

    id: int = Field(default=None, primary_key=True)
    decision_id: int = Field(foreign_key="decisions.id", ondelete="CASCADE")
    account_id: int = Field(foreign_key="accounts.id", ondelete="CASCADE")
    choice: str = Field(max_length=10)  # agree | abstain | disagree | block
    reason: str = Field(default="", max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)


# --- notifications -----------------------------------------------------------


class Notification(SQLModel, table=True):
    """Something a member is told about. Events of one kind on one thing group
    into one unread row ("Ada and 4 others agreed with your post"): a new actor
    joins the row and moves it up (``latest_at``) until the member reads it."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_account_latest", "account_id", "latest_at", "id"),
        Index("ix_notifications_account_group", "account_id", "group_key"),
    )

    id: int = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", ondelete="CASCADE")
    kind: str = Field(max_length=20)
    verb: str = Field(default="", max_length=20)  # e.g. the stance, a vote's result
    group_key: str = Field(max_length=200)
    post_id: int | None = Field(default=None, foreign_key="posts.id", ondelete="CASCADE")
    artifact_id: int | None = Field(default=None, foreign_key="artifacts.id", ondelete="CASCADE")
    community_id: int | None = Field(default=None, foreign_key="communities.id", ondelete="CASCADE")
    ref_id: int | None = None  # a decision or an algorithm proposal
    actor_count: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    latest_at: datetime = Field(default_factory=utcnow)
    read_at: datetime | None = None
    emailed_at: datetime | None = None


class NotificationActor(SQLModel, table=True):
    """Who did what a notification tells of (one row per person per group)."""

    __tablename__ = "notification_actors"

    notification_id: int = Field(
        foreign_key="notifications.id", primary_key=True, ondelete="CASCADE"
    )
    account_id: int = Field(foreign_key="accounts.id", primary_key=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)


class NotificationPreference(SQLModel, table=True):
    """A member's choice for one kind: on, off, or email (shown and in the digest).
    No row means on."""

    __tablename__ = "notification_preferences"

    account_id: int = Field(foreign_key="accounts.id", primary_key=True, ondelete="CASCADE")
    kind: str = Field(max_length=20, primary_key=True)
    mode: str = Field(max_length=10)


class DigestSubscription(SQLModel, table=True):
    """Where and how often a member's e-mail digest goes."""

    __tablename__ = "digest_subscriptions"

    account_id: int = Field(foreign_key="accounts.id", primary_key=True, ondelete="CASCADE")
    email: str = Field(default="", max_length=320)
    frequency: str = Field(default="daily", max_length=10)  # daily | weekly
    last_sent_at: datetime | None = None


class Mute(SQLModel, table=True):
    """A member muting a member, a remote domain, a thread or a hashtag: it leaves
    their feeds, notifications and search, for them alone, until ``expires_at``
    (never, if empty). Softer than a block, and nothing federates."""

    __tablename__ = "mutes"
    __table_args__ = (UniqueConstraint("account_id", "kind", "target", name="uq_mutes_target"),)

    id: int = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=10)  # account | domain | thread | tag
    # an actor's URI, a domain, a thread's root post id, or a lower-cased tag
    target: str = Field(max_length=2048)
    expires_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


# --- moderation --------------------------------------------------------------

REPORT_TARGETS = ("post", "artifact", "statement", "account", "community")


class Report(SQLModel, table=True):
    """A member's (or a peer's ``Flag``'s) report of a post, artifact, statement,
    member or community. It waits in the queue of the community the target lives
    in (``community_id``) and always in the instance's, until an action settles it.

    ``target_id`` is the id of the row in the table ``target_type`` names;
    ``target_account_id`` is whose content (or who) it is, so reports group by
    account as well as by target. ``rule_ids`` and ``extra_post_ids`` are JSON
    lists of ids."""

    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_target", "target_type", "target_id"),
        Index("ix_reports_community_state", "community_id", "state"),
        Index("ix_reports_state_created", "state", "created_at"),
    )

    id: int = Field(default=None, primary_key=True)
    # None for a report that came from another instance as a Flag (anonymous there)
    reporter_id: int | None = Field(
        default=None, foreign_key="accounts.id", index=True, ondelete="SET NULL"
    )
    origin_domain: str = Field(default="", max_length=255)  # "" local; a Flag's sender
    flag_uri: str | None = Field(default=None, max_length=2048, unique=True)  # incoming Flag id
    target_type: str = Field(max_length=10)  # one of REPORT_TARGETS
    target_id: int
    target_account_id: int | None = Field(
        default=None, foreign_key="accounts.id", index=True, ondelete="SET NULL"
    )
    community_id: int | None = Field(default=None, foreign_key="communities.id", ondelete="CASCADE")
    rule_ids: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    comment: str = Field(default="", sa_column=Column(Text, nullable=False))
    extra_post_ids: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    forward: bool = False  # the reporter asked to tell the remote instance
    forwarded_at: datetime | None = None
    state: str = Field(default="open", max_length=10)  # open | actioned | dismissed
    created_at: datetime = Field(default_factory=utcnow)
    resolved_at: datetime | None = None


class ModerationAction(SQLModel, table=True):
    """One entry of the public moderation log: what was done, in which scope
    (a community, or the instance when ``community_id`` is None), by which role,
    to what, under which rule, and why.

    ``action`` is one of dismiss, remove, restore, warn, ban, unban, suspend,
    unsuspend, limit_domain, suspend_domain, unlimit_domain, unsuspend_domain,
    appeal_granted, appeal_denied. ``reverses_id`` links a reversal to what it
    reverses. ``target_label`` is what the public log may show (a handle, "post
    12", a domain) and ``excerpt`` what only moderators see of removed content;
    ``rule_text`` keeps the rule's words as they were when it was cited."""

    __tablename__ = "moderation_actions"
    __table_args__ = (
        Index("ix_moderation_actions_scope_created", "community_id", "created_at", "id"),
        Index("ix_moderation_actions_target", "target_type", "target_id"),
    )

    id: int = Field(default=None, primary_key=True)
    community_id: int | None = Field(default=None, foreign_key="communities.id", ondelete="CASCADE")
    actor_id: int | None = Field(default=None, foreign_key="accounts.id", ondelete="SET NULL")
    actor_role: str = Field(max_length=20)  # moderator | admin | remote moderator
    origin_domain: str = Field(default="", max_length=255)  # "" here; a remote Group's host
    action: str = Field(max_length=20)
    target_type: str = Field(max_length=10)  # REPORT_TARGETS, or "domain"
    target_id: int | None = None
    target_account_id: int | None = Field(
        default=None, foreign_key="accounts.id", index=True, ondelete="SET NULL"
    )
    target_label: str = Field(default="", max_length=300)
    excerpt: str = Field(default="", max_length=500)
    rule_id: int | None = Field(default=None, foreign_key="rules.id", ondelete="SET NULL")
    rule_text: str = Field(default="", max_length=500)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    report_id: int | None = Field(default=None, foreign_key="reports.id", ondelete="SET NULL")
    reverses_id: int | None = Field(
        default=None, foreign_key="moderation_actions.id", ondelete="SET NULL"
    )
    expires_at: datetime | None = None  # a ban or suspension for a time
    created_at: datetime = Field(default_factory=utcnow)


class Appeal(SQLModel, table=True):
    """The one appeal a member may make against an action taken on them or their
    content; it goes back to the queue of the action's scope."""

    __tablename__ = "appeals"

    id: int = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="moderation_actions.id", unique=True, ondelete="CASCADE")
    account_id: int = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    text: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(default="open", max_length=10)  # open | granted | denied
    created_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None
    decided_by_id: int | None = Field(default=None, foreign_key="accounts.id", ondelete="SET NULL")


class CommunityBan(SQLModel, table=True):
    """A member banned from a community, for a time (``expires_at``) or for good:
    they cannot join, post or reply there until it lapses or is lifted."""

    __tablename__ = "community_bans"
    __table_args__ = (UniqueConstraint("community_id", "account_id", name="uq_community_bans"),)

    id: int = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id", ondelete="CASCADE")
    account_id: int = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    action_id: int | None = Field(
        default=None, foreign_key="moderation_actions.id", ondelete="SET NULL"
    )
    expires_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Marker(SQLModel, table=True):
    """Where a member stopped reading a timeline (``home``, ``notifications``), kept
    for their apps to pick up on another device: the Mastodon API's read markers."""

    __tablename__ = "markers"

    account_id: int = Field(foreign_key="accounts.id", primary_key=True, ondelete="CASCADE")
    timeline: str = Field(primary_key=True, max_length=20)
    last_read_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    version: int = 0  # one more on every update
    updated_at: datetime = Field(default_factory=utcnow)
