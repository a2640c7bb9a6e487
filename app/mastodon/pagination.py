"""Mastodon's pagination: ``max_id``, ``since_id``, ``min_id`` and ``limit`` in, a
``Link`` header out.

``max_id`` asks for what is older than an id, ``since_id`` for the newest that are
newer, ``min_id`` for those just newer (paging back up); pages are newest first.
The header holds absolute URLs, next (older) first, then prev (newer), each the
request's own URL with the other parameters kept, as apps follow it verbatim."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Query, Request, Response

from app.errors import Invalid
from app.mastodon import ids

DEFAULT_LIMIT = 20
MAX_LIMIT = 40
CURSORS = ("max_id", "since_id", "min_id")
_Id = Annotated[str | None, Query(max_length=40)]


@dataclass(frozen=True)
class Page:
    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None
    limit: int = DEFAULT_LIMIT

    @property
    def below(self) -> int | None:
        return self.max_id

    @property
    def above(self) -> int | None:
        """``min_id`` wins over ``since_id``, as in Mastodon."""
        return self.min_id if self.min_id is not None else self.since_id

    @property
    def oldest_first(self) -> bool:
        return self.min_id is not None


def _cursor(name: str, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    n = ids.number(value)
    if n is None:
        raise Invalid(f"{name} must be an id (a positive whole number).", code="invalid_cursor")
    return n


def _limit(value: str | None) -> int:
    """Mastodon reads a limit leniently: absent or unreadable is the default, and
    it is kept between 1 and the most a page holds."""
    if value is None or not value.strip().isdigit() or len(value) > 6:
        return DEFAULT_LIMIT
    return min(max(int(value), 1), MAX_LIMIT)


def page_params(
    max_id: _Id = None,
    since_id: _Id = None,
    min_id: _Id = None,
    limit: Annotated[str | None, Query(max_length=20)] = None,
) -> Page:
    return Page(
        _cursor("max_id", max_id),
        _cursor("since_id", since_id),
        _cursor("min_id", min_id),
        _limit(limit),
    )


PageDep = Annotated[Page, Depends(page_params)]


def link(request: Request, base_url: str, newest: int | str, oldest: int | str) -> str:
    """The Link header of a page whose items run from ``newest`` to ``oldest``."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in CURSORS]
    here = base_url + request.url.path

    def url(cursor: str, value: int | str) -> str:
        return f"{here}?{urlencode([*kept, (cursor, str(value))])}"

    return f'<{url("max_id", oldest)}>; rel="next", <{url("min_id", newest)}>; rel="prev"'


def set_link(
    response: Response, request: Request, base_url: str, cursors: list[int] | list[str]
) -> None:
    """Set the Link header for a page with these cursors, newest first (none: no header)."""
    if cursors:
        response.headers["Link"] = link(request, base_url, cursors[0], cursors[-1])


def linked(response: Response, request: Request, base_url: str, statuses: list[dict]) -> list[dict]:
    """``statuses``, with the Link header that pages on from them set on ``response``."""
    set_link(response, request, base_url, [s["id"] for s in statuses])
    return statuses
