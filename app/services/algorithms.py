"""Ranking modules as a domain: built-ins, submissions (immutable versions with a
hash and a report), forks, and which algorithm a community or member uses."""

from __future__ import annotations

import ast
import hashlib
import json
import re
import statistics
import time
from dataclasses import replace

from sqlalchemy import func
from sqlmodel import select

from algorithms import contract
from algorithms.builtin import NAMES as BUILTINS
from algorithms.builtin import source_of
from algorithms.lint import lint
from algorithms.runner import Module, RunFailed, run
from algorithms.sandbox import Pool, SandboxUnavailable, bubblewrap, isolation
from app.config import Settings
from app.db import side_transaction, unlocked
from app.errors import DomainError, Forbidden, Invalid, NotFound
from app.models import (
    Account,
    AlgorithmChange,
    AlgorithmModule,
    AlgorithmRunError,
    AlgorithmVersion,
    Community,
    FeedAlgorithmChoice,
    get_row,
    utcnow,
)
from app.services import Ctx, communities, ratelimit

DEFAULT = "chronological"
_pool: Pool | None = None


def sandbox_pool(settings: Settings | None = None) -> Pool:
    """This process's pool of sandbox zygotes (refuses to exist without bubblewrap),
    sized by ``settings.sandbox_max_zygotes`` when a caller has the settings."""
    global _pool
    if _pool is None:
        if bubblewrap() is None:
            raise SandboxUnavailable("bubblewrap (bwrap) is not installed on this server")
        _pool = Pool()
    if settings is not None and _pool.limits.max_zygotes != settings.sandbox_max_zygotes:
        _pool.limits = replace(_pool.limits, max_zygotes=settings.sandbox_max_zygotes)
    return _pool


def sandbox_status(settings: Settings) -> dict:
    """For the admin page: how submitted modules are confined, and the pool."""
    status = isolation()
    status["zygotes"] = (
        f"{_pool.live() if _pool else 0} live, at most {settings.sandbox_max_zygotes}"
    )
    return status


def metadata(source: str) -> tuple[str, str, dict]:
    """NAME, docstring and PARAMETERS, read without running the code."""
    tree = ast.parse(source)
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in ("NAME", "PARAMETERS"):
                try:
                    values[target.id] = ast.literal_eval(node.value)
                except (ValueError, TypeError) as exc:  # TypeError: e.g. {[]: 1}
                    raise Invalid(f"{target.id} must be a literal", code="invalid_module") from exc
    params = contract.check_parameters(values.get("PARAMETERS", {}))
    return str(values.get("NAME", "")), ast.get_docstring(tree) or "", params


