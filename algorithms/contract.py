"""The ranking-module contract, version 1 (documented in docs/algorithms.md).

A module is one Python file defining ``NAME`` (≤ 60 chars), ``PARAMETERS`` (a
JSON-serialisable dict of defaults) and ``rank(items, context, params)``, which
returns an iterable of ``(item_id, score, why)``. The host validates what comes
back: ids among the candidates, finite scores, ``why`` a small dict of
human-readable factor → number. Items left out are filtered out.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

CONTRACT_VERSION = 1
MAX_SOURCE_BYTES = 64 * 1024
MAX_CANDIDATES = 2000
MAX_NAME = 60
MAX_FACTOR_NAME = 280
MAX_FACTORS = 20
MAX_PARAMETERS_JSON = 8 * 1024
MAX_OUTPUT_JSON = 2 * 1024 * 1024

ITEM_FIELDS = (
    "id", "kind", "author", "community", "created_at", "text", "tags", "reply_count",
    "repliers", "reactions", "is_reply", "origin",
)  # fmt: skip
CONTEXT_FIELDS = ("now", "viewer", "following", "communities", "ratings", "limit")


class ContractError(ValueError):
    """The module broke the contract; the message says how, for its author."""


@dataclass(frozen=True)
class Ranked:
    item_id: str
    score: float
    why: dict[str, float]


def check_parameters(value: object) -> dict:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ContractError("PARAMETERS must be a dict with string keys")
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ContractError(f"PARAMETERS must be JSON-serialisable: {exc}") from exc
    if len(encoded) > MAX_PARAMETERS_JSON:
        raise ContractError(f"PARAMETERS is larger than {MAX_PARAMETERS_JSON} bytes of JSON")
    return value


def merge_params(defaults: dict, overrides: dict | None) -> dict:
    """Defaults overridden by a community's or member's choices; only known keys,
    and each of the default's JSON type."""
    merged = dict(defaults)
    for key, value in (overrides or {}).items():
        if key not in defaults:
            raise ContractError(f"unknown parameter {key!r}")
        default = defaults[key]
        numeric = isinstance(default, int | float) and not isinstance(default, bool)
        if numeric and isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ContractError(f"parameter {key!r} must be finite")
        elif type(value) is not type(default):
            raise ContractError(f"parameter {key!r} must be a {type(default).__name__}")
        merged[key] = value
    return merged


def validate_output(raw: object, candidate_ids: set[str]) -> list[Ranked]:
    """Check and normalise what ``rank`` returned."""
    if isinstance(raw, dict | str | bytes) or not hasattr(raw, "__iter__"):
        raise ContractError("rank must return an iterable of (item_id, score, why)")
    out: list[Ranked] = []
    seen: set[str] = set()
    for n, entry in enumerate(raw):
        if n >= MAX_CANDIDATES:
            raise ContractError(f"rank returned more than {MAX_CANDIDATES} entries")
        if not isinstance(entry, list | tuple) or len(entry) != 3:
            raise ContractError(f"entry {n} is not a (item_id, score, why) triple")
        item_id, score, why = entry
        if not isinstance(item_id, str) or item_id not in candidate_ids:
            raise ContractError(f"entry {n}: {str(item_id)[:80]!r} is not one of the candidates")
        if item_id in seen:
            raise ContractError(f"entry {n}: {item_id[:80]!r} appears twice")
        seen.add(item_id)
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise ContractError(f"entry {n}: the score must be a number")
        if not math.isfinite(score):
            raise ContractError(f"entry {n}: the score must be finite, not {score}")
        out.append(Ranked(item_id, float(score), _check_why(why, n)))
    return out


def _check_why(why: object, n: int) -> dict[str, float]:
    if not isinstance(why, dict):
        raise ContractError(f"entry {n}: why must be a dict of factor -> number")
    if len(why) > MAX_FACTORS:
        raise ContractError(f"entry {n}: why has more than {MAX_FACTORS} factors")
    clean: dict[str, float] = {}
    for key, value in why.items():
        if not isinstance(key, str) or not key or len(key) > MAX_FACTOR_NAME:
            raise ContractError(f"entry {n}: factor names are strings of 1–{MAX_FACTOR_NAME} chars")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ContractError(f"entry {n}: factor {key[:40]!r} must be a finite number")
        clean[key] = float(value)
    return clean


def order(ranked: list[Ranked], created_at: dict[str, float]) -> list[Ranked]:
    """Higher score first; newest first on ties; then by id, so it is deterministic."""
    return sorted(ranked, key=lambda r: (-r.score, -created_at.get(r.item_id, 0.0), r.item_id))
