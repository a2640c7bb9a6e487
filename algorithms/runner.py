"""Run a ranking module on a list of candidates and validate what it returns.

Built-in modules are trusted and run in-process; any other source runs in the
sandbox. On a timeout, crash or contract violation the caller gets a
:class:`RunFailed` with the reason, and feeds fall back to chronological order
with a visible notice.
"""

from __future__ import annotations

import hashlib
import importlib
import time
from dataclasses import dataclass

from algorithms import contract
from algorithms.builtin import NAMES as BUILTIN_NAMES
from algorithms.builtin import source_of
from algorithms.sandbox import Pool, SandboxError


class RunFailed(Exception):
    """``error_class`` and ``line`` (for errors raised by the module) can be shown
    to anyone; the message may carry the viewer's data."""

    def __init__(
        self, kind: str, message: str, error_class: str | None = None, line: int | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.error_class = error_class
        self.line = line


@dataclass(frozen=True)
class Module:
    name: str
    source: str
    sha256: str
    builtin: str | None = None  # the built-in's module name, if trusted

    @classmethod
    def from_source(cls, source: str, name: str = "") -> Module:
        return cls(name, source, hashlib.sha256(source.encode()).hexdigest())

    @classmethod
    def builtin_module(cls, key: str) -> Module:
        source = source_of(key)
        return cls(key, source, hashlib.sha256(source.encode()).hexdigest(), builtin=key)


@dataclass
class Result:
    ranked: list[contract.Ranked]
    seconds: float


def run(
    module: Module,
    items: list[dict],
    context: dict,
    overrides: dict | None,
    pool: Pool | None,
    defaults: dict | None = None,
    window: str | None = None,
) -> Result:
    """Rank ``items`` (≤ MAX_CANDIDATES) and return the validated, ordered result.

    ``defaults`` are the module's PARAMETERS as recorded when it was submitted
    (built-ins bring their own); ``overrides`` the community's or member's choices.
    ``window`` names the candidate list (e.g. a community window's fingerprint),
    so that a sandbox reuses it, already decoded, for the next viewer.
    """
    if len(items) > contract.MAX_CANDIDATES:
        items = items[: contract.MAX_CANDIDATES]
    started = time.perf_counter()
    try:
        if module.builtin in BUILTIN_NAMES:
            loaded = importlib.import_module(f"algorithms.builtin.{module.builtin}")
            params = contract.merge_params(loaded.PARAMETERS, overrides)
            raw = list(loaded.rank(items, context, params))
        else:
            if pool is None:
                raise RunFailed("unavailable", "submitted modules need the sandbox")
            params = contract.merge_params(defaults or {}, overrides)
            raw = pool.run(module.sha256, module.source, items, context, params, window)
        ranked = contract.validate_output(raw, {it["id"] for it in items})
    except SandboxError as exc:
        raise RunFailed(exc.kind, str(exc), exc.error_class, exc.line) from exc
    except contract.ContractError as exc:
        raise RunFailed("contract", str(exc)) from exc
    created = {it["id"]: it["created_at"] for it in items}
    return Result(contract.order(ranked, created), time.perf_counter() - started)
