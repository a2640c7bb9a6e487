"""Artifacts: create, revise (with merges and conflicts), history, diff, stages,
links, statements, stances, the common-ground map, decisions and export."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse, Response
from sqlmodel import select

from app.api.artifact_schemas import (
    ArtifactCreate,
    ArtifactOut,
    BallotCreate,
    ContributorOut,
    DecisionCreate,
    DecisionOut,
    DiffOp,
    DiffOut,
    LinkCreate,
    LinkOut,
    OutcomeCreate,
    PersonOut,
    RevertCreate,
    RevisionCreate,
    RevisionOut,
    RevisionResultOut,
    StageChange,
    StanceOut,
    StanceSet,
    StatementCreate,
    StatementOut,
    TransitionOut,
)
from app.api.auth import MaybeAccount, Writer
from app.api.schemas import MAX_ID, AttachmentOut, BoundedJSONRoute, MediaOut
from app.deps import CtxDep
from app.models import (
    FORMER_MEMBER,
    Account,
    Artifact,
    ArtifactRevision,
    Community,
    Decision,
    Stance,
)
from app.services import Ctx, artifacts, commonground, communities, decisions, media, stances
from app.services.posts import attachments_of
from app.services.ranking import feeds
from app.services.textmerge import diff_stats
from app.services.views import media_view

router = APIRouter(tags=["artifacts"], route_class=BoundedJSONRoute)
ArtifactId = Annotated[int, Path(ge=1, le=MAX_ID)]
Name = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def person(ctx: Ctx, account_id: int) -> PersonOut:
    return _person_out(ctx, ctx.db.get(Account, account_id))


def _person_out(ctx: Ctx, a: Account) -> PersonOut:
    if a.is_deleted:  # what a deleted member wrote stays, under no name
        return PersonOut(handle=FORMER_MEMBER, uri=a.uri, domain=a.domain)
    return PersonOut(
        handle=f"{a.username}@{a.domain or ctx.settings.domain}", uri=a.uri, domain=a.domain
    )


def artifact_out(ctx: Ctx, a: Artifact) -> ArtifactOut:
    return artifact_outs(ctx, [a])[0]


def artifact_outs(ctx: Ctx, rows: list[Artifact]) -> list[ArtifactOut]:
    """Many artifacts in a fixed number of queries: their tags, communities and
    authors are read for the whole list at once."""
    tags = artifacts.tags_for(ctx, [a.id for a in rows])
    groups = _by_id(ctx, Community, {a.community_id for a in rows})
    authors = _by_id(ctx, Account, {a.author_id for a in rows})
    images = media.of_artifacts(ctx, rows)
    out = []
    for a in rows:
        community = groups[a.community_id]
        shown = images.get(a.id, [])
        cached = {row.remote_url for row in shown}
        out.append(
            ArtifactOut(
                id=a.id,
                uri=a.uri,
                url=a.url or artifacts.artifact_url(ctx, a),
                community=community.name
                if not community.domain
                else f"{community.name}@{community.domain}",
                kind=a.kind,
                stage=a.stage,
                title=a.title,
                body=a.body,
                html=a.html,
                content_warning=a.content_warning,
                media=_media_outs(ctx, shown),
                attachments=[
                    AttachmentOut(**link) for link in attachments_of(a) if link["url"] not in cached
                ],
                tags=tags.get(a.id, []),
                revision=a.current_revision_id,
                revision_count=a.revision_count,
                author=_person_out(ctx, authors[a.author_id]),
                review_at=a.review_at,
                created_at=a.created_at,
                updated_at=a.updated_at,
            )
        )
    return out


def _by_id(ctx: Ctx, model: type[Account] | type[Community], ids: set[int]) -> dict:
    if not ids:
        return {}
    return {row.id: row for row in ctx.db.exec(select(model).where(model.id.in_(ids)))}


def _media_outs(ctx: Ctx, rows: list) -> list[MediaOut]:
    return [MediaOut.model_validate(media_view(ctx, m), from_attributes=True) for m in rows]


def revision_out(ctx: Ctx, r: ArtifactRevision) -> RevisionOut:
    return revision_outs(ctx, [r])[0]


def revision_outs(ctx: Ctx, rows: list[ArtifactRevision]) -> list[RevisionOut]:
    """Revisions with the images each shows, added and took off (one query for all)."""
    changes = artifacts.image_changes(ctx, rows)
    return [_revision_out(ctx, r, *changes[r.id]) for r in rows]


def _revision_out(
    ctx: Ctx, r: ArtifactRevision, shown: list, added: list, removed: list
) -> RevisionOut:
    return RevisionOut(
        id=r.id,
        number=r.number,
        parent=r.parent_id,
        author=person(ctx, r.author_id),
        title=r.title,
        body=r.body,
        message=r.message,
        change=r.change,
        sha256=r.sha256,
        created_at=r.created_at,
        media=_media_outs(ctx, shown),
        media_added=_media_outs(ctx, added),
        media_removed=_media_outs(ctx, removed),
    )


def decision_out(d: Decision, tally: dict[str, int]) -> DecisionOut:
    return DecisionOut(
        id=d.id,
        artifact=d.artifact_id,
        method=d.method,
        quorum=d.quorum,
        closes_at=d.closes_at,
        state=d.state,
        tally=tally,
        outcome=d.outcome,
        review_at=d.review_at,
    )


@router.post("/artifacts", status_code=201, response_model=ArtifactOut)
def create(body: ArtifactCreate, ctx: CtxDep, account: Writer) -> ArtifactOut:
    a = artifacts.create(
        ctx,
        account,
        body.community,
        body.kind,
        body.title,
        body.body,
        body.tags,
        summary=body.summary,
        sensitive=body.sensitive,
        media_ids=body.media,
    )
    return artifact_out(ctx, a)


@router.get("/artifacts/{artifact_id}", response_model=ArtifactOut)
def read(artifact_id: ArtifactId, ctx: CtxDep) -> ArtifactOut:
    return artifact_out(ctx, artifacts.get(ctx, artifact_id))


@router.get("/communities/{name}/artifacts", response_model=list[ArtifactOut])
def in_community(
    name: Name,
    ctx: CtxDep,
    kind: Annotated[str | None, Query(max_length=20)] = None,
    stage: Annotated[str | None, Query(max_length=20)] = None,
) -> list[ArtifactOut]:
    c = communities.get(ctx, name)
    return artifact_outs(ctx, artifacts.in_community(ctx, c, kind=kind, stage=stage))


@router.get("/communities/{name}/artifacts/feed")
def artifact_feed(name: Name, ctx: CtxDep, viewer: MaybeAccount) -> dict:
    """The community's artifacts ranked by its algorithm, each with why it is there."""
    feed = feeds.community_artifacts(ctx, communities.get(ctx, name), viewer)
    shown = artifact_outs(ctx, [item.artifact for item in feed.items])
    return {
        "algorithm": feed.algorithm,
        "version": feed.version,
        "sha256": feed.sha256,
        "notice": feed.notice,
        "items": [
            {
                "id": item.artifact.uri,
                "kind": "artifact",
                "artifact": out.model_dump(mode="json"),
                "why": {"score": item.score, "factors": item.why},
            }
            for item, out in zip(feed.items, shown, strict=True)
        ],
    }


