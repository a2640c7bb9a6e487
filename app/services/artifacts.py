"""Shared-reality artifacts: problems, ideas, solutions, visions, assumptions,
decisions and lessons that a community builds together.

Every edit is an immutable revision (parent, author, message, time, sha256).
An edit names the revision it started from; if someone saved in between, the
two edits are merged line by line when they touch different lines, and the
editor gets both versions to reconcile when they do not. Nothing is silently
overwritten. Stage changes ("the idea trip") are recorded with who, when, why.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import delete
from sqlmodel import col, func, select

from app.db import get_or_raise, hold, lock_row
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.infra import events
from app.models import (
    MAX_ID,
    Account,
    Artifact,
    ArtifactLink,
    ArtifactRevision,
    ArtifactTag,
    ArtifactTransition,
    Community,
    Decision,
    MediaFile,
    get_row,
    pending_uri,
    utcnow,
)
from app.services import Ctx, communities, media, posts
from app.services.textmerge import attribute, merge3, word_diff
from app.text import normalize_tag, render_markdown

KINDS = ("problem", "idea", "solution", "vision", "assumption", "decision", "lesson")
STAGES = ("draft", "open", "proposed", "adopted", "implemented", "reviewed")
SIDE_STAGES = ("archived", "superseded")
LINK_KINDS = ("addresses", "builds-on", "contradicts", "supersedes", "evidence-for")
MAX_TITLE = 200
MAX_BODY = 100_000
MAX_MESSAGE = 500
MAX_TAGS = 10

# Who may move an artifact from one stage to another: any active "member", its
# "author", or a community "moderator" (moderators may make every listed move).
TRANSITIONS: dict[tuple[str, str], str] = {
    ("draft", "open"): "author",
    ("open", "draft"): "author",
    ("open", "proposed"): "member",
    ("proposed", "open"): "author",
    ("proposed", "adopted"): "moderator",
    ("adopted", "implemented"): "moderator",
    ("implemented", "reviewed"): "moderator",
    ("reviewed", "open"): "moderator",
}
for _stage in STAGES:
    TRANSITIONS[(_stage, "archived")] = "author"
    TRANSITIONS[(_stage, "superseded")] = "moderator"
TRANSITIONS[("archived", "open")] = "moderator"


def artifact_url(ctx: Ctx, artifact: Artifact) -> str:
    return f"{ctx.base_url}/artifacts/{artifact.id}"


def content_hash(title: str, body: str) -> str:
    """What a revision's sha256 covers: its title and body, as UTF-8."""
    return hashlib.sha256(f"{title}\n\n{body}".encode()).hexdigest()


def _validate(title: str, body: str, kind: str | None = None) -> tuple[str, str]:
    if kind is not None and kind not in KINDS:
        raise Invalid(f"Kind must be one of: {', '.join(KINDS)}.", code="invalid_kind")
    title = (title or "").strip()
    if not title or len(title) > MAX_TITLE:
        raise Invalid(f"A title is 1–{MAX_TITLE} characters.", code="invalid_title")
    if not isinstance(body, str) or len(body) > MAX_BODY:
        raise Invalid(f"The text is at most {MAX_BODY:,} characters.", code="body_too_long")
    return title, body.replace("\r\n", "\n")


def _tags(tags: list[str] | None) -> list[str]:
    out = []
    for tag in tags or []:
        tag = normalize_tag(str(tag).strip().lstrip("#"))
        if not tag:
            continue
        if len(tag) > 100 or not tag.replace("_", "").replace("-", "").isalnum():
            raise Invalid(f"“{tag[:40]}” is not a tag (letters, digits, - and _).", code="bad_tag")
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise Invalid(f"At most {MAX_TAGS} tags.", code="too_many_tags")
    return out


def _require_contributor(ctx: Ctx, account: Account, community: Community) -> None:
    if not communities.is_active_member(ctx, account, community):
        raise Forbidden(
            f"Join “{community.display_title}” to work on its artifacts.", code="not_a_member"
        )


def get(ctx: Ctx, artifact_id: int) -> Artifact:
    artifact = get_row(ctx.db, Artifact, artifact_id)
    if artifact is None:
        raise NotFound("No such artifact.", code="artifact_not_found")
    return artifact


