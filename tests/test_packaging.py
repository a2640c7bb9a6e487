"""What an installed Commonground needs, checked on a real install rather than the checkout.

A wheel is built from a copy of the source, installed into a fresh venv, and
``commonground migrate`` runs from it against a SQLite file outside the source tree.
The fresh venv borrows the project venv's dependencies through a ``.pth`` line (so
nothing is downloaded), added only after the wheel is installed, so pip never sees
the project's own editable install there.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

import app.models  # noqa: F401 - registers every table on SQLModel.metadata

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "federation", "algorithms")

pytestmark = pytest.mark.packaging


def build_wheel(source: Path, out: Path) -> Path:
    """A wheel of ``source``, built from a copy so the checkout gets no build/ or egg-info."""
    src = out / "src"
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(source / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for package in PACKAGES:
        shutil.copytree(source / package, src / package, ignore=ignore)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index"]
        + ["--no-build-isolation", "--wheel-dir", str(out), str(src)],
        check=True,
        cwd=out,
    )
    (wheel,) = out.glob("commonground-*.whl")
    return wheel


def fresh_venv_with(wheel: Path, where: Path) -> Path:
    """A new venv holding only the wheel, then the project venv's dependencies on its path."""
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
        + ["--no-deps", "--no-index", str(wheel)],
        check=True,
        cwd=where,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "zz_project_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    return venv


def clean_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CG_", "PYTHON"))}
    env["CG_DATA_DIR"] = str(tmp / "data")
    env["CG_DATABASE_URL"] = f"sqlite:///{tmp / 'installed.db'}"
    return env


def test_a_wheel_install_migrates(tmp_path: Path) -> None:
    wheel = build_wheel(ROOT, tmp_path / "dist")
    venv = fresh_venv_with(wheel, tmp_path)
    env = clean_env(tmp_path)

    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import app; print(app.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    ).stdout.strip()
    assert Path(where).is_relative_to(venv), f"app imported from {where}, not the wheel"

    run = subprocess.run(
        [str(venv / "bin" / "commonground"), "migrate"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert "up to date" in run.stdout

    with sqlite3.connect(tmp_path / "installed.db") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert {t.name for t in SQLModel.metadata.sorted_tables} <= tables
    assert [version] == ScriptDirectory(str(ROOT / "app" / "migrations")).get_heads()
