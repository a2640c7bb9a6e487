"""The zygote of one untrusted ranking module (started by sandbox.py in bubblewrap).

It never runs the author's code itself. It imports every allowed library,
compiles the module, drops to an unprivileged uid, applies its limits and a
seccomp allow-list (compiled to BPF by the server, so that libseccomp's
bindings, which pull in ctypes.util, subprocess and threading, are not part of
every fork), then, for each request, forks a child that runs the
module's top level and exactly one ``rank`` call, writes its answer into a
pipe only it and the zygote hold, and exits. Nothing the module does (globals,
default arguments, caches, signal handlers, buffered output) outlives its one
call, so nothing can reach the next viewer.

The module cannot speak the protocol: the child's stdin and stdout are
/dev/null before any author code runs, so the server's channel (fd 0/1 of the
zygote) is out of its reach. The zygote splices the request from its fd 0 into
the child's own pipe without reading it, takes the child's answer once the
child has closed that pipe (and then kills it), checks it carries the request's
nonce, enforces the deadline (SIGKILL, which also ends a child that stopped
itself) and answers the server with the request's sequence number.

This file must not import anything from the project: it runs inside bubblewrap
with only the Python installation visible.
"""

import _strptime  # noqa: F401 - datetime.strptime imports it on first use

# Everything a module may import, plus what those import lazily, loaded up front.
import bisect
import collections
import ctypes
import dataclasses
import datetime
import decimal
import enum
import fcntl
import fractions
import functools
import gc
import heapq
import itertools
import json
import math
import operator
import os
import random
import re
import resource
import select
import signal
import statistics
import string
import struct
import time
import typing

try:  # for messages only: the module itself can't import it
    import orjson as wire
except ImportError:  # pragma: no cover - orjson is a dependency
    wire = None  # type: ignore[assignment]  # the json fallback below checks for None

ALLOWED = {
    m.__name__: m
    for m in (
        bisect,
        collections,
        dataclasses,
        datetime,
        decimal,
        enum,
        fractions,
        functools,
        heapq,
        itertools,
        json,
        math,
        operator,
        random,
        re,
        statistics,
        string,
        typing,
    )
}
SAFE_BUILTINS = (  # noqa: SIM905 - reads better as prose
    "abs all any ascii bin bool bytes callable chr complex dict divmod enumerate filter float "
    "format frozenset hash hex int isinstance issubclass iter len list map max min next "
    "object oct ord pow print range repr reversed round set slice sorted str sum tuple zip "
    "getattr hasattr setattr ArithmeticError AssertionError AttributeError Exception "
    "IndexError KeyError LookupError NameError OverflowError RuntimeError StopIteration "
    "TypeError ValueError ZeroDivisionError OSError ImportError True False None "
    "NotImplemented "
).split()

# The seccomp allow-list: what the zygote and a ranking call need. Anything not
# listed fails with EPERM (SysV shm, memfd, mount_setattr, mknodat, fchmodat2,
# setxattr, ...); the calls below that would reach outside are listed to kill.
ALLOWED_SYSCALLS = (  # noqa: SIM905 - reads better as prose
    "read write readv writev pread64 pwrite64 lseek close close_range dup dup2 dup3 fcntl "
    "fstat newfstatat statx ioctl mmap munmap mremap mprotect madvise brk "
    "rt_sigaction rt_sigprocmask rt_sigreturn sigaltstack restart_syscall "
    "getpid gettid getppid getuid geteuid getgid getegid getresuid getresgid getgroups "
    "clock_gettime clock_getres gettimeofday time nanosleep clock_nanosleep "
    "futex set_robust_list get_robust_list rseq set_tid_address sched_yield sched_getaffinity "
    "exit exit_group getrandom select pselect6 poll ppoll wait4 waitid kill tgkill tkill "
    "pipe pipe2 splice pidfd_open getrlimit prlimit64 setrlimit uname sysinfo getcwd prctl seccomp "
    "alarm setitimer getitimer pause "
).split()
KILLED_SYSCALLS = (  # noqa: SIM905 - reads better as prose
    "socket socketpair connect bind listen accept accept4 sendto sendmsg recvfrom recvmsg "
    "execve execveat vfork open openat openat2 creat mkdir mkdirat rmdir "
    "unlink unlinkat rename renameat renameat2 link linkat symlink symlinkat chmod fchmod "
    "fchmodat chown fchown lchown fchownat truncate ftruncate ptrace mount umount2 unshare "
    "setns chroot pivot_root kexec_load init_module finit_module bpf userfaultfd "
    "io_uring_setup process_vm_readv process_vm_writev perf_event_open setuid setgid setreuid "
    "setregid setresuid setresgid keyctl add_key request_key "
).split()
# What a child may no longer do once it is forked (stacked on the zygote's filter).
CHILD_KILLED = ["clone", "clone3", "fork", "vfork", "seccomp", "prctl", "setrlimit", "prlimit64"]
NAMESPACE_FLAGS = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
NOBODY = 65534
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2