def sha256(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def builtin_version(ctx: Ctx, key: str) -> AlgorithmVersion:
    """The current version of a built-in module. ``record_builtins`` writes them
    when the server starts; a reading request that finds one missing (a new
    database) records it in a short transaction of its own."""
    source = source_of(key)
    module = ctx.db.exec(select(AlgorithmModule).where(AlgorithmModule.builtin_key == key)).first()
    latest = latest_version(ctx, module) if module is not None else None
    if latest is not None and latest.sha256 == sha256(source):
        return latest
    if not ctx.db.info.get("read_only"):
        return _record_builtin(ctx, key)
    with side_transaction(ctx.db) as own:
        recorded = _record_builtin(Ctx(own, ctx.settings), key)
    return ctx.db.merge(recorded, load=False)


def record_builtins(ctx: Ctx) -> None:
    """Record every built-in module's current source (at start-up and migration)."""
    for key in BUILTINS:
        builtin_version(ctx, key)


def _record_builtin(ctx: Ctx, key: str) -> AlgorithmVersion:
    """Add the built-in's module row and a version for its current source, unless
    another transaction just did (this one re-reads under the write lock)."""
    source = source_of(key)
    module = ctx.db.exec(select(AlgorithmModule).where(AlgorithmModule.builtin_key == key)).first()
    if module is None:
        name, summary, _ = metadata(source)
        module = AlgorithmModule(name=name, summary=summary, builtin_key=key)
        ctx.db.add(module)
        ctx.db.flush()
    latest = latest_version(ctx, module)
    if latest is None or latest.sha256 != sha256(source):
        latest = _add_version(ctx, module, source, None, None, {"builtin": True})
    return latest


def latest_version(ctx: Ctx, module: AlgorithmModule) -> AlgorithmVersion | None:
    return ctx.db.exec(
        select(AlgorithmVersion)
        .where(AlgorithmVersion.module_id == module.id)
        .order_by(AlgorithmVersion.version.desc())
    ).first()


def _add_version(
    ctx: Ctx,
    module: AlgorithmModule,
    source: str,
    author: Account | None,
    parent: AlgorithmVersion | None,
    report: dict,
) -> AlgorithmVersion:
    _, _, params = metadata(source)
    number = ctx.db.exec(
        select(func.coalesce(func.max(AlgorithmVersion.version), 0)).where(
            AlgorithmVersion.module_id == module.id
        )
    ).one()
    version = AlgorithmVersion(
        module_id=module.id,
        version=number + 1,
        sha256=sha256(source),
        source=source,
        parameters=json.dumps(params),
        report=json.dumps(report),
        author_id=author.id if author else None,
        parent_id=parent.id if parent else None,
        forked_from_sha256=parent.sha256 if parent else None,
    )
    ctx.db.add(version)
    ctx.db.flush()
    return version


def get_version(ctx: Ctx, version_id: int) -> AlgorithmVersion:
    version = get_row(ctx.db, AlgorithmVersion, version_id)
    if version is None:
        raise NotFound("No such algorithm version.", code="algorithm_not_found")
    return version


def get_module(ctx: Ctx, module_id: int) -> AlgorithmModule:
    module = get_row(ctx.db, AlgorithmModule, module_id)
    if module is None:
        raise NotFound("No such algorithm.", code="algorithm_not_found")
    return module


def versions(ctx: Ctx, module: AlgorithmModule) -> list[AlgorithmVersion]:
    return list(
        ctx.db.exec(
            select(AlgorithmVersion)
            .where(AlgorithmVersion.module_id == module.id)
            .order_by(AlgorithmVersion.version.desc())
        )
    )


def list_modules(ctx: Ctx) -> list[tuple[AlgorithmModule, AlgorithmVersion]]:
    record_builtins(ctx)
    out = []
    for module in ctx.db.exec(select(AlgorithmModule).order_by(AlgorithmModule.id)):
        latest = latest_version(ctx, module)
        if latest is not None:
            out.append((module, latest))
    return out


FIXTURE_ITEMS = [
    {
        "id": f"https://fixture.example/posts/{i}",
        "kind": "post",
        "author": f"https://fixture.example/users/u{i % 7}",
        "community": None,
        "created_at": 1_700_000_000.0 - i * 900,
        "text": f"fixture post {i}" + ("?" if i % 5 == 0 else ""),
        "tags": ["fixture"],
        "reply_count": i % 4,
        "repliers": i % 3,
        "reactions": {"like": i % 3, "agree": i % 5, "disagree": i % 2, "pass": 0},
        "is_reply": i % 6 == 0,
        "origin": "fixture.example",
    }
    for i in range(120)
]
FIXTURE_CONTEXT = {
    "now": 1_700_003_600.0,
    "viewer": None,
    "following": [],
    "communities": [],
    "ratings": [
        [
            f"https://fixture.example/users/u{u}",
            f"https://fixture.example/posts/{i}",
            (u + i) % 3 - 1,
        ]
        for u in range(7)
        for i in range(0, 120, 3)
    ],
    "limit": 20,
}


def dry_run(source: str, params: dict, pool: Pool, runs: int = 15) -> dict:
    """Run a candidate version on the fixture set: errors, latency, top items."""
    module = Module.from_source(source)
    timings, errors, top = [], [], []
    for _ in range(runs):
        started = time.perf_counter()
        try:
            result = run(module, FIXTURE_ITEMS, FIXTURE_CONTEXT, {}, pool, defaults=params)
            top = [r.item_id for r in result.ranked[:20]]
        except RunFailed as exc:
            errors.append(f"{exc.kind}: {exc}")
            break
        timings.append(time.perf_counter() - started)
    timings.sort()
    return {
        "fixture_items": len(FIXTURE_ITEMS),
        "errors": errors,
        "latency_ms": {
            "p50": round(statistics.median(timings) * 1000, 2),
            "p99": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))] * 1000, 2),
        }
        if timings
        else None,
        "top": top,
    }


