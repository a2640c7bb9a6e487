"""The sandbox holds: hostile modules are rejected by the linter or contained at
run time (bubblewrap + rlimits + seccomp + deadlines), and a contained failure
does not disturb other modules.

Without bubblewrap these tests are skipped with the reason; ``REQUIRE_SANDBOX=1``
(set by CI) makes a missing bubblewrap a failure instead.
"""

from __future__ import annotations

import time

import pytest

from algorithms.lint import lint
from algorithms.runner import Module, RunFailed, run
from algorithms.sandbox import Limits, Pool

HEADER = 'NAME = "hostile"\nPARAMETERS = {}\n'
ITEMS = [
    {"id": f"https://x.example/posts/{i}", "created_at": 1_700_000_000.0 + i, "n": i}
    for i in range(50)
]
CONTEXT = {
    "now": 1_700_100_000.0,
    "viewer": None,
    "following": [],
    "communities": [],
    "ratings": [],
    "limit": 20,
}


@pytest.fixture(scope="module")
def pool(sandbox_required):
    p = Pool(Limits(call_seconds=1.5, memory_bytes=256 * 1024 * 1024))
    yield p
    p.close()


def body(code: str, returns: str = "[]") -> str:
    lines = "\n".join("    " + line for line in code.strip().splitlines())
    return f"{HEADER}\ndef rank(items, context, params):\n{lines}\n    return {returns}\n"


GOOD = body("", '[(it["id"], it["created_at"], {"age": 1}) for it in items]')

# Rejected before anything runs: (name, source, expected words in a finding)
LINT_REJECTED = [
    ("import os", "import os\n" + GOOD, "'os' is not allowed"),
    ("import socket", "import socket\n" + GOOD, "'socket' is not allowed"),
    ("import ctypes", "import ctypes\n" + GOOD, "'ctypes' is not allowed"),
    ("import subprocess", "import subprocess\n" + GOOD, "not allowed"),
    ("from os import path", "from os import path\n" + GOOD, "not allowed"),
    ("relative import", "from . import x\n" + GOOD, "not allowed"),
    ("dotted import", "import os.path\n" + GOOD, "not allowed"),
    ("open()", body("open('/etc/passwd')"), "'open' is not allowed"),
    ("__import__", body("__import__('os')"), "not allowed"),
    ("eval", body("eval('1+1')"), "'eval' is not allowed"),
    ("exec", body("exec('x=1')"), "'exec' is not allowed"),
    ("compile", body("compile('1', 'x', 'eval')"), "'compile' is not allowed"),
    ("globals", body("globals()"), "'globals' is not allowed"),
    ("vars", body("vars()"), "'vars' is not allowed"),
    ("breakpoint", body("breakpoint()"), "'breakpoint' is not allowed"),
    ("__subclasses__ walk", body("().__class__.__bases__[0].__subclasses__()"), "attributes"),
    ("random._os", "import random\n" + body("random._os.system('id')"), "attributes"),
    ("format dunder", body("'{0.__class__}'.format(items)"), "'__'"),
    ("getattr computed dunder", body("getattr(items, '_' + '_class__')"), "literal"),
    ("getattr literal private", body("getattr(items, '_x')"), "not allowed"),
    ("generator frame walk", body("g = (x for x in [1])\nf = g.gi_frame.f_back"), "gi_frame"),
    ("private name", body("_secret = 1"), "names starting with _"),
    ("missing rank", HEADER, "rank"),
    ("missing NAME", "PARAMETERS = {}\ndef rank(items, context, params):\n    return []\n", "NAME"),
    ("syntax error", "def rank(:\n", "syntax error"),
    ("oversized", HEADER + "# " + "x" * 70_000 + "\n" + GOOD, "KiB"),
]