REQUEST = struct.Struct(">4sQBI")  # magic, sequence, operation, length
ANSWER = struct.Struct(">4sQBI")  # magic, sequence, kind, length
INIT, WINDOW, CALL = 0, 1, 2  # operations
OK, ERROR, TIMEOUT, CRASH, NEED_ITEMS = 0, 1, 2, 3, 4  # kinds of answer
LOADED = b"L"  # the child wrote this after its top level ran


class Buffer:
    """A reusable buffer that each call's answer passes through, zeroed after the
    call: no freed copy of one viewer's data stays in the zygote's heap for the
    next viewer's child (a copy of that heap) to find. (A call's request does not
    pass through the zygote at all: see Spare.forward.)"""

    def __init__(self, size=1 << 16):
        self.data = bytearray(size)
        self.used = 0

    def reserve(self, size):
        if len(self.data) < size:
            self.scrub()
            self.data = bytearray(size)

    def fill(self, fd, size):
        """Read exactly ``size`` bytes from ``fd``; False at end of file."""
        self.reserve(size)
        self.used = 0
        view = memoryview(self.data)
        while self.used < size:
            n = os.readv(fd, [view[self.used : size]])
            if n == 0:
                return False
            self.used += n
        return True

    def read_some(self, fd, limit):
        """One read of what is available (at most ``limit`` bytes in all, the buffer
        growing as needed): 0 at end of file, -1 once more than ``limit`` was offered."""
        if self.used >= limit:
            return -1
        if self.used == len(self.data):
            used = self.used
            grown = bytearray(min(limit, 2 * used))
            grown[:used] = self.data
            self.scrub()
            self.data, self.used = grown, used
        n = os.readv(fd, [memoryview(self.data)[self.used : min(limit, len(self.data))]])
        self.used += n
        return n

    def view(self):
        return memoryview(self.data)[: self.used]

    def scrub(self):
        self.data[: self.used] = bytes(self.used)
        self.used = 0


def read_header(fd):
    """(sequence, operation, body size) of the next request; Nones at its end."""
    header = os.read(fd, REQUEST.size)
    while header and len(header) < REQUEST.size:
        more = os.read(fd, REQUEST.size - len(header))
        if not more:
            return None, None, None
        header += more
    if len(header) < REQUEST.size:
        return None, None, None
    magic, seq, operation, size = REQUEST.unpack(header)
    if magic != b"CGRQ":
        return None, None, None
    return seq, operation, size


def read_request(fd, buffer):
    """(sequence, operation) of the next request, its body left in ``buffer``."""
    seq, operation, size = read_header(fd)
    if seq is None or not buffer.fill(fd, size):
        return None, None
    return seq, operation


def decode(view):
    return wire.loads(view) if wire else json.loads(bytes(view))


def answer(seq, kind, payload):
    parts: list[bytes | memoryview] = [
        ANSWER.pack(b"CGAN", seq, kind, len(payload)),
        memoryview(payload),
    ]
    while parts:
        n = os.writev(1, parts)
        while parts and n >= len(parts[0]):
            n -= len(parts[0])
            parts.pop(0)
        if parts:
            parts[0] = parts[0][n:]


def message(text):
    return json.dumps({"message": text}).encode()


def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level or name not in ALLOWED:
        raise ImportError(f"import of {name!r} is not allowed")
    return ALLOWED[name]


def no_private(fn):
    """getattr & co. refuse names starting with "_" (the linter already insists on
    literal names; this holds even if the linter were fooled)."""

    def guarded(obj, name, *rest):
        if not isinstance(name, str) or name.startswith(("_", "gi_", "f_", "tb_", "co_", "cr_")):
            raise AttributeError("private attributes are not accessible")
        return fn(obj, name, *rest)

    return guarded


