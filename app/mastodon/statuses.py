"""Statuses in the Mastodon client API: post (with an Idempotency-Key), read,
edit, delete, source, history, context, and favourite (Commonground's "like").

Statuses are ``public`` or ``unlisted`` (app/services/visibility.py); ``private``
and ``direct`` are refused (422) rather than posted more widely than the member
asked. Boosts (reblogs) are app/services/boosts.py; a boost has a status
id of its own (app/mastodon/ids.py). Bookmarks and pins are
app/services/bookmarks.py and pins.py. See
docs/mastodon-api.md ("Statuses")."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from html import escape
from typing import Annotated, Any

from anyio.to_thread import run_sync
from fastapi import APIRouter, Header, Request
from pydantic import Field, field_validator

from app.api.auth import MaybeAccount, Writer
from app.deps import CtxDep, client_ip
from app.errors import Forbidden, Invalid, NotFound
from app.mastodon import artifact_statuses, entities, groups, ids, params
from app.models import MAX_ID, Account, Post
from app.services import Ctx, bookmarks, boosts, mutes, pins, posts, reactions
from app.text import render_markdown

router = APIRouter(prefix="/api/v1/statuses")

Json = dict[str, Any]
VISIBILITIES = ("public", "unlisted", "private", "direct")
NOT_SUPPORTED = (
    "{what} are not supported on this server (Commonground); see its docs/mastodon-api.md."
)


class StatusParams(params.Params):
    status: params.Text = Field(default="", max_length=200_000)
    in_reply_to_id: str | None = Field(default=None, max_length=40)
    media_ids: list[str] = Field(default=[], max_length=20)
    sensitive: bool = False
    spoiler_text: params.Text = Field(default="", max_length=10_000)
    visibility: str | None = Field(default=None, max_length=20)
    scheduled_at: str | None = Field(default=None, max_length=100)
    poll: Any = None

    @field_validator("media_ids", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str | int) else value

    @field_validator("media_ids", mode="after")
    @classmethod
    def _digits(cls, value: list[str]) -> list[str]:
        for v in value:
            n = ids.number(str(v))
            if n is None or n > MAX_ID:
                raise ValueError(f"{str(v)[:40]!r} is not a media id")
        return value


def _media_ids(given: StatusParams) -> list[int]:
    return [int(v) for v in given.media_ids]


def _refuse_what_we_lack(given: StatusParams) -> None:
    _public_or_unlisted(given.visibility)
    if given.poll is not None:
        raise Invalid(NOT_SUPPORTED.format(what="Polls"), code="polls_not_supported")
    if given.scheduled_at:
        raise Invalid(
            NOT_SUPPORTED.format(what="Scheduled statuses"), code="scheduling_not_supported"
        )


def _public_or_unlisted(visibility: str | None) -> None:
    """What a new status may be: ``private`` and ``direct`` are not made here."""
    if visibility != "unlisted":
        _public_only(visibility)


def _public_only(visibility: str | None) -> None:
    if visibility is not None and visibility not in VISIBILITIES:
        raise Invalid(
            f"Validation failed: visibility must be one of {', '.join(VISIBILITIES)}.",
            code="invalid_visibility",
        )
    if visibility not in (None, "public"):
        raise Invalid(
            f"Validation failed: only public and unlisted statuses exist here (not "
            f"{visibility}): Commonground has no followers-only or direct visibility.",
            code="unsupported_visibility",
        )


@router.post("")
async def create_status(
    request: Request,
    ctx: CtxDep,
    author: Writer,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Json:
    given = params.parse(StatusParams, await params.read(request))
    return await run_sync(_create, ctx, author, given, idempotency_key, client_ip(request))


def _create(ctx: Ctx, author: Account, given: StatusParams, key: str | None, client: str) -> Json:
    _refuse_what_we_lack(given)
    parent = ids.post_by_status_id(ctx, given.in_reply_to_id) if given.in_reply_to_id else None
    community, title, text = (
        (None, None, given.status) if parent else groups.addressed(ctx, given.status)
    )
    post = posts.create(
        ctx,
        author,
        text,
        community=community,
        title=title,
        in_reply_to=parent.id if parent else None,
        client=client,
        summary=given.spoiler_text or None,
        sensitive=given.sensitive,
        media_ids=_media_ids(given),
        idempotency_key=key or None,
        visibility="public" if given.visibility is None else given.visibility,
    )
    return entities.status(ctx, post, author)


@router.get("/{status_id}")
def get_status(status_id: str, ctx: CtxDep, viewer: MaybeAccount) -> Json:
    """A boost id answers the Group's boost (app/mastodon/groups.py); an artifact's
    or statement's id, the artifact as a status (app/mastodon/artifact_statuses.py)."""
    if found := artifact_statuses.find(ctx, status_id):
        return artifact_statuses.status(ctx, found, viewer)
    post = ids.post_by_status_id(ctx, status_id)
    if post.is_deleted:
        raise NotFound("No such status.", code="post_not_found")
    if ids.is_member_boost_id(status_id):
        return _boost_status(ctx, status_id, viewer)
    if ids.is_boost_id(status_id):
        return entities.statuses_or_boosts(ctx, [post], viewer, None)[0]
    return entities.status(ctx, post, viewer)