def submit(
    ctx: Ctx,
    author: Account,
    source: str,
    forked_from: int | None = None,
    pool: Pool | None = None,
    community: Community | None = None,
    imported_from: tuple[str, str] | None = None,
    client: str | None = None,
) -> AlgorithmVersion:
    """Check, record and dry-run a new module version (a new module, a new version
    of the author's module, or a fork of someone else's). ``imported_from`` is
    ``(url, sha256)`` of a version published by another instance: the source must
    hash to it, and the new module remembers where it came from. A submission from
    a ``client`` address is rate-limited once it passes the linter, before the
    (expensive) dry run."""
    if not isinstance(source, str) or not source.strip():
        raise Invalid("The module's source is empty.", code="empty_source")
    if imported_from is not None and sha256(source) != imported_from[1]:
        raise Invalid(
            "The module's source does not match its published sha256; not imported.",
            code="hash_mismatch",
        )
    findings = lint(source)
    if findings:
        raise LintFailed([f.as_dict() for f in findings])
    name, summary, params = metadata(source)
    ratelimit.limit(ctx, "module", account=author.id, client=client)
    parent = get_version(ctx, forked_from) if forked_from is not None else None
    try:
        pool = pool or sandbox_pool(ctx.settings)
    except SandboxUnavailable as exc:
        raise DomainError(
            f"Submitted modules can't run on this server: {exc}. An admin must install bubblewrap.",
            code="sandbox_unavailable",
        ) from exc
    with unlocked(ctx.db):  # the sandboxed dry run is slow: hold no lock meanwhile
        report = {"lint": [], "dry_run": dry_run(source, params, pool)}
    if report["dry_run"]["errors"]:
        raise Invalid(
            f"The module failed on the test items: {report['dry_run']['errors'][0]}",
            code="dry_run_failed",
        )
    parent_module = ctx.db.get(AlgorithmModule, parent.module_id) if parent else None
    if parent_module is not None and parent_module.author_id == author.id:
        module = parent_module  # a new version of my own module
        module.name, module.summary = name, summary
    else:
        module = AlgorithmModule(name=name, summary=summary, author_id=author.id)
    if imported_from is not None:
        module.origin_url = imported_from[0][:2048]
    ctx.db.add(module)
    ctx.db.flush()
    version = _add_version(ctx, module, source, author, parent, report)
    if imported_from is not None:
        version.forked_from_sha256 = imported_from[1]
    if community is not None:  # what it would change in this community's feed
        from app.services.comparison import compare

        with unlocked(ctx.db):  # the version is stored; comparing runs the module twice
            report["ranking_diff"] = compare(ctx, community, version)
        version.report = json.dumps(report)
        ctx.db.add(version)
    return version


class LintFailed(Invalid):
    code = "lint_failed"

    def __init__(self, findings: list[dict]) -> None:
        super().__init__(findings)  # type: ignore[arg-type] - detail is the list of findings
        self.detail = findings


# --- choosing ----------------------------------------------------------------


def choice_of(
    ctx: Ctx, *, community: Community | None = None, account: Account | None = None
) -> FeedAlgorithmChoice | None:
    column = (
        FeedAlgorithmChoice.community_id
        if community is not None
        else FeedAlgorithmChoice.account_id
    )
    owner = community if community is not None else account
    return ctx.db.exec(select(FeedAlgorithmChoice).where(column == owner.id)).first()


