"""Ranking modules as ActivityPub objects: every instance publishes its modules,
with their source and content hash, and anyone can import one by URL.

A version is a ``Document`` with ``mediaType: text/x-python`` at its page URL
(``/algorithm-versions/{id}``; content negotiation serves the JSON), carrying
``name``, ``summary``, ``source {content, mediaType}``, ``sha256``, ``version``,
``forkedFrom``, ``attributedTo``, ``license`` and ``parameters``. The list of
all of them is ``/algorithms`` (an OrderedCollection), linked from NodeInfo's
``metadata.algorithmModules``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine
from sqlmodel import col, select

from app.api.schemas import MAX_ID
from app.config import Settings
from app.db import get_or_raise
from app.deps import CtxDep
from app.errors import Invalid
from app.models import Account, AlgorithmModule, AlgorithmVersion
from app.services import Ctx
from app.services.ranking import registry
from federation import vocab
from federation.actors import instance_actor_uri
from federation.fetcher import FetchError, plain_reason
from federation.network import Network
from federation.signatures import require_signed_fetch
from federation.vocab import AS2_TYPE, CONTEXT

router = APIRouter(include_in_schema=False)
MAX_SOURCE = 70_000
COLLECTION_LIMIT = 500


def version_uri(ctx: Ctx, version: AlgorithmVersion) -> str:
    return f"{ctx.base_url}/algorithm-versions/{version.id}"


def module_object(ctx: Ctx, version: AlgorithmVersion, *, with_context: bool = True) -> dict:
    module = get_or_raise(ctx.db, AlgorithmModule, version.module_id)
    author = ctx.db.get(Account, version.author_id) if version.author_id else None
    parent = ctx.db.get(AlgorithmVersion, version.parent_id) if version.parent_id else None
    forked_from = version_uri(ctx, parent) if parent else module.origin_url
    doc: dict[str, Any] = {
        "id": version_uri(ctx, version),
        "type": "Document",
        "mediaType": "text/x-python",
        "name": module.name,
        "summary": module.summary,
        "source": {"content": version.source, "mediaType": "text/x-python"},
        "sha256": version.sha256,
        "version": version.version,
        "license": module.license,
        "parameters": json.loads(version.parameters),
        "attributedTo": author.uri if author else instance_actor_uri(ctx),
        "published": version.created_at.isoformat(),
        "url": version_uri(ctx, version),
    }
    if forked_from:
        doc["forkedFrom"] = forked_from
    if version.forked_from_sha256:
        doc["forkedFromSha256"] = version.forked_from_sha256
    return {"@context": CONTEXT, **doc} if with_context else doc


@router.get("/ap/algorithm-versions/{version_id}", dependencies=[Depends(require_signed_fetch)])
def version_document(ctx: CtxDep, version_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Response:
    return JSONResponse(
        module_object(ctx, registry.get_version(ctx, version_id)), media_type=AS2_TYPE
    )


@router.get("/ap/algorithms", dependencies=[Depends(require_signed_fetch)])
def collection(ctx: CtxDep) -> Response:
    """Every version of every module on this instance, newest first."""
    registry.list_modules(ctx)  # makes sure the built-ins are there to publish
    versions = ctx.db.exec(
        select(AlgorithmVersion).order_by(col(AlgorithmVersion.id).desc()).limit(COLLECTION_LIMIT)
    ).all()
    items = [module_object(ctx, v, with_context=False) for v in versions]
    body = {
        "@context": CONTEXT,
        "id": f"{ctx.base_url}/algorithms",
        "type": "OrderedCollection",
        "totalItems": len(items),
        "orderedItems": items,
    }
    return JSONResponse(body, media_type=AS2_TYPE)


def parse_module(doc: dict, url: str) -> tuple[str, str]:
    """``(source, sha256)`` of a published module document, checked: the source
    must hash to the sha256 it declares."""
    source = doc.get("source")
    content = source.get("content") if isinstance(source, dict) else None
    declared = doc.get("sha256")
    if not vocab.is_type(doc, "Document") or not isinstance(content, str):
        raise Invalid(f"{url} is not a published ranking module.", code="not_a_module")
    if len(content) > MAX_SOURCE:
        raise Invalid("That module's source is too long.", code="source_too_long")
    if not isinstance(declared, str) or len(declared) != 64:
        raise Invalid("That module does not declare its sha256.", code="hash_mismatch")
    if hashlib.sha256(content.encode()).hexdigest() != declared.lower():
        raise Invalid(
            "The module's source does not match its published sha256; not imported.",
            code="hash_mismatch",
        )
    return content, declared.lower()


async def fetch_module(engine: Engine, settings: Settings, url: str) -> tuple[str, str, str]:
    """Fetch a module published elsewhere (SSRF-safe, signed, id must be the URL)
    and return ``(url, source, sha256)`` once its hash checks out."""
    if not url.startswith(("https://", "http://")) or len(url) > 2048:
        raise Invalid("Give the module's URL (https://…/algorithm-versions/N).", code="bad_url")
    net = Network(engine, settings)
    try:
        doc = await net.fetch(url)
    except FetchError as exc:
        raise Invalid(
            f"Could not fetch that module. {plain_reason(exc)}", code="fetch_failed"
        ) from exc
    finally:
        await net.aclose()
    source, digest = parse_module(doc, url)
    return url, source, digest
