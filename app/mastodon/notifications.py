"""Notifications in the Mastodon client API: list (paged by id, with ``types[]``,
``exclude_types[]`` and ``account_id``), one, dismiss, clear, and the unread count,
over app/services/notifications.py.

Commonground's kinds map onto Mastodon's types: a reply or a mention is a
``mention`` (its status the reply or the mentioning post), a follow a ``follow``,
a like a ``favourite``. The kinds Mastodon has no type for (stances, artifact
revisions and statements, votes, reviews, algorithm changes, moderation, join
requests) are only listed when asked for by name through ``types[]``, namespaced
(``commonground.stance``...), and carry a ``commonground`` object saying what
they are. docs/mastodon-api.md ("Notifications") has the table.

A notification groups events of one kind on one thing (services/notifications.py):
its ``account`` is the latest actor and its ``created_at`` when they acted; its id
is the group's row id, so pages follow the order groups were first made.
"""

from __future__ import annotations

from typing import Any

from anyio.to_thread import run_sync
from fastapi import APIRouter, Request, Response
from pydantic import Field, field_validator

from app.api.auth import Reader, Writer
from app.deps import CtxDep
from app.errors import NotFound
from app.mastodon import entities as shapes
from app.mastodon import ids, params
from app.mastodon.pagination import Page, PageDep, set_link
from app.models import MAX_ID, Account, Notification, Post
from app.services import Ctx, notifications
from app.services.artifacts import artifact_url
from app.services.communities import community_uri

router = APIRouter(prefix="/api/v1/notifications")

Json = dict[str, Any]
NAMESPACE = "commonground."
# Commonground kind -> Mastodon notification type
TYPES: dict[str, str] = {
    "reply": "mention",
    "mention": "mention",
    "follow": "follow",
    "like": "favourite",
    "boost": "reblog",
    "follow_request": NAMESPACE + "join_request",  # to join a community, not to follow you
    **{
        kind: NAMESPACE + kind
        for kind in (
            "stance",
            "revision",
            "statement",
            "artifact_stance",
            "vote_opened",
            "vote_closed",
            "review_due",
            "algorithm_changed",
            "moderation",
            "appeal_decided",
        )
    },
}
STANDARD = sorted({t for t in TYPES.values() if not t.startswith(NAMESPACE)})
MAX_TYPES = 50


def mastodon_type(note: Notification) -> str:
    return TYPES.get(note.kind, NAMESPACE + note.kind)


def is_standard(note: Notification) -> bool:
    """Whether Mastodon apps know this notification's type (listed by default;
    a stream may send only these)."""
    return not mastodon_type(note).startswith(NAMESPACE)


def kinds_for(types: list[str], exclude: list[str]) -> list[str]:
    """The Commonground kinds that ``types[]`` and ``exclude_types[]`` ask for:
    no types is Mastodon's standard ones; a type this server never makes (``reblog``,
    ``poll``...) or does not know matches nothing, as in Mastodon."""
    wanted = set(types) if types else set(STANDARD)
    return [k for k, t in TYPES.items() if t in wanted and t not in set(exclude)]


# --- the entity ---------------------------------------------------------------------


def _commonground(ctx: Ctx, item: notifications.Item) -> Json:
    note = item.note
    art, com = item.artifact, item.community
    return {
        "kind": note.kind,
        "verb": note.verb or None,
        "summary": item.summary,
        "actors_count": note.actor_count,
        "read": note.read_at is not None,
        "artifact": (
            {"id": str(art.id), "title": art.title, "url": artifact_url(ctx, art)} if art else None
        ),
        "community": (
            {
                "name": com.name,
                "title": com.display_title,
                "url": com.uri if com.domain else community_uri(ctx, com.name),
            }
            if com
            else None
        ),
        "ref_id": str(note.ref_id) if note.ref_id else None,
        "pending_account_ids": [str(a.id) for a in item.actors if a.id in item.pending],
    }