# Contained at run time: (name, source, expected failure kind)
CONTAINED = [
    ("infinite loop", body("while True:\n    pass"), "timeout"),
    ("memory bomb", body("x = 'a' * (10 ** 10)"), "error"),
    ("list memory bomb", body("x = [0] * (10 ** 10)"), "error"),
    ("recursion", body("rank(items, context, params)"), "error"),
    (
        "huge output",
        body(
            "",
            "[(it['id'], 1.0, {str(k): 1 for k in range(20)}) for it in items] "
            "+ [('x' * 10 ** 7, 1.0, {})]",
        ),
        "error",
    ),
    ("NaN scores", body("", "[(it['id'], float('nan'), {}) for it in items]"), "contract"),
    ("infinite scores", body("", "[(it['id'], float('inf'), {}) for it in items]"), "contract"),
    ("unknown ids", body("", "[('https://evil.example/1', 1.0, {})]"), "contract"),
    ("wrong return type", body("", "{'a': 1}"), "contract"),
    ("wrong triple", body("", "[(it['id'], 1.0) for it in items]"), "contract"),
    ("string score", body("", "[(it['id'], 'high', {}) for it in items]"), "contract"),
    (
        "duplicate ids",
        body("", "[(items[0]['id'], 1.0, {}), (items[0]['id'], 2.0, {})]"),
        "contract",
    ),
    ("why not a dict", body("", "[(it['id'], 1.0, ['x']) for it in items]"), "contract"),
    (
        "factor name too long",
        body("", "[(it['id'], 1.0, {'x' * 300: 1}) for it in items]"),
        "contract",
    ),
    (
        "slow per item",
        "import math\n"
        + body(
            "out = []\nfor it in items:\n    s = 0\n    for k in range(3000000):\n"
            "        s += math.sqrt(k)\n    out.append((it['id'], s, {}))",
            "out",
        ),
        "timeout",
    ),
    ("exception", body("raise ValueError('boom')"), "error"),
    ("import at run time (linter skipped)", body("import os"), "error"),
    (
        "private getattr at run time (linter skipped)",
        body("getattr(items, '_' + '_class__')"),
        "error",
    ),
]


@pytest.mark.parametrize(
    ("name", "source", "words"), LINT_REJECTED, ids=[c[0] for c in LINT_REJECTED]
)
def test_linter_rejects(name: str, source: str, words: str | None) -> None:
    findings = lint(source)
    assert findings, f"{name} passed the linter"
    assert all(f.line >= 1 for f in findings)
    if words:
        assert any(words in f.message for f in findings), findings


def test_good_module_passes_lint() -> None:
    assert lint(GOOD) == []


@pytest.mark.parametrize(("name", "source", "kind"), CONTAINED, ids=[c[0] for c in CONTAINED])
def test_contained_at_run_time(pool: Pool, name: str, source: str, kind: str) -> None:
    module = Module.from_source(source, name)
    with pytest.raises(RunFailed) as failed:
        run(module, ITEMS, CONTEXT, {}, pool)
    assert failed.value.kind == kind, str(failed.value)
    # the sandbox still works for everyone else afterwards
    ok = run(Module.from_source(GOOD, "good"), ITEMS, CONTEXT, {}, pool)
    assert [r.item_id for r in ok.ranked][:2] == [ITEMS[-1]["id"], ITEMS[-2]["id"]]


SECCOMP_CASES = [
    (
        "os.open through a module dict",
        "import random\n" + body("random.__dict__['_' + 'os'].open('/etc/hostname', 0)"),
    ),
    ("fork through a module dict", "import random\n" + body("random.__dict__['_' + 'os'].fork()")),
    (
        "exec through a module dict",
        "import random\n" + body("random.__dict__['_' + 'os'].execv('/bin/true', ['true'])"),
    ),
]


@pytest.mark.parametrize(("name", "source"), SECCOMP_CASES, ids=[c[0] for c in SECCOMP_CASES])
def test_seccomp_kills_what_slips_past_the_linter(pool: Pool, name: str, source: str) -> None:
    """If the linter were fooled (these bypass it at run time, skipping lint on
    purpose), the seccomp filter still kills the process."""
    with pytest.raises(RunFailed) as failed:
        run(Module.from_source(source, name), ITEMS, CONTEXT, {}, pool)
    assert failed.value.kind == "crash"


