"""A member's stance on a status (agree, disagree or pass: Commonground's ratings
that bridging algorithms learn from) through the Mastodon client API, which has
no word for it: POST /api/v1/statuses/:id/commonground/stance (docs/mastodon-api.md,
"Stances"). A like stays Mastodon's favourite."""

from __future__ import annotations

from typing import Any

from anyio.to_thread import run_sync
from fastapi import APIRouter, Request
from pydantic import Field, field_validator

from app.api.auth import Writer
from app.deps import CtxDep, client_ip
from app.errors import Invalid
from app.mastodon import artifact_statuses, entities, ids, params
from app.models import Account, Artifact, Statement
from app.services import Ctx, reactions, stances

router = APIRouter(prefix="/api/v1/statuses")
Json = dict[str, Any]
WITHDRAW = ("", "none")


class StanceParams(params.Params):
    stance: str = Field(max_length=20)

    @field_validator("stance", mode="after")
    @classmethod
    def _known(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in (*reactions.STANCES, *WITHDRAW):
            raise ValueError(
                f"must be one of {', '.join(reactions.STANCES)}, or none to withdraw yours"
            )
        return value


@router.post("/{status_id}/commonground/stance")
async def take_stance(status_id: str, request: Request, ctx: CtxDep, viewer: Writer) -> Json:
    """Take, change or (with ``none`` or nothing) withdraw the viewer's stance;
    the status as it now is, with its ``commonground`` object."""
    given = params.parse(StanceParams, await params.read(request))
    return await run_sync(_take, ctx, viewer, status_id, given.stance, client_ip(request))


def _take(ctx: Ctx, viewer: Account, status_id: str, stance: str, client: str) -> Json:
    if found := artifact_statuses.find(ctx, status_id):
        return _on_artifact(ctx, viewer, found, stance)
    post = ids.post_by_status_id(ctx, status_id)
    if stance in WITHDRAW:
        held = reactions.mine(ctx, viewer, [post.id])[post.id] & set(reactions.STANCES)
        for kind in held:
            reactions.unreact(ctx, viewer, post.id, kind)
    else:
        reactions.react(ctx, viewer, post.id, stance, client=client)
    return entities.status(ctx, post, viewer)


def _on_artifact(
    ctx: Ctx, viewer: Account, found: tuple[Artifact, Statement | None], stance: str
) -> Json:
    """A stance on an artifact or a statement (``stances.take``): changed, never
    withdrawn, as on the pages."""
    artifact, statement = found
    if stance in WITHDRAW:
        raise Invalid(
            "A stance on an artifact or a statement can be changed but not withdrawn.",
            code="stance_kept",
        )
    if statement is not None:
        stances.take(ctx, viewer, stance, statement_id=statement.id)
    else:
        stances.take(ctx, viewer, stance, artifact_id=artifact.id)
    return artifact_statuses.status(ctx, found, viewer)
