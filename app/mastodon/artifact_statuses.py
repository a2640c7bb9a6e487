"""Artifacts (problems, ideas, decisions...) and their statements read as statuses
in the Mastodon client API: an artifact's status is its current text, its
``/history`` its attributed revisions, its ``/context`` descendants its
statements (docs/mastodon-api.md, "Artifacts as statuses"). Ids come from
ranges no post's id reaches (app/mastodon/ids.py). Read-only here: they are
written on the pages or with the native API."""

from __future__ import annotations

from html import escape
from typing import Any

from sqlmodel import col, select

from app.errors import NotFound
from app.mastodon import entities, ids
from app.models import Account, Artifact, Statement, get_row
from app.services import Ctx, artifacts, stances
from app.text import render_markdown

Json = dict[str, Any]


def _not_found() -> NotFound:
    return NotFound("No such status.", code="post_not_found")


def _blank(status_id: str, uri: str, url: str, account: Json) -> Json:
    """A status with every field an app reads, empty where these have none."""
    return {
        "id": status_id, "uri": uri, "url": url, "account": account,
        "in_reply_to_id": None, "in_reply_to_account_id": None, "text": None,
        "spoiler_text": "", "sensitive": False, "visibility": "public", "language": None,
        "replies_count": 0, "reblogs_count": 0, "favourites_count": 0, "edited_at": None,
        "favourited": False, "reblogged": False, "muted": False, "bookmarked": False,
        "pinned": False, "reblog": None, "application": None, "media_attachments": [],
        "mentions": [], "tags": [], "emojis": [], "card": None, "poll": None, "filtered": [],
    }  # fmt: skip


def _card(ctx: Ctx, account_id: int) -> Json:
    row = get_row(ctx.db, Account, account_id)
    if row is None:
        raise _not_found()
    return entities.account(ctx, row)


def _stance_part(counts: dict[str, int] | None, mine: str | None) -> Json:
    counts = counts or {}
    return {
        "why": None,
        "stances": {s: counts.get(s, 0) for s in stances.STANCES},
        "my_stance": mine,
    }


def _content(title: str, html: str) -> str:
    return f"<p><strong>{escape(title)}</strong></p>{html.strip()}"


def artifact_status(ctx: Ctx, artifact: Artifact, viewer: Account | None) -> Json:
    sid = ids.artifact_status_id(artifact.id)
    out = _blank(sid, artifact.uri, artifact.url or artifacts.artifact_url(ctx, artifact),
                 _card(ctx, artifact.author_id))  # fmt: skip
    tally = stances.tally(ctx, artifact)
    mine = stances.mine(ctx, viewer, artifact)
    warning = artifact.content_warning or ""
    out.update(
        created_at=entities.when(artifact.created_at),
        edited_at=entities.when(artifact.updated_at) if artifact.revision_count > 1 else None,
        content=_content(artifact.title, artifact.html),
        spoiler_text=warning,
        sensitive=bool(warning),
        replies_count=len(stances.statements(ctx, artifact)),
        tags=[
            {"name": t, "url": f"{ctx.base_url}/tags/{t}"} for t in artifacts.tags_of(ctx, artifact)
        ],
        commonground={
            **_stance_part(tally.get("artifact"), mine.get(f"a:{artifact.id}")),
            "artifact": {"kind": artifact.kind, "stage": artifact.stage},
        },
    )
    return out


def statement_statuses(
    ctx: Ctx, artifact: Artifact, rows: list[Statement], viewer: Account | None
) -> list[Json]:
    """Statements as replies to their artifact's status, in the order given."""
    tally = stances.tally(ctx, artifact)
    mine = stances.mine(ctx, viewer, artifact)
    out = []
    for s in rows:
        status = _blank(ids.statement_status_id(s.id), s.uri, stances.statement_url(ctx, s),
                        _card(ctx, s.author_id))  # fmt: skip
        status.update(
            created_at=entities.when(s.created_at),
            in_reply_to_id=ids.artifact_status_id(artifact.id),
            in_reply_to_account_id=str(artifact.author_id),
            content=f"<p>{escape(s.text)}</p>",
            commonground=_stance_part(tally.get(str(s.id)), mine.get(f"s:{s.id}")),
        )
        out.append(status)
    return out


def find(ctx: Ctx, status_id: str) -> tuple[Artifact, Statement | None] | None:
    """The artifact (and statement) an artifact's or a statement's status id
    names; None for any other id; 404 for one in their ranges that names none."""
    found = ids.artifact_or_statement(status_id)
    if found is None:
        return None
    kind, n = found
    if kind == "artifact":
        artifact = get_row(ctx.db, Artifact, n)
        if artifact is None:
            raise _not_found()
        return artifact, None
    statement = get_row(ctx.db, Statement, n)
    if statement is None:
        raise _not_found()
    return artifacts.get(ctx, statement.artifact_id), statement


def status(ctx: Ctx, found: tuple[Artifact, Statement | None], viewer: Account | None) -> Json:
    artifact, statement = found
    if statement is not None:
        return statement_statuses(ctx, artifact, [statement], viewer)[0]
    return artifact_status(ctx, artifact, viewer)


def history(
    ctx: Ctx, found: tuple[Artifact, Statement | None], viewer: Account | None
) -> list[Json]:
    """An artifact's revisions, oldest first, each by its own author; a statement
    is never edited: its one version."""
    artifact, statement = found
    now = status(ctx, found, viewer)
    if statement is not None:
        return [_version(now["content"], now["created_at"], now["account"])]
    revs = list(reversed(artifacts.revisions(ctx, artifact, limit=1000)))
    authors = {
        a.id: a
        for a in ctx.db.exec(
            select(Account).where(col(Account.id).in_({r.author_id for r in revs}))
        )
    }
    cards = entities.accounts(ctx, list(authors.values()))
    return [
        _version(
            _content(r.title, render_markdown(r.body, base_url=ctx.base_url).html),
            entities.when(r.created_at),
            cards[r.author_id],
        )
        for r in revs
        if r.author_id in cards
    ]


def _version(content: str, at: str | None, account: Json) -> Json:
    return {
        "content": content, "spoiler_text": "", "sensitive": False, "created_at": at,
        "account": account, "poll": None, "media_attachments": [], "emojis": [],
    }  # fmt: skip


def context(ctx: Ctx, found: tuple[Artifact, Statement | None], viewer: Account | None) -> Json:
    """Above a statement, its artifact; below an artifact, its statements."""
    artifact, statement = found
    if statement is not None:
        return {"ancestors": [artifact_status(ctx, artifact, viewer)], "descendants": []}
    rows = stances.statements(ctx, artifact)
    return {"ancestors": [], "descendants": statement_statuses(ctx, artifact, rows, viewer)}
