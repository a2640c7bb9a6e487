"""Members' boosts merged into a timeline page (docs/mastodon-api.md, "Boosts"):
the page's posts and the boosts of the people followed, in one order by status id.

A post is shown once on a page: a boost of a post that is on the page itself, or
whose newer boost already is, is left out (Mastodon leaves out a reblog of a post
shown recently; "on this page" is the simple form of that rule). The page's Link
header still pages on from everything it covered, so what was left out is not
found again on the next page."""

from __future__ import annotations

from typing import Any

from app.mastodon import entities
from app.models import Account, Boost, Post
from app.services import Ctx

Json = dict[str, Any]


def merged(
    ctx: Ctx,
    rows: list[Post],
    shown: list[Json],
    boosted: list[Boost],
    viewer: Account,
    *,
    oldest_first: bool,
    limit: int,
) -> tuple[list[Json], list[int]]:
    """The page (newest first) and the status ids it covered (for its Link header).
    ``rows`` and their Statuses ``shown``, and ``boosted``, are each newest first and
    each up to ``limit`` long, from the same window; the page is the ``limit``
    newest of both (``oldest_first``: the ``limit`` oldest)."""
    items: list[tuple[int, Post | Boost, Json | None]] = [
        (int(s["id"]), p, s) for p, s in zip(rows, shown, strict=True)
    ]
    items += [(b.status_id or 0, b, None) for b in boosted]
    items.sort(key=lambda item: item[0], reverse=True)
    items = items[-limit:] if oldest_first else items[:limit]
    on_page = {p.id for _, p, _ in items if isinstance(p, Post)}
    kept: list[Boost] = []
    for _, b, _ in items:
        if isinstance(b, Boost) and b.post_id not in on_page:
            on_page.add(b.post_id)
            kept.append(b)
    as_statuses = {s["id"]: s for s in entities.member_boosts(ctx, kept, viewer)}
    out: list[Json] = []
    for _, row, status in items:
        if status is not None:
            out.append(status)
        elif isinstance(row, Boost) and str(row.status_id) in as_statuses:
            out.append(as_statuses[str(row.status_id)])
    return out, [sid for sid, _, _ in items]
