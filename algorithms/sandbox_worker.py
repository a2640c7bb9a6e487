"""The zygote of one untrusted ranking module (started by sandbox.py in bubblewrap).

It never runs the author's code itself. It imports every allowed library,
compiles the module, drops to an unprivileged uid, applies its limits and a
seccomp allow-list, then, for each request, forks a child that runs the
module's top level and exactly one ``rank`` call, writes its answer into a
pipe only it and the zygote hold, and exits. Nothing the module does (globals,
default arguments, caches, signal handlers, buffered output) outlives its one
call, so nothing can reach the next viewer.

The module cannot speak the protocol: the child's stdin and stdout are
/dev/null before any author code runs, so the server's channel (fd 0/1 of the
zygote) is out of its reach. The zygote reads the child's answer only after the
child has exited, checks it carries the request's nonce, enforces the deadline
(SIGKILL, which also ends a child that stopped itself) and answers the server
with the request's sequence number.

This file must not import anything from the project: it runs inside bubblewrap
with only the Python installation visible.
"""

import _strptime  # noqa: F401 - datetime.strptime imports it on first use

# Everything a module may import, plus what those import lazily, loaded up front.
import bisect
import collections
import ctypes
import ctypes.util
import dataclasses
import datetime
import decimal
import enum
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
    wire = None

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
    "pipe pipe2 pidfd_open getrlimit prlimit64 setrlimit uname sysinfo getcwd prctl seccomp "
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
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2

REQUEST = struct.Struct(">4sQI")  # magic, sequence, length
ANSWER = struct.Struct(">4sQBI")  # magic, sequence, kind, length
OK, ERROR, TIMEOUT, CRASH, NEED_ITEMS = 0, 1, 2, 3, 4
LOADED = b"L"  # the child wrote this after its top level ran


