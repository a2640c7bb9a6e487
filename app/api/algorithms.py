"""Ranking modules: submit, fork, read (with source), and choose for a feed."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse

from app.api.auth import Reader, Writer
from app.api.schemas import (
    MAX_ID,
    AlgorithmChangeOut,
    AlgorithmChoice,
    AlgorithmImport,
    AlgorithmOut,
    AlgorithmSubmit,
    AlgorithmVersionOut,
    BoundedJSONRoute,
    GovernanceUpdate,
    ProposalCreate,
    ProposalOut,
    VoteCreate,
    VoteRulesOut,
    VoteRulesUpdate,
)
from app.deps import CtxDep, client_ip
from app.models import Account, AlgorithmModule, AlgorithmProposal, AlgorithmVersion
from app.services import Ctx, communities, governance
from app.services.ranking import choices, comparison, registry
from federation import modules

router = APIRouter(tags=["algorithms"], route_class=BoundedJSONRoute)
ModuleId = Annotated[int, Path(ge=1, le=MAX_ID)]
Name = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def version_out(v: AlgorithmVersion) -> AlgorithmVersionOut:
    return AlgorithmVersionOut(
        version_id=v.id,
        version=v.version,
        sha256=v.sha256,
        parameters=json.loads(v.parameters),
        parent_id=v.parent_id,
        forked_from_sha256=v.forked_from_sha256,
        created_at=v.created_at,
    )


def module_out(
    ctx: Ctx, m: AlgorithmModule, latest: AlgorithmVersion, *, detail: bool = False
) -> AlgorithmOut:
    author = ctx.db.get(Account, m.author_id) if m.author_id else None
    out = AlgorithmOut(
        id=m.id,
        name=m.name,
        summary=m.summary,
        builtin=m.builtin_key is not None,
        author=author.uri if author else None,
        license=m.license,
        version=latest.version,
        sha256=latest.sha256,
        latest=version_out(latest),
        source_url=f"{ctx.base_url}/api/cg/v1/algorithm-versions/{latest.id}/source",
        report=json.loads(latest.report),
    )
    if detail:
        out.versions = [version_out(v) for v in registry.versions(ctx, m)]
        out.errors = registry.error_stats(ctx, latest)
    return out


@router.get("/algorithms", response_model=list[AlgorithmOut])
def list_algorithms(ctx: CtxDep) -> list[AlgorithmOut]:
    return [module_out(ctx, m, v) for m, v in registry.list_modules(ctx)]


@router.post("/algorithms", status_code=201, response_model=AlgorithmOut)
def submit(body: AlgorithmSubmit, ctx: CtxDep, account: Writer, request: Request) -> AlgorithmOut:
    """Submit a module (or a new version/fork with ``forked_from``). A module the
    checker rejects answers 422 with each finding (line, message)."""
    community = communities.get(ctx, body.community) if body.community else None
    version = registry.submit(
        ctx, account, body.source, body.forked_from, client=client_ip(request)
    )
    if community is not None:  # what it would change in this community's feed
        comparison.report_ranking_diff(ctx, community, version)
    module = ctx.db.get(AlgorithmModule, version.module_id)
    return module_out(ctx, module, version, detail=True)


async def fetched_module(request: Request, body: AlgorithmImport) -> None:
    """Before the transaction: fetch the module and check its hash."""
    state = request.app.state
    request.state.module = await modules.fetch_module(state.engine, state.settings, body.url)


@router.post(
    "/algorithms/import",
    status_code=201,
    response_model=AlgorithmOut,
    dependencies=[Depends(fetched_module)],
)
def import_module(
    request: Request, body: AlgorithmImport, ctx: CtxDep, account: Writer
) -> AlgorithmOut:
    """Import (fork) a module another instance publishes, by its URL. Its source must
    hash to the sha256 it declares; then it is checked and dry-run like any submission."""
    url, source, digest = request.state.module
    version = registry.submit(
        ctx, account, source, imported_from=(url, digest), client=client_ip(request)
    )
    return module_out(ctx, ctx.db.get(AlgorithmModule, version.module_id), version, detail=True)


@router.get("/algorithms/{module_id}", response_model=AlgorithmOut)
def get_algorithm(module_id: ModuleId, ctx: CtxDep) -> AlgorithmOut:
    module = registry.get_module(ctx, module_id)
    return module_out(ctx, module, registry.latest_version(ctx, module), detail=True)


@router.get("/algorithms/{module_id}/source", response_class=PlainTextResponse)
def module_source(module_id: ModuleId, ctx: CtxDep) -> PlainTextResponse:
    latest = registry.latest_version(ctx, registry.get_module(ctx, module_id))
    return _source(latest)


@router.get("/algorithm-versions/{version_id}/source", response_class=PlainTextResponse)
def version_source(version_id: ModuleId, ctx: CtxDep) -> PlainTextResponse:
    return _source(registry.get_version(ctx, version_id))


def _source(version: AlgorithmVersion) -> PlainTextResponse:
    return PlainTextResponse(
        version.source,
        media_type="text/x-python; charset=utf-8",
        headers={"Digest": f"sha-256={version.sha256}", "X-Content-SHA256": version.sha256},
    )


@router.put("/communities/{name}/algorithm", response_model=AlgorithmChangeOut)
def set_community(
    name: Name, body: AlgorithmChoice, ctx: CtxDep, account: Writer
) -> AlgorithmChangeOut:
    """Switch a community's algorithm (community admins; recorded in the changelog)."""
    community = communities.get(ctx, name)
    change = choices.set_community_algorithm(
        ctx, account, community, body.algorithm, body.params, body.reason
    )
    return AlgorithmChangeOut(
        version_id=change.version_id,
        params=json.loads(change.params),
        changed_by=account.uri,
        reason=change.reason,
        created_at=change.created_at,
    )


