"""A member's archive of their own data, as Mastodon's export has it, so it can be
read, kept, or imported elsewhere (the CSVs go straight into Mastodon's import or
ours, app/services/account_import.py).

Asking for one stores an ``account_exports`` row and queues ``accounts.build_export``;
the job writes a zip under ``<data_dir>/exports`` and, when it expires, the
``accounts.expire_export`` job removes the file. Federation adds the
ActivityStreams parts (``actor.json``, ``outbox.json``) through :func:`contributes`,
because services do not render ActivityPub.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlmodel import col, select

from app.db import get_or_raise
from app.errors import Conflict, Gone, NotFound
from app.infra import jobs, storage
from app.models import (
    Account,
    AccountExport,
    Artifact,
    ArtifactRevision,
    Block,
    Community,
    Follow,
    MediaFile,
    Mute,
    Post,
    Reaction,
    Stance,
    Statement,
    get_row,
    utcnow,
)
from app.services import Ctx

# Mastodon's headers (app/models/export.rb); blocks have none, one address a line
FOLLOWING_HEADER = ["Account address", "Show boosts", "Notify on new posts", "Languages"]
MUTES_HEADER = ["Account address", "Hide notifications"]

Contributor = Callable[[Ctx, Account], dict[str, bytes]]
_CONTRIBUTORS: list[Contributor] = []


def contributes(fn: Contributor) -> Contributor:
    """Register a maker of more archive files (federation's actor and outbox)."""
    _CONTRIBUTORS.append(fn)
    return fn


def directory(ctx: Ctx) -> Path:
    return ctx.settings.data_dir / "exports"


def request(ctx: Ctx, account: Account) -> AccountExport:
    """Queue a new archive; one at a time, so a member cannot pile up jobs."""
    busy = ctx.db.exec(
        select(AccountExport).where(
            col(AccountExport.account_id) == account.id, col(AccountExport.state) == "queued"
        )
    ).first()
    if busy is not None:
        raise Conflict("An export is already being prepared.", code="export_in_progress")
    export = AccountExport(account_id=account.id, file_name=f"{secrets.token_hex(16)}.zip")
    ctx.db.add(export)
    ctx.db.flush()
    jobs.enqueue(ctx, "accounts.build_export", {"export_id": export.id})
    return export


def listing(ctx: Ctx, account: Account) -> list[AccountExport]:
    return list(
        ctx.db.exec(
            select(AccountExport)
            .where(col(AccountExport.account_id) == account.id)
            .order_by(col(AccountExport.id).desc())
            .limit(20)
        )
    )


def state_of(export: AccountExport) -> str:
    """What the member sees: an archive past its date is expired even before the
    clean-up job has removed it."""
    if export.state == "ready" and export.expires_at is not None and export.expires_at <= utcnow():
        return "expired"
    return export.state


def archive(ctx: Ctx, account: Account, export_id: int) -> Path:
    """The file of one of the member's own ready archives (others' are not found)."""
    export = get_row(ctx.db, AccountExport, export_id)
    if export is None or export.account_id != account.id:
        raise NotFound("No such export.", code="export_not_found")
    state = state_of(export)
    if state == "expired":
        raise Gone("This export has expired; request a new one.", code="export_expired")
    if state != "ready":
        raise Conflict("This export is not ready.", code="export_not_ready")
    return directory(ctx) / export.file_name


def _address(ctx: Ctx, actor: Account | Community) -> str:
    name = actor.username if isinstance(actor, Account) else actor.name
    return f"{name}@{actor.domain or ctx.settings.domain}"


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(rows)
    return out.getvalue().encode()


def _json(doc: object) -> bytes:
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str).encode()


def following_csv(ctx: Ctx, account: Account) -> bytes:
    q = (
        select(Account)
        .join(Follow, col(Follow.target_account_id) == col(Account.id))
        .where(col(Follow.follower_id) == account.id)
        .order_by(col(Follow.id))
    )
    return _csv(
        [FOLLOWING_HEADER] + [[_address(ctx, a), "true", "false", ""] for a in ctx.db.exec(q)]
    )


def blocked_csv(ctx: Ctx, account: Account) -> bytes:
    uris = ctx.db.exec(
        select(col(Block.target_uri))
        .where(col(Block.account_id) == account.id)
        .order_by(col(Block.id))
    ).all()
    found = {a.uri: a for a in ctx.db.exec(select(Account).where(col(Account.uri).in_(uris)))}
    return _csv([[_address(ctx, found[u])] for u in uris if u in found])


def muted_csv(ctx: Ctx, account: Account) -> bytes:
    uris = ctx.db.exec(
        select(col(Mute.target))
        .where(col(Mute.account_id) == account.id, col(Mute.kind) == "account")
        .order_by(col(Mute.id))
    ).all()
    found = {a.uri: a for a in ctx.db.exec(select(Account).where(col(Account.uri).in_(uris)))}
    return _csv([MUTES_HEADER] + [[_address(ctx, found[u]), "true"] for u in uris if u in found])