def lock_for_change(ctx: Ctx, artifact_id: int) -> Artifact:
    """The artifact, held until the transaction ends, for a read-decide-write
    (an edit, a revert, a stage move, a decision's outcome): concurrent changes
    then run one after the other, each seeing what the one before it saved, as
    if they had been sequential. PostgreSQL holds the row (``FOR UPDATE``); on
    SQLite the write lock every writing transaction takes already serialises.
    The copy in the session is refreshed from the database, not trusted."""
    valid_id = isinstance(artifact_id, int) and not isinstance(artifact_id, bool)
    if not valid_id or not 0 < artifact_id <= MAX_ID:
        raise NotFound("No such artifact.", code="artifact_not_found")
    artifact = lock_row(ctx.db, Artifact, artifact_id)
    if artifact is None:
        raise NotFound("No such artifact.", code="artifact_not_found")
    return artifact


def find_by_uri(ctx: Ctx, uri: str) -> Artifact | None:
    return ctx.db.exec(select(Artifact).where(col(Artifact.uri) == uri)).first()


def community_of(ctx: Ctx, artifact: Artifact) -> Community:
    return get_or_raise(ctx.db, Community, artifact.community_id)


def tags_of(ctx: Ctx, artifact: Artifact) -> list[str]:
    return tags_for(ctx, [artifact.id]).get(artifact.id, [])


def tags_for(ctx: Ctx, artifact_ids: list[int]) -> dict[int, list[str]]:
    """Tags of many artifacts in one query (lists must not cost a query each);
    artifacts without tags are left out."""
    out: dict[int, list[str]] = {}
    if not artifact_ids:
        return out
    for artifact_id, tag in ctx.db.exec(
        select(col(ArtifactTag.artifact_id), col(ArtifactTag.tag))
        .where(col(ArtifactTag.artifact_id).in_(set(artifact_ids)))
        .order_by(col(ArtifactTag.artifact_id), col(ArtifactTag.tag))
    ):
        out.setdefault(artifact_id, []).append(tag)
    return out


def _add_revision(
    ctx: Ctx,
    artifact: Artifact,
    author: Account,
    title: str,
    body: str,
    message: str,
    change: str,
    *,
    parent_id: int | None,
    remote_uri: str | None = None,
    images: list[MediaFile] | None = None,
    sensitive: bool | None = None,
) -> ArtifactRevision:
    """The next revision; it shows ``images`` (None: what its parent showed)."""
    if images is None:
        images = media.revision_media(ctx, [parent_id]).get(parent_id, []) if parent_id else []
    revision = ArtifactRevision(
        artifact_id=artifact.id,
        parent_id=parent_id,
        author_id=author.id,
        number=artifact.revision_count + 1,
        title=title,
        body=body,
        message=(message or "").strip()[:MAX_MESSAGE],
        sha256=content_hash(title, body),
        change=change,
        remote_uri=remote_uri,
    )
    ctx.db.add(revision)
    ctx.db.flush()
    media.set_revision_media(ctx, artifact, revision, images, sensitive=sensitive)
    artifact.title, artifact.body = title, body
    artifact.html = render_markdown(body, base_url=ctx.base_url).html
    artifact.current_revision_id = revision.id
    artifact.revision_count = revision.number
    artifact.updated_at = utcnow()
    ctx.db.add(artifact)
    return revision


def create(
    ctx: Ctx,
    author: Account,
    community: str | Community,
    kind: str,
    title: str,
    body: str,
    tags: list[str] | None = None,
    *,
    message: str = "",
    summary: str | None = None,
    sensitive: bool = False,
    media_ids: list[int] | None = None,
    sensitive_media: bool = False,
) -> Artifact:
    """A new artifact in a community; ``summary``/``sensitive`` put its text
    behind a content warning, as for posts, and ``media_ids`` (the author's
    uploads, at most four) are its first revision's images, sensitive as a
    post's are (``sensitive_media``, or ``sensitive`` read as Mastodon does)."""
    target = communities.get(ctx, community) if isinstance(community, str) else community
    title, body = _validate(title, body, kind)
    images = media.list_for_attaching(ctx, author, media_ids or [], what="An artifact")
    warned, folded = media.sensitivity(summary, sensitive, has_media=bool(images))
    warning = posts.own_warning(summary, warned)
    tag_list = _tags(tags)
    _require_contributor(ctx, author, target)
    artifact = Artifact(
        uri=pending_uri(),
        community_id=target.id,
        author_id=author.id,
        kind=kind,
        title=title,
        content_warning=warning,
    )
    ctx.db.add(artifact)
    ctx.db.flush()
    artifact.uri = artifact_url(ctx, artifact)
    for tag in tag_list:
        ctx.db.add(ArtifactTag(artifact_id=artifact.id, tag=tag))
    _add_revision(
        ctx, artifact, author, title, body, message or "Created", "create", parent_id=None,
        images=images, sensitive=folded or sensitive_media,
    )  # fmt: skip
    events.emit(ctx, "artifact.created", artifact=artifact)
    return artifact


