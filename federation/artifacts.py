"""Artifacts over ActivityPub (see docs/artifacts.md#federation).

An artifact belongs to its community, so the community's Group publishes it: a
``Page`` (Mastodon shows a card) with ``name``, ``summary``, ``content``, ``url``
and our extension terms (``artifactKind``, ``stage``, ``revision``,
``revisionCount``, ``contributors``, ``artifactLinks``, ``statements``).
``Create`` when it is made, ``Update`` (with ``updated``) on every revision,
stage change and new statement, sent to the Group's remote followers.

Members elsewhere take part by sending to the Group's inbox:
- a ``Create`` of a ``Revision`` (``target`` the artifact, ``baseRevision``,
  ``name``, ``source``, ``summary`` = message): the home applies it under the
  same merge rules, attributed to them, and federates the ``Update``;
- a ``Create`` of a ``Statement`` (``target``, ``content``);
- ``Like`` / ``Dislike`` / ``Ignore`` with ``stance`` on the artifact or a statement.
"""

from __future__ import annotations

import uuid

from sqlmodel import col, select

from app.db import get_or_raise
from app.errors import DomainError
from app.infra import events
from app.models import Account, Artifact, ArtifactRevision, Community, Stance, Statement
from app.services import Ctx, artifacts, follows, media, stances
from app.services.artifacts import MergeConflict
from app.text import plain_text
from federation import handlers, objects, outbound, remote, vocab
from federation import media as remote_media
from federation.vocab import AS_PUBLIC

STANCE_ACTIVITY = {"agree": "Like", "disagree": "Dislike", "pass": "Ignore"}


def page(ctx: Ctx, artifact: Artifact) -> dict:
    """The AS2 object of a local artifact."""
    community = artifacts.community_of(ctx, artifact)
    current = get_or_raise(ctx.db, ArtifactRevision, artifact.current_revision_id)
    people = [who.uri for who, _ in artifacts.contributors(ctx, artifact)]
    statement_list = stances.statements(ctx, artifact)
    authors = {
        a.id: a.uri
        for a in ctx.db.exec(
            select(Account).where(col(Account.id).in_({s.author_id for s in statement_list} or {0}))
        )
    }
    links = artifacts.links_of(ctx, artifact)["outgoing"]
    doc = {
        "id": artifact.uri,
        "type": "Page",
        "attributedTo": community.uri,
        "audience": community.uri,
        "to": [AS_PUBLIC],
        "cc": [community.uri, f"{community.uri}/followers"],
        "name": artifact.title,
        "summary": plain_text(artifact.html, 300),
        "content": artifact.html,
        "source": {"content": artifact.body, "mediaType": "text/markdown"},
        "url": artifact.uri,
        "published": artifact.created_at.isoformat(),
        "updated": artifact.updated_at.isoformat(),
        "tag": [
            {"type": "Hashtag", "name": f"#{t}", "href": f"{ctx.base_url}/tags/{t}"}
            for t in artifacts.tags_of(ctx, artifact)
        ],
        "artifactKind": artifact.kind,
        "stage": artifact.stage,
        "revision": artifacts.revision_uri(artifact, current),
        "revisionCount": artifact.revision_count,
        "revisionAuthor": get_or_raise(ctx.db, Account, current.author_id).uri,
        "contributors": people,
        "artifactLinks": [{"rel": e.kind, "href": other.uri} for e, other in links],
        "statements": [
            {
                "id": s.uri,
                "type": "Statement",
                "content": s.text,
                "attributedTo": authors[s.author_id],
            }
            for s in statement_list
        ],
    }
    objects.add_media(ctx, doc, media.of_artifacts(ctx, [artifact]).get(artifact.id, []))
    if artifact.content_warning:  # the summary is then the warning, not an excerpt
        doc["summary"], doc["sensitive"] = artifact.content_warning, True
    elif doc.get("sensitive"):  # only the images are: no excerpt, which reads as a warning
        del doc["summary"]
    return doc


def _publish(ctx: Ctx, artifact: Artifact, kind: str) -> None:
    community = artifacts.community_of(ctx, artifact)
    if community.domain:
        return  # a copy: its home publishes it
    inboxes = outbound.inboxes_of(ctx, [a.uri for a in follows.remote_followers(ctx, community)])
    if not inboxes:
        return
    obj = page(ctx, artifact)
    activity = {
        "id": outbound.activity_id(ctx),
        "type": kind,
        "actor": community.uri,
        "object": obj,
        "to": [AS_PUBLIC],
        "cc": [f"{community.uri}/followers"],
    }
    if kind == "Update":
        activity["updated"] = obj["updated"]
    outbound.publish(ctx, activity, inboxes)


@events.on("artifact.created")
def _created(ctx: Ctx, artifact: Artifact) -> None:
    _publish(ctx, artifact, "Create")