def drop_root():
    """When the server runs as root, bubblewrap runs without a user namespace and
    keeps only the capabilities needed for this: empty the bounding set, then
    become nobody (which clears the remaining capabilities)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in range(64):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)
    if os.geteuid() == 0 or os.getuid() == 0:  # pragma: no cover - the kernel refused
        raise SystemExit("could not drop root")


class SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


class Compiled:
    """A BPF program compiled once (by the server), installed with one prctl: by
    the zygote for itself, and by each child for its stricter filter."""

    def __init__(self, program):
        self.buffer = ctypes.create_string_buffer(program, len(program))
        self.prog = SockFprog(len(program) // 8, ctypes.addressof(self.buffer))
        self.prctl = ctypes.CDLL(None, use_errno=True).prctl

    def load(self):
        self.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # required to filter without privileges
        if self.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self.prog), 0, 0) != 0:
            os._exit(71)  # never run the module without its filter


def seccomp_filters(limits):
    """The zygote's allow-list and the child's extra filter, as sent by the server
    (hex-encoded BPF), or (None, None) when seccomp is off."""
    programs = limits.get("seccomp")
    if not programs:
        return None, None
    return Compiled(bytes.fromhex(programs[0])), Compiled(bytes.fromhex(programs[1]))


def confine(limits):
    memory = limits["memory_bytes"]
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))


def module_namespace():
    builtins_dict = __builtins__ if isinstance(__builtins__, dict) else vars(__builtins__)
    safe = {name: builtins_dict[name] for name in SAFE_BUILTINS if name in builtins_dict}
    safe["__import__"] = guarded_import
    safe["print"] = lambda *args, **kwargs: None  # output goes nowhere anyway
    for name in ("getattr", "hasattr", "setattr"):
        safe[name] = no_private(builtins_dict[name])
    safe["__build_class__"] = builtins_dict["__build_class__"]
    return {"__builtins__": safe, "__name__": "ranking_module"}


def error_of(exc):
    """The error's class, the module's line it was raised from, and its message
    (which may carry viewer data: the server decides who sees it)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<module>":
            line = tb.tb_lineno
        tb = tb.tb_next
    if line is None and isinstance(exc, SyntaxError):
        line = exc.lineno
    text = {MemoryError: "the module used too much memory", RecursionError: "too deep"}
    return {
        "class": type(exc).__name__,
        "line": line,
        "message": text.get(type(exc), str(exc)[:500]),
    }


def child(code, inp, windows, nonce, out, devnull, child_filter, limits):
    """Runs in the forked child, which is forked before its request exists: waits
    for the request on its own pipe, decodes it, runs the module's top level and
    one call, writes the answer, exits."""
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    low, high = sorted((inp, out))
    os.closerange(3, low)
    os.closerange(low + 1, high)
    os.closerange(high + 1, 64)
    cpu = int(limits["call_seconds"]) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    # The process lives for one call: a collection would only walk (and so copy)
    # pages of the zygote's heap; RLIMIT_AS still bounds what cycles can hold.
    gc.disable()
    if child_filter is not None:
        child_filter.load()
    header = os.read(inp, 4)
    while header and len(header) < 4:
        header += os.read(inp, 4 - len(header))
    if len(header) < 4:
        os._exit(0)  # the zygote is gone, or retired this spare
    size = struct.unpack(">I", header)[0]
    body = Buffer(size)  # as large as the request: every page it touches is a fault
    if not body.fill(inp, size):
        os._exit(0)
    os.close(inp)
    request = decode(body.view())
    context = request["context"]
    if "items" in request:
        items = request["items"]
    elif (window := windows.get(request.get("window"))) is not None:
        items, shared = window  # the zygote's objects, copy-on-write
        context = dict(shared, **context)
    else:
        items = None
    kind, payload = OK, b""
    if items is None:
        kind = NEED_ITEMS
    else:
        try:
            namespace = module_namespace()
            exec(code, namespace)  # noqa: S102 - this is the sandbox
            os.write(out, LOADED)
            rank = namespace["rank"]
            result = [
                list(entry) if isinstance(entry, tuple) else entry
                for entry in rank(items, context, request["params"])
            ]
            try:
                payload = wire.dumps(result) if wire else json.dumps(result).encode()
            except TypeError as exc:  # e.g. a score that is not a number
                kind, payload = ERROR, json.dumps(error_of(exc)).encode()
            if len(payload) > limits["output_bytes"]:
                kind = ERROR
                payload = message(f"output larger than {limits['output_bytes']} bytes")
        except BaseException as exc:
            kind, payload = ERROR, json.dumps(error_of(exc)).encode()
    data = memoryview(nonce + bytes([kind]) + payload)
    while data:
        data = data[os.write(out, data) :]
    os.close(out)  # the answer is complete: the zygote need not wait for the exit
    os._exit(0)


