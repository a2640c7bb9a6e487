"""The process that runs one untrusted ranking module (started by sandbox.py).

Order matters: first every allowed module is imported (that needs file
access), then resource limits and a seccomp filter are applied (after which
opening files, sockets, exec and fork kill the process), and only then is the
author's code executed. Messages are length-prefixed JSON on stdin/stdout.

This file must not import anything from the project: it runs inside bubblewrap
with only the Python installation visible.
"""

import _strptime  # noqa: F401 - datetime.strptime imports it on first use

# Everything a module may import, plus what those import lazily, loaded up front.
import bisect
import collections
import dataclasses
import datetime
import decimal
import enum
import fractions
import functools
import heapq
import itertools
import json
import math
import operator
import random
import re
import resource
import statistics
import string
import struct
import sys
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
DENIED_SYSCALLS = (  # noqa: SIM905 - reads better as prose
    "socket socketpair connect bind listen accept accept4 sendto sendmsg recvfrom recvmsg "
    "execve execveat fork vfork clone clone3 open openat openat2 creat mkdir mkdirat rmdir "
    "unlink unlinkat rename renameat renameat2 link linkat symlink symlinkat chmod fchmod "
    "fchmodat chown fchown lchown fchownat truncate ftruncate ptrace mount umount2 unshare "
    "setns chroot pivot_root kexec_load init_module finit_module bpf userfaultfd "
    "io_uring_setup process_vm_readv process_vm_writev perf_event_open setuid setgid setreuid "
    "setregid setresuid setresgid keyctl add_key request_key "
).split()


def read_message(stream):
    header = stream.read(4)
    if len(header) < 4:
        return None
    (size,) = struct.unpack(">I", header)
    data = stream.read(size)
    return wire.loads(data) if wire else json.loads(data)


def write_message(stream, payload, limit):
    try:
        data = wire.dumps(payload) if wire else json.dumps(payload).encode()
    except TypeError as exc:  # e.g. a score that is not a number
        data = json.dumps({"error": f"TypeError: {exc}"}).encode()
    if len(data) > limit:
        data = json.dumps({"error": f"output larger than {limit} bytes"}).encode()
    stream.write(struct.pack(">I", len(data)) + data)
    stream.flush()


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


def confine(limits):
    memory = limits["memory_bytes"]
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_seconds"], limits["cpu_seconds"] + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (8, 8))
    if limits.get("seccomp", True):
        import ctypes.util

        # pyseccomp looks libraries up with ldconfig/gcc, which the sandbox lacks;
        # these sonames are stable on glibc systems.
        known = {"c": "libc.so.6", "seccomp": "libseccomp.so.2"}
        ctypes.util.find_library = known.get
        import pyseccomp as seccomp

        rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
        for name in DENIED_SYSCALLS:
            try:  # noqa: SIM105 - contextlib is not loaded in the sandbox
                rules.add_rule(seccomp.KILL_PROCESS, name)
            except (RuntimeError, ValueError, OSError):
                pass  # not a syscall on this architecture
        rules.load()


def main():
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    init = read_message(stdin)
    limits = init["limits"]
    builtins_dict = __builtins__ if isinstance(__builtins__, dict) else vars(__builtins__)
    safe = {name: builtins_dict[name] for name in SAFE_BUILTINS if name in builtins_dict}
    safe["__import__"] = guarded_import
    safe["print"] = lambda *args, **kwargs: None  # stdout is the message channel
    for name in ("getattr", "hasattr", "setattr"):
        safe[name] = no_private(builtins_dict[name])
    safe["__build_class__"] = builtins_dict["__build_class__"]
    namespace = {"__builtins__": safe, "__name__": "ranking_module"}
    code = compile(init["source"], "<module>", "exec")
    confine(limits)
    try:
        exec(code, namespace)  # noqa: S102 - this is the sandbox
        meta = {"name": namespace["NAME"], "parameters": namespace["PARAMETERS"]}
        json.dumps(meta)
        rank = namespace["rank"]
    except BaseException as exc:  # report, don't die silently
        write_message(
            stdout,
            {"error": f"module failed to load: {type(exc).__name__}: {exc}"},
            limits["output_bytes"],
        )
        return
    write_message(stdout, {"ok": True, **meta}, limits["output_bytes"])
    while True:
        request = read_message(stdin)
        if request is None:
            return
        try:
            result = [
                list(entry) if isinstance(entry, tuple) else entry
                for entry in rank(request["items"], request["context"], request["params"])
            ]
            write_message(stdout, {"result": result}, limits["output_bytes"])
        except MemoryError:
            write_message(
                stdout,
                {"error": "MemoryError: the module used too much memory"},
                limits["output_bytes"],
            )
        except RecursionError:
            write_message(stdout, {"error": "RecursionError: too deep"}, limits["output_bytes"])
        except BaseException as exc:
            write_message(
                stdout, {"error": f"{type(exc).__name__}: {str(exc)[:500]}"}, limits["output_bytes"]
            )


if __name__ == "__main__":
    main()