class MergeConflict(Conflict):
    """The edit's base is stale and the lines it changed were changed meanwhile."""

    code = "merge_conflict"

    def __init__(self, detail: dict) -> None:
        super().__init__("Someone changed the same lines meanwhile.", code="merge_conflict")
        self.detail = detail


@dataclass
class RevisionResult:
    revision: ArtifactRevision | None  # None when proposed to another instance
    outcome: str  # "applied" | "merged" | "unchanged" | "proposed"


def revise(
    ctx: Ctx,
    editor: Account,
    artifact_id: int,
    base_revision: int,
    body: str,
    title: str | None = None,
    message: str = "",
    *,
    remote_uri: str | None = None,
    media_ids: list[int] | None = None,
    sensitive_media: bool | None = None,
) -> RevisionResult:
    """Save an edit made on top of ``base_revision``. A stale base is merged with
    what was saved since when the changes are on different lines; otherwise
    :class:`MergeConflict` carries both versions and nothing is saved.
    ``media_ids`` (None: unchanged) are the images the edit shows: the artifact's
    own or the editor's uploads; against a stale base, the images the edit added
    and removed are applied to the current ones. ``sensitive_media`` (None:
    unchanged) marks them all."""
    artifact = lock_for_change(ctx, artifact_id)
    community = community_of(ctx, artifact)
    if community.domain and editor.is_local:  # its home decides; we send the edit there
        if media_ids or sensitive_media:
            raise Invalid(
                "Images are put on an artifact on its home instance.", code="media_on_copy"
            )
        propose(ctx, editor, artifact, base_revision, body, title, message)
        return RevisionResult(None, "proposed")
    _require_contributor(ctx, editor, community)
    base = get_row(ctx.db, ArtifactRevision, base_revision)
    if base is None or base.artifact_id != artifact.id:
        raise Invalid("That base revision is not one of this artifact's.", code="unknown_base")
    title, body = _validate(title if title is not None else base.title, body)
    current = get_or_raise(ctx.db, ArtifactRevision, artifact.current_revision_id)
    outcome = "applied"
    if base.id != current.id:
        merged_body = merge3(base.body, body, current.body)
        merged_title = merge3(base.title, title, current.title)
        if merged_body.text is None or merged_title.text is None:  # not clean: conflicts
            raise MergeConflict(
                {
                    "base_revision": base.id,
                    "current_revision": current.id,
                    "current_number": current.number,  # what people call it
                    "current": {"title": current.title, "body": current.body},
                    "yours": {"title": title, "body": body},
                    "conflicts": [
                        {"base": c.base, "yours": c.mine, "current": c.theirs}
                        for c in merged_title.conflicts + merged_body.conflicts
                    ],
                }
            )
        title, body, outcome = merged_title.text, merged_body.text, "merged"
    images = _images_for(ctx, editor, artifact, base, current, media_ids)
    shown = media.revision_media(ctx, [current.id]).get(current.id, [])
    same_images = [m.id for m in images] == [m.id for m in shown] and (
        sensitive_media is None or all(m.sensitive == sensitive_media for m in shown)
    )
    if title == current.title and body == current.body and same_images:
        return RevisionResult(current, "unchanged")
    change = "merge" if outcome == "merged" else "edit"
    revision = _add_revision(
        ctx, artifact, editor, title, body, message, change, parent_id=current.id,
        remote_uri=remote_uri, images=images, sensitive=sensitive_media,
    )  # fmt: skip
    events.emit(ctx, "artifact.revised", artifact=artifact, revision=revision)
    return RevisionResult(revision, outcome)


