"""Jinja2 rendering for the server-side pages, with CSRF tokens and flash notes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from app import __version__
from app.security.tokens import new_secret, sign
from app.services.accounts import MAX_PASSWORD, MIN_PASSWORD
from app.web import bidi

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"
templates = Jinja2Templates(directory=WEB_DIR / "templates")

SESSION_COOKIE = "cg_session"
BROWSER_COOKIE = "cg_browser"
FLASH_COOKIE = "cg_flash"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 person``, ``3 people``: the one way pages put a number before a noun."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count} {word}"


RELATIVE_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60))


def _relative(seconds: float) -> str:
    """``5 minutes ago`` or ``in 3 hours``, for moments less than a day away."""
    ahead, seconds = seconds < 0, abs(seconds)
    for unit, size in RELATIVE_UNITS:
        if seconds >= size:
            amount = plural(int(seconds // size), unit)
            return f"in {amount}" if ahead else f"{amount} ago"
    return "in a moment" if ahead else "just now"


def when(
    dt: datetime | str | None, *, date_only: bool = False, now: datetime | None = None
) -> Markup:
    """Every moment shown on a page, one way: a ``<time>`` element whose text a
    person reads (``in 3 hours``, ``2 Dec 2026, 14:05 UTC``) and whose title is the
    exact time. ``date_only`` is for days (a review date) rather than moments."""
    if not dt:
        return Markup("")
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt)  # a service's JSON-ready value
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)  # stored as UTC; some drivers return it naive
    dt = dt.astimezone(UTC)
    day = f"{dt.day} {dt:%b %Y}"
    if date_only:
        return Markup('<time datetime="{}" title="{}">{}</time>').format(
            dt.date().isoformat(), f"{dt:%A} {dt.day} {dt:%B %Y}", day
        )
    seconds = ((now or datetime.now(UTC)) - dt).total_seconds()
    shown = _relative(seconds) if abs(seconds) < 86400 else f"{day}, {dt:%H:%M} UTC"
    exact = f"{dt:%A} {dt.day} {dt:%B %Y}, {dt:%H:%M:%S} UTC"
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        dt.isoformat(timespec="seconds"), exact, shown
    )


UNIX_TIME = " (unix time)"


def factor_name(name: str) -> str:
    """A factor's name as a person reads it: a time is shown as a date."""
    return name.removesuffix(UNIX_TIME)


def factor_value(value: float, name: str) -> Markup | str:
    """A module's factor: a Unix time (named ``… (unix time)``) reads as a date."""
    if name.endswith(UNIX_TIME) and isinstance(value, int | float):
        try:
            return when(datetime.fromtimestamp(value, UTC))
        except (OverflowError, OSError, ValueError):
            return str(value)  # a module's odd number stays a number
    return str(value)


templates.env.filters["when"] = when
templates.env.filters.update(factor_name=factor_name, factor_value=factor_value)
templates.env.filters["ago"] = when  # the old name, so templates written meanwhile still render
templates.env.filters["plural"] = plural
# Not "version": pages pass their own ``version`` (an algorithm version) and would shadow it.
templates.env.globals["app_version"] = __version__
templates.env.filters.update(bdi=bidi.bdi, isolate=bidi.isolate, isolated=bidi.isolated)
templates.env.globals["now"] = lambda: datetime.now(UTC)
# the one password length rule, for minlength/maxlength and the help texts
templates.env.globals["password_lengths"] = (MIN_PASSWORD, MAX_PASSWORD)


@pass_context
def kept(context: Context, action: str, name: str, default: object = "") -> object:
    """What was typed into field ``name`` of the form posting to ``action``, when
    the page shows that form again after an error (``forms.submitted``); else
    ``default``, the value the page shows anyway."""
    sent = context.get("submitted") or {}
    if sent.get("action") == action and name in sent.get("values", {}):
        return sent["values"][name]
    return default


@pass_context
def error_at(context: Context, action: str, name: str) -> Markup:
    """The message for a refused field, next to it, in the form that was sent only
    (a page's other forms may have a field of the same name)."""
    sent = context.get("submitted") or {}
    message = (context.get("errors") or {}).get(name)
    if sent.get("action") != action or not message:
        return Markup("")
    return Markup('<small class="error" id="{}-error" role="alert">{}</small>').format(
        name, message
    )


templates.env.globals.update(kept=kept, error_at=error_at)


def browser_key(request: Request) -> tuple[str, bool]:
    """The key this browser's CSRF token is bound to: its session, else a
    random pre-login cookie. Returns (key, whether the cookie must be set)."""
    key = request.cookies.get(SESSION_COOKIE) or request.cookies.get(BROWSER_COOKIE)
    if key and len(key) <= 200:
        return key, False
    return new_secret(), True


def csrf_for(request: Request, key: str) -> str:
    return sign(request.app.state.settings.resolved_secret_key, "csrf:" + key)


def set_cookie(
    request: Request, response: Response, name: str, value: str, *, max_age: int | None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.secure_cookies,
        path="/",
    )


def render(request: Request, template: str, status: int = 200, **context: object) -> HTMLResponse:
    key, fresh = browser_key(request)
    settings = request.app.state.settings
    flash = unquote(request.cookies.get(FLASH_COOKIE, ""))[:500]
    context.setdefault("viewer", getattr(request.state, "viewer", None))
    context.setdefault("signup_closed", getattr(request.state, "signup_closed", False))
    response = templates.TemplateResponse(
        request,
        template,
        {
            "csrf_token": csrf_for(request, key),
            "instance_name": settings.instance_name,
            "base_url": settings.base_url,
            "flash": flash,
            **context,
        },
        status_code=status,
    )
    if fresh:
        set_cookie(request, response, BROWSER_COOKIE, key, max_age=None)
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(request: Request, url: str, flash: str | None = None) -> RedirectResponse:
    """Post/Redirect/Get, with an optional one-time note shown on the next page."""
    response = RedirectResponse(url, status_code=303)
    if flash:
        set_cookie(request, response, FLASH_COOKIE, quote(flash), max_age=60)
    return response


def render_error(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    if status == 401:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
    response = render(request, "error.html", status=status, status_code=status, message=message)
    if headers:
        response.headers.update(headers)
    return response