@router.get("/communities/{name}/algorithm")
def community_algorithm(name: Name, ctx: CtxDep) -> dict:
    community = communities.get(ctx, name)
    version, params = choices.active_for_community(ctx, community)
    module = ctx.db.get(AlgorithmModule, version.module_id)
    return {
        "active": {
            "module": module.id,
            "name": module.name,
            **version_out(version).model_dump(mode="json"),
            "params": params,
        },
        "changelog": [
            AlgorithmChangeOut(
                version_id=c.version_id,
                params=json.loads(c.params),
                reason=c.reason,
                tally=json.loads(c.tally) if c.tally else None,
                changed_by=(a.uri if (a := ctx.db.get(Account, c.changed_by_id)) else None),
                created_at=c.created_at,
            ).model_dump(mode="json")
            for c in choices.changelog(ctx, community)
        ],
    }


@router.put("/me/feed-algorithm")
def set_mine(body: AlgorithmChoice, ctx: CtxDep, account: Writer) -> dict:
    """Pick, for your home feed, an algorithm one of your communities approved."""
    choice = choices.set_member_algorithm(ctx, account, body.algorithm, body.params)
    return {"algorithm": choice.version_id, "params": json.loads(choice.params)}


@router.get("/me/feed-algorithm")
def get_mine(ctx: CtxDep, account: Reader) -> dict:
    version, params = choices.active_for_member(ctx, account)
    return {
        "algorithm": version.id,
        "params": params,
        "approved": sorted(choices.approved_for(ctx, account)),
    }


def proposal_out(ctx: Ctx, p: AlgorithmProposal) -> ProposalOut:
    proposer = ctx.db.get(Account, p.proposer_id) if p.proposer_id else None
    return ProposalOut(
        id=p.id,
        version_id=p.version_id,
        params=json.loads(p.params),
        reason=p.reason,
        proposer=proposer.uri if proposer else None,
        quorum=p.quorum,
        threshold=p.threshold,
        state=p.state,
        tally=json.loads(p.tally) if p.tally else governance.tally(ctx, p),
        closes_at=p.closes_at,
    )


@router.put("/communities/{name}/algorithm-governance")
def set_governance(name: Name, body: GovernanceUpdate, ctx: CtxDep, account: Writer) -> dict:
    """Community admins choose who changes the algorithm: themselves, or members by vote."""
    community = governance.set_mode(ctx, account, communities.get(ctx, name), body.mode)
    return {"community": community.name, "mode": community.algorithm_governance}


def vote_rules_out(rules: governance.VoteRules) -> VoteRulesOut:
    return VoteRulesOut(
        min_hours=rules.min_hours,
        quorum_percent=rules.quorum_percent,
        openers=rules.openers,
        members=rules.members,
        min_quorum=rules.min_quorum,
    )


@router.get("/communities/{name}/vote-rules", response_model=VoteRulesOut)
def get_vote_rules(name: Name, ctx: CtxDep) -> VoteRulesOut:
    """The floors on this community's votes: shortest window, smallest quorum, who opens."""
    return vote_rules_out(governance.vote_rules(ctx, communities.get(ctx, name)))


@router.put("/communities/{name}/vote-rules", response_model=VoteRulesOut)
def set_vote_rules(name: Name, body: VoteRulesUpdate, ctx: CtxDep, account: Writer) -> VoteRulesOut:
    """Community admins set the floors; votes already open keep theirs."""
    rules = governance.set_vote_rules(
        ctx,
        account,
        communities.get(ctx, name),
        min_hours=body.min_hours,
        quorum_percent=body.quorum_percent,
        openers=body.openers,
    )
    return vote_rules_out(rules)


@router.post("/communities/{name}/algorithm-proposals", status_code=201, response_model=ProposalOut)
def propose(name: Name, body: ProposalCreate, ctx: CtxDep, account: Writer) -> ProposalOut:
    proposal = governance.propose(
        ctx,
        account,
        communities.get(ctx, name),
        body.algorithm,
        body.params,
        reason=body.reason,
        window_hours=body.window_hours,
        quorum=body.quorum,
        threshold=body.threshold,
    )
    return proposal_out(ctx, proposal)


@router.get("/communities/{name}/algorithm-proposals", response_model=list[ProposalOut])
def list_proposals(name: Name, ctx: CtxDep) -> list[ProposalOut]:
    return [proposal_out(ctx, p) for p in governance.proposals(ctx, communities.get(ctx, name))]


@router.post(
    "/communities/{name}/algorithm-proposals/{proposal_id}/votes", response_model=ProposalOut
)
def vote(
    name: Name, proposal_id: ModuleId, body: VoteCreate, ctx: CtxDep, account: Writer
) -> ProposalOut:
    proposal = governance.get_proposal(ctx, communities.get(ctx, name), proposal_id)
    governance.vote(ctx, account, proposal, body.choice)
    return proposal_out(ctx, proposal)


@router.get("/algorithm-diff", response_class=PlainTextResponse)
def diff(
    ctx: CtxDep,
    from_: Annotated[int, Query(alias="from", ge=1, le=MAX_ID)],
    to: Annotated[int, Query(ge=1, le=MAX_ID)],
) -> PlainTextResponse:
    """A unified diff between any two versions (of one module, or a fork and its parent)."""
    text = comparison.source_diff(registry.get_version(ctx, from_), registry.get_version(ctx, to))
    return PlainTextResponse(text, media_type="text/x-diff; charset=utf-8")
