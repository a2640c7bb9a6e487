"""Host writes through the kernel's newer interfaces, run with the server as root
(as CI runs): a module that reaches ``ctypes`` (through ``typing.sys.modules``)
tries to make a read-only bind writable with ``mount_setattr`` or the new mount
API, then to create a setuid file carrying ``cap_setuid=ep`` with ``mknodat``,
``fchmodat2`` and ``setxattr``. Whatever each call answers, no file appears on
the host, the module runs as an unprivileged uid, and SysV shared memory (which
``RLIMIT_AS`` does not count) is refused.
"""

from __future__ import annotations

import os
import platform
import sys
import uuid
from pathlib import Path

import pytest

from algorithms.runner import Module, RunFailed, run
from algorithms.sandbox import Limits, Pool

pytestmark = pytest.mark.skipif(
    platform.machine() != "x86_64", reason="the probes use x86_64 syscall numbers"
)

ITEMS = [{"id": f"https://x.example/posts/{i}", "created_at": 1.0 + i} for i in range(3)]
CONTEXT = {"now": 10.0, "viewer": None, "following": [], "communities": [], "ratings": []}

PROBE = """NAME = "probe"
PARAMETERS = {}
import typing
ctypes = typing.sys.modules["ctypes"]
os = typing.sys.modules["os"]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
TARGET = TARGET_PATH


def attempt(number, *args):
    result = libc.syscall(number, *args)
    return float(result if result >= 0 else -ctypes.get_errno())


def rank(items, context, params):
    path = TARGET.encode()
    why = {"uid": float(os.getuid())}
    attr = (ctypes.c_uint64 * 4)(0, 1, 0, 0)  # attr_clr = MOUNT_ATTR_RDONLY
    for mount in (DIRECTORY.encode(), b"/"):
        why["mount_setattr " + mount.decode()[-30:]] = attempt(
            442, -100, ctypes.c_char_p(mount), 0x8000, ctypes.byref(attr), 32)
    why["open_tree"] = attempt(428, -100, ctypes.c_char_p(DIRECTORY.encode()), 0x80001)
    why["fsopen"] = attempt(430, ctypes.c_char_p(b"tmpfs"), 0)
    why["mknodat"] = attempt(259, -100, ctypes.c_char_p(path), 0o104755, 0)
    why["fchmodat2"] = attempt(452, -100, ctypes.c_char_p(path), 0o4755, 0)
    capability = bytes([0, 0, 0, 2, 128, 0, 0, 0, 128, 0, 0, 0]) + bytes(8)
    why["setxattr"] = attempt(188, ctypes.c_char_p(path), ctypes.c_char_p(b"security.capability"),
                              ctypes.c_char_p(capability), len(capability), 0)
    why["shmget"] = attempt(29, 0, 64 * 1024 * 1024, 0o1600)  # IPC_PRIVATE, IPC_CREAT|0600
    why["memfd_create"] = attempt(319, ctypes.c_char_p(b"x"), 0)
    return [(items[0]["id"], 1.0, why)]
"""


@pytest.fixture
def pool(sandbox_required):
    p = Pool(Limits(call_seconds=5))
    yield p
    p.close()


def test_no_host_file_and_no_privilege_through_new_kernel_interfaces(pool: Pool) -> None:
    directory = sys.prefix  # bound read-only into the sandbox
    target = Path(directory) / f"escape-{uuid.uuid4().hex}"
    source = PROBE.replace("TARGET_PATH", repr(str(target))).replace(
        "DIRECTORY.encode()", repr(directory) + ".encode()"
    )
    try:
        try:
            why = run(Module.from_source(source, "probe"), ITEMS, CONTEXT, {}, pool).ranked[0].why
        except RunFailed as failed:  # killed by the filter: also no escape
            assert failed.kind == "crash", str(failed)
            why = None
        assert not target.exists(), "the module created a file on the host"
        if why is not None:
            assert why["uid"] != 0, "the module ran as root"
            refused = {k: v for k, v in why.items() if k != "uid"}
            assert all(v < 0 for v in refused.values()), f"a call succeeded: {refused}"
    finally:
        if target.exists():
            os.chmod(target, 0o600)
            target.unlink()


def test_sysv_shared_memory_cannot_grow_outside_the_memory_limit(pool: Pool) -> None:
    """SysV shm and memfd are not counted by RLIMIT_AS: each call tries to create
    a 64 MiB segment and a memfd; every attempt is refused, so nothing can be
    held, or grow, across calls."""
    source = PROBE.replace("TARGET_PATH", "'/nonexistent/x'").replace(
        "DIRECTORY.encode()", "'/usr'.encode()"
    )
    for _ in range(3):
        why = run(Module.from_source(source, "shm"), ITEMS, CONTEXT, {}, pool).ranked[0].why
        assert why["shmget"] < 0 and why["memfd_create"] < 0, why
