"""Request and response bodies of the artifact endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.api.schemas import AttachmentOut, Body, CleanStr, Id, MediaOut
from app.services.artifacts import KINDS, LINK_KINDS, MAX_BODY, MAX_TITLE, SIDE_STAGES, STAGES

Kind = Literal[KINDS]  # type: ignore[valid-type]
Stage = Literal[STAGES + SIDE_STAGES]  # type: ignore[valid-type]
LinkKind = Literal[LINK_KINDS]  # type: ignore[valid-type]
StanceKind = Literal["agree", "disagree", "pass"]


class ArtifactCreate(Body):
    community: CleanStr = Field(max_length=64)
    kind: Kind
    title: CleanStr = Field(min_length=1, max_length=MAX_TITLE)
    body: CleanStr = Field(default="", max_length=MAX_BODY)
    tags: list[CleanStr] = Field(default_factory=list, max_length=10)
    # a content warning: the text is shown behind it (AS2 summary + sensitive)
    summary: CleanStr | None = Field(default=None, max_length=1000)
    # as a post's: with media and no summary only the images are folded
    sensitive: bool = False
    media: list[Id] = Field(default_factory=list, max_length=100)  # ids from POST /media


class RevisionCreate(Body):
    base_revision: Id = Field(description="the revision your edit started from")
    body: CleanStr = Field(max_length=MAX_BODY)
    title: CleanStr | None = Field(default=None, min_length=1, max_length=MAX_TITLE)
    message: CleanStr = Field(default="", max_length=500)
    media: list[Id] | None = Field(
        default=None,
        max_length=100,
        description="the images the revision shows: the artifact's or your uploads; "
        "omitted, they stay as they are",
    )
    sensitive: bool | None = Field(default=None, description="mark its images sensitive")


class RevertCreate(Body):
    revision: Id
    message: CleanStr = Field(default="", max_length=500)


class StageChange(Body):
    stage: Stage
    reason: CleanStr = Field(default="", max_length=1000)


class LinkCreate(Body):
    target: Id
    kind: LinkKind


class StatementCreate(Body):
    text: CleanStr = Field(min_length=1, max_length=500)


class StanceSet(Body):
    stance: StanceKind
    reason: CleanStr = Field(default="", max_length=1000)


class DecisionCreate(Body):
    method: Literal["consent", "consensus"]
    closes_at: datetime
    quorum: int | None = Field(
        default=None, ge=1, le=100_000, description="ballots needed; default the community's floor"
    )


class BallotCreate(Body):
    choice: Literal["agree", "abstain", "disagree", "block"]
    reason: CleanStr = Field(default="", max_length=1000)


class OutcomeCreate(Body):
    outcome: CleanStr = Field(min_length=1, max_length=5000)
    review_at: datetime | None = None


class PersonOut(BaseModel):
    handle: str
    uri: str
    domain: str


class ArtifactOut(BaseModel):
    id: int
    uri: str
    url: str
    community: str
    kind: str
    stage: str
    title: str
    body: str
    html: str
    content_warning: str | None = None  # show the text behind it
    media: list[MediaOut] = []  # its images now, with their alt text
    attachments: list[AttachmentOut] = []  # a remote copy's images not cached here: links
    tags: list[str]
    revision: int | None = Field(description="the current revision id (base of your next edit)")
    revision_count: int
    author: PersonOut
    review_at: datetime | None
    created_at: datetime
    updated_at: datetime


class RevisionOut(BaseModel):
    id: int
    number: int
    parent: int | None
    author: PersonOut
    title: str
    body: str
    message: str
    change: str
    sha256: str
    created_at: datetime
    media: list[MediaOut] = []  # the images this revision shows
    media_added: list[MediaOut] = []  # against its parent, by its author
    media_removed: list[MediaOut] = []


class RevisionResultOut(BaseModel):
    outcome: Literal["applied", "merged", "unchanged", "proposed"] = Field(
        description="proposed: the artifact lives on another instance; the edit was sent there"
    )
    revision: RevisionOut | None
    artifact: ArtifactOut


class DiffOp(BaseModel):
    op: Literal["equal", "insert", "delete"]
    text: str


class DiffOut(BaseModel):
    from_revision: int
    to_revision: int
    title: list[DiffOp]
    body: list[DiffOp]
    words_added: int
    words_removed: int


class TransitionOut(BaseModel):
    from_stage: str
    to_stage: str
    by: PersonOut
    reason: str
    at: datetime


class LinkOut(BaseModel):
    id: int
    kind: str
    source: int
    target: int
    other_title: str


class StatementOut(BaseModel):
    id: int
    uri: str
    text: str
    author: PersonOut
    stances: dict[str, int]
    created_at: datetime


class StanceOut(BaseModel):
    target: str
    stance: str
    reason: str
    updated_at: datetime


class DecisionOut(BaseModel):
    id: int
    artifact: int
    method: str
    quorum: int
    closes_at: datetime
    state: str
    tally: dict[str, int]
    outcome: str
    review_at: datetime | None


class ContributorOut(BaseModel):
    person: PersonOut
    share: float