def _live(ctx: Ctx, status_id: str) -> Post:
    """A post to change or read the source of; a boost is not a post to change (404,
    as Mastodon answers for a reblog)."""
    if ids.is_boost_id(status_id) or ids.is_member_boost_id(status_id):
        raise NotFound("No such status.", code="post_not_found")
    post = ids.post_by_status_id(ctx, status_id)
    if post.is_deleted:
        raise NotFound("No such status.", code="post_not_found")
    return post


@router.delete("/{status_id}")
def delete_status(status_id: str, ctx: CtxDep, viewer: Writer) -> Json:
    """The status as it was, with its ``text`` (what apps offer to redraft). One's
    own boost's id undoes the boost (as Mastodon lets a reblog be deleted)."""
    if ids.is_member_boost_id(status_id):
        return _delete_boost(ctx, status_id, viewer)
    post = _live(ctx, status_id)
    if not posts.can_delete(ctx, viewer, post):
        raise Forbidden("This action is not allowed", code="not_author")
    shown = entities.status(ctx, post, viewer)
    shown["text"] = post.text
    posts.delete_post(ctx, viewer, post.id)
    return shown


class EditParams(params.Params):
    status: params.Text = Field(default="", max_length=200_000)
    spoiler_text: params.Text | None = Field(default=None, max_length=10_000)


@router.put("/{status_id}")
async def edit_status(status_id: str, request: Request, ctx: CtxDep, viewer: Writer) -> Json:
    """The text changes (the earlier version goes to the history); a changed
    content warning or media is not supported (422)."""
    given = params.parse(EditParams, await params.read(request))
    return await run_sync(_edit, ctx, viewer, status_id, given)


def _edit(ctx: Ctx, viewer: Account, status_id: str, given: EditParams) -> Json:
    post = _live(ctx, status_id)
    if post.author_id != viewer.id:
        raise Forbidden("This action is not allowed", code="not_author")
    current = entities.status(ctx, post, viewer)["spoiler_text"]
    if given.spoiler_text is not None and given.spoiler_text.strip() != current:
        raise Invalid(
            NOT_SUPPORTED.format(what="Changes to a content warning"), code="warning_unchanged"
        )
    edited = posts.edit(ctx, viewer, post.id, given.status)
    return entities.status(ctx, edited, viewer)


@router.get("/{status_id}/source")
def status_source(status_id: str, ctx: CtxDep, viewer: Writer) -> Json:
    post = _live(ctx, status_id)
    if post.author_id != viewer.id:
        raise Forbidden("This action is not allowed", code="not_author")
    spoiler = entities.status(ctx, post, viewer)["spoiler_text"]
    return {"id": ids.status_id(post), "text": post.text, "spoiler_text": spoiler}


@router.get("/{status_id}/history")
def status_history(status_id: str, ctx: CtxDep, viewer: MaybeAccount) -> list[Json]:
    """Every version, oldest first, the current one last (as Mastodon lists them)."""
    if found := artifact_statuses.find(ctx, status_id):
        return artifact_statuses.history(ctx, found, viewer)
    post = _live(ctx, status_id)
    now = entities.status(ctx, post, viewer)
    versions = []
    for rev in reversed(posts.history(ctx, post)):
        if post.uri.startswith(ctx.base_url):
            html = render_markdown(rev.text, base_url=ctx.base_url).html.strip()
        else:
            html = f"<p>{escape(rev.text)}</p>"
        versions.append((html, rev.written_at))
    versions.append((now["content"], post.updated_at or post.created_at))
    return [
        {
            "content": html,
            "spoiler_text": now["spoiler_text"],
            "sensitive": now["sensitive"],
            "created_at": entities.when(at),
            "account": now["account"],
            "poll": None,
            "media_attachments": now["media_attachments"],
            "emojis": [],
        }
        for html, at in versions
    ]


@router.get("/{status_id}/context")
def status_context(status_id: str, ctx: CtxDep, viewer: MaybeAccount) -> Json:
    """The posts above this one in its thread, oldest first, and those below it,
    in the order they were written (without authors hidden from the viewer)."""
    if found := artifact_statuses.find(ctx, status_id):
        return artifact_statuses.context(ctx, found, viewer)
    post = ids.post_by_status_id(ctx, status_id)
    root, replies = posts.thread(ctx, post, viewer=viewer)
    by_id = {p.id: p for p in [root, *replies]}
    ancestors: list[Post] = []
    seen = {post.id}
    up = post.in_reply_to_id
    while up is not None and up in by_id and up not in seen:
        seen.add(up)
        ancestors.append(by_id[up])
        up = by_id[up].in_reply_to_id
    ancestors.reverse()
    below = {post.id}
    descendants = []
    for reply in replies:  # written order: a parent comes before its replies
        if reply.in_reply_to_id in below and reply.id not in below:
            below.add(reply.id)
            descendants.append(reply)
    live = [p for p in [*ancestors, *descendants] if not p.is_deleted]
    shown = dict(zip([p.id for p in live], entities.statuses(ctx, live, viewer), strict=True))
    return {
        "ancestors": [shown[p.id] for p in ancestors if p.id in shown],
        "descendants": [shown[p.id] for p in descendants if p.id in shown],
    }


