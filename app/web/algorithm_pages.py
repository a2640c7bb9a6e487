"""Algorithm pages: every module's source, versions, hash and error counts, in
the open; and where communities and members choose theirs."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import Response
from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer
from sqlmodel import select

from app import safejson
from app.api.schemas import MAX_ID, CleanStr
from app.deps import CtxDep, client_ip
from app.errors import DomainError, Forbidden, Invalid, NotFound
from app.models import Account, AlgorithmModule, AlgorithmVersion
from app.services import communities, governance
from app.services.ranking import choices, comparison, feeds, registry
from app.web.deps import Csrf, Member, Viewer
from app.web.forms import member, redisplayed_by, show_error
from app.web.profile_pages import settings_form
from app.web.templating import redirect, render
from federation import modules

router = APIRouter()
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Name = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def highlighted(source: str) -> Markup:
    """Pygments output: it escapes the source itself, so marking it safe is sound."""
    return Markup(highlight(source, PythonLexer(), HtmlFormatter(linenos="table")))  # noqa: S704


@router.get("/algorithms")
def list_page(request: Request, ctx: CtxDep, viewer: Viewer) -> Response:
    return render(request, "algorithms.html", modules=registry.list_modules(ctx))


def _version_page(request: Request, ctx, version: AlgorithmVersion) -> Response:
    module = ctx.db.get(AlgorithmModule, version.module_id)
    author = ctx.db.get(Account, module.author_id) if module.author_id else None
    parent = ctx.db.get(AlgorithmVersion, version.parent_id) if version.parent_id else None
    return render(
        request,
        "algorithm.html",
        module=module,
        version=version,
        author=author,
        parent=parent,
        lineage=comparison.lineage(ctx, version)[1:],
        forks=comparison.forks_of(ctx, module),
        versions=registry.versions(ctx, module),
        source=highlighted(version.source),
        report=json.loads(version.report),
        parameters=json.loads(version.parameters),
        errors=registry.error_stats(ctx, version),
    )


@router.get("/algorithms/new")
def new_form(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    from_: Annotated[int | None, Query(alias="from", ge=1, le=MAX_ID)] = None,
) -> Response:
    """Write a module, or fork/edit one: the form starts from that version's source."""
    parent = registry.get_version(ctx, from_) if from_ else None
    mine = [c for c, m in communities.of_member(ctx, viewer) if m.state == "active"]
    return render(
        request,
        "algorithm_new.html",
        parent=parent,
        my_communities=mine,
        form={"source": parent.source if parent else STARTER},
    )


