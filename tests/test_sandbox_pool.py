"""A bounded pool: 40 submissions (each a new module version, each dry-run in the
sandbox) leave at most ``sandbox_max_zygotes`` zygotes alive, no zombie, and no
leaked file descriptor; closing the pool leaves nothing at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import make_settings

pytestmark = pytest.mark.usefixtures("sandbox_required")
MAX_ZYGOTES = 3


@pytest.fixture
def settings(tmp_path, database_url, engine):
    from tests.conftest import _wipe

    yield make_settings(tmp_path, database_url, sandbox_max_zygotes=MAX_ZYGOTES)
    _wipe(engine)


def children() -> dict[int, tuple[str, str]]:
    """This process's children: pid → (command name, state; "Z" is a zombie)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        if int(fields[1]) == os.getpid():
            found[int(stat.parent.name)] = (name, fields[0])
    return found


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_forty_submissions_leave_a_bounded_pool(api_user) -> None:
    from app.services.ranking import rankers

    authors = [api_user("alice"), api_user("bob")]
    before, fds = children(), open_fds()
    for n in range(40):
        source = (
            f'"""Module {n}."""\nNAME = "module {n}"\nPARAMETERS = {{}}\n\n\n'
            "def rank(items, context, params):\n"
            f"    return [(it['id'], it['created_at'] + {n}, {{}}) for it in items]\n"
        )
        r = authors[n % 2].post("/api/cg/v1/algorithms", {"source": source})
        assert r.status_code == 201, r.text
    new = {pid: info for pid, info in children().items() if pid not in before}
    assert [info for info in new.values() if info[1] == "Z"] == [], new
    sandboxes = [pid for pid, (name, _) in new.items() if name == "bwrap"]
    assert 1 <= len(sandboxes) <= MAX_ZYGOTES, new
    assert rankers.sandbox_pool().live() <= MAX_ZYGOTES
    assert open_fds() - fds <= 2 * MAX_ZYGOTES, "file descriptors leaked"
    rankers.sandbox_pool().close()
    left = {pid: info for pid, info in children().items() if pid not in before}
    assert left == {}, f"left behind after closing the pool: {left}"
    assert open_fds() <= fds


def test_a_zygote_killed_by_its_child_is_reaped(sandbox_required) -> None:
    """A child may signal its own zygote (both run as the same uid in the same pid
    namespace). The call fails, the dead zygote is reaped (by the failed call, or
    by the pool's next call should it die between calls), and the module's next
    call gets a fresh one: no zombie."""
    from algorithms.runner import Module, RunFailed, run
    from algorithms.sandbox import Limits, Pool

    killer = Module.from_source(
        'NAME = "k"\nPARAMETERS = {}\nimport typing\nos = typing.sys.modules["os"]\n'
        "def rank(items, context, params):\n    os.kill(os.getppid(), 9)\n    return []\n"
    )
    good = Module.from_source(
        'NAME = "g"\nPARAMETERS = {}\ndef rank(items, context, params):\n    return []\n'
    )
    before = children()
    pool = Pool(Limits(call_seconds=5))
    try:
        with pytest.raises(RunFailed):
            run(killer, [], {}, {}, pool)
        run(good, [], {}, {}, pool)
        with pytest.raises(RunFailed):
            run(killer, [], {}, {}, pool)  # a fresh zygote, killed again
        run(good, [], {}, {}, pool)
        new = {pid: info for pid, info in children().items() if pid not in before}
        assert [info for info in new.values() if info[1] == "Z"] == [], new
    finally:
        pool.close()