@router.post("/{status_id}/favourite")
def favourite(status_id: str, request: Request, ctx: CtxDep, viewer: Writer) -> Json:
    post = ids.post_by_status_id(ctx, status_id)
    reactions.react(ctx, viewer, post.id, "like", client=client_ip(request))
    return entities.status(ctx, post, viewer)


@router.post("/{status_id}/unfavourite")
def unfavourite(status_id: str, ctx: CtxDep, viewer: Writer) -> Json:
    post = ids.post_by_status_id(ctx, status_id)
    reactions.unreact(ctx, viewer, post.id, "like")
    return entities.status(ctx, post, viewer)


@router.get("/{status_id}/favourited_by")
def favourited_by(status_id: str, ctx: CtxDep) -> list[Json]:
    post = ids.post_by_status_id(ctx, status_id)
    people = reactions.likers(ctx, post.id)
    cards = entities.accounts(ctx, people)
    return [cards[p.id] for p in people]


@router.get("/{status_id}/reblogged_by")
def reblogged_by(status_id: str, ctx: CtxDep) -> list[Json]:
    post = ids.post_by_status_id(ctx, status_id)
    people = boosts.boosters(ctx, post.id)
    cards = entities.accounts(ctx, people)
    return [cards[p.id] for p in people]


class ReblogParams(params.Params):
    visibility: str | None = Field(default=None, max_length=20)


@router.post("/{status_id}/reblog")
async def reblog(status_id: str, request: Request, ctx: CtxDep, viewer: Writer) -> Json:
    """The boost, a Status of its own whose ``reblog`` is the post; ``visibility``
    public only, as every post here is."""
    given = params.parse(ReblogParams, await params.read(request))
    return await run_sync(_reblog, ctx, viewer, status_id, given, client_ip(request))


def _reblog(ctx: Ctx, viewer: Account, status_id: str, given: ReblogParams, client: str) -> Json:
    post = ids.post_by_status_id(ctx, status_id)
    _public_only(given.visibility)
    made = boosts.boost(ctx, viewer, post, client=client)
    return entities.member_boosts(ctx, [made], viewer)[0]


@router.post("/{status_id}/unreblog")
def unreblog(status_id: str, ctx: CtxDep, viewer: Writer) -> Json:
    """The post, no longer boosted by the viewer."""
    post = ids.post_by_status_id(ctx, status_id)
    boosts.unboost(ctx, viewer, post)
    return entities.status(ctx, post, viewer)


def _boost_status(ctx: Ctx, status_id: str, viewer: Account | None) -> Json:
    found = boosts.by_status_id(ctx, int(status_id))
    return entities.member_boosts(ctx, [found], viewer)[0]


def _delete_boost(ctx: Ctx, status_id: str, viewer: Account) -> Json:
    """Undo one's own boost, answering it as it was; another's is not found."""
    post = ids.post_by_status_id(ctx, status_id)
    found = boosts.by_status_id(ctx, int(status_id))
    if found.account_id != viewer.id or post.is_deleted:
        raise NotFound("No such status.", code="post_not_found")
    shown = entities.member_boosts(ctx, [found], viewer)[0]
    boosts.remove(ctx, found)
    return shown


@router.post("/{status_id}/mute")
def mute_conversation(status_id: str, ctx: CtxDep, viewer: Writer) -> Json:
    """Mute the thread (Commonground's thread mute: its posts leave the feeds)."""
    post = ids.post_by_status_id(ctx, status_id)
    mutes.mute(ctx, viewer, _thread(post))
    return {**entities.status(ctx, post, viewer), "muted": True}


@router.post("/{status_id}/unmute")
def unmute_conversation(status_id: str, ctx: CtxDep, viewer: Writer) -> Json:
    post = ids.post_by_status_id(ctx, status_id)
    with contextlib.suppress(NotFound):
        mutes.unmute(ctx, viewer, _thread(post))
    return entities.status(ctx, post, viewer)


def _thread(post: Post) -> mutes.Target:
    return mutes.Target("thread", str(post.root_id or post.id))


def _marking(change: Callable[[Ctx, Account, Post], None]) -> Callable[..., Json]:
    """An endpoint that bookmarks, pins or undoes either, answering the Status."""

    def endpoint(status_id: str, ctx: CtxDep, viewer: Writer) -> Json:
        post = ids.post_by_status_id(ctx, status_id)
        change(ctx, viewer, post)
        return entities.status(ctx, post, viewer)

    return endpoint


for verb, change in (
    ("bookmark", bookmarks.add),
    ("unbookmark", bookmarks.remove),
    ("pin", pins.pin),
    ("unpin", pins.unpin),
):
    router.add_api_route(f"/{{status_id}}/{verb}", _marking(change), methods=["POST"])
