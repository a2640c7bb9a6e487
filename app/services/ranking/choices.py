"""Which module version ranks a community's feed and a member's home feed: the
choices, who may make them, and the public changelog. (Member votes on a
community's choice are app/services/governance.py, which builds on this.)"""

from __future__ import annotations

import json

from sqlmodel import col, select

from algorithms import contract
from algorithms.builtin import NAMES as BUILTINS
from app.db import get_or_raise
from app.errors import Forbidden, Invalid
from app.infra import events
from app.models import (
    Account,
    AlgorithmChange,
    AlgorithmModule,
    AlgorithmVersion,
    Community,
    FeedAlgorithmChoice,
    utcnow,
)
from app.services import Ctx, communities
from app.services.ranking import registry


def require_admin_governed(community: Community) -> None:
    if community.algorithm_governance != "admins":
        raise Forbidden(
            "This community decides its algorithm by member vote: make a proposal.",
            code="governed_by_vote",
        )


def choice_of(
    ctx: Ctx, *, community: Community | None = None, account: Account | None = None
) -> FeedAlgorithmChoice | None:
    column = (
        col(FeedAlgorithmChoice.community_id)
        if community is not None
        else col(FeedAlgorithmChoice.account_id)
    )
    owner = community if community is not None else account
    if owner is None:
        raise TypeError("choice_of needs a community or an account")
    return ctx.db.exec(select(FeedAlgorithmChoice).where(column == owner.id)).first()


def active_for_community(ctx: Ctx, community: Community) -> tuple[AlgorithmVersion, dict]:
    choice = choice_of(ctx, community=community)
    if choice is None:
        return registry.builtin_version(ctx, registry.DEFAULT), {}
    return get_or_raise(ctx.db, AlgorithmVersion, choice.version_id), json.loads(choice.params)


def checked_params(version: AlgorithmVersion, params: dict | None) -> dict:
    try:
        contract.merge_params(json.loads(version.parameters), params or {})
    except contract.ContractError as exc:
        raise Invalid(str(exc), code="invalid_params") from exc
    return params or {}


def set_community_algorithm(
    ctx: Ctx,
    actor: Account,
    community: Community,
    version_id: int,
    params: dict | None,
    reason: str = "",
) -> AlgorithmChange:
    """An admin of an admin-governed community switches its algorithm; the change
    goes into the public changelog."""
    communities.require_role(ctx, actor, community, "admin")
    require_admin_governed(community)
    version = registry.get_version(ctx, version_id)
    params = checked_params(version, params)
    if len(reason) > 1000:
        raise Invalid("Reasons are at most 1,000 characters.", code="invalid_reason")
    choice = choice_of(ctx, community=community) or FeedAlgorithmChoice(
        community_id=community.id, version_id=version.id
    )
    choice.version_id, choice.params, choice.updated_at = version.id, json.dumps(params), utcnow()
    ctx.db.add(choice)
    change = AlgorithmChange(
        community_id=community.id,
        version_id=version.id,
        params=json.dumps(params),
        changed_by_id=actor.id,
        reason=reason,
    )
    ctx.db.add(change)
    ctx.db.flush()
    events.emit(ctx, "algorithm.changed", change=change)
    return change


def approved_for(ctx: Ctx, account: Account) -> set[int]:
    """Versions a member may pick for their home feed: those their communities
    chose, plus the built-ins."""
    ids = {registry.builtin_version(ctx, key).id for key in BUILTINS}
    for community, membership in communities.of_member(ctx, account):
        if membership.state == "active" and (choice := choice_of(ctx, community=community)):
            ids.add(choice.version_id)
    return ids


def set_member_algorithm(
    ctx: Ctx, account: Account, version_id: int, params: dict | None
) -> FeedAlgorithmChoice:
    version = registry.get_version(ctx, version_id)
    if version.id not in approved_for(ctx, account):
        raise Forbidden(
            "Pick an algorithm one of your communities approved, or a built-in.",
            code="algorithm_not_approved",
        )
    params = checked_params(version, params)
    choice = choice_of(ctx, account=account) or FeedAlgorithmChoice(
        account_id=account.id, version_id=version.id
    )
    choice.version_id, choice.params, choice.updated_at = version.id, json.dumps(params), utcnow()
    ctx.db.add(choice)
    ctx.db.flush()
    return choice


def active_for_member(ctx: Ctx, account: Account) -> tuple[AlgorithmVersion, dict]:
    choice = choice_of(ctx, account=account)
    if choice is None:
        return registry.builtin_version(ctx, registry.DEFAULT), {}
    return get_or_raise(ctx.db, AlgorithmVersion, choice.version_id), json.loads(choice.params)


def changelog(ctx: Ctx, community: Community) -> list[AlgorithmChange]:
    return list(
        ctx.db.exec(
            select(AlgorithmChange)
            .where(col(AlgorithmChange.community_id) == community.id)
            .order_by(col(AlgorithmChange.id).desc())
        )
    )


def submitted_choice(
    ctx: Ctx, community_id: int
) -> tuple[Community, AlgorithmVersion, AlgorithmModule, dict] | None:
    """What a background ranking job runs: the community's active module and
    parameters, or None when there is nothing to do (the community is gone, or
    its module is a built-in, which ranks inline)."""
    community = ctx.db.get(Community, community_id)
    if community is None:
        return None
    version, params = active_for_community(ctx, community)
    module = get_or_raise(ctx.db, AlgorithmModule, version.module_id)
    if module.builtin_key:
        return None
    return community, version, module, params