def _images_for(
    ctx: Ctx,
    editor: Account,
    artifact: Artifact,
    base: ArtifactRevision,
    current: ArtifactRevision,
    media_ids: list[int] | None,
) -> list[MediaFile]:
    """What an edit's revision shows: the current images when it names none, else
    the ones it names, with its additions and removals against a stale base applied
    to the current ones (as the merge does with lines)."""
    shown = media.revision_media(ctx, [base.id, current.id])
    now = shown.get(current.id, [])
    if media_ids is None:
        return now
    mine = media.for_revision(ctx, editor, artifact, media_ids)
    if base.id == current.id:
        return mine
    before = {m.id for m in shown.get(base.id, [])}
    wanted = {m.id for m in mine}
    kept = [m for m in now if m.id not in before - wanted]
    merged = kept + [m for m in mine if m.id not in before | {k.id for k in kept}]
    if len(merged) > media.MAX_PER_POST:
        raise Invalid(
            f"An artifact carries at most {media.MAX_PER_POST} images; with the images "
            "added meanwhile this edit would make more.",
            code="too_many_media",
        )
    return merged


def image_changes(
    ctx: Ctx, revisions: list[ArtifactRevision]
) -> dict[int, tuple[list[MediaFile], list[MediaFile], list[MediaFile]]]:
    """For each revision: the images it shows, those it added and those it took
    off (against its parent), in one query, so the history says who did what."""
    ids = {r.id for r in revisions} | {r.parent_id for r in revisions if r.parent_id}
    shown = media.revision_media(ctx, list(ids))
    out = {}
    for r in revisions:
        mine = shown.get(r.id, [])
        parent = shown.get(r.parent_id, []) if r.parent_id else []
        before, after = {m.id for m in parent}, {m.id for m in mine}
        out[r.id] = (
            mine,
            [m for m in mine if m.id not in before],
            [m for m in parent if m.id not in after],
        )
    return out


def revert(
    ctx: Ctx, editor: Account, artifact_id: int, to_revision: int, message: str = ""
) -> ArtifactRevision:
    """Bring back an earlier revision's text, as a new revision (history stays whole)."""
    artifact = lock_for_change(ctx, artifact_id)
    _require_contributor(ctx, editor, community_of(ctx, artifact))
    old = get_row(ctx.db, ArtifactRevision, to_revision)
    if old is None or old.artifact_id != artifact.id:
        raise Invalid("That revision is not one of this artifact's.", code="unknown_revision")
    revision = _add_revision(
        ctx, artifact, editor, old.title, old.body, message or f"Reverted to revision {old.number}",
        "revert", parent_id=artifact.current_revision_id,
        images=media.revision_media(ctx, [old.id]).get(old.id, []),
    )  # fmt: skip
    events.emit(ctx, "artifact.revised", artifact=artifact, revision=revision)
    return revision


def append_outcome(
    ctx: Ctx, actor: Account, artifact: Artifact, outcome: str, review_at: datetime | None
) -> ArtifactRevision:
    """A decision's outcome (and review date) becomes part of the artifact's text and history."""
    artifact = lock_for_change(ctx, artifact.id)
    when = f"\n\nReview on {review_at.date().isoformat()}." if review_at else ""
    body = f"{artifact.body.rstrip()}\n\n## Outcome\n\n{outcome.strip()}{when}\n"
    artifact.review_at = review_at
    revision = _add_revision(
        ctx, artifact, actor, artifact.title, body[:MAX_BODY], "Decision outcome", "outcome",
        parent_id=artifact.current_revision_id,
    )  # fmt: skip
    events.emit(ctx, "artifact.revised", artifact=artifact, revision=revision)
    return revision


def revisions(
    ctx: Ctx, artifact: Artifact, *, before: int | None = None, limit: int = 50
) -> list[ArtifactRevision]:
    """Newest first, keyset-paginated by revision id."""
    q = select(ArtifactRevision).where(col(ArtifactRevision.artifact_id) == artifact.id)
    if before:
        q = q.where(col(ArtifactRevision.id) < before)
    return list(ctx.db.exec(q.order_by(col(ArtifactRevision.id).desc()).limit(limit)))


def revision(ctx: Ctx, artifact: Artifact, revision_id: int) -> ArtifactRevision:
    found = get_row(ctx.db, ArtifactRevision, revision_id)
    if found is None or found.artifact_id != artifact.id:
        raise NotFound("No such revision of this artifact.", code="revision_not_found")
    return found


def diff(ctx: Ctx, artifact: Artifact, from_id: int, to_id: int) -> dict:
    old, new = revision(ctx, artifact, from_id), revision(ctx, artifact, to_id)
    return {
        "from": old,
        "to": new,
        "title": word_diff(old.title, new.title),
        "body": word_diff(old.body, new.body),
    }