def _artifacts(ctx: Ctx, account: Account) -> list[dict]:
    revisions = list(
        ctx.db.exec(
            select(ArtifactRevision)
            .where(col(ArtifactRevision.author_id) == account.id)
            .order_by(col(ArtifactRevision.id))
        )
    )
    by_artifact: dict[int, list[ArtifactRevision]] = {}
    for r in revisions:
        by_artifact.setdefault(r.artifact_id, []).append(r)
    rows = ctx.db.exec(select(Artifact).where(col(Artifact.id).in_(list(by_artifact))))
    return [
        {
            "id": a.uri,
            "kind": a.kind,
            "title": a.title,
            "stage": a.stage,
            "yourRevisions": [
                {
                    "number": r.number,
                    "title": r.title,
                    "body": r.body,
                    "message": r.message,
                    "change": r.change,
                    "sha256": r.sha256,
                    "created": r.created_at.isoformat(),
                }
                for r in by_artifact[a.id]
            ],
        }
        for a in sorted(rows, key=lambda a: a.id)
    ]


def _stances(ctx: Ctx, account: Account) -> list[dict]:
    rows = ctx.db.exec(
        select(Stance, Artifact, Statement)
        .join(Artifact, col(Artifact.id) == col(Stance.artifact_id))
        .outerjoin(Statement, col(Statement.id) == col(Stance.statement_id))
        .where(col(Stance.account_id) == account.id)
        .order_by(col(Stance.id))
    )
    return [
        {
            "artifact": artifact.uri,
            "statement": statement.uri if statement else None,
            "statementText": statement.text if statement else None,
            "stance": stance.stance,
            "reason": stance.reason,
            "updated": stance.updated_at.isoformat(),
        }
        for stance, artifact, statement in rows
    ]


def _likes(ctx: Ctx, account: Account) -> dict:
    uris = ctx.db.exec(
        select(col(Post.uri))
        .join(Reaction, col(Reaction.post_id) == col(Post.id))
        .where(col(Reaction.account_id) == account.id, col(Reaction.kind) == "like")
        .order_by(col(Reaction.id))
    ).all()
    return {"type": "OrderedCollection", "totalItems": len(uris), "orderedItems": list(uris)}


def _media(ctx: Ctx, account: Account) -> dict[str, bytes]:
    store = storage.storage_for(ctx.settings)
    files = {}
    rows = ctx.db.exec(
        select(MediaFile).where(
            col(MediaFile.account_id) == account.id,
            col(MediaFile.state) == "ready",  # one still processing has no file yet
        )
    )
    for row in rows:
        data = store.get(row.file_key)
        if data is not None:
            files[f"media/{row.file_key}"] = data
    return files


def files_of(ctx: Ctx, account: Account) -> dict[str, bytes]:
    """Every file of the archive, by its name in the zip."""
    files = {
        "artifacts.json": _json(_artifacts(ctx, account)),
        "stances.json": _json(_stances(ctx, account)),
        "likes.json": _json(_likes(ctx, account)),
        "following_accounts.csv": following_csv(ctx, account),
        "blocked_accounts.csv": blocked_csv(ctx, account),
        "muted_accounts.csv": muted_csv(ctx, account),
        **_media(ctx, account),
    }
    for contributor in _CONTRIBUTORS:
        files.update(contributor(ctx, account))
    return files


@jobs.handler("accounts.build_export")
def build(ctx: Ctx, payload: dict) -> None:
    """Write the zip aside and rename it into place, then mark the row ready and
    queue its expiry."""
    export = ctx.db.get(AccountExport, payload.get("export_id"))
    if export is None or export.state != "queued":
        return
    account = get_or_raise(ctx.db, Account, export.account_id)
    folder = directory(ctx)
    folder.mkdir(parents=True, exist_ok=True)
    path, partial = folder / export.file_name, folder / f".{export.file_name}.part"
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in sorted(files_of(ctx, account).items()):
            zf.writestr(name, data)
    partial.replace(path)
    now = utcnow()
    export.state, export.size, export.ready_at = "ready", path.stat().st_size, now
    export.expires_at = now + timedelta(days=ctx.settings.export_keep_days)
    ctx.db.add(export)
    jobs.enqueue(ctx, "accounts.expire_export", {"export_id": export.id}, run_at=export.expires_at)


@jobs.handler("accounts.expire_export")
def expire(ctx: Ctx, payload: dict) -> None:
    """Remove an archive's file once its days are over (the row stays, as history)."""
    export = ctx.db.get(AccountExport, payload.get("export_id"))
    if export is None or export.state != "ready":
        return
    (directory(ctx) / export.file_name).unlink(missing_ok=True)
    export.state = "expired"
    ctx.db.add(export)


def expire_all(ctx: Ctx, account: Account) -> None:
    """A deleted account's archives go with it: their files once this transaction
    commits (by ``accounts.expire_export``), one still queued is never built."""
    mine = select(AccountExport).where(col(AccountExport.account_id) == account.id)
    for export in ctx.db.exec(mine):
        if export.state == "ready":
            jobs.enqueue(ctx, "accounts.expire_export", {"export_id": export.id})
        elif export.state == "queued":
            export.state = "failed"
            ctx.db.add(export)
