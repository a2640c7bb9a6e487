"""What the admin page says about cgroup v2, read from the host's mount table and
the server's own cgroup: here against made-up hosts, one per case."""

from __future__ import annotations

from pathlib import Path

from algorithms.sandbox import cgroup_v2, isolation

V1 = "32 31 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"


def host(tmp_path: Path, controllers: str | None, v1: str = "") -> tuple[str, str]:
    """A mount table with a cgroup2 at tmp_path/cg, this server in /svc there."""
    mount = tmp_path / "cg"
    (mount / "svc").mkdir(parents=True)
    if controllers is not None:
        (mount / "svc" / "cgroup.controllers").write_text(controllers + "\n")
        for name in ("cgroup.procs", "cgroup.subtree_control"):
            (mount / "svc" / name).write_text("")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(v1 + f"41 31 0:38 / {mount} rw,relatime - cgroup2 cgroup2 rw\n")
    own = tmp_path / "cgroup"
    own.write_text("4:memory:/x\n0::/svc\n")
    return str(mountinfo), str(own)


def test_no_cgroup2_mounted(tmp_path: Path) -> None:
    (tmp_path / "mountinfo").write_text(V1)
    assert cgroup_v2(str(tmp_path / "mountinfo"), "/nonexistent") == "no cgroup v2 is mounted"


def test_a_hybrid_host_names_what_is_missing_and_where_it_is(tmp_path: Path) -> None:
    said = cgroup_v2(*host(tmp_path, "hugetlb", V1))
    assert "offers no memory, pids, cpu controller (only: hugetlb)" in said
    assert "memory held by cgroup v1" in said


def test_a_delegated_cgroup_with_the_controllers(tmp_path: Path) -> None:
    said = cgroup_v2(*host(tmp_path, "cpuset cpu io memory pids"))
    assert "is delegated with memory, pids and cpu (not used yet)" in said


def test_an_invisible_own_cgroup(tmp_path: Path) -> None:
    assert "is not visible" in cgroup_v2(*host(tmp_path, None))


def test_the_admin_status_carries_the_finding() -> None:
    assert isolation()["cgroup"] == cgroup_v2()