def parse(data, nonce):
    """(kind, payload) of a complete answer with this call's nonce, else None."""
    body = data[1:] if data[:1] == LOADED else data
    if len(body) < 9 or body[:8] != nonce or body[8] not in (OK, ERROR, NEED_ITEMS):
        return None
    return body[8], body[9:]


def collect(pid, inp, limits, nonce, buffer):
    """Read the child's answer (into ``buffer``) before the call's deadline. A
    complete answer with the nonce counts once the child has closed its end (as
    it does just before exiting); the child is then killed, whatever it meant to
    do next. Without one, the child's exit (or the deadline, then SIGKILL) decides."""
    deadline = time.monotonic() + limits["call_seconds"]
    limit = limits["output_bytes"] + 64
    buffer.used = 0
    try:
        watch = os.pidfd_open(pid)
    except (AttributeError, OSError):  # pragma: no cover - Linux < 5.3
        watch = None
    eof, too_large, status = False, False, None
    try:
        while status is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or too_large:
                break
            fds = [] if eof else [inp]
            if watch is not None:
                fds.append(watch)
            wait = remaining if watch is not None else min(remaining, 0.05)
            ready, _, _ = select.select(fds, [], [], wait)
            if inp in ready:
                n = buffer.read_some(inp, limit + 1)
                too_large = n < 0 or buffer.used > limit
                if n == 0:
                    eof = True
                    found = parse(buffer.view(), nonce)
                    if found is not None:
                        os.kill(pid, signal.SIGKILL)
                        return found
            if watch is None or watch in ready:
                done, code = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = code
        # The child may have written its answer and exited before all of it was
        # read: the rest is in the pipe (no writer is left, so this cannot block).
        while status is not None and not eof and not too_large:
            n = buffer.read_some(inp, limit + 1)
            too_large = n < 0 or buffer.used > limit
            eof = n == 0
    finally:
        if watch is not None:
            os.close(watch)
        os.close(inp)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        if too_large:
            return ERROR, message(f"output larger than {limits['output_bytes']} bytes")
        if buffer.view()[:1] == LOADED:
            return TIMEOUT, message(f"the module took longer than {limits['call_seconds']} s")
        return TIMEOUT, message(
            f"the module took longer than {limits['call_seconds']} s while loading "
            "(its top level runs on every call)"
        )
    if os.WIFSIGNALED(status):
        return CRASH, message(f"the module's process was killed (signal {os.WTERMSIG(status)})")
    if too_large:
        return ERROR, message(f"output larger than {limits['output_bytes']} bytes")
    found = parse(buffer.view(), nonce)
    if found is None:
        return CRASH, message("the module's process ended without an answer")
    return found


def reap(pid):
    """Collect an ended (or killed) child, after the server has its answer."""
    try:  # noqa: SIM105 - contextlib is not loaded in the sandbox
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass  # already collected