def active_for_community(ctx: Ctx, community: Community) -> tuple[AlgorithmVersion, dict]:
    choice = choice_of(ctx, community=community)
    if choice is None:
        return builtin_version(ctx, DEFAULT), {}
    return ctx.db.get(AlgorithmVersion, choice.version_id), json.loads(choice.params)


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
    from app.services import governance

    communities.require_role(ctx, actor, community, "admin")
    governance.require_admin_governed(community)
    version = get_version(ctx, version_id)
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
    return change


def approved_for(ctx: Ctx, account: Account) -> set[int]:
    """Versions a member may pick for their home feed: those their communities
    chose, plus the built-ins."""
    ids = {builtin_version(ctx, key).id for key in BUILTINS}
    for community, membership in communities.of_member(ctx, account):
        if membership.state == "active" and (choice := choice_of(ctx, community=community)):
            ids.add(choice.version_id)
    return ids


def set_member_algorithm(
    ctx: Ctx, account: Account, version_id: int, params: dict | None
) -> FeedAlgorithmChoice:
    version = get_version(ctx, version_id)
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
        return builtin_version(ctx, DEFAULT), {}
    return ctx.db.get(AlgorithmVersion, choice.version_id), json.loads(choice.params)


def changelog(ctx: Ctx, community: Community) -> list[AlgorithmChange]:
    return list(
        ctx.db.exec(
            select(AlgorithmChange)
            .where(AlgorithmChange.community_id == community.id)
            .order_by(AlgorithmChange.id.desc())
        )
    )


_RAISED = re.compile(r"^(\w{1,80})(?: \(line (\d{1,6})\))?: ")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def public_error(message: str) -> str:
    """What anyone may see of a live run's failure: for an exception the module
    raised, its class and line only (its text can carry the viewer's data); our
    own words otherwise, minus anything quoted from the module's output (an item
    id or factor name can smuggle data out too). The full text is shown only for
    dry runs on the shipped fixtures, to the author who submits."""
    if raised := _RAISED.match(message):
        return f"{raised[1]} at line {raised[2]}" if raised[2] else raised[1]
    return _QUOTED.sub("…", message)[:300]


def record_failure(ctx: Ctx, version: AlgorithmVersion, kind: str, message: str) -> None:
    """Count a failed run against its version (also while a page is only read),
    keeping only the data-free part of its message."""
    row = AlgorithmRunError(version_id=version.id, kind=kind[:20], message=public_error(message))
    if not ctx.db.info.get("read_only"):
        ctx.db.add(row)
        return
    with side_transaction(ctx.db) as own:
        own.add(row)


def error_stats(ctx: Ctx, version: AlgorithmVersion) -> dict:
    from datetime import timedelta

    since = utcnow() - timedelta(hours=24)
    rows = ctx.db.exec(
        select(AlgorithmRunError.kind, func.count())
        .where(AlgorithmRunError.version_id == version.id, AlgorithmRunError.created_at >= since)
        .group_by(AlgorithmRunError.kind)
    ).all()
    last = ctx.db.exec(
        select(AlgorithmRunError)
        .where(AlgorithmRunError.version_id == version.id)
        .order_by(AlgorithmRunError.id.desc())
    ).first()
    classes = ctx.db.exec(
        select(AlgorithmRunError.message, func.count())
        .where(AlgorithmRunError.version_id == version.id, AlgorithmRunError.created_at >= since)
        .group_by(AlgorithmRunError.message)
        .order_by(func.count().desc())
        .limit(10)
    ).all()
    return {
        "last_24h": dict(rows),
        "classes": {public_error(message): n for message, n in classes},
        "last_error": public_error(last.message) if last else None,
        "last_error_at": last.created_at.isoformat() if last else None,
    }
