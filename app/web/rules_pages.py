"""The rules pages: the instance's at /rules, a community's at /c/{name}/rules. Anyone
reads them; who may edit (app/services/rules.py) sees a form, one rule per line."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response

from app.api.schemas import CleanStr
from app.deps import CtxDep
from app.errors import DomainError
from app.models import Community
from app.services import communities, rules
from app.web.deps import Csrf, Member, Viewer
from app.web.forms import redisplayed_by, show_error
from app.web.templating import redirect, render

router = APIRouter()
Name = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
RulesField = Annotated[
    CleanStr, Form(alias="rules", max_length=(rules.MAX_RULE + 1) * rules.MAX_RULES)
]


def _page(ctx, viewer, community: Community | None, typed: dict) -> tuple[str, dict]:
    found = rules.of(ctx, community)
    may_edit = viewer is not None and (
        viewer.is_admin if community is None else communities.can_moderate(ctx, viewer, community)
    )
    text = typed.get("rules", "\n".join(r.text for r in found))
    return "rules.html", {
        "community": community,
        "rules": found,
        "may_edit": may_edit,
        "form": {"rules": text},
    }


def rules_page(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    name = request.path_params.get("name")
    return _page(ctx, viewer, communities.get(ctx, str(name)) if name else None, typed)


@router.get("/rules")
def instance_rules(request: Request, ctx: CtxDep, viewer: Viewer) -> Response:
    template, context = _page(ctx, viewer, None, {})
    return render(request, template, **context)


@router.post("/rules", dependencies=[Csrf])
@redisplayed_by(rules_page)
def edit_instance_rules(
    request: Request, ctx: CtxDep, viewer: Member, rules_text: RulesField = ""
) -> Response:
    try:
        rules.replace(ctx, viewer, None, rules.from_lines(rules_text))
    except DomainError as exc:
        template, context = _page(ctx, viewer, None, {"rules": rules_text})
        return show_error(request, ctx, exc, template, **context)
    return redirect(request, "/rules", flash="The instance's rules are saved.")


@router.get("/c/{name}/rules")
def community_rules(request: Request, name: Name, ctx: CtxDep, viewer: Viewer) -> Response:
    template, context = _page(ctx, viewer, communities.get(ctx, name), {})
    return render(request, template, **context)


@router.post("/c/{name}/rules", dependencies=[Csrf])
@redisplayed_by(rules_page)
def edit_community_rules(
    request: Request,
    name: Name,
    ctx: CtxDep,
    viewer: Member,
    rules_text: RulesField = "",
) -> Response:
    community = communities.get(ctx, name)
    try:
        rules.replace(ctx, viewer, community, rules.from_lines(rules_text))
    except DomainError as exc:
        template, context = _page(ctx, viewer, community, {"rules": rules_text})
        return show_error(request, ctx, exc, template, **context)
    return redirect(request, f"/c/{community.name}/rules", flash="The community's rules are saved.")
