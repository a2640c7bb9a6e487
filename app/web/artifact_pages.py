"""Artifact pages: a community's artifacts (list and graph), each artifact with its
stage, text, links, contributors, stances, statements, map and decision; editing
with conflict handling; history and diffs. All of it works without JavaScript."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response

from app.api.schemas import MAX_ID
from app.deps import CtxDep
from app.errors import DomainError, Invalid
from app.models import Account, Artifact, Community
from app.services import (
    Ctx,
    artifacts,
    commonground,
    communities,
    decisions,
    governance,
    media,
    stances,
)
from app.services.artifacts import KINDS, LINK_KINDS, TRANSITIONS, MergeConflict
from app.services.posts import attachments_of
from app.services.ranking import feeds
from app.services.textmerge import diff_stats
from app.services.views import MediaView, media_view
from app.web.deps import Csrf, Member, Viewer
from app.web.forms import ShortField, TextField, path_id, redisplayed_by, show_error, submitted
from app.web.templating import redirect, render
from app.web.uploads import ALTS, AltField, ImageField, upload_chosen

router = APIRouter()
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Name = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
FormId = Annotated[int, Form(ge=1, le=MAX_ID)]
Checkbox = Annotated[str, Form(pattern=r"^(yes)?$")]
KIND_COLOURS = {
    "problem": "#b5462f", "idea": "#c98a12", "solution": "#2f7d4f", "vision": "#4460a8",
    "assumption": "#7a4fa0", "decision": "#1f6f78", "lesson": "#6b6b6b",
}  # fmt: skip


def _people(ctx: Ctx, ids: set[int]) -> dict[int, Account]:
    from sqlmodel import select

    return {a.id: a for a in ctx.db.exec(select(Account).where(Account.id.in_(ids or {0})))}


def _images(ctx: Ctx, artifact: Artifact) -> list[MediaView]:
    return [media_view(ctx, m) for m in media.of_artifacts(ctx, [artifact]).get(artifact.id, [])]


def _artifact_context(ctx: Ctx, viewer: Account | None, artifact: Artifact) -> dict:
    """Everything the artifact page shows, with the forms its viewer may use."""
    community = artifacts.community_of(ctx, artifact)
    statement_list = stances.statements(ctx, artifact)
    decision = decisions.current(ctx, artifact)
    map_data, computed_at = commonground.stored(ctx, artifact)
    history = artifacts.transitions(ctx, artifact)
    people = _people(
        ctx,
        {artifact.author_id}
        | {s.author_id for s in statement_list}
        | {t.actor_id for t in history},
    )
    member = viewer is not None and communities.is_active_member(ctx, viewer, community)
    allowed_moves = [to for (frm, to), _ in TRANSITIONS.items() if frm == artifact.stage]
    images = _images(ctx, artifact)
    cached = {m.url for m in images}
    return dict(
        artifact=artifact,
        images=images,
        image_links=[a for a in attachments_of(artifact) if a["url"] not in cached],
        community=community,
        tags=artifacts.tags_of(ctx, artifact),
        links=artifacts.links_of(ctx, artifact),
        contributors=artifacts.contributors(ctx, artifact),
        statements=statement_list,
        tally=stances.tally(ctx, artifact),
        mine=stances.mine(ctx, viewer, artifact),
        artifact_stances=stances.stances_on(ctx, artifact),
        people=people,
        decision=decision,
        decision_tally=decisions.tally(ctx, decision) if decision else None,
        decision_state=governance.shown_state(decision) if decision else None,
        may_open_vote=decisions.may_open_vote(ctx, viewer, artifact),
        vote_rules=governance.vote_rules(ctx, community),
        map=map_data,
        map_computed_at=computed_at,
        transitions=history,
        moves=allowed_moves,
        member=member,
        can_moderate=communities.can_moderate(ctx, viewer, community),
        others=[a for a in artifacts.in_community(ctx, community) if a.id != artifact.id],
        link_kinds=LINK_KINDS,
    )


def _artifact_of_form(request: Request, ctx: Ctx) -> Artifact:
    """The artifact whose page holds the form ``request`` was sent from."""
    params = request.path_params
    if "decision_id" in params:
        return artifacts.get(ctx, decisions.get(ctx, path_id(request, "decision_id")).artifact_id)
    if "statement_id" in params:
        statement = stances.get_statement(ctx, path_id(request, "statement_id"))
        return artifacts.get(ctx, statement.artifact_id)
    return artifacts.get(ctx, path_id(request, "artifact_id"))


def artifact_form_page(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    """The artifact page holding the form that was sent (stance, statement, stage,
    vote, ballot, outcome, link); the templates refill that form with ``kept``."""
    return "artifact.html", _artifact_context(ctx, viewer, _artifact_of_form(request, ctx))


def artifacts_list_page(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    """A community's artifacts with the form for a new one (``typed`` fills it)."""
    community = communities.get(ctx, str(request.path_params.get("name", "")))
    return "artifacts.html", _list_context(ctx, viewer, community, None, typed)


