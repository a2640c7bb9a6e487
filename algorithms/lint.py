"""The submission-time check of a ranking module's source.

It is the first wall, not the boundary (that is the sandbox): it turns away the
obvious and tells the author exactly which line and why, so honest mistakes are
caught before anything runs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from algorithms.contract import MAX_NAME, MAX_SOURCE_BYTES

ALLOWED_IMPORTS = frozenset({
    "math", "statistics", "collections", "heapq", "itertools", "functools", "operator",
    "bisect", "re", "datetime", "random", "string", "typing", "dataclasses", "enum",
    "fractions", "decimal", "json",
})  # fmt: skip
FORBIDDEN_NAMES = frozenset({
    "exec", "eval", "compile", "open", "__import__", "globals", "locals", "vars",
    "breakpoint", "input", "memoryview", "help", "exit", "quit", "copyright", "credits",
    "license",
})  # fmt: skip
ATTRIBUTE_FUNCTIONS = frozenset({"getattr", "setattr", "delattr", "hasattr"})
# Introspection that reaches frames, code and globals without an underscore.
FORBIDDEN_ATTRIBUTES = frozenset({
    "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame",
    "ag_code", "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "tb_frame", "tb_next",
    "co_code", "co_consts", "mro",
})  # fmt: skip
# Deeper syntax trees than this are refused: real ranking code stays far below
# (a function, a loop, a condition, a call: about 10), while ``1+1+…+1`` of a few
# thousand terms would exhaust the recursion of compile() and literal_eval().
MAX_AST_DEPTH = 100


@dataclass(frozen=True)
class Finding:
    line: int
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "message": self.message}


def lint(source: str) -> list[Finding]:
    """All problems found in ``source``; an empty list means it may be submitted."""
    if len(source.encode()) > MAX_SOURCE_BYTES:
        return [Finding(1, f"the module is larger than {MAX_SOURCE_BYTES // 1024} KiB")]
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [Finding(exc.lineno or 1, f"syntax error: {exc.msg}")]
    except (RecursionError, MemoryError):
        # the parser gives up on very deep expressions ("-"*60000, "1+"*30000)
        return [Finding(1, TOO_DEEP)]
    findings: list[Finding] = []
    for node in _walk_bounded(tree):
        if node is None:
            return [Finding(1, TOO_DEEP)]
        findings += _check(node)
    findings += _check_shape(tree)
    return sorted(set(findings), key=lambda f: (f.line, f.message))


TOO_DEEP = (
    f"the code is nested too deeply (more than {MAX_AST_DEPTH} levels of expressions "
    "and blocks); split it into smaller expressions or functions"
)


def _walk_bounded(tree: ast.AST) -> Iterator[ast.AST | None]:
    """Every node, like ast.walk, but without recursion and yielding None (then
    stopping) once a node lies deeper than MAX_AST_DEPTH."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_AST_DEPTH:
            yield None
            return
        yield node
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check(node: ast.AST) -> list[Finding]:
    line = getattr(node, "lineno", 1)
    if isinstance(node, ast.Import):
        return [
            Finding(
                line,
                f"import of {a.name!r} is not allowed (allowed: "
                f"{', '.join(sorted(ALLOWED_IMPORTS))})",
            )
            for a in node.names
            if a.name.split(".")[0] not in ALLOWED_IMPORTS or "." in a.name
        ]
    if isinstance(node, ast.ImportFrom):
        if node.level or (node.module or "") not in ALLOWED_IMPORTS:
            return [Finding(line, f"import from {node.module!r} is not allowed")]
        return [
            Finding(line, f"importing {a.name!r} is not allowed (names starting with _)")
            for a in node.names
            if a.name.startswith("_") or a.name == "*"
        ]
    if isinstance(node, ast.Name) and node.id.startswith("_"):
        return [Finding(line, f"names starting with _ are not allowed ({node.id!r})")]
    if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
        return [Finding(line, f"{node.id!r} is not allowed")]
    if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
        return [Finding(line, f"attributes starting with _ are not allowed ({node.attr!r})")]
    if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
        return [Finding(line, f"introspection attribute {node.attr!r} is not allowed")]
    if isinstance(node, ast.arg | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
        name = node.arg if isinstance(node, ast.arg) else node.name
        if name.startswith("_"):
            return [Finding(line, f"names starting with _ are not allowed ({name!r})")]
    if isinstance(node, ast.alias) and (node.asname or "").startswith("_"):
        return [Finding(line, "import aliases starting with _ are not allowed")]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ATTRIBUTE_FUNCTIONS
    ):
        attribute = node.args[1] if len(node.args) > 1 else None
        if not (isinstance(attribute, ast.Constant) and isinstance(attribute.value, str)):
            return [Finding(line, f"{node.func.id} needs a literal attribute name")]
        if attribute.value.startswith("_") or attribute.value in FORBIDDEN_ATTRIBUTES:
            return [Finding(line, f"{node.func.id} of {attribute.value!r} is not allowed")]
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and "__" in node.value:
        # "{0.__class__}".format(...) and similar reach dunders through strings
        return [Finding(line, "strings containing '__' are not allowed")]
    if isinstance(node, ast.Global | ast.Nonlocal):
        return [Finding(line, "global and nonlocal are not allowed")]
    if isinstance(node, ast.AsyncFunctionDef | ast.Await | ast.AsyncFor | ast.AsyncWith):
        return [Finding(line, "async code is not allowed")]
    return []


def _check_shape(tree: ast.Module) -> list[Finding]:
    assigned: dict[str, ast.expr | None] = {}  # None: annotated, never assigned
    functions: dict[str, ast.FunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned[target.id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            assigned[node.target.id] = node.value
        elif isinstance(node, ast.FunctionDef):
            functions[node.name] = node
    out: list[Finding] = []
    name = assigned.get("NAME")
    if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
        out.append(Finding(1, "the module must set NAME to a string literal"))
    elif not name.value.strip() or len(name.value) > MAX_NAME:
        out.append(Finding(name.lineno, f"NAME must be 1–{MAX_NAME} characters"))
    if not isinstance(assigned.get("PARAMETERS"), ast.Dict):
        out.append(Finding(1, "the module must set PARAMETERS to a dict literal"))
    rank = functions.get("rank")
    if rank is None:
        out.append(Finding(1, "the module must define rank(items, context, params)"))
    elif len(rank.args.args) != 3 or rank.args.vararg or rank.args.kwarg:
        out.append(Finding(rank.lineno, "rank must take exactly (items, context, params)"))
    return out
