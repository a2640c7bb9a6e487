"""Settings → Your data: archives of one's data, importing Mastodon CSVs, moving
and deleting the account (docs/accounts.md). The rules are in the account_* services."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Request, UploadFile
from fastapi.responses import FileResponse, Response

from app.api.account_data import export_file
from app.api.media import read_upload
from app.api.schemas import MAX_ID, CleanStr
from app.deps import CtxDep
from app.errors import DomainError, Invalid, NotFound
from app.models import Account
from app.services import (
    Ctx,
    account_deletion,
    account_export,
    account_import,
    account_move,
    follows,
)
from app.web.deps import Csrf, Member
from app.web.forms import PasswordField, member, redisplayed_by, show_error
from app.web.lookup import remote_lookup
from app.web.templating import redirect, render
from federation.fetcher import FetchError
from federation.lifecycle import fetch_actor_afresh
from federation.remote import InvalidActor

router = APIRouter()
PAGE = "/settings/data"


def data_form(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    """The page's one context, for its GET and its forms' error paths."""
    exports = account_export.listing(ctx, member(viewer))
    return "account_data.html", {
        "exports": [(e, account_export.state_of(e)) for e in exports],
        "due": viewer.deletion_due_at,
        "aliases": account_move.aliases_of(viewer),
        "moved_to": viewer.moved_to_uri,
        "viewer_uri": viewer.uri,
    }


@router.get(PAGE)
def data_page(request: Request, ctx: CtxDep, viewer: Member) -> Response:
    template, context = data_form(request, ctx, viewer, {})
    return render(request, template, **context)


@router.post(f"{PAGE}/export", dependencies=[Csrf])
def request_export(request: Request, ctx: CtxDep, viewer: Member) -> Response:
    try:
        account_export.request(ctx, viewer)
    except DomainError as exc:
        ctx.db.rollback()
        return redirect(request, f"{PAGE}#exports", flash=str(exc.detail))
    return redirect(request, f"{PAGE}#exports", flash="Your archive is being prepared.")


@router.get(f"{PAGE}/exports/{{export_id}}/download")
def download(
    export_id: Annotated[int, Path(ge=1, le=MAX_ID)], ctx: CtxDep, viewer: Member
) -> FileResponse:
    return export_file(account_export.archive(ctx, viewer, export_id))


@router.post(f"{PAGE}/import", dependencies=[Csrf])
@redisplayed_by(data_form)
def import_csv(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    kind: Annotated[str, Form(pattern="^(following|blocks|mutes)$")],
    file: Annotated[UploadFile, File()],
) -> Response:
    try:
        outcome = account_import.run(
            ctx, viewer, kind, read_upload(file, ctx.settings.import_max_bytes)
        )
    except DomainError as exc:
        _, context = data_form(request, ctx, viewer, {})
        return show_error(request, ctx, exc, "account_data.html", {"kind": kind}, **context)
    _, context = data_form(request, ctx, viewer, {})
    return render(request, "account_data.html", outcome=outcome, **context)


@router.post(f"{PAGE}/delete", dependencies=[Csrf])
@redisplayed_by(data_form)
def delete_account(
    request: Request, ctx: CtxDep, viewer: Member, password: PasswordField
) -> Response:
    try:
        account_deletion.request(ctx, viewer, password)
    except DomainError as exc:
        _, context = data_form(request, ctx, viewer, {})
        return show_error(request, ctx, exc, "account_data.html", {}, **context)
    return redirect(request, f"{PAGE}#delete", flash="Your account will be deleted.")


@router.post(f"{PAGE}/deletion/cancel", dependencies=[Csrf])
def cancel_deletion(request: Request, ctx: CtxDep, viewer: Member) -> Response:
    try:
        account_deletion.cancel(ctx, viewer)
    except DomainError as exc:
        ctx.db.rollback()
        return redirect(request, f"{PAGE}#delete", flash=str(exc.detail))
    return redirect(request, f"{PAGE}#delete", flash="Deletion cancelled; your account stays.")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


async def look_up_aliases(request: Request) -> None:
    """Before the transaction: make the named accounts known (failures are shown
    by the handler, inside its error handling)."""
    form = await request.form()
    request.state.lookup_error = None
    try:
        for alias in _lines(str(form.get("aliases", "")))[: account_move.MAX_ALIASES]:
            await remote_lookup(request, alias[:2048])
    except DomainError as exc:
        request.state.lookup_error = exc


async def look_up_move_target(request: Request) -> None:
    form = await request.form()
    request.state.lookup_error = None
    settings = request.app.state.settings
    try:
        await fetch_actor_afresh(
            request.app.state.engine, settings, str(form.get("target", ""))[:2048]
        )
    except (DomainError, FetchError, InvalidActor) as exc:
        request.state.lookup_error = (
            exc if isinstance(exc, DomainError) else NotFound("Could not find that account.")
        )


def _account(request: Request, ctx: Ctx, target: str) -> Account:
    if request.state.lookup_error is not None:
        raise request.state.lookup_error
    found = follows.resolve_target(ctx, target)
    if not isinstance(found, Account):
        raise Invalid("Only an account can be an alias or a move's target.", code="not_an_account")
    return found


@router.post(f"{PAGE}/aliases", dependencies=[Csrf, Depends(look_up_aliases)])
@redisplayed_by(data_form)
def save_aliases(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    aliases: Annotated[CleanStr, Form(max_length=25_000)] = "",
) -> Response:
    try:
        targets = [_account(request, ctx, alias) for alias in _lines(aliases)]
        account_move.set_aliases(ctx, viewer, targets)
    except DomainError as exc:
        _, context = data_form(request, ctx, viewer, {})
        return show_error(request, ctx, exc, "account_data.html", {"aliases": aliases}, **context)
    return redirect(request, f"{PAGE}#move", flash="Aliases saved.")


@router.post(f"{PAGE}/move", dependencies=[Csrf, Depends(look_up_move_target)])
@redisplayed_by(data_form)
def move_account(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    target: Annotated[CleanStr, Form(min_length=1, max_length=2048)],
) -> Response:
    try:
        account_move.move(ctx, viewer, _account(request, ctx, target.strip()))
    except DomainError as exc:
        _, context = data_form(request, ctx, viewer, {})
        return show_error(request, ctx, exc, "account_data.html", {"target": target}, **context)
    return redirect(request, f"{PAGE}#move", flash="Moved; your followers are being told.")
