"""Read markers: where a member stopped reading a timeline, so another device (or
app) opens it there. One row per member and timeline; each update counts up its
``version``.

Setting the ``notifications`` marker reads the member's notifications up to that
one (that notification and those older, by latest activity): what opening the
notifications page does (app/web/notification_pages.py), so the unread count of
pages and apps stays the one count."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import col, select

from app.db import hold
from app.errors import Invalid
from app.models import Account, Marker, Notification, utcnow
from app.services import Ctx, notifications

TIMELINES = ("home", "notifications")


def of(ctx: Ctx, account: Account, timelines: Iterable[str]) -> list[Marker]:
    """The member's markers of these timelines (unknown names have none)."""
    wanted = [t for t in dict.fromkeys(timelines) if t in TIMELINES]
    if not wanted:
        return []
    rows = ctx.db.exec(
        select(Marker).where(col(Marker.account_id) == account.id, col(Marker.timeline).in_(wanted))
    ).all()
    found = {r.timeline: r for r in rows}
    return [found[t] for t in wanted if t in found]


def set_markers(ctx: Ctx, account: Account, positions: dict[str, int]) -> list[Marker]:
    """Move the member's markers to these last-read ids, all or none."""
    if not positions:
        raise Invalid("Send a last read id for “home” or “notifications”.", code="invalid_marker")
    for timeline, last_read_id in positions.items():
        if timeline not in TIMELINES:
            raise Invalid(f"Markers are kept for {' and '.join(TIMELINES)}.", code="invalid_marker")
        if isinstance(last_read_id, bool) or not isinstance(last_read_id, int):
            raise Invalid("A last read id is a whole number.", code="invalid_marker")
        if not 0 < last_read_id < 2**63:
            raise Invalid("A last read id is a positive whole number.", code="invalid_marker")
    hold(ctx.db, *(f"marker:{account.id}:{t}" for t in positions))
    now = utcnow()
    out = []
    for timeline, last_read_id in positions.items():
        row = ctx.db.get(Marker, (account.id, timeline))
        if row is None:
            row = Marker(account_id=account.id, timeline=timeline, last_read_id=last_read_id)
        else:
            row.version += 1
            row.last_read_id = last_read_id
        row.updated_at = now
        ctx.db.add(row)
        out.append(row)
    ctx.db.flush()
    if "notifications" in positions:
        _read_up_to(ctx, account, positions["notifications"])
    return out


def _read_up_to(ctx: Ctx, account: Account, note_id: int) -> None:
    """Read the member's notifications up to this one, if it is theirs (an id they
    never had, or one dismissed, reads nothing)."""
    mine = ctx.db.exec(
        select(col(Notification.id)).where(
            col(Notification.id) == note_id, col(Notification.account_id) == account.id
        )
    ).first()
    if mine is not None:
        notifications.mark_read(ctx, account, up_to=note_id)