def entities(ctx: Ctx, viewer: Account, rows: list[Notification]) -> list[Json]:
    """Notification entities for the viewer's notifications, in their order, in a
    fixed number of queries. A notification with no actor (a vote closing, a
    moderators' action) names the viewer as its account: apps need one."""
    found = notifications.items(ctx, rows)
    replies = notifications.latest_replies(ctx, found)
    posts: dict[int, Post] = {}
    for item in found:
        post = replies.get(item.note.id) or item.post
        if post is not None:
            posts[item.note.id] = post
    shown = list({p.id: p for p in posts.values()}.values())
    statuses = dict(zip([p.id for p in shown], shapes.statuses(ctx, shown, viewer), strict=True))
    people = {a.id: a for item in found for a in item.actors[:1]}
    people[viewer.id] = viewer
    cards = shapes.accounts(ctx, list(people.values()))
    out = []
    for item in found:
        note = item.note
        who = item.actors[0].id if item.actors else viewer.id
        post = posts.get(note.id)
        shape: Json = {
            "id": str(note.id),
            "type": mastodon_type(note),
            "created_at": shapes.when(note.latest_at),
            "group_key": f"{note.kind}-{note.id}",
            "account": cards[who],
            "status": statuses[post.id] if post is not None else None,
        }
        if not is_standard(note):
            shape["commonground"] = _commonground(ctx, item)
        out.append(shape)
    return out


def entity(ctx: Ctx, viewer: Account, note: Notification) -> Json:
    return entities(ctx, viewer, [note])[0]


# --- the endpoints ------------------------------------------------------------------


class ListParams(params.Params):
    types: list[str] = Field(default=[], max_length=MAX_TYPES)
    exclude_types: list[str] = Field(default=[], max_length=MAX_TYPES)
    account_id: str | None = Field(default=None, max_length=40)

    @field_validator("types", "exclude_types", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("types", "exclude_types", mode="after")
    @classmethod
    def _short(cls, value: list[str]) -> list[str]:
        for v in value:
            if len(v) > 50:
                raise ValueError(f"{v[:40]!r}… is not a notification type")
        return value

    @field_validator("account_id", mode="before")
    @classmethod
    def _digits(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("account_id", mode="after")
    @classmethod
    def _an_id(cls, value: str | None) -> str | None:
        if value:
            n = ids.number(value)
            if n is None or n > MAX_ID:
                raise ValueError("is not an account id")
        return value or None


def _note_id(value: str) -> int:
    n = ids.number(value)
    if n is None or n > MAX_ID:
        raise NotFound("No such notification.", code="notification_not_found")
    return n


@router.get("")
async def listing(
    request: Request, response: Response, ctx: CtxDep, viewer: Reader, page: PageDep
) -> list[Json]:
    given = params.parse(ListParams, await params.read(request))
    return await run_sync(_listing, request, response, ctx, viewer, page, given)


def _listing(
    request: Request, response: Response, ctx: Ctx, viewer: Account, page: Page, given: ListParams
) -> list[Json]:
    rows = notifications.by_id(
        ctx,
        viewer,
        kinds=kinds_for(given.types, given.exclude_types),
        actor_id=int(given.account_id) if given.account_id else None,
        below=page.below,
        above=page.above,
        oldest_first=page.oldest_first,
        limit=page.limit,
    )
    out = entities(ctx, viewer, rows)
    set_link(response, request, ctx.base_url, [n["id"] for n in out])
    return out


@router.get("/unread_count")
def unread_count(ctx: CtxDep, viewer: Reader) -> Json:
    """Unread notifications (those not yet read on any page or app, whatever
    ``types[]``: the count is the member's one unread count)."""
    return {"count": notifications.unread_count(ctx, viewer)}


@router.post("/clear")
def clear(ctx: CtxDep, viewer: Writer) -> Json:
    notifications.clear(ctx, viewer)
    return {}


@router.get("/{note_id}")
def one(note_id: str, ctx: CtxDep, viewer: Reader) -> Json:
    return entity(ctx, viewer, notifications.get(ctx, viewer, _note_id(note_id)))


@router.post("/{note_id}/dismiss")
def dismiss(note_id: str, ctx: CtxDep, viewer: Writer) -> Json:
    notifications.dismiss(ctx, viewer, _note_id(note_id))
    return {}