@router.post(
    "/artifacts/{artifact_id}/revisions",
    status_code=201,
    response_model=RevisionResultOut,
    responses={409: {"description": "the edit conflicts; detail holds both versions"}},
)
def revise(
    artifact_id: ArtifactId,
    body: RevisionCreate,
    ctx: CtxDep,
    account: Writer,
    response: Response,
) -> RevisionResultOut:
    """Save an edit made on ``base_revision``. If others saved since, a clean merge
    is applied (``outcome: merged``); a conflict answers 409 with both versions."""
    result = artifacts.revise(
        ctx, account, artifact_id, body.base_revision, body.body, body.title, body.message,
        media_ids=body.media, sensitive_media=body.sensitive,
    )  # fmt: skip
    a = artifacts.get(ctx, artifact_id)
    if result.outcome == "proposed":
        response.status_code = 202
    return RevisionResultOut(
        outcome=result.outcome,
        revision=revision_out(ctx, result.revision) if result.revision else None,
        artifact=artifact_out(ctx, a),
    )


@router.get("/artifacts/{artifact_id}/revisions", response_model=list[RevisionOut])
def history(
    artifact_id: ArtifactId,
    ctx: CtxDep,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[RevisionOut]:
    a = artifacts.get(ctx, artifact_id)
    return revision_outs(ctx, artifacts.revisions(ctx, a, before=before, limit=limit))


@router.get("/artifacts/{artifact_id}/diff", response_model=DiffOut)
def diff(
    artifact_id: ArtifactId,
    ctx: CtxDep,
    from_: Annotated[int, Query(alias="from", ge=1, le=MAX_ID)],
    to: Annotated[int, Query(ge=1, le=MAX_ID)],
) -> DiffOut:
    d = artifacts.diff(ctx, artifacts.get(ctx, artifact_id), from_, to)
    return DiffOut(
        from_revision=from_,
        to_revision=to,
        title=[DiffOp(op=o.kind, text=o.text) for o in d["title"]],
        body=[DiffOp(op=o.kind, text=o.text) for o in d["body"]],
        **diff_stats(d["body"]),
    )


@router.post("/artifacts/{artifact_id}/revert", status_code=201, response_model=RevisionOut)
def revert(
    artifact_id: ArtifactId, body: RevertCreate, ctx: CtxDep, account: Writer
) -> RevisionOut:
    return revision_out(
        ctx, artifacts.revert(ctx, account, artifact_id, body.revision, body.message)
    )


@router.post("/artifacts/{artifact_id}/stage", response_model=ArtifactOut)
def stage(artifact_id: ArtifactId, body: StageChange, ctx: CtxDep, account: Writer) -> ArtifactOut:
    artifacts.transition(ctx, account, artifact_id, body.stage, body.reason)
    return artifact_out(ctx, artifacts.get(ctx, artifact_id))


@router.get("/artifacts/{artifact_id}/transitions", response_model=list[TransitionOut])
def transitions(artifact_id: ArtifactId, ctx: CtxDep) -> list[TransitionOut]:
    a = artifacts.get(ctx, artifact_id)
    return [
        TransitionOut(
            from_stage=t.from_stage,
            to_stage=t.to_stage,
            by=person(ctx, t.actor_id),
            reason=t.reason,
            at=t.created_at,
        )
        for t in artifacts.transitions(ctx, a)
    ]


@router.post("/artifacts/{artifact_id}/links", status_code=201, response_model=LinkOut)
def link(artifact_id: ArtifactId, body: LinkCreate, ctx: CtxDep, account: Writer) -> LinkOut:
    edge = artifacts.link(ctx, account, artifact_id, body.target, body.kind)
    target = artifacts.get(ctx, body.target)
    return LinkOut(
        id=edge.id, kind=edge.kind, source=edge.source_id, target=edge.target_id,
        other_title=target.title,
    )  # fmt: skip


@router.get("/artifacts/{artifact_id}/links")
def links(artifact_id: ArtifactId, ctx: CtxDep) -> dict[str, list[LinkOut]]:
    found = artifacts.links_of(ctx, artifacts.get(ctx, artifact_id))
    return {
        side: [
            LinkOut(
                id=e.id, kind=e.kind, source=e.source_id, target=e.target_id, other_title=o.title
            )
            for e, o in pairs
        ]
        for side, pairs in found.items()
    }


@router.delete("/artifact-links/{link_id}", status_code=204)
def unlink(link_id: ArtifactId, ctx: CtxDep, account: Writer) -> Response:
    artifacts.unlink(ctx, account, link_id)
    return Response(status_code=204)


@router.get("/artifacts/{artifact_id}/contributors", response_model=list[ContributorOut])
def contributors(artifact_id: ArtifactId, ctx: CtxDep) -> list[ContributorOut]:
    a = artifacts.get(ctx, artifact_id)
    return [
        ContributorOut(person=person(ctx, who.id), share=round(share, 4))
        for who, share in artifacts.contributors(ctx, a)
    ]


@router.post("/artifacts/{artifact_id}/statements", status_code=201, response_model=StatementOut)
def add_statement(
    artifact_id: ArtifactId, body: StatementCreate, ctx: CtxDep, account: Writer
) -> StatementOut:
    s = stances.add_statement(ctx, account, artifact_id, body.text)
    return StatementOut(
        id=s.id, uri=s.uri, text=s.text, author=person(ctx, s.author_id),
        stances={"agree": 0, "disagree": 0, "pass": 0}, created_at=s.created_at,
    )  # fmt: skip


@router.get("/artifacts/{artifact_id}/statements", response_model=list[StatementOut])
def list_statements(artifact_id: ArtifactId, ctx: CtxDep) -> list[StatementOut]:
    a = artifacts.get(ctx, artifact_id)
    counts = stances.tally(ctx, a)
    empty = {"agree": 0, "disagree": 0, "pass": 0}
    return [
        StatementOut(
            id=s.id,
            uri=s.uri,
            text=s.text,
            author=person(ctx, s.author_id),
            stances=counts.get(str(s.id), empty),
            created_at=s.created_at,
        )  # fmt: skip
        for s in stances.statements(ctx, a)
    ]


def stance_out(s: Stance) -> StanceOut:
    return StanceOut(target=s.target, stance=s.stance, reason=s.reason, updated_at=s.updated_at)


@router.put("/statements/{statement_id}/stance", response_model=StanceOut)
def statement_stance(
    statement_id: ArtifactId, body: StanceSet, ctx: CtxDep, account: Writer
) -> StanceOut:
    return stance_out(
        stances.take(ctx, account, body.stance, statement_id=statement_id, reason=body.reason)
    )


@router.put("/artifacts/{artifact_id}/stance", response_model=StanceOut)
def artifact_stance(
    artifact_id: ArtifactId, body: StanceSet, ctx: CtxDep, account: Writer
) -> StanceOut:
    return stance_out(
        stances.take(ctx, account, body.stance, artifact_id=artifact_id, reason=body.reason)
    )


@router.get("/artifacts/{artifact_id}/stances")
def artifact_stances(artifact_id: ArtifactId, ctx: CtxDep, viewer: MaybeAccount) -> dict:
    a = artifacts.get(ctx, artifact_id)
    return {"tally": stances.tally(ctx, a), "mine": stances.mine(ctx, viewer, a)}


@router.get("/artifacts/{artifact_id}/map")
def common_ground_map(artifact_id: ArtifactId, ctx: CtxDep) -> dict:
    """Opinion groups, consensus and divisive statements, and how they were found."""
    data, computed_at = commonground.stored(ctx, artifacts.get(ctx, artifact_id))
    return {**data, "computed_at": computed_at.isoformat() if computed_at else None}


@router.post("/artifacts/{artifact_id}/decisions", status_code=201, response_model=DecisionOut)
def open_decision(
    artifact_id: ArtifactId, body: DecisionCreate, ctx: CtxDep, account: Writer
) -> DecisionOut:
    d = decisions.open_vote(ctx, account, artifact_id, body.method, body.closes_at, body.quorum)
    return decision_out(d, decisions.tally(ctx, d))


@router.get("/artifacts/{artifact_id}/decision", response_model=DecisionOut | None)
def current_decision(artifact_id: ArtifactId, ctx: CtxDep) -> DecisionOut | None:
    d = decisions.current(ctx, artifacts.get(ctx, artifact_id))
    return decision_out(d, decisions.tally(ctx, d)) if d else None


@router.post("/decisions/{decision_id}/ballots", response_model=DecisionOut)
def vote(decision_id: ArtifactId, body: BallotCreate, ctx: CtxDep, account: Writer) -> DecisionOut:
    decisions.vote(ctx, account, decision_id, body.choice, body.reason)
    d = decisions.get(ctx, decision_id)
    return decision_out(d, decisions.tally(ctx, d))


@router.post("/decisions/{decision_id}/outcome", response_model=DecisionOut)
def outcome(
    decision_id: ArtifactId, body: OutcomeCreate, ctx: CtxDep, account: Writer
) -> DecisionOut:
    d = decisions.record_outcome(ctx, account, decision_id, body.outcome, body.review_at)
    return decision_out(d, json.loads(d.tally) or decisions.tally(ctx, d))


@router.get("/artifacts/{artifact_id}/export", response_model=None)
def export(
    artifact_id: ArtifactId,
    ctx: CtxDep,
    format: Literal["json", "markdown"] = "json",  # the query parameter's name
) -> dict | PlainTextResponse:
    """The artifact with its full history, as JSON or Markdown."""
    markdown, data = artifacts.export(ctx, artifacts.get(ctx, artifact_id))
    if format == "markdown":
        return PlainTextResponse(markdown, media_type="text/markdown; charset=utf-8")
    return data
