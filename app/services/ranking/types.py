"""The ranking pipeline's vocabulary, with no behaviour of its own: where a feed's
candidates come from, what a strategy is given and returns, and the pages it
makes. Every other ranking module imports these; these import none of them."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TypeGuard

from sqlmodel import col

from app.errors import DomainError
from app.models import MAX_ID, Account, Artifact, Post
from app.services import Ctx
from app.services.views import PostView

MAX_LIMIT = 100
WINDOW = 300  # candidates a ranking module sees per feed
STANCE_VALUE = {"agree": 1.0, "pass": 0.0, "disagree": -1.0}


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: before ``(created_at, id)``; for ranked feeds also the
    ``offset`` into the ranking of the window that ends there."""

    created_at: datetime
    id: int
    offset: int = 0

    def encode(self) -> str:
        data = {"t": self.created_at.isoformat(), "i": self.id}
        if self.offset:
            data["o"] = self.offset
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        """The cursor a client sent back, or ``invalid_cursor`` (400) for anything
        we did not make: garbled, out of range, or a time the database can't hold."""
        try:
            padded = value + "=" * (-len(value) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if not isinstance(data, dict) or not isinstance(data.get("t"), str):
                raise ValueError("not a cursor")
            created_at = datetime.fromisoformat(data["t"])
            if created_at.tzinfo is None:
                raise ValueError("a cursor's time carries its offset")
            created_at = created_at.astimezone(UTC)  # OverflowError near year 1 or 9999
            row_id, offset = data.get("i"), data.get("o", 0)
            # ids follow the columns' range (models.MAX_ID); a ranked window's
            # anchor lies one past its newest id
            if not _is_int(row_id) or not 0 < row_id <= MAX_ID + 1:
                raise ValueError("id out of range")
            if not _is_int(offset) or not 0 <= offset <= WINDOW:
                raise ValueError("offset out of range")
        except (ValueError, OverflowError, RecursionError, binascii.Error) as exc:
            raise DomainError("That page cursor is not valid.", code="invalid_cursor") from exc
        return cls(created_at, row_id, offset)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class Sources:
    """Where a feed's candidates come from. Empty lists mean "none"."""

    community_ids: list[int] = field(default_factory=list)
    author_ids: list[int] = field(default_factory=list)
    tag: str | None = None
    top_level_only: bool = False
    viewer_id: int | None = None  # whose blocks hide authors (see blocks.hides_account)
    replies_to_viewer: bool = False  # and replies in threads the viewer started
    everyone: bool = False  # every post (the instance's public timeline), in place of the above
    origin: str | None = None  # "local" or "remote": only posts by such authors


@dataclass
class FeedContext:
    ctx: Ctx
    viewer: Account | None
    now: datetime
    limit: int


@dataclass(slots=True)
class Candidate:
    """What ranking needs of a post, read without building an ORM object: a ranked
    feed looks at up to ``WINDOW`` of these but shows only a page of full posts."""

    id: int
    uri: str
    created_at: datetime
    updated_at: datetime | None
    reply_count: int
    deleted_at: datetime | None
    author_id: int
    community_id: int | None
    in_reply_to_id: int | None


CANDIDATE_COLUMNS = (
    col(Post.id),
    col(Post.uri),
    col(Post.created_at),
    col(Post.updated_at),
    col(Post.reply_count),
    col(Post.deleted_at),
    col(Post.author_id),
    col(Post.community_id),
    col(Post.in_reply_to_id),
)


@dataclass
class Ranked:
    post: Post | Candidate
    score: float
    factors: dict[str, float]


class Ranking(Protocol):
    """A strategy ranks a window of candidates. ``keyset`` strategies keep time
    order, so pages are cut by cursor alone; others rank a window of up to
    ``WINDOW`` candidates and page through that ranking."""

    # read-only here: a strategy may set them as class attributes or per instance
    @property
    def name(self) -> str: ...
    @property
    def keyset(self) -> bool: ...
    @property
    def notice(self) -> str | None: ...

    def rank(self, posts: Sequence[Post | Candidate], context: FeedContext) -> list[Ranked]: ...


def unix(dt: datetime) -> float:
    return dt.timestamp()


@dataclass(frozen=True)
class Reason:
    """How a post got into a feed's candidates, in words (``via``: the actor or
    community it came through)."""

    kind: str  # own | follow | author | community | reply | boost | tag
    text: str
    via: str | None = None


@dataclass
class FeedItem:
    post: PostView
    score: float
    factors: dict[str, float]
    algorithm: str
    version: int | None = None
    sha256: str | None = None
    reasons: list[Reason] = field(default_factory=list)
    # where the feed goes on right after this item, in the ranking's order
    cursor: str | None = None


@dataclass
class FeedPage:
    items: list[FeedItem]
    next_cursor: str | None
    algorithm: str
    version: int | None = None
    sha256: str | None = None
    notice: str | None = None  # e.g. "the module failed; showing newest first"


@dataclass
class ArtifactItem:
    artifact: Artifact
    score: float
    why: dict[str, float]


@dataclass
class ArtifactFeed:
    algorithm: str
    version: int | None
    sha256: str | None
    notice: str | None
    items: list[ArtifactItem]