def test_isolation_holds_even_without_seccomp(pool: Pool) -> None:
    """Defence in depth: with the seccomp layer switched off, bubblewrap alone
    still gives the module no network (a PostgreSQL server listens on this
    machine's loopback, but not in the sandbox's) and a read-only, nearly empty
    file system."""
    weak = Pool(Limits(call_seconds=5, seccomp=False))
    probe = HEADER + (
        "import random\n"
        "def rank(items, context, params):\n"
        "    os = random.__dict__['_' + 'os']\n"
        "    real_import = random.__dict__['_' + '_builtins_' + '_']['_' + '_import_' + '_']\n"
        "    socket = real_import('socket')\n"
        "    s = socket.socket()\n"
        "    try:\n"
        "        s.connect(('127.0.0.1', 5432))\n"
        "        connected = 1.0\n"
        "    except OSError:\n"
        "        connected = 0.0\n"
        "    try:\n"
        "        os.open('/escape', os.O_CREAT | os.O_WRONLY)\n"
        "        wrote = 1.0\n"
        "    except OSError:\n"
        "        wrote = 0.0\n"
        "    return [(items[0]['id'], connected, {'connected': connected, 'wrote': wrote,\n"
        "             'home visible': float(os.path.exists('/home'))})]\n"
    )
    try:
        result = run(Module.from_source(probe, "probe"), ITEMS, CONTEXT, {}, weak)
    finally:
        weak.close()
    assert result.ranked[0].why == {"connected": 0.0, "wrote": 0.0, "home visible": 0.0}


def test_each_call_runs_in_a_fresh_child_of_one_zygote(pool: Pool) -> None:
    """The zygote is reused between calls; the module runs in a new process each time."""
    probe = "import random\n" + body(
        "pid = float(random.__dict__['_' + 'os'].getpid())",
        "[(items[0]['id'], 1.0, {'pid': pid})]",
    )
    module = Module.from_source(probe, "pid probe")
    first = run(module, ITEMS, CONTEXT, {}, pool).ranked[0].why["pid"]
    zygote = pool._zygotes[module.sha256].process.pid
    second = run(module, ITEMS, CONTEXT, {}, pool).ranked[0].why["pid"]
    assert first != second
    assert pool._zygotes[module.sha256].process.pid == zygote


def test_a_timeout_does_not_block_other_modules(pool: Pool) -> None:
    slow = Module.from_source(body("while True:\n    pass"), "slow")
    started = time.monotonic()
    with pytest.raises(RunFailed):
        run(slow, ITEMS, CONTEXT, {}, pool)
    assert time.monotonic() - started < 10  # killed at the deadline, not hanging
    assert run(Module.from_source(GOOD, "good2"), ITEMS, CONTEXT, {}, pool).ranked


def test_the_documented_worked_example_runs(pool: Pool) -> None:
    """The example in docs/algorithms.md, taken from the page itself, passes the
    linter and ranks in the sandbox as the page says."""
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "algorithms.md").read_text()
    start = doc.index('"""Recent posts many people agree with')
    source = doc[start : doc.index("```", start)]
    assert lint(source) == []
    items = [
        dict(ITEMS[0], reactions={"agree": 4, "disagree": 1}),
        dict(ITEMS[1], reactions={"agree": 0, "disagree": 6}),
    ]
    result = run(
        Module.from_source(source, "worked example"),
        items,
        CONTEXT,
        {},
        pool,
        defaults={"half_life_hours": 24.0, "floor": 0.05},
    )
    assert [r.item_id for r in result.ranked] == [items[0]["id"], items[1]["id"]]
    assert set(result.ranked[0].why) == {"recency", "agrees", "disagrees"}


def child_processes() -> dict[int, str]:
    """This process's children and their state ("Z" is a zombie: ended, never
    reaped), read from /proc."""
    import os
    from pathlib import Path

    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[1]) == os.getpid():
            children[int(stat.parent.name)] = fields[0]
    return children


@pytest.mark.parametrize(
    "source",
    [body("while True:\n    pass"), HEADER + "while True:\n    pass\n" + GOOD],
    ids=["in rank", "while loading"],
)
def test_a_timed_out_module_leaves_no_child_behind(sandbox_required, source: str) -> None:
    """A call killed at its deadline (in rank, or while its top level runs)
    leaves only the zygote, and closing the pool reaps that: no <defunct>
    child, and none still running until its CPU limit kills it unreaped later."""
    before = child_processes()
    pool = Pool(Limits(call_seconds=1.0, start_seconds=1.0))
    try:
        with pytest.raises(RunFailed) as failed:
            run(Module.from_source(source, "slow"), ITEMS, CONTEXT, {}, pool)
        assert failed.value.kind == "timeout"
        left = {pid: state for pid, state in child_processes().items() if pid not in before}
        assert len(left) <= 1, f"more than the zygote is left: {left}"
        assert "Z" not in left.values(), f"defunct children: {left}"
    finally:
        pool.close()
    left = {pid: state for pid, state in child_processes().items() if pid not in before}
    assert left == {}, f"children left behind (Z = defunct): {left}"
