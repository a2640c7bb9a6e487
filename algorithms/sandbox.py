"""Running untrusted ranking modules: one persistent worker process per module
version, confined by bubblewrap (no network, read-only file system, fresh
namespaces), resource limits and a seccomp filter (see sandbox_worker.py).

The server talks to it over pipes with length-prefixed JSON and enforces a
wall-clock deadline per call. A worker that times out, crashes or misbehaves
is killed; the next call starts a fresh one. Workers are recycled after
``recycle_after`` calls, so a module can't accumulate state for long.
"""

from __future__ import annotations

import os
import select
import shutil
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from algorithms.contract import MAX_OUTPUT_JSON

WORKER = Path(__file__).with_name("sandbox_worker.py")


class SandboxError(Exception):
    """A call failed; ``kind`` is timeout, crash, error or unavailable."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class SandboxUnavailable(SandboxError):
    def __init__(self, message: str) -> None:
        super().__init__("unavailable", message)


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 256 * 1024 * 1024
    cpu_seconds: int = 30  # over the worker's whole life; calls have wall deadlines
    output_bytes: int = MAX_OUTPUT_JSON
    call_seconds: float = 2.0
    start_seconds: float = 10.0
    recycle_after: int = 500
    seccomp: bool = True


def bubblewrap() -> str | None:
    return shutil.which("bwrap")


def _python_roots() -> list[str]:
    """Directories the sandboxed interpreter needs to read: the base install,
    the virtualenv (for pyseccomp), and the shared libraries."""
    roots = {sys.base_prefix, sys.prefix, str(Path(sys.executable).resolve().parent)}
    import pyseccomp

    roots.add(str(Path(pyseccomp.__file__).resolve().parent.parent))
    return sorted(roots)


def command(weak: bool = False) -> list[str]:
    """The command line that starts a worker."""
    python = [sys.executable, "-I", "-B", "/sandbox/worker.py"]
    if weak:
        return [sys.executable, "-I", "-B", str(WORKER)]
    bwrap = bubblewrap()
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed")
    args = [
        bwrap,
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--setenv",
        "PYTHONHASHSEED",
        "0",
        "--dev",
        "/dev",
        "--chdir",
        "/",
    ]
    for system_dir in ("/usr", "/lib", "/lib64", "/etc/alternatives"):
        if os.path.exists(system_dir):
            args += ["--ro-bind", system_dir, system_dir]
    for root in _python_roots():
        args += ["--ro-bind", root, root]
    args += ["--ro-bind", str(WORKER), "/sandbox/worker.py", "--remount-ro", "/"]
    return args + python


@dataclass
class Worker:
    """One running module. Not thread-safe: the pool serialises calls to it."""

    source: str
    limits: Limits
    weak: bool = False
    calls: int = 0
    process: subprocess.Popen | None = None
    meta: dict = field(default_factory=dict)

    def start(self) -> dict:
        self.process = subprocess.Popen(  # noqa: S603 - a fixed command line
            command(self.weak),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        limits = {
            "memory_bytes": self.limits.memory_bytes,
            "cpu_seconds": self.limits.cpu_seconds,
            "output_bytes": self.limits.output_bytes,
            "seccomp": self.limits.seccomp,
        }
        try:
            self._send({"source": self.source, "limits": limits})
            reply = self._receive(self.limits.start_seconds)
        except SandboxError:
            self.stop()  # kill and reap: a worker that never started is not left running
            raise
        if "error" in reply:
            self.stop()
            raise SandboxError("error", reply["error"])
        self.meta = reply
        return reply

    def call(self, items: list, context: dict, params: dict) -> list:
        if self.process is None or self.process.poll() is not None:
            self.start()
        self.calls += 1
        try:
            self._send({"items": items, "context": context, "params": params})
            reply = self._receive(self.limits.call_seconds)
        except SandboxError:
            self.stop()
            raise
        if self.calls >= self.limits.recycle_after:
            self.stop()
        if "error" in reply:
            raise SandboxError("error", reply["error"])
        return reply["result"]

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            for stream in (self.process.stdin, self.process.stdout):
                if stream:
                    stream.close()
        self.process = None
        self.calls = 0

    def _send(self, payload: dict) -> None:
        data = orjson.dumps(payload)
        try:
            self.process.stdin.write(struct.pack(">I", len(data)) + data)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise SandboxError("crash", "the module's process died") from exc

    def _receive(self, seconds: float) -> dict:
        deadline = time.monotonic() + seconds
        header = self._read(4, deadline)
        (size,) = struct.unpack(">I", header)
        if size > self.limits.output_bytes + 1024:
            raise SandboxError("error", "the module's answer is too large")
        try:
            return orjson.loads(self._read(size, deadline))
        except orjson.JSONDecodeError as exc:
            raise SandboxError("error", "the module's answer was not valid") from exc

    def _read(self, size: int, deadline: float) -> bytes:
        fd = self.process.stdout.fileno()
        chunks, have = [], 0
        while have < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SandboxError("timeout", "the module took too long")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, min(size - have, 1 << 20))
            if not chunk:
                code = self.process.poll()
                raise SandboxError("crash", f"the module's process ended (exit {code})")
            chunks.append(chunk)
            have += len(chunk)
        return b"".join(chunks)


class Pool:
    """Persistent workers keyed by module version (sha256)."""

    def __init__(self, limits: Limits | None = None, *, weak: bool = False) -> None:
        self.limits = limits or Limits()
        self.weak = weak
        self._workers: dict[str, Worker] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def run(self, sha256: str, source: str, items: list, context: dict, params: dict) -> list:
        with self._guard:
            worker = self._workers.get(sha256)
            if worker is None:
                worker = self._workers[sha256] = Worker(source, self.limits, self.weak)
                self._locks[sha256] = threading.Lock()
            lock = self._locks[sha256]
        with lock:
            return worker.call(items, context, params)

    def close(self) -> None:
        with self._guard:
            for worker in self._workers.values():
                worker.stop()
            self._workers.clear()
