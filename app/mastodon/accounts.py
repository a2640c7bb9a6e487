"""Accounts in the Mastodon client API: the member's own (verify / update
credentials), anyone's profile, statuses, followers and following, and the
relationship verbs (follow, block, mute and their undoing)."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from anyio.to_thread import run_sync
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from app.api.auth import MaybeAccount, Reader, Writer
from app.deps import CtxDep, client_ip
from app.errors import Invalid, NotFound
from app.mastodon import entities, groups, ids, params, timelines
from app.mastodon import search as search_api
from app.mastodon.pagination import PageDep, set_link
from app.models import Account, Community
from app.services import Ctx, accounts, blocks, follow_lists, follows, media, mutes, pins
from app.services.ranking.types import Sources

router = APIRouter(prefix="/api/v1/accounts")

Json = dict[str, Any]
MAX_RELATIONSHIPS = 100


class Credentials(params.Params):
    display_name: params.Text | None = Field(default=None, max_length=100)
    note: params.Text | None = Field(default=None, max_length=5000)


@router.get("/verify_credentials")
def verify_credentials(ctx: CtxDep, account: Reader) -> Json:
    return entities.credential_account(ctx, account)


@router.patch("/update_credentials")
async def update_credentials(request: Request, ctx: CtxDep, account: Writer) -> Json:
    """Display name and bio (``note``), and an avatar or header image as a file:
    what the profile settings page changes."""
    values = await params.read(request)
    images = {which: params.file(values, which) for which in ("avatar", "header")}
    given = params.parse(Credentials, values)
    uploads = {which: await f.read() for which, f in images.items() if f is not None}
    return await run_sync(_update, ctx, account, given, uploads, client_ip(request))


def _update(
    ctx: Ctx, account: Account, given: Credentials, uploads: dict[str, bytes], client: str
) -> Json:
    accounts.update_profile(ctx, account, display_name=given.display_name, bio=given.note)
    for which, data in uploads.items():
        media.set_profile_image(ctx, account, which, data, client=client)
    return entities.credential_account(ctx, account)


def _known(ctx: Ctx, acct: str) -> Account | Community:
    """An account (or a community: a Group) this instance knows, by ``name`` or
    ``name@domain`` (no lookup elsewhere), shown to anyone."""
    name, _, domain = acct.strip().lstrip("@").partition("@")
    if not name or len(acct) > 400:
        raise NotFound("No such account.", code="account_not_found")
    try:
        found = follows.resolve_target(ctx, f"{name}@{domain}" if domain else name)
    except (NotFound, Invalid):
        found = None
    if isinstance(found, Community):
        return groups.shown(ctx, found)
    if not isinstance(found, Account):
        raise NotFound("No such account.", code="account_not_found")
    return ids.account_by_id(ctx, str(found.id))


@router.get("/lookup")
def lookup(ctx: CtxDep, acct: Annotated[str, Query(max_length=400)] = "") -> Json:
    found = _known(ctx, acct)
    if isinstance(found, Community):
        return entities.group(ctx, found)
    return entities.account(ctx, found)


@router.get("/relationships")
def relationships(
    ctx: CtxDep,
    viewer: Reader,
    id: Annotated[list[str], Query(alias="id[]", max_length=MAX_RELATIONSHIPS)] = [],  # noqa: B006 - FastAPI copies it
    single: Annotated[list[str], Query(alias="id", max_length=MAX_RELATIONSHIPS)] = [],  # noqa: B006 - FastAPI copies it
) -> list[Json]:
    found: list[Account | Community] = []
    for value in [*id, *single]:
        try:
            found.append(ids.group_by_account_id(ctx, value) or ids.account_by_id(ctx, value))
        except NotFound:
            continue  # Mastodon leaves out what it does not find
    people = [a for a in found if isinstance(a, Account)]
    bands = [c for c in found if isinstance(c, Community)]
    out = entities.relationships(ctx, viewer, people) + entities.group_relationships(
        ctx, viewer, bands
    )
    by_id = {r["id"]: r for r in out}
    order = [
        ids.account_id(a) if isinstance(a, Account) else ids.group_account_id(a) for a in found
    ]
    return [by_id[i] for i in order]  # in the order asked, as before


@router.get("/search")
def search_accounts(
    given: Annotated[search_api.SearchParams, Depends(search_api.resolve_first)],
    ctx: CtxDep,
    viewer: MaybeAccount,
) -> list[Json]:
    """The accounts of GET /api/v2/search (one place: app/mastodon/search.py), by
    default 40 of them; ``resolve`` and ``offset`` as there."""
    limit = search_api.limit_of(given.limit, default=40)
    return search_api.found_accounts(
        ctx, viewer, given.q, limit=limit, offset=given.offset, following=given.following
    )


@router.get("/{account_id}")
def get_account(account_id: str, ctx: CtxDep) -> Json:
    if (group := ids.group_by_account_id(ctx, account_id)) is not None:
        return entities.group(ctx, group)
    return entities.account(ctx, ids.account_by_id(ctx, account_id))


@router.get("/{account_id}/statuses")
def account_statuses(
    account_id: str,
    request: Request,
    response: Response,
    ctx: CtxDep,
    viewer: MaybeAccount,
    page: PageDep,
    exclude_replies: bool = False,
    pinned: bool = False,
) -> list[Json]:
    """Newest first, by status id; ``pinned`` gives the pinned posts, the latest
    pinned first, on one page (a Group pins nothing). ``only_media`` is not filtered
    on (docs/mastodon-api.md). A Group's are its boosts (app/mastodon/groups.py)."""
    group = ids.group_by_account_id(ctx, account_id)
    if group is not None:
        return (
            []
            if pinned
            else groups.statuses(ctx, request, response, group, viewer, page, exclude_replies)
        )
    author = ids.account_by_id(ctx, account_id)
    if pinned:
        return entities.statuses(ctx, pins.of(ctx, author), viewer)
    sources = Sources(author_ids=[author.id], top_level_only=exclude_replies)
    rows = timelines.in_time_order(ctx, sources, viewer, page)
    return timelines.answer(ctx, request, response, rows, viewer)