@lru_cache(maxsize=256)
def _shares(artifact_id: int, current_revision_id: int, texts: tuple) -> dict[int, int]:
    return attribute(list(texts))


def contributors(ctx: Ctx, artifact: Artifact, *, window: int = 300) -> list[tuple[Account, float]]:
    """Who wrote the current text, by share of its words (the last ``window``
    revisions are walked; earlier text is credited to the oldest author in it)."""
    rows = ctx.db.exec(
        select(col(ArtifactRevision.author_id), col(ArtifactRevision.body))
        .where(col(ArtifactRevision.artifact_id) == artifact.id)
        .order_by(col(ArtifactRevision.id).desc())
        .limit(window)
    ).all()
    counts = _shares(artifact.id, artifact.current_revision_id or 0, tuple(reversed(rows)))
    total = sum(counts.values()) or 1
    people = {
        a.id: a
        for a in ctx.db.exec(select(Account).where(col(Account.id).in_(list(counts) or [0])))
    }
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    return [(people[i], n / total) for i, n in ranked if i in people]


def transition(
    ctx: Ctx,
    actor: Account,
    artifact_id: int,
    to_stage: str,
    reason: str = "",
    *,
    decision: Decision | None = None,
) -> ArtifactTransition:
    """Every stage change, by hand or by a vote (``decision``, an adopting vote on
    this artifact, stands in for a moderator's say-so on that one move)."""
    artifact = lock_for_change(ctx, artifact_id)
    community = community_of(ctx, artifact)
    if to_stage not in STAGES + SIDE_STAGES:
        raise Invalid(f"Stage must be one of: {', '.join(STAGES + SIDE_STAGES)}.", code="bad_stage")
    needed = TRANSITIONS.get((artifact.stage, to_stage))
    if needed is None:
        raise Invalid(
            f"An artifact can't go from “{artifact.stage}” to “{to_stage}”.", code="bad_transition"
        )
    allowed = communities.can_moderate(ctx, actor, community) or (
        communities.is_active_member(ctx, actor, community)
        and (needed == "member" or (needed == "author" and artifact.author_id == actor.id))
    )
    if decision is not None and decision.artifact_id == artifact.id:  # the vote decided it
        allowed = allowed or (decision.state == "adopted" and to_stage == "adopted")
    if not allowed:
        who = {"author": "its author or a moderator", "moderator": "a moderator"}.get(needed)
        raise Forbidden(f"Only {who} can move it to “{to_stage}”.", code="transition_not_allowed")
    record = ArtifactTransition(
        artifact_id=artifact.id,
        from_stage=artifact.stage,
        to_stage=to_stage,
        actor_id=actor.id,
        reason=(reason or "").strip()[:1000],
    )
    artifact.stage = to_stage
    artifact.updated_at = utcnow()
    ctx.db.add(record)
    ctx.db.add(artifact)
    events.emit(ctx, "artifact.staged", artifact=artifact, transition=record)
    return record


def transitions(ctx: Ctx, artifact: Artifact) -> list[ArtifactTransition]:
    return list(
        ctx.db.exec(
            select(ArtifactTransition)
            .where(col(ArtifactTransition.artifact_id) == artifact.id)
            .order_by(col(ArtifactTransition.id))
        )
    )


def link(ctx: Ctx, actor: Account, source_id: int, target_id: int, kind: str) -> ArtifactLink:
    source, target = get(ctx, source_id), get(ctx, target_id)
    if kind not in LINK_KINDS:
        raise Invalid(f"Link kind must be one of: {', '.join(LINK_KINDS)}.", code="bad_link")
    if source.id == target.id:
        raise Invalid("An artifact can't link to itself.", code="self_link")
    _require_contributor(ctx, actor, community_of(ctx, source))
    hold(ctx.db, f"artifact-link:{source.id}:{target.id}:{kind}")  # the same link, twice at once
    existing = ctx.db.exec(
        select(ArtifactLink).where(
            col(ArtifactLink.source_id) == source.id,
            col(ArtifactLink.target_id) == target.id,
            col(ArtifactLink.kind) == kind,
        )
    ).first()
    if existing is not None:
        return existing
    edge = ArtifactLink(source_id=source.id, target_id=target.id, kind=kind, author_id=actor.id)
    ctx.db.add(edge)
    ctx.db.flush()
    return edge


