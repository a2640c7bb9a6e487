"""Request and response bodies of the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app import safejson
from app.models import MAX_ID
from app.services.accounts import MAX_PASSWORD
from app.services.ranking.types import FeedItem, FeedPage
from app.services.views import PostView


def _clean_text(value: str) -> str:
    """Every text field from outside passes here: no database stores NUL or a
    lone surrogate (e.g. a JSON "\\ud800"), so both are refused up front."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not safejson.storable_text(value):
        raise ValueError("must not contain lone surrogate characters")
    return value


CleanStr = Annotated[str, AfterValidator(_clean_text)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class BoundedJSONRequest(Request):
    """A request whose JSON body is parsed by :func:`app.safejson.loads` (depth and
    surrogate bounds); FastAPI turns its refusal into a 400 ``invalid_json``."""

    async def json(self) -> object:
        if not hasattr(self, "_json"):
            self._json = safejson.loads(await self.body())
        return self._json


class BoundedJSONRoute(APIRoute):
    """The route class of every API router, so every JSON body we take is bounded."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            return await handler(BoundedJSONRequest(request.scope, request.receive))

        return bounded


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountCreate(Body):
    username: CleanStr = Field(max_length=64)
    password: CleanStr = Field(max_length=MAX_PASSWORD)
    display_name: CleanStr = Field(default="", max_length=200)
    invite: CleanStr = Field(default="", max_length=200)  # registration mode "invite"
    reason: CleanStr = Field(default="", max_length=2000)  # mode "approval"
    email: CleanStr = Field(default="", max_length=400)  # required with email verification
    answer: CleanStr = Field(default="", max_length=400)  # the sign-up question's, if asked


class TokenCreate(Body):
    username: CleanStr = Field(max_length=64)
    password: CleanStr = Field(max_length=MAX_PASSWORD)
    scope: Literal["read", "write"] = "read"
    name: CleanStr = Field(default="", max_length=100)


class TokenOut(BaseModel):
    id: int
    token: str | None = None
    name: str
    prefix: str
    scope: str
    created_at: datetime
    last_used_at: datetime | None = None


class ProfileUpdate(Body):
    display_name: CleanStr | None = Field(default=None, max_length=200)
    bio: CleanStr | None = Field(default=None, max_length=10_000)
    avatar_url: CleanStr | None = Field(default=None, max_length=4096)
    expand_warnings: bool | None = None  # always show content warnings opened


class PasswordChange(Body):
    current_password: CleanStr = Field(max_length=MAX_PASSWORD)
    new_password: CleanStr = Field(max_length=MAX_PASSWORD)
    revoke_tokens: bool = Field(
        default=False,
        description="Also revoke every other API token (the one making this request stays).",
    )


class AccountOut(BaseModel):
    username: str
    domain: str
    display_name: str
    bio: str
    avatar_url: str
    url: str
    uri: str
    is_admin: bool
    created_at: datetime


class ActorOut(BaseModel):
    kind: Literal["account", "community"]
    handle: str = Field(description="name, or name@domain for another server's")
    name: str
    uri: str
    url: str


class ActorPage(BaseModel):
    items: list[ActorOut]
    next_cursor: str | None


class MeOut(AccountOut):
    """The signed-in member, with their own preferences."""

    expand_warnings: bool
    email: str | None = None
    email_verified: bool = False


class CommunityCreate(Body):
    name: CleanStr = Field(max_length=64)
    title: CleanStr = Field(default="", max_length=200)
    description: CleanStr = Field(default="", max_length=4000)
    charter: CleanStr = Field(default="", max_length=40_000)
    join_policy: Literal["open", "approval"] = "open"


class CommunityUpdate(Body):
    title: CleanStr | None = Field(default=None, max_length=200)
    description: CleanStr | None = Field(default=None, max_length=4000)
    charter: CleanStr | None = Field(default=None, max_length=40_000)
    join_policy: Literal["open", "approval"] | None = None


class CommunityOut(BaseModel):
    name: str
    title: str
    description: str
    charter: str
    charter_html: str
    join_policy: str
    url: str
    uri: str
    members: int
    created_at: datetime


class CommunityPage(BaseModel):
    items: list[CommunityOut]
    next_cursor: str | None


class MembershipOut(BaseModel):
    community: str
    username: str
    role: str
    state: str


class RoleUpdate(Body):
    role: Literal["member", "moderator", "admin"]


class PostCreate(Body):
    text: CleanStr = Field(max_length=1_000_000)
    # a local name, or name@domain for a remote community the member belongs to
    community: CleanStr | None = Field(default=None, max_length=360)
    in_reply_to: Id | None = None
    title: CleanStr | None = Field(default=None, max_length=1000)
    # a content warning: the body is shown behind it (AS2 summary + sensitive)
    summary: CleanStr | None = Field(default=None, max_length=1000)
    # as Mastodon's: with media and no summary only the media are folded; without
    # media, the body is shown behind a general warning
    sensitive: bool = False
    media: list[Id] = Field(default_factory=list, max_length=100)  # ids from POST /media
    # "public", or "unlisted": not in the public and hashtag feeds (app/services/visibility.py)
    visibility: CleanStr = Field(default="public", max_length=20)


class PostUpdate(Body):
    text: CleanStr = Field(max_length=1_000_000)
    title: CleanStr | None = Field(default=None, max_length=1000)


class AuthorOut(BaseModel):
    username: str
    domain: str
    display_name: str
    url: str
    uri: str
    avatar_url: str


class CommunityRefOut(BaseModel):
    name: str
    title: str
    url: str


class MediaOut(BaseModel):
    """An image: the file, its preview, its blurhash and size, its alt text."""

    id: int
    url: str
    preview_url: str
    blurhash: str
    width: int
    height: int
    description: str
    sensitive: bool = False  # show it folded (Mastodon's sensitive)


class AttachmentOut(BaseModel):
    url: str
    media_type: str
    name: str
    sensitive: bool = False


class PollOptionOut(BaseModel):
    name: str
    votes: int


class PollOut(BaseModel):
    """A remote poll, read-only (vote on its home server)."""

    multiple: bool
    options: list[PollOptionOut]
    end_time: datetime | None


class PostOut(BaseModel):
    id: int
    uri: str
    url: str
    thread_url: str
    author: AuthorOut
    community: CommunityRefOut | None
    in_reply_to: int | None
    root: int | None
    title: str | None
    text: str
    html: str
    created_at: datetime
    updated_at: datetime | None
    deleted: bool
    reply_count: int
    reactions: dict[str, int]
    my_reactions: list[str]
    content_warning: str | None = None  # show the text behind it
    attachments: list[AttachmentOut] = []  # a remote post's media not cached here: links
    media: list[MediaOut] = []
    poll: PollOut | None = None
    boosts: int = 0  # members' boosts of it
    boosted: bool = False  # by the viewer
    visibility: str = "public"  # or "unlisted"

    @classmethod
    def of(cls, view: PostView) -> PostOut:
        return cls.model_validate(view, from_attributes=True)


class RevisionOut(BaseModel):
    title: str | None
    text: str
    written_at: datetime
    replaced_at: datetime


class ThreadOut(BaseModel):
    root: PostOut
    replies: list[PostOut]


class ReactionCreate(Body):
    kind: Literal["like", "agree", "disagree", "pass"]


class ReactionsOut(BaseModel):
    post: int
    reactions: dict[str, int]
    my_reactions: list[str]


class FollowCreate(Body):
    target: CleanStr = Field(max_length=2048)


class FollowOut(BaseModel):
    target: str
    kind: Literal["account", "community"]
    state: str


class ReasonOut(BaseModel):
    kind: str = Field(description="own, follow, author, community, reply, boost or tag")
    text: str
    via: str | None = Field(default=None, description="The actor or community it came through.")


class WhyOut(BaseModel):
    algorithm: str
    version: int | None = None
    sha256: str | None = None
    score: float
    factors: dict[str, float]
    reasons: list[ReasonOut] = Field(
        default_factory=list, description="How the item got into this feed, in words."
    )


class FeedItemOut(BaseModel):
    id: str = Field(description="The item's canonical URI.")
    kind: Literal["post"] = "post"
    post: PostOut
    why: WhyOut

    @classmethod
    def of(cls, item: FeedItem) -> FeedItemOut:
        return cls(
            id=item.post.uri,
            post=PostOut.of(item.post),
            why=WhyOut(
                algorithm=item.algorithm,
                version=item.version,
                sha256=item.sha256,
                score=item.score,
                factors=item.factors,
                reasons=[ReasonOut(kind=r.kind, text=r.text, via=r.via) for r in item.reasons],
            ),
        )


class FeedOut(BaseModel):
    algorithm: str
    version: int | None = None
    sha256: str | None = None
    notice: str | None = Field(
        default=None,
        description="Set when the algorithm failed and the feed fell back to newest first.",
    )
    items: list[FeedItemOut]
    next_cursor: str | None

    @classmethod
    def of(cls, page: FeedPage) -> FeedOut:
        return cls(
            algorithm=page.algorithm,
            version=page.version,
            sha256=page.sha256,
            notice=page.notice,
            items=[FeedItemOut.of(i) for i in page.items],
            next_cursor=page.next_cursor,
        )


class AlgorithmSubmit(Body):
    source: CleanStr = Field(max_length=70_000)
    forked_from: Id | None = Field(default=None, description="version id this one builds on")
    community: CleanStr | None = Field(
        default=None,
        max_length=64,
        description="also compare it with this community's current algorithm, on its threads",
    )


class AlgorithmImport(Body):
    url: CleanStr = Field(
        max_length=2048, description="a module version published by another instance"
    )


class AlgorithmVersionOut(BaseModel):
    version_id: int
    version: int
    sha256: str
    parameters: dict
    parent_id: int | None
    forked_from_sha256: str | None
    created_at: datetime


class AlgorithmOut(BaseModel):
    id: int
    name: str
    summary: str
    builtin: bool
    author: str | None
    license: str
    version: int = Field(description="the latest version's number (also in ``latest``)")
    sha256: str = Field(description="the latest version's SHA-256 (also in ``latest``)")
    latest: AlgorithmVersionOut
    source_url: str
    report: dict | None = None
    versions: list[AlgorithmVersionOut] = []
    errors: dict | None = None


class AlgorithmChoice(Body):
    algorithm: Id = Field(description="the version id to use")
    params: dict | None = None
    reason: CleanStr = Field(default="", max_length=1000)


class AlgorithmChangeOut(BaseModel):
    version_id: int
    params: dict
    changed_by: str | None
    reason: str
    tally: dict | None = None
    created_at: datetime


class ErrorOut(BaseModel):
    error: str
    detail: str | list[dict]


class ProposalCreate(Body):
    algorithm: Id = Field(description="the version id proposed")
    params: dict | None = None
    reason: CleanStr = Field(default="", max_length=1000)
    window_hours: float = Field(default=72.0, gt=0, le=720)
    quorum: int | None = Field(default=None, ge=1, le=1_000_000)
    threshold: float = Field(default=0.5, ge=0, lt=1)


class VoteCreate(Body):
    choice: Literal["yes", "no", "abstain"]


class GovernanceUpdate(Body):
    mode: Literal["admins", "vote"]


class VoteRulesUpdate(Body):
    """A community's floors on its votes (algorithm proposals and artifact decisions)."""

    min_hours: int = Field(description="shortest voting window, 1 to 720 hours")
    quorum_percent: int = Field(description="smallest quorum as a share of members, 0 to 100")
    openers: Literal["members", "moderators"] = Field(description="who opens votes")


class VoteRulesOut(BaseModel):
    min_hours: int
    quorum_percent: int
    openers: str
    members: int
    min_quorum: int = Field(description="the share of members, rounded up, never below 2")


class ProposalOut(BaseModel):
    id: int
    version_id: int
    params: dict
    reason: str
    proposer: str | None
    quorum: int
    threshold: float
    state: str
    tally: dict
    closes_at: datetime
