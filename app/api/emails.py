"""E-mail addresses, their confirmation links and password resets
(app/services/emails.py, app/services/password_resets.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from app.api.auth import Writer
from app.api.schemas import Body, BoundedJSONRoute, CleanStr
from app.deps import CtxDep, client_ip
from app.services import emails, password_resets
from app.services.accounts import MAX_PASSWORD

router = APIRouter(tags=["email"], route_class=BoundedJSONRoute)
LinkToken = Annotated[str, Path(max_length=200, pattern=r"^[A-Za-z0-9_-]+$")]
SENT = "If an account with this address waits for confirmation, a new link is on its way."


class EmailIn(Body):
    email: CleanStr = Field(max_length=400)


class NewPassword(Body):
    password: CleanStr = Field(max_length=MAX_PASSWORD)


class EmailChange(Body):
    email: CleanStr = Field(max_length=400)
    password: CleanStr = Field(max_length=MAX_PASSWORD)


class Accepted(BaseModel):
    detail: str


class Confirmed(BaseModel):
    username: str
    email: str


@router.post("/password-resets", status_code=202, response_model=Accepted)
def ask_for_reset(body: EmailIn, ctx: CtxDep, request: Request) -> Accepted:
    """Mail a one-time link to set a new password. The answer is the same whether
    or not an account uses the address."""
    password_resets.request(ctx, body.email, client=client_ip(request))
    return Accepted(detail=password_resets.ANSWER)


@router.post("/password-resets/{token}", status_code=204)
def reset_password(token: LinkToken, body: NewPassword, ctx: CtxDep) -> None:
    """Set the new password from the mailed link; every browser session of the
    member ends and every API token is revoked."""
    password_resets.reset(ctx, token, body.password)


@router.post("/email-verifications", status_code=202, response_model=Accepted)
def send_link_again(body: EmailIn, ctx: CtxDep, request: Request) -> Accepted:
    """Mail the confirmation link again (the answer never tells whether the
    address is known)."""
    emails.resend(ctx, body.email, client=client_ip(request))
    return Accepted(detail=SENT)


@router.post("/email-verifications/{token}", response_model=Confirmed)
def confirm_email(token: LinkToken, ctx: CtxDep) -> Confirmed:
    """Follow a confirmation link: the address is confirmed (a new one replaces the
    old, which is told)."""
    account = emails.confirm(ctx, token)
    return Confirmed(username=account.username, email=account.email or "")


@router.post("/me/email", status_code=202, response_model=Accepted)
def change_email(body: EmailChange, ctx: CtxDep, account: Writer) -> Accepted:
    """A new address (the password is asked): it replaces the old one once the link
    mailed to it is followed."""
    address = emails.request_change(ctx, account, body.email, body.password)
    return Accepted(detail=f"We mailed a link to {address}: follow it to use that address.")
