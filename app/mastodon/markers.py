"""Read markers in the Mastodon client API (``GET`` and ``POST /api/v1/markers``),
over app/services/markers.py: ``home`` and ``notifications``, as a form
(``home[last_read_id]=...``) or JSON (``{"home": {"last_read_id": "..."}}``)."""

from __future__ import annotations

from typing import Any

from anyio.to_thread import run_sync
from fastapi import APIRouter, Request
from pydantic import Field

from app.api.auth import Reader, Writer
from app.deps import CtxDep
from app.errors import Invalid
from app.mastodon import entities, ids, params
from app.models import Account, Marker
from app.services import Ctx, markers

router = APIRouter(prefix="/api/v1/markers")

Json = dict[str, Any]


class GetParams(params.Params):
    timeline: list[str] = Field(default=[], max_length=len(markers.TIMELINES) * 4)


def _shape(rows: list[Marker]) -> Json:
    return {
        m.timeline: {
            "last_read_id": str(m.last_read_id),
            "version": m.version,
            "updated_at": entities.when(m.updated_at),
        }
        for m in rows
    }


@router.get("")
async def get_markers(request: Request, ctx: CtxDep, viewer: Reader) -> Json:
    values = await params.read(request)
    if isinstance(values.get("timeline"), str):
        values["timeline"] = [values["timeline"]]
    given = params.parse(GetParams, values)
    return await run_sync(lambda: _shape(markers.of(ctx, viewer, given.timeline)))


def _positions(values: dict[str, Any]) -> dict[str, int]:
    """``{"home": 12}`` from ``home[last_read_id]=12`` or ``{"home": {"last_read_id": "12"}}``."""
    out: dict[str, int] = {}
    for timeline in markers.TIMELINES:
        given = values.get(timeline, values.get(f"{timeline}[last_read_id]"))
        if timeline in values:
            given = given.get("last_read_id") if isinstance(given, dict) else None
            if given is None:
                raise Invalid(
                    f"Send {timeline}[last_read_id], the id last read.", code="invalid_marker"
                )
        if given is None:
            continue
        n = ids.number(str(given)) if isinstance(given, str | int) else None
        if n is None:
            raise Invalid(
                f"{timeline}[last_read_id] must be an id (a positive whole number).",
                code="invalid_marker",
            )
        out[timeline] = n
    return out


@router.post("")
async def set_markers(request: Request, ctx: CtxDep, viewer: Writer) -> Json:
    positions = _positions(await params.read(request))
    return await run_sync(_set, ctx, viewer, positions)


def _set(ctx: Ctx, viewer: Account, positions: dict[str, int]) -> Json:
    return _shape(markers.set_markers(ctx, viewer, positions))
