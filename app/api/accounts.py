"""Accounts, API tokens and the signed-in member's profile."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from app.api.auth import BearerToken, MaybeAccount, Reader, Writer
from app.api.schemas import (
    MAX_ID,
    AccountCreate,
    AccountOut,
    ActorOut,
    ActorPage,
    BoundedJSONRoute,
    FeedOut,
    MeOut,
    PasswordChange,
    ProfileUpdate,
    TokenCreate,
    TokenOut,
)
from app.deps import CtxDep, client_ip
from app.models import Account, Community
from app.services import Ctx, accounts, auth, communities, follow_lists, registration
from app.services.ranking import feeds

router = APIRouter(tags=["accounts"], route_class=BoundedJSONRoute)
Username = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_]+$")]


def account_out(ctx: Ctx, a: Account) -> AccountOut:
    return AccountOut(
        username=a.username,
        domain=a.domain,
        display_name=a.name,
        bio=a.bio,
        avatar_url=a.avatar_url,
        url=accounts.profile_url(ctx, a),
        uri=a.uri,
        is_admin=a.is_admin,
        created_at=a.created_at,
    )


@router.post(
    "/accounts",
    status_code=201,
    response_model=AccountOut,
    responses={202: {"model": AccountOut, "description": "waiting for an admin's approval"}},
)
def register(body: AccountCreate, ctx: CtxDep, request: Request, response: Response) -> AccountOut:
    """Sign up, under the instance's registration mode (``GET
    /api/cg/v1/instance/registration``): ``invite`` needs an invite code, ``approval`` a
    reason, and answers 202 until an admin approves. ``email`` is required when the
    instance verifies addresses (log in after following the mailed link);
    ``answer`` when it asks a sign-up question."""
    done = registration.sign_up(
        ctx,
        body.username,
        body.password,
        body.display_name,
        client=client_ip(request),
        invite=body.invite,
        reason=body.reason,
        email=body.email,
        answer=body.answer,
    )
    if done.pending:
        response.status_code = 202
    return account_out(ctx, done.account)


@router.get("/accounts/{username}", response_model=AccountOut)
def get_account(username: Username, ctx: CtxDep) -> AccountOut:
    return account_out(ctx, accounts.get_local(ctx, username))


@router.get("/accounts/{username}/posts", response_model=FeedOut)
def account_posts(
    username: Username,
    ctx: CtxDep,
    viewer: MaybeAccount,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=feeds.MAX_LIMIT)] = 20,
) -> FeedOut:
    author = accounts.get_local(ctx, username)
    return FeedOut.of(feeds.profile(ctx, author, viewer, cursor=cursor, limit=limit))


def actor_out(ctx: Ctx, actor: Account | Community) -> ActorOut:
    handle = actor.username if isinstance(actor, Account) else actor.name
    if actor.domain:
        handle = f"{handle}@{actor.domain}"
    if isinstance(actor, Account):
        return ActorOut(
            kind="account",
            handle=handle,
            name=actor.name,
            uri=actor.uri,
            url=accounts.profile_url(ctx, actor),
        )
    url = actor.uri if actor.domain else f"{ctx.base_url}/c/{actor.name}"
    return ActorOut(
        kind="community", handle=handle, name=actor.display_title, uri=actor.uri, url=url
    )


ListCursor = Annotated[str | None, Query(max_length=20, description="next_cursor of the last page")]
ListLimit = Annotated[int, Query(ge=1, le=follow_lists.MAX_LIMIT)]


@router.get("/accounts/{username}/{which}", response_model=ActorPage)
def account_follow_list(
    username: Username,
    which: Annotated[Literal["followers", "following"], Path()],
    ctx: CtxDep,
    cursor: ListCursor = None,
    limit: ListLimit = 40,
) -> ActorPage:
    """Who follows the member (``followers``), or the members and communities they
    follow (``following``), local and remote, newest first."""
    person = accounts.get_local(ctx, username)
    listed = follow_lists.followers if which == "followers" else follow_lists.following
    found, next_cursor = listed(ctx, person, cursor=cursor, limit=limit)
    return ActorPage(items=[actor_out(ctx, a) for a in found], next_cursor=next_cursor)


@router.post("/tokens", status_code=201, response_model=TokenOut)
def create_token(body: TokenCreate, ctx: CtxDep, request: Request) -> TokenOut:
    """Exchange a username and password for a personal API token (shown once)."""
    account = accounts.authenticate(ctx, body.username, body.password, client_ip(request))
    token, raw = auth.create_token(ctx, account, body.scope, body.name, client=client_ip(request))
    return TokenOut(token=raw, **token.model_dump(include=set(TokenOut.model_fields) - {"token"}))


def me_out(ctx: Ctx, a: Account) -> MeOut:
    return MeOut(
        **account_out(ctx, a).model_dump(),
        expand_warnings=a.expand_warnings,
        email=a.email,
        email_verified=a.email_verified_at is not None,
    )


@router.get("/me", response_model=MeOut)
def me(ctx: CtxDep, account: Reader) -> MeOut:
    return me_out(ctx, account)


@router.patch("/me", response_model=MeOut)
def update_me(body: ProfileUpdate, ctx: CtxDep, account: Writer) -> MeOut:
    accounts.update_profile(
        ctx, account, display_name=body.display_name, bio=body.bio, avatar_url=body.avatar_url
    )
    if body.expand_warnings is not None:
        accounts.set_preferences(ctx, account, expand_warnings=body.expand_warnings)
    return me_out(ctx, account)


@router.post("/me/password", status_code=204)
def change_password(
    body: PasswordChange, ctx: CtxDep, account: Writer, token: BearerToken
) -> Response:
    """Every browser session of the account ends; see ``revoke_tokens``."""
    accounts.change_password(
        ctx,
        account,
        body.current_password,
        body.new_password,
        revoke_tokens=body.revoke_tokens,
        keep_token=token,
    )
    return Response(status_code=204)


@router.get("/me/tokens", response_model=list[TokenOut])
def list_tokens(ctx: CtxDep, account: Reader) -> list[TokenOut]:
    return [
        TokenOut(**t.model_dump(include=set(TokenOut.model_fields) - {"token"}))
        for t in auth.list_tokens(ctx, account)
    ]


@router.delete("/me/tokens/{token_id}", status_code=204)
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=MAX_ID)], ctx: CtxDep, account: Writer
) -> Response:
    auth.revoke_token(ctx, account, token_id)
    return Response(status_code=204)


class SessionOut(BaseModel):
    id: int
    created_at: datetime
    last_used_at: datetime | None
    browser: str = Field(description="a short description of the browser, e.g. Firefox on Linux")
    address: str = Field(description="where it logged in from, roughly (a /24 or /48)")


@router.get("/me/sessions", response_model=list[SessionOut])
def list_sessions(ctx: CtxDep, account: Reader) -> list[SessionOut]:
    """The member's browser logins (API tokens: ``GET /api/cg/v1/me/tokens``)."""
    return [
        SessionOut(
            id=s.id,
            created_at=s.created_at,
            last_used_at=s.last_used_at,
            browser=s.user_agent,
            address=s.ip_prefix,
        )
        for s in auth.sessions(ctx, account)
    ]


@router.delete("/me/sessions/{session_id}", status_code=204)
def end_session(
    session_id: Annotated[int, Path(ge=1, le=MAX_ID)], ctx: CtxDep, account: Writer
) -> Response:
    """Log one of the member's browsers out."""
    auth.end_session_by_id(ctx, account, session_id)
    return Response(status_code=204)


@router.get("/me/communities")
def my_communities(ctx: CtxDep, account: Reader) -> list[dict]:
    return [
        {"community": c.name, "title": c.display_title, "role": m.role, "state": m.state}
        for c, m in communities.of_member(ctx, account)
    ]
