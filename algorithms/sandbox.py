"""Running untrusted ranking modules: one zygote per module version, confined by
bubblewrap (no network, read-only file system, fresh namespaces, no
capabilities, an unprivileged uid), resource limits and a seccomp allow-list,
which forks a fresh child for every call (see sandbox_worker.py).

The server talks only to the zygote, which never runs the module's code, over
pipes the children cannot reach: binary frames carrying a sequence number the
answer must echo. Every write and every read has a deadline; on any violation
the zygote is killed and reaped, the call fails (the feed falls back) and the
next call starts a fresh zygote. At most ``max_zygotes`` live at once, the
least recently used is evicted.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import orjson

from algorithms.contract import MAX_OUTPUT_JSON
from algorithms.sandbox_worker import (
    ALLOWED_SYSCALLS,
    ANSWER,
    CALL,
    CHILD_KILLED,
    ERROR,
    INIT,
    KILLED_SYSCALLS,
    NAMESPACE_FLAGS,
    NEED_ITEMS,
    OK,
    PIPE_BYTES,
    REQUEST,
    TIMEOUT,
    WINDOW,
)

WORKER = Path(__file__).with_name("sandbox_worker.py")
SLACK_SECONDS = 1.0  # the zygote's own margin over a call's deadline
WINDOWS = 4  # candidate windows each zygote keeps decoded
SIGHTINGS = 256  # window names each zygote remembers having seen once
# The parts of a ranking context that belong to the candidates, not to the viewer
# (every viewer of one window gets the same ratings): they travel with a window.
SHARED_CONTEXT = ("ratings",)


class SandboxError(Exception):
    """A call failed; ``kind`` is timeout, crash, error or unavailable. For an
    error raised by the module, ``error_class`` and ``line`` say what and where
    without the message (which may carry viewer data)."""

    def __init__(
        self, kind: str, message: str, error_class: str | None = None, line: int | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.error_class = error_class
        self.line = line


class SandboxUnavailable(SandboxError):
    def __init__(self, message: str) -> None:
        super().__init__("unavailable", message)


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 256 * 1024 * 1024
    output_bytes: int = MAX_OUTPUT_JSON
    call_seconds: float = 2.0  # one call, the module's top level included
    start_seconds: float = 10.0  # the zygote's own start (bubblewrap, imports)
    max_zygotes: int = 8
    seccomp: bool = True


def bubblewrap() -> str | None:
    return shutil.which("bwrap")


CGROUP_CONTROLLERS = ("memory", "pids", "cpu")  # what a sandbox cgroup would limit


def cgroup_v2(mountinfo: str = "/proc/self/mountinfo", own: str = "/proc/self/cgroup") -> str:
    """Whether this server was handed a cgroup v2 that could hold the sandbox's
    memory (shared memory included), pids and CPU, delegated as systemd does for a
    service (``Delegate=yes``: the controllers enabled and the cgroup writable by
    us), and if not, why not; in words for the admin page and docs/algorithms.md.
    The sandbox does not use a cgroup yet, whatever this finds."""
    mounts, v1 = [], set()
    with contextlib.suppress(OSError):
        for line in Path(mountinfo).read_text().splitlines():
            fields, _, fs = line.partition(" - ")
            kind, *rest = fs.split()
            if kind == "cgroup2" and len(fields.split()) > 4:
                mounts.append(fields.split()[4])
            elif kind == "cgroup" and rest:
                v1.update(rest[-1].split(","))
    if not mounts:
        return "no cgroup v2 is mounted"
    mount = mounts[0]
    path = "/"
    with contextlib.suppress(OSError):
        for line in Path(own).read_text().splitlines():
            if line.startswith("0::"):
                path = line[3:] or "/"
    group = Path(mount) / path.lstrip("/")
    try:
        controllers = set((group / "cgroup.controllers").read_text().split())
    except OSError:
        return f"cgroup v2 at {mount}, but this server's cgroup {path} is not visible"
    missing = [c for c in CGROUP_CONTROLLERS if c not in controllers]
    if missing:
        offered = ", ".join(sorted(controllers)) or "none"
        held = [c for c in missing if c in v1]
        why = f"; {', '.join(held)} held by cgroup v1 hierarchies (a hybrid layout)" if held else ""
        return (
            f"cgroup v2 at {mount} offers no {', '.join(missing)} controller (only: {offered}){why}"
        )
    writable = all(
        os.access(group / name, os.W_OK) for name in ("cgroup.procs", "cgroup.subtree_control")
    )
    if not writable:
        return f"cgroup v2 {group} has the controllers but is not delegated to this server"
    return f"cgroup v2 {group} is delegated with memory, pids and cpu (not used yet)"


def isolation() -> dict[str, str]:
    """How a call is confined on this server, in words for the admin page.

    Memory is bounded by RLIMIT_AS per call; what RLIMIT_AS does not count is
    refused by the seccomp allow-list. A delegated cgroup v2 is not used, so this
    is the mode everywhere; ``cgroup`` says what this host offers
    (docs/algorithms.md)."""
    root = os.geteuid() == 0
    return {
        "sandbox": "bubblewrap" if bubblewrap() else "unavailable: install bubblewrap",
        "memory": "rlimits + seccomp: RLIMIT_AS per call; SysV shared memory, memfd and "
        "file-backed shm are refused (no cgroup v2 in use)",
        "cgroup": cgroup_v2(),
        "uid": "nobody (65534), as the server runs as root"
        if root
        else "the server's own uid, in a user namespace",
        "capabilities": "none (--cap-drop ALL; the bounding set is emptied)",
        "syscalls": f"allow-list of {len(ALLOWED_SYSCALLS) + 1} syscalls, the rest refused",
        "calls": "a fresh process per call, forked from a zygote per module version",
    }


@functools.cache
def seccomp_programs() -> tuple[str, str]:
    """The zygote's allow-list and the child's extra filter, compiled to BPF here
    (hex, for the INIT message). The zygote installs them with a bare prctl, so it
    need not import libseccomp's bindings, which bring ctypes.util, subprocess and
    threading into the zygote and make every fork dearer."""
    import pyseccomp as seccomp

    def add(rules: seccomp.SyscallFilter, action: int, name: str, *args: seccomp.Arg) -> None:
        with contextlib.suppress(RuntimeError, ValueError, OSError):
            rules.add_rule(action, name, *args)  # not a syscall on this architecture

    zygote = seccomp.SyscallFilter(defaction=seccomp.ERRNO(1))  # EPERM
    for name in ALLOWED_SYSCALLS:
        add(zygote, seccomp.ALLOW, name)
    for name in KILLED_SYSCALLS:
        add(zygote, seccomp.KILL_PROCESS, name)
    # fork, but never into new namespaces; clone3 hides its flags, so glibc is
    # told it does not exist and falls back to clone.
    add(zygote, seccomp.ALLOW, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, NAMESPACE_FLAGS, 0))
    add(zygote, seccomp.ERRNO(38), "clone3")  # ENOSYS
    child = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in CHILD_KILLED:
        add(child, seccomp.KILL_PROCESS, name)
    return _bpf(zygote).hex(), _bpf(child).hex()


def _bpf(rules: object) -> bytes:
    """libseccomp writes a program only to a file descriptor: read it back."""
    with tempfile.TemporaryFile() as out:
        rules.export_bpf(out)  # type: ignore[attr-defined]
        out.seek(0)
        return out.read()


def _python_roots() -> list[str]:
    """Directories the sandboxed interpreter needs to read: the base install,
    the virtualenv (for orjson), and the shared libraries."""
    roots = {sys.base_prefix, sys.prefix, str(Path(sys.executable).resolve().parent)}
    roots.add(str(Path(orjson.__file__).resolve().parent.parent))
    return sorted(roots)


def command(weak: bool = False) -> list[str]:
    """The command line that starts a zygote. As root, bubblewrap creates no user
    namespace and keeps only what the zygote needs to become nobody (it then
    drops even those); otherwise all capabilities are dropped."""
    python = [sys.executable, "-I", "-B", "/sandbox/worker.py"]
    if weak:
        return [sys.executable, "-I", "-B", str(WORKER)]
    bwrap = bubblewrap()
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed")
    if os.geteuid() == 0:
        namespaces = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
        namespaces += ["--unshare-cgroup-try", "--cap-drop", "ALL"]
        namespaces += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        namespaces += ["--cap-add", "CAP_SETPCAP"]
    else:
        namespaces = ["--unshare-all", "--cap-drop", "ALL"]
    args = [
        bwrap,
        *namespaces,
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
    binds = [d for d in ("/usr", "/lib", "/lib64", "/etc/alternatives") if os.path.exists(d)]
    binds += _python_roots()
    for parent in _parents([*binds, "/sandbox/worker.py"]):
        args += ["--perms", "0755", "--dir", parent]  # nobody must traverse to the binds
    for bound in binds:
        args += ["--ro-bind", bound, bound]
    args += ["--ro-bind", str(WORKER), "/sandbox/worker.py", "--remount-ro", "/"]
    return args + python


def _parents(paths: list[str]) -> list[str]:
    """The directories above each path, outermost first, that no other path covers
    (bubblewrap would otherwise copy the host's modes, such as /root's 0700)."""
    out: list[str] = []
    for path in paths:
        for parent in reversed(Path(path).parents):
            name = str(parent)
            covered = any(name == p or name.startswith(p.rstrip("/") + "/") for p in paths)
            if name != "/" and not covered and name not in out:
                out.append(name)
    return out


class Zygote:
    """One module version's zygote. Not thread-safe: callers hold ``lock``."""

    def __init__(self, source: str, limits: Limits, weak: bool = False) -> None:
        self.source = source
        self.limits = limits
        self.weak = weak
        self.lock = threading.Lock()
        self.process: subprocess.Popen | None = None
        self.seq = 0
        self.info: dict = {}
        self.windows: OrderedDict[str, None] = OrderedDict()  # what the zygote has decoded
        self.sightings: OrderedDict[str, None] = OrderedDict()  # names seen once, not sent
        self.retired = False  # evicted from the pool: stopped after any call in flight

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - a fixed command line
            command(self.weak),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
        )
        os.set_blocking(self._stdin_fd(), False)
        for fd in (self._stdin_fd(), self._stdout_fd()):
            with contextlib.suppress(OSError):  # a request crosses in one write
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self.windows.clear()
        limits = {
            "memory_bytes": self.limits.memory_bytes,
            "output_bytes": self.limits.output_bytes,
            "call_seconds": self.limits.call_seconds,
            "seccomp": list(seccomp_programs()) if self.limits.seccomp else None,
            "windows": WINDOWS,
        }
        try:
            kind, payload = self._exchange(
                INIT, {"source": self.source, "limits": limits}, self.limits.start_seconds
            )
        except SandboxError:
            self.stop()  # kill and reap: a zygote that never started is not left running
            raise
        if kind != OK:
            self.stop()
            raise _failure(kind, payload)
        self.info = orjson.loads(payload)

    def call(self, items: list, context: dict, params: dict, window: str | None = None) -> list:
        """One call in a fresh child. With ``window``, the candidates and the
        community part of the context (``SHARED_CONTEXT``) are sent once as a
        window the zygote keeps decoded, and a call carries only the viewer's part;
        without, everything travels with the request and only the child decodes it.
        ``window`` must name exactly those candidates and that shared context.

        A window is sent from the second call that names it: sending one costs a
        fresh spare (forked after it is decoded) on the call's path, about what
        two viewers sharing it save, so a window only one viewer ever has (most
        home feeds) travels inline instead."""
        if self.process is None or self.process.poll() is not None:
            self.stop()
            self.start()
        if window is not None and window not in self.windows and window not in self.sightings:
            self.sightings[window] = None
            while len(self.sightings) > SIGHTINGS:
                self.sightings.popitem(last=False)
            window = None
        seconds = self.limits.call_seconds + SLACK_SECONDS
        if window is None:
            request = {"context": context, "params": params, "items": items}
        else:
            own = {k: v for k, v in context.items() if k not in SHARED_CONTEXT}
            request = {"context": own, "params": params, "window": window}
        try:
            if window is not None and window not in self.windows:
                self._send_window(window, items, context, seconds)
            kind, payload = self._exchange(CALL, request, seconds)
            if kind == NEED_ITEMS and window is not None:
                self._send_window(window, items, context, seconds)
                kind, payload = self._exchange(CALL, request, seconds)
        except SandboxError:
            self.stop()
            raise
        if self.retired:
            self.stop()
        if kind != OK:
            raise _failure(kind, payload)
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise SandboxError("error", "the module's answer was not valid") from exc

    def _send_window(self, key: str, items: list, context: dict, seconds: float) -> None:
        shared = {k: context[k] for k in SHARED_CONTEXT if k in context}
        kind, _ = self._exchange(WINDOW, {"key": key, "items": items, "context": shared}, seconds)
        if kind != OK:
            raise SandboxError("crash", "the sandbox did not take the candidate window")
        self.windows[key] = None
        while len(self.windows) > WINDOWS:
            self.windows.popitem(last=False)

    def stop(self) -> None:
        """Kill and reap the zygote (its children die with it: --die-with-parent
        and the pid namespace); close both pipes."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            for stream in (self.process.stdin, self.process.stdout):
                if stream:
                    stream.close()
        self.process = None

    def _exchange(self, operation: int, payload: dict, seconds: float) -> tuple[int, bytes]:
        """Send one request and read its answer, both before the deadline; the
        answer must echo the request's sequence number."""
        deadline = time.monotonic() + seconds
        self.seq += 1
        data = orjson.dumps(payload)
        self._write(REQUEST.pack(b"CGRQ", self.seq, operation, len(data)) + data, deadline)
        magic, seq, kind, size = ANSWER.unpack(self._read(ANSWER.size, deadline))
        if magic != b"CGAN" or seq != self.seq:
            raise SandboxError("crash", "the sandbox answered out of turn")
        if size > self.limits.output_bytes + 1024:
            raise SandboxError("error", "the module's answer is too large")
        return kind, self._read(size, deadline)

    def _running(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise SandboxError("crash", "the sandbox is not running")
        return self.process

    def _stdin_fd(self) -> int:
        stdin = self._running().stdin
        if stdin is None:  # Popen(stdin=PIPE) always makes one
            raise SandboxError("crash", "the sandbox has no request pipe")
        return stdin.fileno()

    def _stdout_fd(self) -> int:
        stdout = self._running().stdout
        if stdout is None:  # Popen(stdout=PIPE) always makes one
            raise SandboxError("crash", "the sandbox has no answer pipe")
        return stdout.fileno()

    def _write(self, data: bytes, deadline: float) -> None:
        fd = self._stdin_fd()
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SandboxError("timeout", "the sandbox did not take the request in time")
            _, ready, _ = select.select([], [fd], [], remaining)
            if not ready:
                continue
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                continue
            except OSError as exc:
                raise SandboxError("crash", "the module's process died") from exc

    def _read(self, size: int, deadline: float) -> bytes:
        fd = self._stdout_fd()
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
                code = self._running().poll()
                raise SandboxError("crash", f"the module's process ended (exit {code})")
            chunks.append(chunk)
            have += len(chunk)
        return b"".join(chunks)


def _failure(kind: int, payload: bytes) -> SandboxError:
    try:
        detail = orjson.loads(payload)
    except orjson.JSONDecodeError:
        detail = {}
    if not isinstance(detail, dict):
        detail = {}
    text = str(detail.get("message", "the module failed"))[:1000]
    if kind == TIMEOUT:
        return SandboxError("timeout", text)
    if kind == ERROR and detail.get("class"):
        error_class = str(detail["class"])[:80]
        line = detail.get("line") if isinstance(detail.get("line"), int) else None
        where = f" (line {line})" if line else ""
        return SandboxError("error", f"{error_class}{where}: {text}", error_class, line)
    return SandboxError("error" if kind == ERROR else "crash", text)


class Pool:
    """Zygotes keyed by module version (sha256), at most ``limits.max_zygotes``,
    the least recently used evicted (killed and reaped)."""

    def __init__(self, limits: Limits | None = None, *, weak: bool = False) -> None:
        self.limits = limits or Limits()
        self.weak = weak
        self._zygotes: OrderedDict[str, Zygote] = OrderedDict()
        self._guard = threading.Lock()

    def run(
        self,
        sha256: str,
        source: str,
        items: list,
        context: dict,
        params: dict,
        window: str | None = None,
    ) -> list:
        """Rank in a fresh child of this version's zygote. ``window`` names the
        candidate list (e.g. a community window's fingerprint) so the zygote
        keeps it decoded for the next viewers."""
        evicted = []
        with self._guard:
            zygote = self._zygotes.get(sha256)
            if zygote is None:
                zygote = self._zygotes[sha256] = Zygote(source, self.limits, self.weak)
            self._zygotes.move_to_end(sha256)
            while len(self._zygotes) > max(1, self.limits.max_zygotes):
                evicted.append(self._zygotes.popitem(last=False)[1])
            idle = [z for z in self._zygotes.values() if z is not zygote and not z.lock.locked()]
        for other in idle:  # a zygote that died between calls (say, a child killed it)
            if other.process is not None and other.process.poll() is not None:
                with other.lock:
                    other.stop()  # reaped now, not left a zombie until its next call
        for old in evicted:
            old.retired = True
            with old.lock:  # waits at most for its current call's deadline
                old.stop()
        # Viewers of one module wait for each other at most one call's deadline:
        # beyond it, the feed falls back rather than queueing behind a slow module.
        if not zygote.lock.acquire(timeout=self.limits.call_seconds + SLACK_SECONDS):
            raise SandboxError("timeout", "the module is busy with other calls")
        try:
            return zygote.call(items, context, params, window)
        finally:
            zygote.lock.release()

    def live(self) -> int:
        with self._guard:
            return sum(1 for z in self._zygotes.values() if z.process is not None)

    def close(self) -> None:
        with self._guard:
            zygotes = list(self._zygotes.values())
            self._zygotes.clear()
        for zygote in zygotes:
            with zygote.lock:
                zygote.stop()
