"""Database tables.

Accounts and communities are *actors*: local ones have ``domain == ""`` and remote
ones (added by federation) carry their home domain. Times are timezone-aware UTC.
Counters that feeds read on every page (``reply_count``) are kept on the row and
updated in the same transaction as the write that changes them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import CheckConstraint, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Account(SQLModel, table=True):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("username_key", "domain", name="uq_accounts_username"),)

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=30)
    username_key: str = Field(max_length=30)  # lower-cased, for lookups
    domain: str = Field(default="", max_length=255)  # "" for local accounts
    uri: str = Field(max_length=2048, unique=True)
    display_name: str = Field(default="", max_length=100)
    bio: str = Field(default="", sa_column=Column(Text, nullable=False))
    avatar_url: str = Field(default="", max_length=2048)
    password_hash: str | None = Field(default=None, max_length=255)
    is_admin: bool = False
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def is_local(self) -> bool:
        return self.domain == ""

    @property
    def name(self) -> str:
        return self.display_name or self.username


class WebSession(SQLModel, table=True):
    """A browser login. The cookie holds a random key; only its hash is stored."""

    __tablename__ = "web_sessions"

    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(max_length=64, unique=True)
    account_id: int = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    name: str = Field(default="", max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)  # shown in settings so members can tell tokens apart
    scope: str = Field(max_length=10)  # "read" | "write"
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None


class RateLimitHit(SQLModel, table=True):
    """One counted event (e.g. a failed login). Kept in the database so every
    web worker process shares the same limits."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_bucket_at", "bucket", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    bucket: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow)


class Community(SQLModel, table=True):
    __tablename__ = "communities"
    __table_args__ = (UniqueConstraint("name_key", "domain", name="uq_communities_name"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=40)  # URL slug, e.g. "riverside-commons"
    name_key: str = Field(max_length=40)
    domain: str = Field(default="", max_length=255)
    uri: str = Field(max_length=2048, unique=True)
    title: str = Field(default="", max_length=100)
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    charter: str = Field(default="", sa_column=Column(Text, nullable=False))
    charter_html: str = Field(default="", sa_column=Column(Text, nullable=False))
    join_policy: str = Field(default="open", max_length=10)  # "open" | "approval"
    created_by_id: int | None = Field(default=None, foreign_key="accounts.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def display_title(self) -> str:
        return self.title or self.name


class Membership(SQLModel, table=True):
    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("community_id", "account_id", name="uq_memberships_pair"),
        Index("ix_memberships_account_state", "account_id", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
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
    )

    id: int | None = Field(default=None, primary_key=True)
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
    reply_count: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime | None = None
    deleted_at: datetime | None = None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class PostRevision(SQLModel, table=True):
    """An earlier version of a post, saved when the post is edited."""

    __tablename__ = "post_revisions"

    id: int | None = Field(default=None, primary_key=True)
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

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="posts.id", ondelete="CASCADE")
    account_id: int = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    slot: str = Field(max_length=10)  # "like" | "stance"
    kind: str = Field(max_length=10)  # like | agree | disagree | pass
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

    id: int | None = Field(default=None, primary_key=True)
    follower_id: int = Field(foreign_key="accounts.id", index=True, ondelete="CASCADE")
    target_account_id: int | None = Field(
        default=None, foreign_key="accounts.id", index=True, ondelete="CASCADE"
    )
    target_community_id: int | None = Field(
        default=None, foreign_key="communities.id", index=True, ondelete="CASCADE"
    )
    state: str = Field(default="accepted", max_length=10)  # pending | accepted
    created_at: datetime = Field(default_factory=utcnow)


class Job(SQLModel, table=True):
    """Durable background work: a row per job, claimed by ``commonground worker``."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_run_at", "state", "run_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=60, index=True)
    payload: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    state: str = Field(default="queued", max_length=10)  # queued | running | done | dead
    attempts: int = 0
    max_attempts: int = 10
    run_at: datetime = Field(default_factory=utcnow)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    locked_by: str | None = Field(default=None, max_length=100)
    locked_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class InstanceSetting(SQLModel, table=True):
    """Small key/value facts about this instance (e.g. the first-run setup token hash)."""

    __tablename__ = "instance_settings"

    key: str = Field(primary_key=True, max_length=100)
    value: str = Field(sa_column=Column(Text, nullable=False))
