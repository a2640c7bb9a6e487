"""Parsing JSON that comes from outside: API bodies, inbox activities, form fields.

One parser, so every such document has the same bounds: at most ``MAX_JSON_DEPTH``
levels of nesting (deeper input would exhaust the recursion of the standard
parser, or later of ``json.dumps`` and orjson when the value is stored or sent to
a sandboxed module) and no lone surrogates in strings (no database stores them,
and orjson refuses to serialise them).
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_JSON_DEPTH = 64
TOO_DEEP = f"the JSON is nested too deeply (more than {MAX_JSON_DEPTH} levels)"
LONE_SURROGATE = "the JSON contains a lone surrogate character (\\ud800–\\udfff)"


class UnsafeJSON(json.JSONDecodeError):
    """Valid JSON we still do not take; a JSONDecodeError, so callers (and
    FastAPI) treat it as a body that is not acceptable JSON."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "", 0)
        self.msg = message

    def __str__(self) -> str:
        return self.msg


def loads(raw: bytes | str) -> Any:
    """``json.loads``, refusing documents nested deeper than MAX_JSON_DEPTH and
    strings with lone surrogates. Raises ValueError (JSONDecodeError) for both."""
    try:
        value = json.loads(raw)
    except RecursionError as exc:
        raise UnsafeJSON(TOO_DEEP) from exc
    if _may_be_unsafe(raw):
        check(value)
    return value


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


def _may_be_unsafe(raw: bytes | str) -> bool:
    """Whether the walk of :func:`check` is needed: only a document with more
    brackets than the depth bound can be too deep, and only a \\uD800–\\uDFFF escape
    can make a lone surrogate (raw UTF-8 cannot). Most documents skip the walk."""
    if isinstance(raw, str):
        brackets = raw.count("[") + raw.count("{")
        return brackets > MAX_JSON_DEPTH or _SURROGATE_ESCAPE.search(raw) is not None
    brackets = raw.count(b"[") + raw.count(b"{")
    return brackets > MAX_JSON_DEPTH or _SURROGATE_ESCAPE_BYTES.search(raw) is not None


def check(value: Any) -> None:
    """The bounds of :func:`loads`, for a value parsed elsewhere. Iterative, so a
    hostile value cannot exhaust the stack."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if not storable_text(node):
                raise UnsafeJSON(LONE_SURROGATE)
            continue
        if not isinstance(node, dict | list):
            continue
        if depth >= MAX_JSON_DEPTH:
            raise UnsafeJSON(TOO_DEEP)
        if isinstance(node, dict):
            stack.extend((key, depth + 1) for key in node)
            stack.extend((item, depth + 1) for item in node.values())
        else:
            stack.extend((item, depth + 1) for item in node)


def storable_text(text: str) -> bool:
    """False for text with a lone surrogate, which no database stores; the one
    definition of that rule (CleanStr uses it for every text field)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