def _people(
    direction: str, account_id: str, request: Request, response: Response, ctx: Ctx, page: Any
) -> list[Json]:
    account = ids.account_by_id(ctx, account_id)
    rows = follow_lists.between(
        ctx,
        account,
        direction,
        below=page.below,
        above=page.above,
        oldest_first=page.oldest_first,
        limit=page.limit,
    )
    cards = entities.accounts(ctx, [a for _, a in rows])
    set_link(response, request, ctx.base_url, [fid for fid, _ in rows])
    return [cards[a.id] for _, a in rows]


@router.get("/{account_id}/followers")
def followers(
    account_id: str, request: Request, response: Response, ctx: CtxDep, page: PageDep
) -> list[Json]:
    """Paged by the follow's id (the Link header's max_id / min_id); a Group's are
    its members, paged by the membership's id."""
    if (group := ids.group_by_account_id(ctx, account_id)) is not None:
        return groups.followers(ctx, request, response, group, page)
    return _people("followers", account_id, request, response, ctx, page)


@router.get("/{account_id}/following")
def following(
    account_id: str, request: Request, response: Response, ctx: CtxDep, page: PageDep
) -> list[Json]:
    if ids.group_by_account_id(ctx, account_id) is not None:
        return []  # a Group follows nobody
    return _people("following", account_id, request, response, ctx, page)


def _relationship(ctx: Ctx, viewer: Account, target: Account) -> Json:
    return entities.relationships(ctx, viewer, [target])[0]


@router.post("/{account_id}/follow")
def follow(account_id: str, ctx: CtxDep, viewer: Writer) -> Json:
    """Follows of members here are accepted at once; of members elsewhere they
    wait for an answer (``requested: true`` until it comes). Following a Group joins it."""
    if (group := ids.group_by_account_id(ctx, account_id)) is not None:
        return groups.follow(ctx, viewer, group)
    target = ids.account_by_id(ctx, account_id)
    follows.follow(ctx, viewer, target)
    return _relationship(ctx, viewer, target)


@router.post("/{account_id}/unfollow")
def unfollow(account_id: str, ctx: CtxDep, viewer: Writer) -> Json:
    if (group := ids.group_by_account_id(ctx, account_id)) is not None:
        return groups.unfollow(ctx, viewer, group)  # leaves it
    target = ids.account_by_id(ctx, account_id)
    with contextlib.suppress(NotFound):  # not following: answered the same, as Mastodon does
        follows.unfollow(ctx, viewer, target)
    return _relationship(ctx, viewer, target)


@router.post("/{account_id}/block")
def block(account_id: str, ctx: CtxDep, viewer: Writer) -> Json:
    target = ids.account_by_id(ctx, account_id)
    blocks.block(ctx, viewer, target)
    return _relationship(ctx, viewer, target)


@router.post("/{account_id}/unblock")
def unblock(account_id: str, ctx: CtxDep, viewer: Writer) -> Json:
    target = ids.account_by_id(ctx, account_id)
    with contextlib.suppress(NotFound):
        blocks.unblock(ctx, viewer, target.uri)
    return _relationship(ctx, viewer, target)


class MuteParams(params.Params):
    duration: int = Field(default=0, ge=0, le=mutes.MAX_DURATION)
    notifications: bool = True


@router.post("/{account_id}/mute")
async def mute(account_id: str, request: Request, ctx: CtxDep, viewer: Writer) -> Json:
    """``duration`` in seconds (0: until unmuted); notifications are muted with
    the account whatever ``notifications`` says (Commonground mutes both)."""
    given = params.parse(MuteParams, await params.read(request))
    return await run_sync(_mute, ctx, viewer, account_id, given.duration)


def _mute(ctx: Ctx, viewer: Account, account_id: str, duration: int) -> Json:
    target = ids.account_by_id(ctx, account_id)
    mutes.mute(ctx, viewer, mutes.Target("account", target.uri), duration or None)
    return _relationship(ctx, viewer, target)


@router.post("/{account_id}/unmute")
def unmute(account_id: str, ctx: CtxDep, viewer: Writer) -> Json:
    target = ids.account_by_id(ctx, account_id)
    with contextlib.suppress(NotFound):
        mutes.unmute(ctx, viewer, mutes.Target("account", target.uri))
    return _relationship(ctx, viewer, target)
