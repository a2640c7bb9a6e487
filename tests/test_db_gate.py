"""The request gate (app.deps.DbGate): who holds a database session, and who goes
next when a request finishes.

Writes go before reads that waited longer (a member who posts waits for their
words to be kept; in arrival order, posts queued behind every read when many
members were online), but writes never hold more than their share, so readers
always get through; and a request cancelled while it waits leaves no slot taken.
"""

from __future__ import annotations

import asyncio

from app.deps import DbGate

SLOTS, WRITERS = 3, 2


def small_gate() -> DbGate:
    return DbGate(slots=SLOTS, writers=WRITERS)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class Requests:
    """Requests that enter the gate and hold their slot until told to finish."""

    def __init__(self, gate: DbGate) -> None:
        self.gate = gate
        self.started: list[str] = []
        self._done: dict[str, asyncio.Event] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def send(self, name: str, *, write: bool) -> None:
        done = self._done[name] = asyncio.Event()

        async def request() -> None:
            async with self.gate.slot(write):
                self.started.append(name)
                await done.wait()

        self.tasks[name] = asyncio.create_task(request())

    async def finish(self, name: str) -> None:
        self._done[name].set()
        await self.tasks[name]
        await _settle()

    async def __aenter__(self) -> Requests:
        return self

    async def __aexit__(self, *_: object) -> None:
        """Let every request still holding or waiting for a slot finish."""
        for done in self._done.values():
            done.set()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)


async def test_a_waiting_write_goes_before_reads_that_came_first() -> None:
    async with Requests(small_gate()) as r:
        for name in ("read1", "read2", "read3"):
            r.send(name, write=False)
        await _settle()
        r.send("read4", write=False)
        await _settle()
        r.send("write1", write=True)
        await _settle()
        assert r.started == ["read1", "read2", "read3"]  # all slots taken, two waiting

        await r.finish("read1")
        assert r.started[-1] == "write1"  # the write, though the read waited longer
        await r.finish("read2")
        assert r.started[-1] == "read4"


async def test_writes_never_hold_more_than_their_share() -> None:
    async with Requests(small_gate()) as r:
        for name in ("write1", "write2", "write3"):
            r.send(name, write=True)
        await _settle()
        assert r.started == ["write1", "write2"]  # writers = 2 of the 3 slots
        r.send("read1", write=False)
        await _settle()
        assert r.started == ["write1", "write2", "read1"]  # the free slot goes to a read

        r.send("read2", write=False)
        await _settle()
        await r.finish("write1")
        assert r.started[-1] == "write3"  # a write's slot passes to the waiting write
        await r.finish("read1")
        assert r.started[-1] == "read2"


async def test_a_request_cancelled_while_waiting_takes_no_slot() -> None:
    async with Requests(small_gate()) as r:
        for name in ("read1", "read2", "read3"):
            r.send(name, write=False)
        r.send("write1", write=True)
        r.send("read4", write=False)
        await _settle()
        r.tasks["write1"].cancel()
        await _settle()

        await r.finish("read1")
        assert r.started[-1] == "read4"  # not lost to the cancelled write
        for name in ("read2", "read3", "read4"):
            await r.finish(name)
        assert r.gate._free == SLOTS and r.gate._writing == 0


class CancelsOnGrant(DbGate):
    """Cancels ``victim`` right after handing it a slot, before it can run."""

    victim: asyncio.Task[None] | None = None

    def _hand_over(self) -> None:
        super()._hand_over()
        if self.victim is not None:
            self.victim.cancel()
            self.victim = None


async def test_a_request_cancelled_as_it_is_let_in_passes_its_slot_on() -> None:
    gate = CancelsOnGrant(slots=SLOTS, writers=WRITERS)
    async with Requests(gate) as r:
        for name in ("read1", "read2", "read3"):
            r.send(name, write=False)
        r.send("write1", write=True)
        r.send("read4", write=False)
        await _settle()
        gate.victim = r.tasks["write1"]
        await r.finish("read1")  # its slot goes to write1, cancelled before it runs

        assert "write1" not in r.started
        assert r.started[-1] == "read4"  # write1 passed the slot on
        for name in ("read2", "read3", "read4"):
            await r.finish(name)
        assert gate._free == SLOTS and gate._writing == 0


def test_sqlite_gives_writers_a_smaller_share_of_the_slots_than_postgresql() -> None:
    """SQLite writes one at a time: a writer beyond the lock's holder and the next
    in line would only wait, holding a slot a reader could use."""
    sqlite, postgres = DbGate.for_database("sqlite"), DbGate.for_database("postgresql")
    assert sqlite.writers < sqlite.slots
    assert sqlite.writers / sqlite.slots < postgres.writers / postgres.slots


async def test_a_waiting_read_gets_a_slot_however_many_writes_wait() -> None:
    """Writes go first, but not for ever: with writes queued behind writes (a busy
    evening of posting), a read that waits still gets every fifth slot that frees."""
    async with Requests(DbGate(slots=1, writers=1)) as r:
        r.send("write0", write=True)
        await _settle()
        for i in range(1, 8):
            r.send(f"write{i}", write=True)
        await _settle()
        r.send("read", write=False)
        await _settle()
        for i in range(8):
            if "read" in r.started:
                break
            await r.finish(f"write{i}")
        writes_before = r.started.index("read")
        assert 1 <= writes_before <= 1 + DbGate.WRITES_IN_A_ROW, r.started
        assert r.started[writes_before - 1] == f"write{DbGate.WRITES_IN_A_ROW}"
