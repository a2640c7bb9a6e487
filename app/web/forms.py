"""Helpers for form handlers: typed form fields, and re-showing a form after an error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.api.schemas import CleanStr
from app.errors import DomainError, Forbidden, NotFound, RateLimited
from app.models import Account
from app.services import Ctx
from app.services.accounts import MAX_PASSWORD
from app.web.templating import render

ShortField = Annotated[CleanStr, Form(max_length=300)]
TextField = Annotated[CleanStr, Form(max_length=1_000_000)]
OptionalShort = Annotated[CleanStr, Form(max_length=300)]
Confirm = Annotated[str, Form(max_length=10)]
# the one limit of every password field (sign-up, setup, log-in, change password)
PasswordField = Annotated[CleanStr, Form(max_length=MAX_PASSWORD)]


def show_error(
    request: Request,
    ctx: Ctx,
    exc: DomainError,
    template: str,
    typed: dict[str, object] | None = None,
    **context: object,
) -> HTMLResponse:
    """Roll back whatever the failed action wrote, then show the form again with
    the member's input kept (``typed``, for the templates' ``kept``) and the
    problem explained."""
    ctx.db.rollback()
    if typed is not None:
        context.setdefault("submitted", submitted(request, typed))
    response = render(request, template, status=exc.status, error=exc.detail, **context)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def unconfirmed(request: Request, confirm: str) -> RedirectResponse | None:
    """Destructive forms (delete, remove, suspend, leave, dissolve) act only with
    ``confirm=yes``, which their confirmation page (a GET on the same address) adds.
    Without it nothing is done and the person is sent to that page to decide."""
    if confirm == "yes":
        return None
    return RedirectResponse(request.url.path, status_code=303)


def confirmation(
    request: Request, *, question: str, consequence: str, button: str, back: str
) -> HTMLResponse:
    """The read-only page that asks before a destructive action: it explains what
    will happen and posts the action's own form with ``confirm=yes``."""
    return render(
        request,
        "confirm.html",
        question=question,
        consequence=consequence,
        button=button,
        action=request.url.path,
        back=back,
    )


def submitted(request: Request, typed: dict[str, object]) -> dict[str, object]:
    """What a page shown again after an error needs to refill the one form that was
    sent (a page may hold several): its action and the values typed into it. The
    templates read it through ``kept(action, field)`` and ``error_at(action, field)``."""
    return {"action": request.url.path, "values": typed}


def path_id(request: Request, name: str) -> int:
    """An id from the path of a request whose parameters may not have been
    validated (a form page shown again after refused input)."""
    raw = str(request.path_params.get(name, ""))
    if not raw.isdigit() or len(raw) > 18:
        raise NotFound("There is nothing at this address.", code="not_found")
    return int(raw)


def member(viewer: Account | None) -> Account:
    """The signed-in member a form page is for (its form is only for members)."""
    if viewer is None:
        raise Forbidden("Log in to use this form.", code="login_required")
    return viewer


# --- input the form's own fields refuse (too long, missing, not a choice) ------

FormPage = Callable[[Request, Ctx, Account | None, dict[str, str]], tuple[str, dict]]
"""A form page filled with what was typed: (request, ctx, viewer, typed) →
(template, context). The form's GET page and its error paths use the same one."""

_form_pages: dict[Callable, FormPage] = {}


def redisplayed_by(page: FormPage) -> Callable[[Callable], Callable]:
    """Mark a POST handler whose form ``page`` shows again, filled in and with a
    message next to each refused field, when its fields fail validation."""

    def register(endpoint: Callable) -> Callable:
        _form_pages[endpoint] = page
        return endpoint

    return register


def form_page_of(endpoint: object) -> FormPage | None:
    return _form_pages.get(endpoint)  # type: ignore[arg-type]


PLAIN_MESSAGES = {
    "missing": "{label} is required.",
    "string_too_long": "{label} can be at most {max_length} characters.",
    "string_too_short": "{label} must be at least {min_length} characters.",
    "too_long": "{label} can be at most {max_length} characters.",  # a form field's text
    "too_short": "{label} must be at least {min_length} characters.",
    "string_pattern_mismatch": "{label} is not one of the allowed values.",
    "int_parsing": "{label} must be a whole number.",
    "float_parsing": "{label} must be a number.",
    "greater_than_equal": "{label} must be at least {ge}.",
    "greater_than": "{label} must be more than {gt}.",
    "less_than_equal": "{label} must be at most {le}.",
    "less_than": "{label} must be less than {lt}.",
    "literal_error": "{label} must be one of: {expected}.",
    "value_error": "{label} {error}.",
}


def field_label(name: str) -> str:
    """``new_password`` → ``New password``: how a person would name the field."""
    return name.replace("_", " ").strip().capitalize() or "This field"


def plain_errors(errors: list[dict]) -> dict[str, str]:
    """Pydantic's validation errors as {field: a sentence a person understands}."""
    out: dict[str, str] = {}
    for e in errors:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "form")]
        field = ".".join(loc)
        ctx = {k: v for k, v in (e.get("ctx") or {}).items()}
        if "error" in ctx:
            ctx["error"] = str(ctx["error"]).removeprefix("Value error, ")
        template = PLAIN_MESSAGES.get(e.get("type", ""), "{label}: {msg}")
        try:
            message = template.format(label=field_label(field), msg=e.get("msg", ""), **ctx)
        except (KeyError, IndexError):
            message = f"{field_label(field)}: {e.get('msg', '')}"
        out.setdefault(field, message)
    return out


def summary(fields: dict[str, str]) -> str:
    return " ".join(fields.values()) or "Some of what you entered is not accepted."


async def redisplay(request: Request, errors: list[dict]) -> Response:
    """The answer to a page request whose fields failed validation: its form page
    again (422), filled with what was typed and a message at each refused field;
    for a form without a registered page, an error page that still shows what was
    typed, so nothing is lost."""
    from starlette.concurrency import run_in_threadpool

    fields = plain_errors(errors)
    typed: dict[str, str] = {}
    if request.method == "POST":
        try:
            submitted = await request.form()
        except Exception:  # an unreadable body has nothing to keep
            submitted = {}
        typed = {k: v for k, v in submitted.items() if isinstance(v, str) and k != "csrf_token"}
    page = form_page_of(request.scope.get("endpoint"))
    return await run_in_threadpool(_redisplay, request, page, typed, fields)


def _redisplay(
    request: Request, page: FormPage | None, typed: dict[str, str], fields: dict[str, str]
) -> Response:
    from app.db import transaction
    from app.web.deps import page_viewer

    with transaction(request.app.state.engine, write=False) as db:
        ctx = Ctx(db, request.app.state.settings)
        viewer = page_viewer(request, ctx)
        if page is not None:
            try:
                template, context = page(request, ctx, viewer, typed)
            except DomainError:
                page = None  # e.g. the form's own target is gone: the plain page below
            else:
                context.setdefault("submitted", submitted(request, typed))
                return render(
                    request, template, status=422, error=summary(fields), errors=fields, **context
                )
        return render(
            request,
            "error.html",
            status=422,
            status_code=422,
            message=summary(fields),
            typed={k: v for k, v in typed.items() if v},
        )