def read_exact(fd, size):
    chunks, have = [], 0
    while have < size:
        chunk = os.read(fd, min(size - have, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        have += len(chunk)
    return b"".join(chunks)


def read_request(fd):
    header = read_exact(fd, REQUEST.size)
    if header is None:
        return None, None
    magic, seq, size = REQUEST.unpack(header)
    if magic != b"CGRQ":
        return None, None
    data = read_exact(fd, size)
    return seq, (wire.loads(data) if wire else json.loads(data))


def answer(seq, kind, payload):
    data = ANSWER.pack(b"CGAN", seq, kind, len(payload)) + payload
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


def message(text):
    return json.dumps({"message": text}).encode()


def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002
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


def seccomp_filters(enabled):
    """The zygote's allow-list, and the child's extra filter (built here, loaded
    after each fork)."""
    if not enabled:
        return None, None
    # pyseccomp looks libraries up with ldconfig/gcc, which the sandbox lacks;
    # these sonames are stable on glibc systems.
    known = {"c": "libc.so.6", "seccomp": "libseccomp.so.2"}
    ctypes.util.find_library = known.get
    import pyseccomp as seccomp

    zygote = seccomp.SyscallFilter(defaction=seccomp.ERRNO(1))  # EPERM
    for name in ALLOWED_SYSCALLS:
        add(seccomp, zygote, seccomp.ALLOW, name)
    for name in KILLED_SYSCALLS:
        add(seccomp, zygote, seccomp.KILL_PROCESS, name)
    # fork, but never into new namespaces; clone3 hides its flags, so glibc is
    # told it does not exist and falls back to clone.
    add(
        seccomp,
        zygote,
        seccomp.ALLOW,
        "clone",
        seccomp.Arg(0, seccomp.MASKED_EQ, NAMESPACE_FLAGS, 0),
    )
    add(seccomp, zygote, seccomp.ERRNO(38), "clone3")  # ENOSYS
    child = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in CHILD_KILLED:
        add(seccomp, child, seccomp.KILL_PROCESS, name)
    return zygote, compiled(child)


class SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


class Compiled:
    """A filter compiled once in the zygote, so that a child installs it with a
    single prctl instead of libseccomp compiling it again for every call."""

    def __init__(self, program):
        self.buffer = ctypes.create_string_buffer(program, len(program))
        self.prog = SockFprog(len(program) // 8, ctypes.addressof(self.buffer))
        self.prctl = ctypes.CDLL(None, use_errno=True).prctl

    def load(self):
        if self.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self.prog), 0, 0) != 0:
            os._exit(71)  # never run the module without its filter


def compiled(rules):
    inp, out = os.pipe()

    class Sink:
        def fileno(self):
            return out

    rules.export_bpf(Sink())
    os.close(out)
    program = b""
    while chunk := os.read(inp, 65536):
        program += chunk
    os.close(inp)
    return Compiled(program)


def add(seccomp, rules, action, name, *args):
    try:  # noqa: SIM105 - contextlib is not loaded in the sandbox
        rules.add_rule(action, name, *args)
    except (RuntimeError, ValueError, OSError):
        pass  # not a syscall on this architecture


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


def child(code, request, nonce, out, devnull, child_filter, limits):
    """Runs in the forked child: the module's top level and one call, then exit."""
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.closerange(3, out)
    os.closerange(out + 1, 64)
    cpu = int(limits["call_seconds"]) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    if child_filter is not None:
        child_filter.load()
    kind = OK
    try:
        namespace = module_namespace()
        exec(code, namespace)  # noqa: S102 - this is the sandbox
        os.write(out, LOADED)
        rank = namespace["rank"]
        result = [
            list(entry) if isinstance(entry, tuple) else entry
            for entry in rank(request["items"], request["context"], request["params"])
        ]
        try:
            payload = wire.dumps(result) if wire else json.dumps(result).encode()
        except TypeError as exc:  # e.g. a score that is not a number
            kind, payload = ERROR, json.dumps(error_of(exc)).encode()
        if len(payload) > limits["output_bytes"]:
            kind = ERROR
            payload = message(f"output larger than {limits['output_bytes']} bytes")
    except BaseException as exc:  # noqa: BLE001 - report, don't die silently
        kind, payload = ERROR, json.dumps(error_of(exc)).encode()
    data = memoryview(nonce + bytes([kind]) + payload)
    while data:
        data = data[os.write(out, data) :]
    os.close(out)  # the answer is complete: the zygote need not wait for the exit
    os._exit(0)


def parse(data, nonce):
    """(loaded, kind, payload) of a complete answer with this call's nonce, else None."""
    loaded = data.startswith(LOADED)
    body = data[1:] if loaded else data
    if len(body) < 9 or body[:8] != nonce or body[8] not in (OK, ERROR):
        return None
    return loaded, body[8], body[9:]


def collect(pid, inp, limits, nonce):
    """Read the child's answer before the call's deadline. A complete answer with
    the nonce counts once the child has closed its end (as it does just before
    exiting); the child is then killed, whatever it meant to do next. Without a
    complete answer, the child's exit (or the deadline, then SIGKILL) decides."""
    deadline = time.monotonic() + limits["call_seconds"]
    limit = limits["output_bytes"] + 64
    try:
        watch = os.pidfd_open(pid)
    except (AttributeError, OSError):  # pragma: no cover - Linux < 5.3
        watch = None
    chunks, have, eof, status = [], 0, False, None
    try:
        while status is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or have > limit:
                break
            fds = [] if eof else [inp]
            if watch is not None:
                fds.append(watch)
            wait = remaining if watch is not None else min(remaining, 0.05)
            ready, _, _ = select.select(fds, [], [], wait)
            if inp in ready:
                chunk = os.read(inp, 1 << 20)
                if chunk:
                    chunks.append(chunk)
                    have += len(chunk)
                else:
                    eof = True
                    answer = parse(b"".join(chunks), nonce)
                    if answer is not None:
                        os.kill(pid, signal.SIGKILL)
                        return answer[1], answer[2]
            if watch is None or watch in ready:
                done, code = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = code
    finally:
        if watch is not None:
            os.close(watch)
        os.close(inp)
    data = b"".join(chunks)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        if have > limit:
            return ERROR, message(f"output larger than {limits['output_bytes']} bytes")
        if data.startswith(LOADED):
            return TIMEOUT, message(f"the module took longer than {limits['call_seconds']} s")
        return TIMEOUT, message(
            f"the module took longer than {limits['call_seconds']} s while loading "
            "(its top level runs on every call)"
        )
    if os.WIFSIGNALED(status):
        return CRASH, message(f"the module's process was killed (signal {os.WTERMSIG(status)})")
    answer = parse(data, nonce)
    if answer is None:
        return CRASH, message("the module's process ended without an answer")
    return answer[1], answer[2]


def reap(pid):
    """Collect an ended (or killed) child, after the server has its answer."""
    try:  # noqa: SIM105 - contextlib is not loaded in the sandbox
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass  # already collected


def main():
    seq, init = read_request(0)
    if init is None:
        return
    limits = init["limits"]
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        code = compile(init["source"], "<module>", "exec")
    except (SyntaxError, ValueError) as exc:
        answer(seq, ERROR, json.dumps(error_of(exc)).encode())
        return
    zygote_filter, child_filter = seccomp_filters(limits.get("seccomp", True))
    drop_root()
    confine(limits)
    if zygote_filter is not None:
        zygote_filter.load()
    answer(seq, OK, json.dumps({"pid": os.getpid(), "uid": os.getuid()}).encode())
    windows = collections.OrderedDict()  # decoded candidate windows, shared copy-on-write
    while True:
        seq, request = read_request(0)
        if request is None:
            return
        key = request.get("window")
        if request.get("items") is None:
            if key not in windows:
                answer(seq, NEED_ITEMS, b"{}")
                continue
            request["items"] = windows[key]
            windows.move_to_end(key)
        elif key is not None:
            windows[key] = request["items"]
            while len(windows) > limits.get("windows", 4):
                windows.popitem(last=False)
        nonce = os.urandom(8)
        inp, out = os.pipe()
        gc.freeze()  # the child's collector leaves the zygote's objects (and pages) alone
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                os.close(inp)
                child(code, request, nonce, out, devnull, child_filter, limits)
            finally:
                os._exit(70)
        os.close(out)
        del request
        kind, payload = collect(pid, inp, limits, nonce)
        answer(seq, kind, payload)
        reap(pid)


if __name__ == "__main__":
    main()