def unlink(ctx: Ctx, actor: Account, link_id: int) -> None:
    edge = get_row(ctx.db, ArtifactLink, link_id)
    if edge is None:
        raise NotFound("No such link.", code="link_not_found")
    source = get(ctx, edge.source_id)
    community = community_of(ctx, source)
    if edge.author_id != actor.id and not communities.can_moderate(ctx, actor, community):
        raise Forbidden("Only who made the link or a moderator removes it.", code="not_allowed")
    ctx.db.delete(edge)


def links_of(ctx: Ctx, artifact: Artifact) -> dict[str, list[tuple[ArtifactLink, Artifact]]]:
    """Outgoing links and backlinks, each with the artifact at the other end."""
    out = ctx.db.exec(
        select(ArtifactLink, Artifact)
        .join(Artifact, col(Artifact.id) == col(ArtifactLink.target_id))
        .where(col(ArtifactLink.source_id) == artifact.id)
    ).all()
    back = ctx.db.exec(
        select(ArtifactLink, Artifact)
        .join(Artifact, col(Artifact.id) == col(ArtifactLink.source_id))
        .where(col(ArtifactLink.target_id) == artifact.id)
    ).all()
    return {"outgoing": list(out), "backlinks": list(back)}


def in_community(
    ctx: Ctx,
    community: Community,
    *,
    kind: str | None = None,
    stage: str | None = None,
    limit: int = 200,
) -> list[Artifact]:
    q = select(Artifact).where(col(Artifact.community_id) == community.id)
    if kind:
        q = q.where(col(Artifact.kind) == kind)
    if stage:
        q = q.where(col(Artifact.stage) == stage)
    return list(
        ctx.db.exec(
            q.order_by(col(Artifact.updated_at).desc(), col(Artifact.id).desc()).limit(limit)
        )
    )


def graph(ctx: Ctx, community: Community) -> tuple[list[Artifact], list[ArtifactLink]]:
    nodes = in_community(ctx, community, limit=500)
    ids = [a.id for a in nodes] or [0]
    edges = ctx.db.exec(
        select(ArtifactLink).where(
            col(ArtifactLink.source_id).in_(ids), col(ArtifactLink.target_id).in_(ids)
        )
    ).all()
    return nodes, list(edges)


def due_for_review(ctx: Ctx, community: Community) -> list[Artifact]:
    return list(
        ctx.db.exec(
            select(Artifact).where(
                col(Artifact.community_id) == community.id,
                col(Artifact.review_at).is_not(None),
                col(Artifact.review_at) <= utcnow(),
                col(Artifact.stage).not_in(("reviewed", "archived", "superseded")),
            )
        )
    )


def export(ctx: Ctx, artifact: Artifact) -> tuple[str, dict]:
    """The artifact with its whole history, as Markdown and as JSON."""
    revs = list(reversed(revisions(ctx, artifact, limit=100_000)))
    authors = {
        a.id: a
        for a in ctx.db.exec(
            select(Account).where(col(Account.id).in_({r.author_id for r in revs} or {0}))
        )
    }

    def handle(account_id: int) -> str:
        a = authors[account_id]
        return f"@{a.username}@{a.domain or ctx.settings.domain}"

    data = {
        "id": artifact.uri,
        "kind": artifact.kind,
        "stage": artifact.stage,
        "title": artifact.title,
        "tags": tags_of(ctx, artifact),
        "body": artifact.body,
        "review_at": artifact.review_at.isoformat() if artifact.review_at else None,
        "revisions": [
            {
                "id": r.id,
                "number": r.number,
                "parent": r.parent_id,
                "author": handle(r.author_id),
                "message": r.message,
                "change": r.change,
                "created_at": r.created_at.isoformat(),
                "sha256": r.sha256,
                "title": r.title,
                "body": r.body,
            }
            for r in revs
        ],
        "transitions": [
            {
                "from": t.from_stage,
                "to": t.to_stage,
                "by": handle(t.actor_id) if t.actor_id in authors else t.actor_id,
                "reason": t.reason,
                "at": t.created_at.isoformat(),
            }
            for t in transitions(ctx, artifact)
        ],
    }
    lines = [f"# {artifact.title}", "", f"*{artifact.kind}, {artifact.stage}*", "", artifact.body]
    lines += ["", "## History", ""]
    for r in reversed(revs):
        lines.append(
            f"- r{r.number} {r.created_at.date().isoformat()} {handle(r.author_id)}: "
            f"{r.message or r.change} (sha256 {r.sha256[:12]})"
        )
    return "\n".join(lines) + "\n", json.loads(json.dumps(data))


