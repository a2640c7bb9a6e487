"""Settings → Your data: archives of one's data, importing Mastodon CSVs, and
deleting the account (docs/accounts.md). The rules are in the account_* services."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Request, UploadFile
from fastapi.responses import FileResponse, Response

from app.api.account_data import export_file
from app.api.media import read_upload
from app.api.schemas import MAX_ID
from app.deps import CtxDep
from app.errors import DomainError
from app.services import account_deletion, account_export, account_import
from app.web.deps import Csrf, Member
from app.web.forms import PasswordField, member, redisplayed_by, show_error
from app.web.templating import redirect, render

router = APIRouter()
PAGE = "/settings/data"


def data_form(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    """The page's one context, for its GET and its forms' error paths."""
    exports = account_export.listing(ctx, member(viewer))
    return "account_data.html", {
        "exports": [(e, account_export.state_of(e)) for e in exports],
        "due": viewer.deletion_due_at,
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