def new_module_page(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    """The module form filled with what was typed (its error paths)."""
    forked_from = typed.get("forked_from", "")
    parent = registry.get_version(ctx, int(forked_from)) if forked_from.isdigit() else None
    mine = [c for c, m in communities.of_member(ctx, member(viewer)) if m.state == "active"]
    form = {
        "source": typed.get("source", parent.source if parent else STARTER),
        "community": typed.get("community", ""),
        "url": typed.get("url", ""),
    }
    return "algorithm_new.html", {"parent": parent, "my_communities": mine, "form": form}


@router.post("/algorithms/new", dependencies=[Csrf])
@redisplayed_by(new_module_page)
def submit(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    source: Annotated[CleanStr, Form(max_length=70_000)],
    forked_from: Annotated[CleanStr, Form(max_length=12)] = "",
    community: Annotated[CleanStr, Form(max_length=64)] = "",
) -> Response:
    parent = registry.get_version(ctx, int(forked_from)) if forked_from.isdigit() else None
    try:
        target = communities.get(ctx, community) if community else None
        version = registry.submit(
            ctx, viewer, source, parent.id if parent else None, client=client_ip(request)
        )
        if target is not None:  # what it would change in this community's feed
            comparison.report_ranking_diff(ctx, target, version)
    except DomainError as exc:
        ctx.db.rollback()
        findings = exc.detail if isinstance(exc.detail, list) else []
        message = "The checker found problems:" if findings else exc.detail
        typed = {"source": source, "community": community, "forked_from": forked_from}
        template, context = new_module_page(request, ctx, viewer, typed)
        return render(
            request, template, status=exc.status, error=message, findings=findings, **context
        )
    return redirect(
        request,
        f"/algorithm-versions/{version.id}",
        flash=f"Saved as version {version.version} ({version.sha256[:12]}).",
    )


async def _fetch_for_import(request: Request) -> None:
    """Before the transaction: fetch the module named in the form (hash checked)."""
    form = await request.form()
    url = str(form.get("url", ""))[:2048].strip()
    state = request.app.state
    try:
        request.state.module = await modules.fetch_module(state.engine, state.settings, url)
    except DomainError as exc:
        request.state.module = exc


@router.post("/algorithms/import", dependencies=[Csrf, Depends(_fetch_for_import)])
@redisplayed_by(new_module_page)
def import_page(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    url: Annotated[CleanStr, Form(max_length=2048)],
) -> Response:
    """Import a module published by another instance (a fork whose origin is kept)."""
    fetched = request.state.module
    try:
        if isinstance(fetched, DomainError):
            raise fetched
        origin, source, digest = fetched
        version = registry.submit(
            ctx, viewer, source, imported_from=(origin, digest), client=client_ip(request)
        )
    except DomainError as exc:
        ctx.db.rollback()
        findings = exc.detail if isinstance(exc.detail, list) else []
        template, context = new_module_page(request, ctx, viewer, {"url": url})
        return render(
            request,
            template,
            status=exc.status,
            error="The checker found problems:" if findings else exc.detail,
            findings=findings,
            **context,
        )
    return redirect(
        request,
        f"/algorithm-versions/{version.id}",
        flash=f"Imported as version {version.version} ({version.sha256[:12]}).",
    )


STARTER = '''"""Say in plain words what this module values."""
NAME = "My ranking"
PARAMETERS = {"half_life_hours": 24.0}


def rank(items, context, params):
    out = []
    for it in items:
        age_h = max(context["now"] - it["created_at"], 0) / 3600
        recency = 0.5 ** (age_h / params["half_life_hours"])
        out.append((it["id"], recency, {"recency": recency}))
    return out
'''


@router.get("/algorithms/{module_id}")
def module_page(request: Request, module_id: Id, ctx: CtxDep, viewer: Viewer) -> Response:
    module = registry.get_module(ctx, module_id)
    return _version_page(request, ctx, registry.latest_version(ctx, module))


@router.get("/algorithm-versions/{version_id}")
def version_page(request: Request, version_id: Id, ctx: CtxDep, viewer: Viewer) -> Response:
    return _version_page(request, ctx, registry.get_version(ctx, version_id))


@router.get("/algorithm-hashes/{digest}")
def by_hash(
    request: Request,
    digest: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    ctx: CtxDep,
    viewer: Viewer,
) -> Response:
    """Where "Why am I seeing this?" links: the exact version that ranked the item."""
    version = ctx.db.exec(
        select(AlgorithmVersion)
        .where(AlgorithmVersion.sha256 == digest)
        .order_by(AlgorithmVersion.id)
    ).first()
    if version is None:
        raise NotFound("No module version has that hash here.", code="algorithm_not_found")
    return _version_page(request, ctx, version)


@router.get("/c/{name}/algorithm")
def community_algorithm(request: Request, name: Name, ctx: CtxDep, viewer: Viewer) -> Response:
    template, context = community_algorithm_page(request, ctx, viewer, {})
    return render(request, template, **context)


def community_algorithm_page(request: Request, ctx, viewer, typed: dict) -> tuple[str, dict]:
    """A community's algorithm, changelog and proposals, with the form to switch or
    to propose (its forms' error paths show it again, filled in)."""
    community = communities.get(ctx, str(request.path_params.get("name", "")))
    version, params = choices.active_for_community(ctx, community)
    modules = registry.list_modules(ctx)
    return "community_algorithm.html", {
        "community": community,
        "active": version,
        "active_module": ctx.db.get(AlgorithmModule, version.module_id),
        "params": params,
        "changelog": [
            (
                c,
                ctx.db.get(Account, c.changed_by_id) if c.changed_by_id else None,
                ctx.db.get(AlgorithmVersion, c.version_id),
            )
            for c in choices.changelog(ctx, community)
        ],
        "modules": modules,
        "module_names": {m.id: m.name for m, _ in modules},  # proposals and changes name theirs
        "is_admin": communities.can_moderate(ctx, viewer, community, role="admin"),
        "is_member": viewer is not None and communities.is_active_member(ctx, viewer, community),
        "may_propose": governance.may_open_votes(ctx, viewer, community),
        "vote_rules": governance.vote_rules(ctx, community),
        "proposals": [
            (
                p,
                governance.tally(ctx, p),
                ctx.db.get(AlgorithmVersion, p.version_id),
                governance.shown_state(p),
            )
            for p in governance.proposals(ctx, community)
        ],
    }


def _params(raw: str) -> dict:
    try:
        value = safejson.loads(raw or "{}")
    except safejson.UnsafeJSON as exc:
        raise Invalid(f"Parameters were refused: {exc}.", code="invalid_params") from exc
    except ValueError as exc:
        raise Invalid(
            'Parameters must be a JSON object, e.g. {"half_life_hours": 6}.', code="invalid_params"
        ) from exc
    if not isinstance(value, dict):
        raise Invalid("Parameters must be a JSON object.", code="invalid_params")
    return value


@router.post("/c/{name}/algorithm", dependencies=[Csrf])
@redisplayed_by(community_algorithm_page)
def choose_for_community(
    request: Request,
    name: Name,
    ctx: CtxDep,
    viewer: Member,
    version_id: Annotated[int, Form(ge=1, le=MAX_ID)],
    params: Annotated[CleanStr, Form(max_length=8000)] = "{}",
    reason: Annotated[CleanStr, Form(max_length=1000)] = "",
) -> Response:
    community = communities.get(ctx, name)
    try:
        choices.set_community_algorithm(ctx, viewer, community, version_id, _params(params), reason)
    except DomainError as exc:
        typed = {"version_id": version_id, "params": params, "reason": reason}
        return _community_algorithm_error(request, ctx, viewer, exc, typed)
    return redirect(request, f"/c/{community.name}/algorithm", flash="Algorithm changed.")


@router.post("/settings/feed-algorithm", dependencies=[Csrf])
@redisplayed_by(settings_form)
def choose_for_me(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    version_id: Annotated[int, Form(ge=1, le=MAX_ID)],
    params: Annotated[CleanStr, Form(max_length=8000)] = "{}",
) -> Response:
    try:
        choices.set_member_algorithm(ctx, viewer, version_id, _params(params))
    except DomainError as exc:
        ctx.db.rollback()
        template, context = settings_form(request, ctx, viewer, {"params": params})
        return render(request, template, status=exc.status, error=exc.detail, **context)
    return redirect(request, "/settings#feed", flash="Your home feed uses the new algorithm.")


@router.get("/algorithm-diff")
def diff_page(
    request: Request,
    ctx: CtxDep,
    viewer: Viewer,
    from_: Annotated[int, Query(alias="from", ge=1, le=MAX_ID)],
    to: Annotated[int, Query(ge=1, le=MAX_ID)],
) -> Response:
    a, b = registry.get_version(ctx, from_), registry.get_version(ctx, to)
    lines = comparison.source_diff(a, b).splitlines()
    return render(request, "algorithm_diff.html", a=a, b=b, lines=lines)


@router.get("/preview")
def preview(
    request: Request,
    ctx: CtxDep,
    viewer: Member,
    algorithm: Annotated[int, Query(ge=1, le=MAX_ID)],
) -> Response:
    """My home feed now, and under another algorithm, side by side."""
    version = registry.get_version(ctx, algorithm)
    current = feeds.home(ctx, viewer, limit=20)
    other = feeds.home(ctx, viewer, limit=20, ranking=feeds.strategy(ctx, version, {}))
    before = {item.post.id: i for i, item in enumerate(current.items)}
    moves = {}
    for i, item in enumerate(other.items):
        if item.post.id not in before:
            moves[item.post.id] = "new"
        elif before[item.post.id] > i:
            moves[item.post.id] = f"↑{before[item.post.id] - i}"
        elif before[item.post.id] < i:
            moves[item.post.id] = f"↓{i - before[item.post.id]}"
        else:
            moves[item.post.id] = "="
    return render(
        request, "preview.html", current=current, other=other, moves=moves, version=version
    )


@router.post("/c/{name}/algorithm-governance", dependencies=[Csrf])
def set_governance(
    request: Request,
    name: Name,
    ctx: CtxDep,
    viewer: Member,
    mode: Annotated[CleanStr, Form(pattern=r"^(admins|vote)$")],
) -> Response:
    community = communities.get(ctx, name)
    governance.set_mode(ctx, viewer, community, mode)
    note = "Members now decide by vote." if mode == "vote" else "Admins decide again."
    return redirect(request, f"/c/{community.name}/algorithm", flash=note)


def _community_algorithm_error(
    request: Request,
    ctx,
    viewer: Account,
    exc: DomainError,
    typed: dict,
) -> Response:
    """A refused switch or proposal: the page again, the form as it was sent (one
    who may not use the form gets the plain refusal)."""
    if isinstance(exc, Forbidden):
        raise exc
    ctx.db.rollback()
    template, context = community_algorithm_page(request, ctx, viewer, typed)
    return show_error(request, ctx, exc, template, typed, **context)


@router.post("/c/{name}/algorithm-proposals", dependencies=[Csrf])
@redisplayed_by(community_algorithm_page)
def propose(
    request: Request,
    name: Name,
    ctx: CtxDep,
    viewer: Member,
    version_id: Annotated[int, Form(ge=1, le=MAX_ID)],
    reason: Annotated[CleanStr, Form(max_length=1000)] = "",
    window_hours: Annotated[float, Form(gt=0, le=720)] = 72.0,
) -> Response:
    community = communities.get(ctx, name)
    try:
        governance.propose(
            ctx, viewer, community, version_id, {}, reason=reason, window_hours=window_hours
        )
    except DomainError as exc:
        typed = {"version_id": version_id, "reason": reason, "window_hours": window_hours}
        return _community_algorithm_error(request, ctx, viewer, exc, typed)
    return redirect(request, f"/c/{community.name}/algorithm", flash="Proposal opened.")


@router.post("/c/{name}/algorithm-proposals/{proposal_id}/vote", dependencies=[Csrf])
def vote(
    request: Request,
    name: Name,
    proposal_id: Id,
    ctx: CtxDep,
    viewer: Member,
    choice: Annotated[CleanStr, Form(pattern=r"^(yes|no|abstain)$")],
) -> Response:
    community = communities.get(ctx, name)
    governance.vote(ctx, viewer, governance.get_proposal(ctx, community, proposal_id), choice)
    return redirect(request, f"/c/{community.name}/algorithm", flash=f"You voted {choice}.")