def counts(ctx: Ctx, artifact_ids: list[int]) -> dict[int, int]:
    """Distinct contributors per artifact."""
    if not artifact_ids:
        return {}
    rows = ctx.db.exec(
        select(
            col(ArtifactRevision.artifact_id),
            func.count(func.distinct(col(ArtifactRevision.author_id))),
        )
        .where(col(ArtifactRevision.artifact_id).in_(artifact_ids))
        .group_by(col(ArtifactRevision.artifact_id))
    )
    return dict(rows.all())


def revision_uri(artifact: Artifact, revision: ArtifactRevision) -> str:
    """A revision's id across instances: the one its home gave it, or ours."""
    return revision.remote_uri or f"{artifact.uri}/revisions/{revision.id}"


def propose(
    ctx: Ctx,
    editor: Account,
    artifact: Artifact,
    base_revision: int,
    body: str,
    title: str | None,
    message: str,
) -> dict:
    """An edit of an artifact that lives on another instance: it is sent to its home,
    which applies it under the same merge rules and federates the result back."""
    community = community_of(ctx, artifact)
    _require_contributor(ctx, editor, community)
    base = get_row(ctx.db, ArtifactRevision, base_revision)
    if base is None or base.artifact_id != artifact.id:
        raise Invalid("That base revision is not one of this artifact's.", code="unknown_base")
    title, body = _validate(title if title is not None else base.title, body)
    proposal = {
        "artifact": artifact,
        "editor": editor,
        "base": revision_uri(artifact, base),
        "title": title,
        "body": body,
        "message": (message or "").strip()[:MAX_MESSAGE],
    }
    events.emit(ctx, "artifact.proposed", **proposal)
    return proposal


def store_remote(
    ctx: Ctx,
    *,
    uri: str,
    community: Community,
    author: Account,
    kind: str,
    stage: str,
    title: str,
    body: str,
    tags: list[str],
    revision_id: str,
    revision_author: Account,
    url: str | None = None,
    warning: str | None = None,
    attachments: list[dict] | tuple[dict, ...] = (),
    sensitive: bool = False,
) -> Artifact:
    """Insert or refresh our copy of an artifact whose home is another instance;
    each new revision it reports becomes a revision of the copy, attributed.
    ``warning`` is its content warning (AS2 summary of a sensitive Page);
    ``attachments`` its media links, as a remote post's (``sensitive``: the
    Page's flag), which federation/media.py fetches and caches."""
    if kind not in KINDS:
        raise Invalid("Unknown artifact kind.", code="invalid_kind")
    if stage not in STAGES + SIDE_STAGES:
        raise Invalid("Unknown stage.", code="bad_stage")
    title, body = _validate(title, body)
    artifact = find_by_uri(ctx, uri)
    if artifact is None:
        artifact = Artifact(
            uri=uri, community_id=community.id, author_id=author.id, kind=kind, title=title,
            url=url,
        )  # fmt: skip
        ctx.db.add(artifact)
        ctx.db.flush()
    elif artifact.community_id != community.id:
        raise Forbidden("That artifact belongs to another community.", code="wrong_community")
    else:
        artifact = lock_for_change(ctx, artifact.id)
    artifact.stage, artifact.kind = stage, kind
    artifact.content_warning = posts.content_warning(warning, False)
    links = posts.attachments_json(attachments)
    folded = media.sensitivity(warning, sensitive, has_media=links is not None)[1]
    artifact.attachments = posts.attachments_json(attachments, sensitive=folded)
    known = ctx.db.exec(
        select(col(ArtifactRevision.id)).where(col(ArtifactRevision.remote_uri) == revision_id)
    ).first()
    if known is None and (
        artifact.current_revision_id is None or (title, body) != (artifact.title, artifact.body)
    ):
        revision = _add_revision(
            ctx, artifact, revision_author, title, body, "", "edit",
            parent_id=artifact.current_revision_id, remote_uri=revision_id,
        )  # fmt: skip
        events.emit(ctx, "artifact.revised", artifact=artifact, revision=revision)
    ctx.db.execute(delete(ArtifactTag).where(col(ArtifactTag.artifact_id) == artifact.id))
    for tag in _tags(tags[:MAX_TAGS]):
        ctx.db.add(ArtifactTag(artifact_id=artifact.id, tag=tag))
    ctx.db.add(artifact)
    return artifact