@events.on("artifact.revised")
def _revised(ctx: Ctx, artifact: Artifact, revision: ArtifactRevision) -> None:
    _publish(ctx, artifact, "Update")


@events.on("artifact.staged")
def _staged(ctx: Ctx, artifact: Artifact, transition: object) -> None:
    _publish(ctx, artifact, "Update")


def _home_inbox(ctx: Ctx, artifact: Artifact) -> list[str]:
    community = artifacts.community_of(ctx, artifact)
    inbox = remote.inbox_of(ctx, community.uri)
    return [inbox] if inbox else []


@events.on("statement.created")
def _statement(ctx: Ctx, statement: Statement) -> None:
    artifact = get_or_raise(ctx.db, Artifact, statement.artifact_id)
    community = artifacts.community_of(ctx, artifact)
    author = get_or_raise(ctx.db, Account, statement.author_id)
    if not community.domain:
        _publish(ctx, artifact, "Update")  # followers learn the statement to take stances
    elif author.is_local:
        obj = {
            "id": statement.uri,
            "type": "Statement",
            "attributedTo": author.uri,
            "target": artifact.uri,
            "content": statement.text,
            "to": [AS_PUBLIC],
        }
        create = {
            "id": outbound.activity_id(ctx),
            "type": "Create",
            "actor": author.uri,
            "object": obj,
        }
        outbound.publish(ctx, create, _home_inbox(ctx, artifact))


@events.on("stance.taken")
def _stance(ctx: Ctx, stance: Stance) -> None:
    """A member here took a stance on an artifact that lives elsewhere: tell its home."""
    artifact = get_or_raise(ctx.db, Artifact, stance.artifact_id)
    account = get_or_raise(ctx.db, Account, stance.account_id)
    if not account.is_local or not artifacts.community_of(ctx, artifact).domain:
        return
    target = (
        get_or_raise(ctx.db, Statement, stance.statement_id).uri
        if stance.statement_id
        else artifact.uri
    )
    activity = {
        "id": outbound.activity_id(ctx),
        "type": STANCE_ACTIVITY[stance.stance],
        "actor": account.uri,
        "object": target,
        "stance": stance.stance,
    }
    if stance.reason:
        activity["content"] = stance.reason
    outbound.publish(ctx, activity, _home_inbox(ctx, artifact), public=False)


@events.on("artifact.proposed")
def _proposed(
    ctx: Ctx, artifact: Artifact, editor: Account, base: str, title: str, body: str, message: str
) -> None:
    obj = {
        "id": f"{ctx.base_url}/revision-proposals/{uuid.uuid4().hex}",
        "type": "Revision",
        "attributedTo": editor.uri,
        "target": artifact.uri,
        "baseRevision": base,
        "name": title,
        "source": {"content": body, "mediaType": "text/markdown"},
        "summary": message,
        "to": [AS_PUBLIC],
    }
    create = {"id": outbound.activity_id(ctx), "type": "Create", "actor": editor.uri, "object": obj}
    outbound.publish(ctx, create, _home_inbox(ctx, artifact), public=False)


# --- inbound -----------------------------------------------------------------


def _local_artifact(ctx: Ctx, uri: object) -> Artifact:
    found = artifacts.find_by_uri(ctx, uri) if isinstance(uri, str) else None
    if found is None or artifacts.community_of(ctx, found).domain:
        raise handlers.Ignored("that is not an artifact of this instance")
    return found


@handlers.stores(lambda obj: vocab.is_type(obj, "Revision"))
def _apply_revision(ctx: Ctx, obj: dict, budget: handlers.Budget) -> None:
    """A member elsewhere proposes a revision of one of our artifacts."""
    artifact = _local_artifact(ctx, obj.get("target"))
    editor = handlers.actor_of(ctx, handlers.author_of(obj) or "", budget)
    if not isinstance(editor, Account):
        raise handlers.Ignored("revisions are written by people")
    base_uri = obj.get("baseRevision")
    prefix = f"{artifact.uri}/revisions/"
    if not isinstance(base_uri, str) or not base_uri.startswith(prefix):
        raise handlers.Ignored("the base revision is not one of this artifact's")
    base_id = base_uri[len(prefix) :]
    source = obj.get("source")
    body = source.get("content") if isinstance(source, dict) else None
    if not base_id.isdigit() or not isinstance(body, str):
        raise handlers.Ignored("a revision needs a base revision and its text")
    title = obj.get("name") if isinstance(obj.get("name"), str) else None
    message = obj.get("summary")
    if not isinstance(message, str):
        message = ""
    try:
        artifacts.revise(
            ctx, editor, artifact.id, int(base_id), body, title, message[:500], remote_uri=obj["id"]
        )
    except MergeConflict as exc:
        raise handlers.Ignored("the revision conflicts with edits made meanwhile") from exc


