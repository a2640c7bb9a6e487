"""Registration mode, invites and applications (app/services/registration.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from app.api.auth import Reader, Writer
from app.api.schemas import MAX_ID, Body, BoundedJSONRoute
from app.deps import CtxDep
from app.models import Invite
from app.services import Ctx, emails, registration

router = APIRouter(tags=["registration"], route_class=BoundedJSONRoute)
ApplicationId = Annotated[int, Path(ge=1, le=MAX_ID)]


class RegistrationOut(BaseModel):
    mode: Literal["open", "approval", "invite", "closed"]
    members_may_invite: bool
    email_required: bool = Field(description="sign-ups give an address and confirm it")
    question: str = Field(description="the sign-up question to answer (`answer`), or empty")


class RegistrationIn(Body):
    mode: Literal["open", "approval", "invite", "closed"]


class InviteIn(Body):
    max_uses: int = Field(default=1, ge=1, le=registration.MAX_INVITE_USES)
    expires_in_hours: float | None = Field(default=None, gt=0, le=registration.MAX_INVITE_HOURS)


class InviteOut(BaseModel):
    code: str
    url: str
    max_uses: int
    uses: int
    expires_at: datetime | None
    created_at: datetime
    joined: list[str]


class InvitePage(BaseModel):
    items: list[InviteOut]


class ApplicationOut(BaseModel):
    id: int
    username: str
    reason: str
    created_at: datetime


class ApplicationPage(BaseModel):
    items: list[ApplicationOut]


class DecisionOut(BaseModel):
    username: str
    state: Literal["approved", "rejected"]
    decided_at: datetime
    decided_by: str


def _registration(ctx: Ctx) -> RegistrationOut:
    return RegistrationOut(
        mode=registration.mode(ctx),
        members_may_invite=ctx.settings.members_may_invite,
        email_required=emails.verification_required(ctx),
        question=registration.question(ctx),
    )


@router.get("/instance/registration", response_model=RegistrationOut)
def get_registration(ctx: CtxDep) -> RegistrationOut:
    """Who may sign up here."""
    return _registration(ctx)


@router.put("/instance/registration", response_model=RegistrationOut)
def put_registration(body: RegistrationIn, ctx: CtxDep, admin: Writer) -> RegistrationOut:
    """Change the registration mode (instance admins)."""
    registration.set_mode(ctx, admin, body.mode)
    return _registration(ctx)


def _invite_out(ctx: Ctx, invite: Invite, joined: list[str]) -> InviteOut:
    return InviteOut(
        code=invite.code,
        url=registration.invite_url(ctx, invite),
        max_uses=invite.max_uses,
        uses=invite.uses,
        expires_at=invite.expires_at,
        created_at=invite.created_at,
        joined=joined,
    )


@router.post("/invites", status_code=201, response_model=InviteOut)
def create_invite(body: InviteIn, ctx: CtxDep, member: Writer) -> InviteOut:
    """An invite link (admins; members too when ``CG_MEMBERS_MAY_INVITE`` is on)."""
    invite = registration.create_invite(
        ctx, member, max_uses=body.max_uses, expires_in_hours=body.expires_in_hours
    )
    return _invite_out(ctx, invite, [])


@router.get("/invites", response_model=InvitePage)
def list_invites(ctx: CtxDep, member: Reader) -> InvitePage:
    """Invites, with who joined through each (an admin sees all, a member their own)."""
    return InvitePage(items=[_invite_out(ctx, i, j) for i, j in registration.invites(ctx, member)])


@router.get("/admin/applications", response_model=ApplicationPage)
def list_applications(ctx: CtxDep, admin: Reader) -> ApplicationPage:
    """Sign-ups waiting for approval (instance admins)."""
    registration.require_admin(admin)
    return ApplicationPage(
        items=[
            ApplicationOut(id=a.id, username=acc.username, reason=a.reason, created_at=a.created_at)
            for a, acc in registration.applications(ctx)
        ]
    )


@router.post("/admin/applications/{application_id}/{verdict}", response_model=DecisionOut)
def decide_application(
    application_id: ApplicationId,
    verdict: Literal["approve", "reject"],
    ctx: CtxDep,
    admin: Writer,
) -> DecisionOut:
    """Approve or reject an application (instance admins)."""
    account = registration.decide(ctx, admin, application_id, verdict == "approve")
    application = registration.application_of(ctx, account)
    assert application is not None and application.decided_at is not None  # just decided
    return DecisionOut(
        username=account.username,
        state="approved" if verdict == "approve" else "rejected",
        decided_at=application.decided_at,
        decided_by=admin.username if application.decided_by_id == admin.id else "",
    )
