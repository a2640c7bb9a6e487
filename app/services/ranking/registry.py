"""The module registry: built-ins, submissions (immutable versions with a hash and
a report), forks and their run errors. Which version a community or member uses
is app/services/ranking/choices.py; what a submission would change in a
community's feed is comparison.py."""

from __future__ import annotations

import ast
import hashlib
import json
import statistics
import time
from typing import TypedDict

from sqlalchemy import func
from sqlmodel import col, select

from algorithms import contract
from algorithms.builtin import NAMES as BUILTINS
from algorithms.builtin import source_of
from algorithms.lint import lint
from algorithms.runner import Module, RunFailed, run
from algorithms.sandbox import Pool, SandboxUnavailable
from app.db import side_transaction, unlocked
from app.errors import DomainError, Invalid, NotFound
from app.infra import ratelimit
from app.models import (
    Account,
    AlgorithmModule,
    AlgorithmRunError,
    AlgorithmVersion,
    get_row,
    utcnow,
)
from app.services import Ctx
from app.services.ranking.rankers import public_error, sandbox_pool

DEFAULT = "chronological"


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
    module = ctx.db.exec(
        select(AlgorithmModule).where(col(AlgorithmModule.builtin_key) == key)
    ).first()
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
    module = ctx.db.exec(
        select(AlgorithmModule).where(col(AlgorithmModule.builtin_key) == key)
    ).first()
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
        .where(col(AlgorithmVersion.module_id) == module.id)
        .order_by(col(AlgorithmVersion.version).desc())
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
        select(func.coalesce(func.max(col(AlgorithmVersion.version)), 0)).where(
            col(AlgorithmVersion.module_id) == module.id
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
            .where(col(AlgorithmVersion.module_id) == module.id)
            .order_by(col(AlgorithmVersion.version).desc())
        )
    )


def list_modules(ctx: Ctx) -> list[tuple[AlgorithmModule, AlgorithmVersion]]:
    record_builtins(ctx)
    out = []
    for module in ctx.db.exec(select(AlgorithmModule).order_by(col(AlgorithmModule.id))):
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


class Latency(TypedDict):
    p50: float  # milliseconds
    p99: float


class DryRun(TypedDict):
    """A submission's run on the fixture items, kept in its version's report."""

    fixture_items: int
    errors: list[str]  # the first failure, if any (the runs stop there)
    latency_ms: Latency | None  # None when no run finished
    top: list[str]  # the ids of the first 20 items, as ranked


def dry_run(source: str, params: dict, pool: Pool, runs: int = 15) -> DryRun:
    """Run a candidate version on the fixture set: errors, latency, top items."""
    module = Module.from_source(source)
    timings: list[float] = []
    errors: list[str] = []
    top: list[str] = []
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
        tried = dry_run(source, params, pool)
    if tried["errors"]:
        raise Invalid(
            f"The module failed on the test items: {tried['errors'][0]}",
            code="dry_run_failed",
        )
    report = {"lint": [], "dry_run": tried}
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
    return version


class LintFailed(Invalid):
    code = "lint_failed"

    def __init__(self, findings: list[dict]) -> None:
        super().__init__(findings)  # detail is the list of findings


def error_stats(ctx: Ctx, version: AlgorithmVersion) -> dict:
    from datetime import timedelta

    since = utcnow() - timedelta(hours=24)
    rows = ctx.db.exec(
        select(col(AlgorithmRunError.kind), func.count())
        .where(
            col(AlgorithmRunError.version_id) == version.id,
            col(AlgorithmRunError.created_at) >= since,
        )
        .group_by(col(AlgorithmRunError.kind))
    ).all()
    last = ctx.db.exec(
        select(AlgorithmRunError)
        .where(col(AlgorithmRunError.version_id) == version.id)
        .order_by(col(AlgorithmRunError.id).desc())
    ).first()
    classes = ctx.db.exec(
        select(col(AlgorithmRunError.message), func.count())
        .where(
            col(AlgorithmRunError.version_id) == version.id,
            col(AlgorithmRunError.created_at) >= since,
        )
        .group_by(col(AlgorithmRunError.message))
        .order_by(func.count().desc())
        .limit(10)
    ).all()
    return {
        "last_24h": dict(rows),
        "classes": {public_error(message): n for message, n in classes},
        "last_error": public_error(last.message) if last else None,
        "last_error_at": last.created_at.isoformat() if last else None,
    }