@handlers.stores(lambda obj: vocab.is_type(obj, "Statement"))
def _add_statement(ctx: Ctx, obj: dict, budget: handlers.Budget) -> None:
    artifact = _local_artifact(ctx, obj.get("target"))
    author = handlers.actor_of(ctx, handlers.author_of(obj) or "", budget)
    if not isinstance(author, Account) or not isinstance(obj.get("content"), str):
        raise handlers.Ignored("a statement needs an author and a text")
    if ctx.db.exec(select(col(Statement.id)).where(col(Statement.uri) == obj["id"])).first():
        return
    stances.add_statement(ctx, author, artifact.id, plain_text(obj["content"]), uri=obj["id"])


@handlers.stores(
    lambda obj: vocab.is_type(obj, "Page") and isinstance(obj.get("artifactKind"), str)
)
def _store_copy(ctx: Ctx, obj: dict, budget: handlers.Budget) -> Artifact:
    """A followed community's artifact: keep a copy, with its revisions and statements."""
    community = handlers.actor_of(ctx, vocab.id_of(obj.get("attributedTo")) or "", budget)
    if not isinstance(community, Community) or not community.domain:
        raise handlers.Ignored("artifacts are published by their community")
    contributors = [c for c in obj.get("contributors") or [] if isinstance(c, str)]
    revision_author_uri = (
        obj.get("revisionAuthor") if isinstance(obj.get("revisionAuthor"), str) else None
    )
    author = handlers.actor_of(ctx, (contributors or [revision_author_uri or ""])[0], budget)
    reviser = handlers.actor_of(ctx, revision_author_uri or author.uri, budget)
    if not isinstance(author, Account) or not isinstance(reviser, Account):
        raise handlers.Ignored("artifacts are written and revised by people")
    source = obj.get("source")
    body = source.get("content") if isinstance(source, dict) else None
    if not isinstance(body, str):
        body = ""
    revision_id = obj.get("revision")
    if not isinstance(revision_id, str):
        revision_id = f"{obj['id']}#r"
    try:
        copy = artifacts.store_remote(
            ctx,
            uri=obj["id"],
            community=community,
            author=author,
            kind=obj["artifactKind"],
            stage=str(obj.get("stage", "open")),
            title=str(obj.get("name") or "")[:200],
            body=body,
            tags=handlers._tags(obj),
            revision_id=revision_id,
            revision_author=reviser,
            url=vocab.href_of(obj.get("url")),
            warning=handlers.warning_of(obj),
            attachments=handlers.attachments_of(obj),
            sensitive=obj.get("sensitive") is True,
        )
    except DomainError as exc:
        raise handlers.Ignored(exc.detail) from exc
    remote_media.queue(ctx, copy)  # fetched and cached as a remote post's are
    known = set(
        ctx.db.exec(select(col(Statement.uri)).where(col(Statement.artifact_id) == copy.id)).all()
    )
    for item in vocab.as_list(obj.get("statements")):
        if not isinstance(item, dict) or item.get("id") in known:
            continue
        uri, text, who = item.get("id"), item.get("content"), vocab.id_of(item.get("attributedTo"))
        if not (isinstance(uri, str) and isinstance(text, str) and who):
            continue
        writer = remote.known(ctx, who)
        if not isinstance(writer, Account):
            budget.need(who, "actor")
            continue
        statement = Statement(
            uri=uri, artifact_id=copy.id, author_id=writer.id, text=plain_text(text)[:500]
        )
        ctx.db.add(statement)
    return copy


def _stance_target(ctx: Ctx, activity: dict, actor: Account, kind: str) -> bool:
    """A stance from elsewhere on one of our artifacts or statements."""
    uri = vocab.id_of(activity.get("object")) or ""
    stance = activity.get("stance") if activity.get("stance") in stances.STANCES else None
    stance = (
        stance or {"like": "agree", "agree": "agree", "disagree": "disagree", "pass": "pass"}[kind]
    )
    reason = (
        plain_text(activity["content"])[:1000] if isinstance(activity.get("content"), str) else ""
    )
    statement = ctx.db.exec(select(Statement).where(col(Statement.uri) == uri)).first()
    try:
        if statement is not None:
            _local_artifact(ctx, get_or_raise(ctx.db, Artifact, statement.artifact_id).uri)
            stances.take(ctx, actor, stance, statement_id=statement.id, reason=reason,
                         activity_uri=activity["id"])  # fmt: skip
            return True
        artifact = artifacts.find_by_uri(ctx, uri)
        if artifact is not None:
            _local_artifact(ctx, artifact.uri)
            stances.take(ctx, actor, stance, artifact_id=artifact.id, reason=reason,
                         activity_uri=activity["id"])  # fmt: skip
            return True
    except DomainError as exc:
        raise handlers.Ignored(exc.detail) from exc
    return False


handlers.REACTION_TARGETS.append(_stance_target)