def main():
    requests, answers = Buffer(), Buffer()
    seq, operation = read_request(0, requests)
    if operation != INIT:
        return
    init = decode(requests.view())
    requests.scrub()
    limits = init["limits"]
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        code = compile(init["source"], "<module>", "exec")
    except (SyntaxError, ValueError) as exc:
        answer(seq, ERROR, json.dumps(error_of(exc)).encode())
        return
    del init
    zygote_filter, child_filter = seccomp_filters(limits)
    drop_root()
    confine(limits)
    if zygote_filter is not None:
        zygote_filter.load()
    answer(seq, OK, json.dumps({"pid": os.getpid(), "uid": os.getuid()}).encode())
    # Community windows (the same candidates for every viewer), decoded once and
    # handed to each child copy-on-write. Viewer data is never decoded here.
    windows: collections.OrderedDict[str, object] = collections.OrderedDict()
    spare = Spare(code, windows, devnull, child_filter, limits)
    ended = Reaper()
    while True:
        ended.until_request()
        seq, operation, size = read_header(0)
        if operation == WINDOW:
            if not requests.fill(0, size):
                return
            window = decode(requests.view())
            requests.scrub()
            windows[window["key"]] = (window["items"], window.get("context") or {})
            while len(windows) > limits.get("windows", 4):
                windows.popitem(last=False)
            answer(seq, OK, b"{}")
            spare.retire()  # forked before this window: it would not have it
            spare = Spare(code, windows, devnull, child_filter, limits)
            continue
        if operation != CALL:
            spare.retire()
            return
        if not spare.forward(size, devnull):
            spare.retire()
            return
        kind, payload = collect(spare.pid, spare.answers, limits, spare.nonce, answers)
        answer(seq, kind, payload)
        del payload
        answers.scrub()
        ended.add(spare.pid)  # killed in collect(); its teardown must not hold up the next call
        spare = Spare(code, windows, devnull, child_filter, limits)  # off the next call's path


class Reaper:
    """Children killed once their answer was in, collected as they end rather than
    waited for: a killed child's teardown (its copy-on-write pages) takes a
    while, and the next request need not wait for it. None outlives the zygote
    (its pid namespace ends with it), and at most ``MAX_PENDING`` are pending."""

    MAX_PENDING = 4

    def __init__(self):
        self.pending = {}  # pidfd -> pid

    def add(self, pid):
        try:
            watch = os.pidfd_open(pid)
        except (AttributeError, OSError):  # pragma: no cover - Linux < 5.3
            reap(pid)
            return
        self.pending[watch] = pid
        while len(self.pending) > self.MAX_PENDING:
            self.collect(next(iter(self.pending)))

    def collect(self, watch):
        reap(self.pending.pop(watch))
        os.close(watch)

    def until_request(self):
        """Collect children as they end, until a request is waiting on fd 0."""
        while self.pending:
            ready, _, _ = select.select([0, *self.pending], [], [])
            for watch in ready:
                if watch != 0:
                    self.collect(watch)
            if 0 in ready:
                return


PIPE_BYTES = 1 << 20  # a request or answer crosses a pipe in one write, not 16 turns


def widen(*fds):
    for fd in fds:
        try:  # noqa: SIM105 - contextlib is not loaded in the sandbox
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:
            pass  # above this system's pipe-max-size: smaller pipes still work


class Spare:
    """The child for the next call, forked ahead of it (so the fork is not on the
    call's path, and the child is a copy of the zygote without any request)."""

    def __init__(self, code, windows, devnull, child_filter, limits):
        self.nonce = os.urandom(8)
        request_in, self.requests = os.pipe()
        self.answers, answer_out = os.pipe()
        widen(self.requests, self.answers)
        gc.freeze()  # the child's collector leaves the zygote's objects (and pages) alone
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - runs in the child
            try:
                os.close(self.requests)
                os.close(self.answers)
                child(
                    code, request_in, windows, self.nonce, answer_out, devnull, child_filter, limits
                )
            finally:
                os._exit(70)
        os.close(request_in)
        os.close(answer_out)

    def forward(self, size, devnull):
        """Move the request's ``size`` bytes from the server's pipe straight into the
        child's (it is reading: a trusted prelude runs until then) with splice, so a
        viewer's data never passes through the zygote's memory, not even a buffer.
        If the child died, the rest goes to /dev/null (collect() reports the death),
        keeping the server's pipe in step. False if the server's end closed."""
        remaining, target = size, self.requests
        try:
            os.write(target, struct.pack(">I", size))
        except OSError:
            target = devnull
        while remaining:
            try:
                moved = os.splice(0, target, remaining)
            except OSError:
                if target == devnull:
                    return False
                target = devnull  # the child died: drain the request
                continue
            if moved == 0:
                return False
            remaining -= moved
        os.close(self.requests)
        return True

    def retire(self):
        os.close(self.requests)
        os.close(self.answers)
        os.kill(self.pid, signal.SIGKILL)
        reap(self.pid)


if __name__ == "__main__":
    main()
