"""Instance rules and community rules (app/services/rules.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from app.api.auth import Writer
from app.api.schemas import Body, BoundedJSONRoute, CleanStr
from app.deps import CtxDep
from app.models import Rule
from app.services import communities, rules

router = APIRouter(tags=["rules"], route_class=BoundedJSONRoute)
Name = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
RuleText = Annotated[CleanStr, Field(max_length=rules.MAX_RULE)]


class RuleOut(BaseModel):
    id: int
    position: int
    text: str


class RulesOut(BaseModel):
    items: list[RuleOut]


class RulesIn(Body):
    rules: list[RuleText] = Field(max_length=rules.MAX_RULES)


def _out(found: list[Rule]) -> RulesOut:
    return RulesOut(items=[RuleOut(id=r.id, position=r.position, text=r.text) for r in found])


@router.get("/instance/rules", response_model=RulesOut)
def instance_rules(ctx: CtxDep) -> RulesOut:
    """The instance's rules, in order."""
    return _out(rules.of(ctx))


@router.put("/instance/rules", response_model=RulesOut)
def set_instance_rules(body: RulesIn, ctx: CtxDep, admin: Writer) -> RulesOut:
    """Replace the instance's rules (instance admins)."""
    return _out(rules.replace(ctx, admin, None, body.rules))


@router.get("/communities/{name}/rules", response_model=RulesOut)
def community_rules(name: Name, ctx: CtxDep) -> RulesOut:
    """A community's rules, in order."""
    return _out(rules.of(ctx, communities.get(ctx, name)))


@router.put("/communities/{name}/rules", response_model=RulesOut)
def set_community_rules(name: Name, body: RulesIn, ctx: CtxDep, moderator: Writer) -> RulesOut:
    """Replace a community's rules (its moderators and admins)."""
    return _out(rules.replace(ctx, moderator, communities.get(ctx, name), body.rules))