def artifact_edit_page(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    """The edit form, from the current revision or from what was typed."""
    artifact = artifacts.get(ctx, path_id(request, "artifact_id"))
    return "artifact_edit.html", _edit_context(ctx, artifact, typed)


def _edit_context(ctx: Ctx, artifact: Artifact, typed: dict, **extra: object) -> dict:
    """The edit form's fields; the image part only where the artifact lives (a copy's
    edits are sent home as text)."""
    images = _images(ctx, artifact)
    form = {
        "title": artifact.title,
        "body": artifact.body,
        "message": "",
        "base_revision": artifact.current_revision_id,
        "sensitive_media": "yes" if any(m.sensitive for m in images) else "",
    }
    form.update({k: v for k, v in typed.items() if k in form or k in ALTS})
    context: dict = {"artifact": artifact, "form": form, **extra}
    if not artifacts.community_of(ctx, artifact).domain:
        context["kept_images"] = images
    return context


@router.get("/c/{name}/artifacts")
def list_page(
    request: Request,
    ctx: CtxDep,
    viewer: Viewer,
    name: Name,
    kind: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    community = communities.get(ctx, name)
    return render(request, "artifacts.html", **_list_context(ctx, viewer, community, kind, {}))


def _list_context(
    ctx: Ctx,
    viewer: Account | None,
    community: Community,
    kind: str | None,
    form: dict,
) -> dict:
    feed = feeds.community_artifacts(ctx, community, viewer, limit=200)
    wanted = kind if kind in KINDS else None
    ranked = [i for i in feed.items if wanted is None or i.artifact.kind == wanted]
    items = [i.artifact for i in ranked]
    return dict(
        community=community,
        items=items,
        kinds=KINDS,
        kind=kind,
        due=artifacts.due_for_review(ctx, community),
        contributors=artifacts.counts(ctx, [a.id for a in items]),
        member=viewer is not None and communities.is_active_member(ctx, viewer, community),
        form=form,
        feed=feed,
        why={i.artifact.id: i for i in ranked},
    )


GRAPH_RADIUS, NODE_RADIUS, LABEL_CHARS = 220, 9, 32
GRAPH_WIDTH, GRAPH_HEIGHT = 960, 520  # room for a full label on either side of the circle


def graph_layout(nodes: list[Artifact], edges: list) -> tuple[dict, list[dict]]:
    """Nodes on a circle (readable without JavaScript, stable between visits), each
    label on the outer side of its node so none runs off the picture, and each link
    ending at the edge of its target's circle so its arrowhead is not hidden under it."""
    cx, cy = GRAPH_WIDTH / 2, GRAPH_HEIGHT / 2
    places: dict[int, dict] = {}
    for i, a in enumerate(nodes):
        angle = 2 * math.pi * i / max(len(nodes), 1) - math.pi / 2
        x, y = cx + GRAPH_RADIUS * math.cos(angle), cy + GRAPH_RADIUS * math.sin(angle)
        side = math.cos(angle)
        anchor = "start" if side > 0.2 else "end" if side < -0.2 else "middle"
        gap = NODE_RADIUS + 4
        label_x = x + gap if anchor == "start" else x - gap if anchor == "end" else x
        label_y = y + 4 if anchor != "middle" else y + (gap + 10 if y > cy else -gap)
        title = a.title if len(a.title) <= LABEL_CHARS else a.title[: LABEL_CHARS - 1] + "…"
        places[a.id] = {
            "x": round(x, 1), "y": round(y, 1), "anchor": anchor,
            "label_x": round(label_x, 1), "label_y": round(label_y, 1), "label": title,
        }  # fmt: skip
    lines = []
    for e in edges:
        s, t = places[e.source_id], places[e.target_id]
        dx, dy = t["x"] - s["x"], t["y"] - s["y"]
        length = math.hypot(dx, dy) or 1.0
        ux, uy = dx / length, dy / length
        start, stop = NODE_RADIUS, NODE_RADIUS + 2  # leave the target's circle visible
        lines.append(
            {
                "kind": e.kind,
                "x1": round(s["x"] + ux * start, 1),
                "y1": round(s["y"] + uy * start, 1),
                "x2": round(t["x"] - ux * stop, 1),
                "y2": round(t["y"] - uy * stop, 1),
                "mid_x": round((s["x"] + t["x"]) / 2, 1),
                "mid_y": round((s["y"] + t["y"]) / 2, 1),
            }
        )
    return places, lines


@router.get("/c/{name}/artifacts/graph")
def graph_page(request: Request, ctx: CtxDep, viewer: Viewer, name: Name) -> Response:
    """The artifacts as a graph of typed links."""
    community = communities.get(ctx, name)
    nodes, edges = artifacts.graph(ctx, community)
    places, lines = graph_layout(nodes, edges)
    titles = {a.id: a.title for a in nodes}
    return render(
        request,
        "artifact_graph.html",
        community=community,
        nodes=nodes,
        edges=edges,
        titles=titles,
        places=places,
        lines=lines,
        width=GRAPH_WIDTH,
        height=GRAPH_HEIGHT,
        node_radius=NODE_RADIUS,
        kind_colours=KIND_COLOURS,
    )


@router.post("/c/{name}/artifacts/new", dependencies=[Csrf])
@redisplayed_by(artifacts_list_page)
def create(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    name: Name,
    kind: ShortField,
    title: ShortField,
    body: TextField = "",
    tags: ShortField = "",
    summary: ShortField = "",
    sensitive: Checkbox = "",
    sensitive_media: Checkbox = "",
    media1: ImageField = None,
    media2: ImageField = None,
    media3: ImageField = None,
    media4: ImageField = None,
    alt1: AltField = "",
    alt2: AltField = "",
    alt3: AltField = "",
    alt4: AltField = "",
) -> Response:
    community = communities.get(ctx, name)
    alts = (alt1, alt2, alt3, alt4)
    try:
        uploaded = upload_chosen(request, ctx, viewer, (media1, media2, media3, media4), alts)
        artifact = artifacts.create(
            ctx,
            viewer,
            community,
            kind,
            title,
            body,
            tags.replace(",", " ").split(),
            summary=summary,
            sensitive=sensitive == "yes",
            media_ids=uploaded,
            sensitive_media=sensitive_media == "yes",
        )
    except DomainError as exc:
        ctx.db.rollback()
        typed = {"kind": kind, "title": title, "body": body, "tags": tags}
        typed |= {"summary": summary, "sensitive": sensitive, "sensitive_media": sensitive_media}
        typed |= dict(zip(ALTS, alts, strict=True))
        context = _list_context(ctx, viewer, community, None, typed)
        return show_error(request, ctx, exc, "artifacts.html", **context)
    return redirect(request, f"/artifacts/{artifact.id}", flash="Artifact created.")


@router.get("/artifacts/{artifact_id}")
def artifact_page(request: Request, ctx: CtxDep, viewer: Viewer, artifact_id: Id) -> Response:
    context = _artifact_context(ctx, viewer, artifacts.get(ctx, artifact_id))
    return render(request, "artifact.html", **context)


def _act(
    request: Request,
    ctx: Ctx,
    viewer: Account,
    artifact_id: int,
    action,
    done: str,
    typed: dict | None = None,
):
    """Run a form's action; on a domain error show the artifact page with the reason
    and the form as it was sent (``typed``)."""
    try:
        action()
    except DomainError as exc:
        ctx.db.rollback()
        context = _artifact_context(ctx, viewer, artifacts.get(ctx, artifact_id))
        context["submitted"] = submitted(request, typed or {})
        detail = exc.detail if isinstance(exc.detail, str) else exc.code
        return render(request, "artifact.html", status=exc.status, error=detail, **context)
    return redirect(request, f"/artifacts/{artifact_id}", flash=done)


@router.post("/artifacts/{artifact_id}/stage", dependencies=[Csrf])
@redisplayed_by(artifact_form_page)
def stage(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    artifact_id: Id,
    stage: ShortField,
    reason: ShortField = "",
) -> Response:
    return _act(
        request, ctx, viewer, artifact_id,
        lambda: artifacts.transition(ctx, viewer, artifact_id, stage, reason),
        f"Moved to {stage}.", {"stage": stage, "reason": reason},
    )  # fmt: skip


@router.post("/artifacts/{artifact_id}/links", dependencies=[Csrf])
@redisplayed_by(artifact_form_page)
def add_link(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    artifact_id: Id,
    target: FormId,
    kind: ShortField,
) -> Response:
    return _act(
        request, ctx, viewer, artifact_id,
        lambda: artifacts.link(ctx, viewer, artifact_id, target, kind),
        "Linked.", {"target": target, "kind": kind},
    )  # fmt: skip


@router.post("/artifacts/{artifact_id}/stance", dependencies=[Csrf])
@redisplayed_by(artifact_form_page)
def artifact_stance(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    artifact_id: Id,
    stance: ShortField,
    reason: ShortField = "",
) -> Response:
    return _act(
        request, ctx, viewer, artifact_id,
        lambda: stances.take(ctx, viewer, stance, artifact_id=artifact_id, reason=reason),
        f"Your stance: {stance}.", {"reason": reason},
    )  # fmt: skip


@router.post("/artifacts/{artifact_id}/statements", dependencies=[Csrf])
@redisplayed_by(artifact_form_page)
def add_statement(
    request: Request, ctx: CtxDep, viewer: Member, artifact_id: Id, text: ShortField
) -> Response:
    return _act(
        request, ctx, viewer, artifact_id,
        lambda: stances.add_statement(ctx, viewer, artifact_id, text),
        "Statement added.", {"text": text},
    )  # fmt: skip


@router.post("/statements/{statement_id}/stance", dependencies=[Csrf])
def statement_stance(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    statement_id: Id,
    stance: ShortField,
) -> Response:
    statement = stances.get_statement(ctx, statement_id)
    return _act(
        request, ctx, viewer, statement.artifact_id,
        lambda: stances.take(ctx, viewer, stance, statement_id=statement_id),
        f"Your stance: {stance}.",
    )  # fmt: skip


def _when(value: str, what: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise Invalid(f"{what} is not a date and time.", code="bad_date") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@router.post("/artifacts/{artifact_id}/decisions", dependencies=[Csrf])
@redisplayed_by(artifact_form_page)
def open_decision(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    artifact_id: Id,
    method: ShortField,
    hours: Annotated[int, Form(ge=1, le=24 * 60)] = 72,
    quorum: Annotated[int | None, Form(ge=1, le=100_000)] = None,
) -> Response:
    closes = datetime.now(UTC) + timedelta(hours=hours)
    return _act(
        request, ctx, viewer, artifact_id,
        lambda: decisions.open_vote(ctx, viewer, artifact_id, method, closes, quorum),
        "The vote is open.", {"method": method, "hours": hours, "quorum": quorum},
    )  # fmt: skip


@router.post("/decisions/{decision_id}/ballots", dependencies=[Csrf])
@redisplayed_by(artifact_form_page)
def ballot(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    decision_id: Id,
    choice: ShortField,
    reason: ShortField = "",
) -> Response:
    decision = decisions.get(ctx, decision_id)
    return _act(
        request, ctx, viewer, decision.artifact_id,
        lambda: decisions.vote(ctx, viewer, decision_id, choice, reason),
        f"You voted {choice}.", {"reason": reason},
    )  # fmt: skip


@router.post("/decisions/{decision_id}/outcome", dependencies=[Csrf])
@redisplayed_by(artifact_form_page)
def outcome(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    decision_id: Id,
    outcome: TextField,
    review_on: ShortField = "",
) -> Response:
    decision = decisions.get(ctx, decision_id)

    def record() -> None:
        review = _when(review_on, "The review date") if review_on else None
        decisions.record_outcome(ctx, viewer, decision_id, outcome, review)

    typed = {"outcome": outcome, "review_on": review_on}
    return _act(request, ctx, viewer, decision.artifact_id, record, "Outcome recorded.", typed)


@router.get("/artifacts/{artifact_id}/edit")
def edit_form(request: Request, ctx: CtxDep, viewer: Member, artifact_id: Id) -> Response:
    template, context = artifact_edit_page(request, ctx, viewer, {})
    return render(request, template, **context)


@router.post("/artifacts/{artifact_id}/edit", dependencies=[Csrf])
@redisplayed_by(artifact_edit_page)
def edit(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    artifact_id: Id,
    base_revision: FormId,
    title: ShortField,
    body: TextField = "",
    message: ShortField = "",
    with_images: Checkbox = "",
    keep: Annotated[list[int] | None, Form(max_length=media.MAX_PER_POST * 2)] = None,
    sensitive_media: Checkbox = "",
    media1: ImageField = None,
    media2: ImageField = None,
    media3: ImageField = None,
    media4: ImageField = None,
    alt1: AltField = "",
    alt2: AltField = "",
    alt3: AltField = "",
    alt4: AltField = "",
) -> Response:
    """Save; a stale base is merged, a conflict shows both versions to reconcile
    (the editor's text stays in the form, and the new base is the current revision).
    With the image part of the form (``with_images``), the images kept and the new
    uploads are what the revision shows."""
    artifact = artifacts.get(ctx, artifact_id)
    alts = (alt1, alt2, alt3, alt4)
    typed = {"title": title, "body": body, "message": message, "base_revision": base_revision}
    typed |= {"sensitive_media": sensitive_media, **dict(zip(ALTS, alts, strict=True))}
    try:
        images, folded = None, None
        if with_images == "yes":
            uploads = (media1, media2, media3, media4)
            images = list(keep or []) + upload_chosen(request, ctx, viewer, uploads, alts)
            folded = sensitive_media == "yes"
        result = artifacts.revise(
            ctx, viewer, artifact_id, base_revision, body, title, message,
            media_ids=images, sensitive_media=folded,
        )  # fmt: skip
    except MergeConflict as exc:
        ctx.db.rollback()
        typed["base_revision"] = exc.detail["current_revision"]
        context = _edit_context(ctx, artifact, typed, conflict=exc.detail)
        return render(request, "artifact_edit.html", status=409, **context)
    except DomainError as exc:
        ctx.db.rollback()
        context = _edit_context(ctx, artifact, typed, error=exc.detail)
        return render(request, "artifact_edit.html", status=exc.status, **context)
    number = result.revision.number if result.revision else 0
    notes = {
        "applied": f"Saved as revision {number}.",
        "merged": f"Someone saved meanwhile; your edit was merged as revision {number}.",
        "unchanged": "Nothing changed.",
        "proposed": "Sent to the artifact's home instance; it shows here once applied.",
    }
    return redirect(request, f"/artifacts/{artifact_id}", flash=notes[result.outcome])


@router.get("/artifacts/{artifact_id}/history")
def history(
    request: Request,
    ctx: CtxDep,
    viewer: Viewer,
    artifact_id: Id,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    artifact = artifacts.get(ctx, artifact_id)
    revs = artifacts.revisions(ctx, artifact, before=before, limit=101)
    return render(
        request,
        "artifact_history.html",
        artifact=artifact,
        revisions=revs[:100],
        images=artifacts.image_changes(ctx, revs[:100]),
        next_before=revs[99].id if len(revs) > 100 else None,
        people=_people(ctx, {r.author_id for r in revs}),
    )


@router.get("/artifacts/{artifact_id}/diff")
def diff_page(
    request: Request,
    ctx: CtxDep,
    viewer: Viewer,
    artifact_id: Id,
    from_: Annotated[int, Query(alias="from", ge=1, le=MAX_ID)],
    to: Annotated[int, Query(ge=1, le=MAX_ID)],
) -> Response:
    artifact = artifacts.get(ctx, artifact_id)
    d = artifacts.diff(ctx, artifact, from_, to)
    return render(
        request, "artifact_diff.html", artifact=artifact, diff=d, stats=diff_stats(d["body"])
    )


@router.post("/artifacts/{artifact_id}/revert", dependencies=[Csrf])
def revert(
    request: Request, ctx: CtxDep, viewer: Member, artifact_id: Id, revision: FormId
) -> Response:
    return _act(
        request, ctx, viewer, artifact_id,
        lambda: artifacts.revert(ctx, viewer, artifact_id, revision),
        "Reverted (as a new revision).",
    )  # fmt: skip
