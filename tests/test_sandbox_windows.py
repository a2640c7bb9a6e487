"""A community window is sent to a zygote once and reaches each viewer's child
copy-on-write: a module may mutate what it is given, and the next viewer still
gets the window as it was sent."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from algorithms.runner import Module, RunFailed, run
from algorithms.sandbox import Limits, Pool

ITEMS = [{"id": f"https://x.example/posts/{i}", "created_at": 1.0 + i, "n": i} for i in range(50)]
MUTATES = """NAME = "mutates"
PARAMETERS = {}


def rank(items, context, params):
    seen = len(items)
    first = items[0]["n"]
    items[0]["n"] = 999
    items.reverse()
    del items[1:]
    return [(items[0]["id"], 1.0, {"seen": seen, "first n": first})]
"""


@pytest.fixture
def pool(sandbox_required):
    p = Pool(Limits(call_seconds=5))
    yield p
    p.close()


def test_each_viewer_gets_the_window_as_sent(pool: Pool) -> None:
    module = Module.from_source(MUTATES, "mutates")
    for viewer in ("https://x.example/users/a", "https://x.example/users/b"):
        context = {"now": 100.0, "viewer": viewer}
        why = run(module, ITEMS, context, {}, pool, window="garden:1").ranked[0].why
        assert why == {"seen": 50.0, "first n": 0.0}


def test_a_window_is_sent_once_and_kept_decoded(pool: Pool) -> None:
    """The first call that names a window sends its items inline; the second
    sends the window; the third names it without its items: the zygote has them."""
    module = Module.from_source(MUTATES, "mutates")
    run(module, ITEMS, {"now": 1.0}, {}, pool, window="garden:2")
    zygote = pool._zygotes[module.sha256]
    assert "garden:2" not in zygote.windows  # seen once: not worth a window yet
    run(module, ITEMS, {"now": 1.0}, {}, pool, window="garden:2")
    assert "garden:2" in zygote.windows
    raw = pool.run(module.sha256, module.source, [], {"now": 1.0}, {}, window="garden:2")
    assert raw[0][2] == {"seen": 50, "first n": 0}


def test_a_busy_module_fails_over_instead_of_queueing(sandbox_required) -> None:
    """While one call holds a module's zygote, the next viewer waits at most a
    call's deadline, then gets a timeout (and so the fallback), not a queue."""
    pool = Pool(Limits(call_seconds=0.2))
    module = Module.from_source(MUTATES, "mutates")
    try:
        run(module, ITEMS, {"now": 1.0}, {}, pool)
        zygote = pool._zygotes[module.sha256]
        with zygote.lock, pytest.raises(RunFailed) as failed:  # a call in flight
            run(module, ITEMS, {"now": 1.0}, {}, pool)
        assert failed.value.kind == "timeout" and "busy" in str(failed.value)
        assert run(module, ITEMS, {"now": 1.0}, {}, pool).ranked  # free again: served
    finally:
        pool.close()


BIG = [
    {"id": f"https://x.example/posts/{i}", "created_at": 1.0 + i, "text": "words " * 120}
    for i in range(2000)
]  # about 1.6 MB: more than the child's pipe holds, so the zygote splices in turns
ECHO = """NAME = "echo"
PARAMETERS = {}


def rank(items, context, params):
    return [(it["id"], float(len(items)), {"viewer " + str(context["viewer"]): 1}) for it in items]
"""


def deepest_live(pid: int) -> list[int]:
    """The live (not zombie) processes on the deepest level below ``pid``."""
    stats = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
            stats[int(stat.parent.name)] = (state, int(parent))
    level, frontier = [], [pid]
    while frontier:
        level = frontier
        frontier = [p for p, (_, parent) in stats.items() if parent in frontier]
    return [p for p in level if stats.get(p, ("Z", 0))[0] != "Z"]


def test_a_large_request_reaches_the_child_and_a_dead_spare_is_drained(pool: Pool) -> None:
    """A request larger than a pipe is moved into the child in turns; if the spare
    died before its request, the zygote drains the request (the call fails as a
    crash) and the next call is answered in step, by its own child."""
    module = Module.from_source(ECHO, "echo")
    first = run(module, BIG, {"viewer": "a"}, {}, pool)
    assert len(first.ranked) == 2000 and first.ranked[0].score == 2000.0
    zygote = pool._zygotes[module.sha256]
    time.sleep(0.3)  # the answered child is killed and collected; the spare waits
    spares = deepest_live(zygote.process.pid)
    assert len(spares) == 1, spares  # the child forked for the next call
    os.kill(spares[0], signal.SIGKILL)
    time.sleep(0.2)
    with pytest.raises(RunFailed) as failed:
        run(module, BIG, {"viewer": "b"}, {}, pool)
    assert failed.value.kind == "crash" and "signal 9" in str(failed.value)
    assert zygote.process.poll() is None  # the zygote itself is fine
    again = run(module, BIG, {"viewer": "c"}, {}, pool)
    assert len(again.ranked) == 2000
    assert all(r.why == {"viewer c": 1.0} for r in again.ranked)


def test_a_large_answer_arrives_whole_every_time(pool: Pool) -> None:
    """An answer much larger than one read (here ~240 KB) is read to its end even
    when the child has exited before the zygote read it all."""
    module = Module.from_source(ECHO, "echo")
    items = BIG[:1500]
    for n in range(25):
        result = run(module, items, {"viewer": f"v{n}"}, {}, pool, window="big")
        assert len(result.ranked) == 1500
        assert result.ranked[-1].why == {f"viewer v{n}": 1.0}


def test_collect_reads_to_the_end_after_the_child_has_exited() -> None:
    """The race behind a truncated answer, made certain: the child has written a
    300 KB answer and exited before the zygote's first read."""
    from algorithms import sandbox_worker as worker

    nonce, payload = os.urandom(8), b"[" + b"1," * 150_000 + b"1]"
    inp, out = os.pipe()
    worker.widen(inp, out)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(inp)
        data = memoryview(worker.LOADED + nonce + bytes([worker.OK]) + payload)
        while data:
            data = data[os.write(out, data) :]
        os._exit(0)
    os.close(out)
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
        limits = {"call_seconds": 5, "output_bytes": 1 << 21}
        kind, answer = worker.collect(pid, inp, limits, nonce, worker.Buffer())
    finally:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    assert kind == worker.OK and bytes(answer) == payload
