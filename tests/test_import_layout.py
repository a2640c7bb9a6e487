"""One direction of imports: no cycles in app/, federation/ or algorithms/, and
each layer imports only what lies beneath it.

Imports are read with :mod:`ast`, not by importing anything. Every import
counts, wherever it stands: module-level imports define the layering, and an
import inside a function that exists only to dodge a cycle is still a cycle (it
just fails later, at call time). The one exception is a block under
``if TYPE_CHECKING:``, which never runs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "federation", "algorithms")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except under ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _internal(name: str) -> str | None:
    """The longest prefix of a dotted name that is one of our modules."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return candidate
    return None


def imports_of(module: str) -> set[str]:
    """The internal modules ``module`` imports (``from pkg import sub`` names the
    submodule when there is one, else the package)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            targets = [_internal(alias.name) for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else _internal(base)
                for alias in node.names
            ]
        out.update(t for t in targets if t is not None and t != module)
    return out


GRAPH = {module: imports_of(module) for module in MODULES}


def _tangles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan): sets of
    modules that all reach one another."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(components)


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A path from the component's first module back to itself, inside it."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & component):
                if child == start:
                    return [*paths[node], start]
                if child not in paths:
                    paths[child] = [*paths[node], child]
                    following.append(child)
        frontier = following
    raise AssertionError("a strongly connected component always holds a cycle")


def test_the_reader_sees_imports_inside_functions_and_resolves_submodules() -> None:
    """The reader itself: a lazy import counts; ``from pkg import sub`` is the
    submodule; the graph finds a planted cycle and prints it."""
    assert "app.services" in GRAPH["app.deps"]  # from app.services import Ctx
    assert "app.infra.jobs" in GRAPH["app.cli"]  # imported inside a function
    planted = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(planted) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One concrete cycle per tangle, so a failure can be followed import by import."""
    return [_one_cycle(graph, set(tangle)) for tangle in _tangles(graph)]


def test_no_import_cycles() -> None:
    report = [
        f"{' -> '.join(_one_cycle(GRAPH, set(tangle)))}\n    (all of: {', '.join(tangle)})"
        for tangle in _tangles(GRAPH)
    ]
    assert not report, "import cycles:\n" + "\n".join(report)


def _imports_under(prefixes: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    def within(name: str, roots: tuple[str, ...]) -> bool:
        return any(name == r or name.startswith(r + ".") for r in roots)

    return sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if within(module, prefixes)
        for target in targets
        if within(target, forbidden)
    )


def test_algorithms_import_nothing_from_the_application() -> None:
    assert _imports_under(("algorithms",), ("app", "federation")) == []


def test_services_know_nothing_of_the_edges() -> None:
    """The domain does not call pages, the API or federation; federation listens
    to domain events instead."""
    edges = ("app.web", "app.api", "federation", "app.main", "app.cli", "app.plugins")
    assert _imports_under(("app.services",), edges) == []


RANKING_LAYERS = [
    ("types",),
    ("candidates", "artifact_items", "reasons"),
    ("rankers", "snapshots"),
    ("registry",),
    ("choices",),
    ("comparison",),
    ("feeds",),
]


def test_the_ranking_package_is_layered() -> None:
    """Each ranking module imports only modules in layers beneath its own (and,
    within the strategies' layer, snapshots may build on rankers)."""
    prefix = "app.services.ranking."
    rank = {name: i for i, layer in enumerate(RANKING_LAYERS) for name in layer}
    assert set(rank) == {m[len(prefix) :] for m in GRAPH if m.startswith(prefix)}
    allowed_sideways = {("snapshots", "rankers")}
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.startswith(prefix)
        for target in targets
        if target.startswith(prefix)
        and rank[target[len(prefix) :]] >= rank[module[len(prefix) :]]
        and (module[len(prefix) :], target[len(prefix) :]) not in allowed_sideways
    )
    assert upward == []


def test_infrastructure_knows_nothing_of_the_domain() -> None:
    """app/infra (jobs, events, rate limits, Ctx) sits beneath the services: it may
    use the database, models, settings and errors, and nothing above them."""
    beneath = ("app.config", "app.db", "app.errors", "app.models", "app.infra")
    found = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module == "app.infra" or module.startswith("app.infra.")
        for target in targets
        if not any(target == b or target.startswith(b + ".") for b in beneath)
    )
    assert found == []
