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
import zipfile
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


def requirements_of(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as whl:
        (metadata,) = [n for n in whl.namelist() if n.endswith(".dist-info/METADATA")]
        text = whl.read(metadata).decode()
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if "Requires-Dist" in line]


def test_a_wheel_install_migrates(tmp_path: Path) -> None:
    wheel = build_wheel(ROOT, tmp_path / "dist")
    psycopg = [r for r in requirements_of(wheel) if r.startswith("psycopg")]
    assert psycopg and all('extra == "postgres"' in r for r in psycopg), psycopg
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


# Prepended to a subprocess: from here on, importing psycopg fails as if it were not
# installed (the SQLite-only install, `pip install commonground` without [postgres]).
BLOCK_PSYCOPG = """
import sys

class NoPsycopg:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("psycopg", "psycopg_binary", "psycopg_c", "psycopg2"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoPsycopg())
"""


def run_without_psycopg(
    code: str, tmp: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CG_")}
    environ |= {"CG_DATA_DIR": str(tmp / "data"), **env}
    return subprocess.run(
        [sys.executable, "-c", BLOCK_PSYCOPG + code, *args],
        capture_output=True,
        text=True,
        cwd=tmp,
        env=environ,
    )


def test_a_sqlite_install_imports_migrates_and_serves_without_psycopg(tmp_path: Path) -> None:
    code = """
import sqlite3
from fastapi.testclient import TestClient
from app.config import Settings
from app.main import create_app
from app.migrate import is_current, upgrade

db_file, data_dir = sys.argv[1:]
url = "sqlite:///" + db_file
upgrade(url)
assert is_current(url)
settings = Settings(data_dir=data_dir, database_url=url)
with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as client:
    print("status", client.get("/").status_code)
with sqlite3.connect(db_file) as conn:
    tables = conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'search%'"
    ).fetchall()  # the full-text index's FTS5 tables are the migration's, not models
print("tables", len(tables))
print("psycopg loaded", any(m.startswith("psycopg") for m in sys.modules))
"""
    run = run_without_psycopg(code, tmp_path, str(tmp_path / "no_pg.db"), str(tmp_path / "data"))
    assert run.returncode == 0, run.stderr
    assert "status 200" in run.stdout
    assert f"tables {len(SQLModel.metadata.sorted_tables) + 1}" in run.stdout  # + alembic_version
    assert "psycopg loaded False" in run.stdout


def test_the_blocker_really_blocks_psycopg(tmp_path: Path) -> None:
    run = run_without_psycopg("import psycopg", tmp_path)
    assert run.returncode == 1 and "No module named 'psycopg'" in run.stderr


PG_URL = "postgresql+psycopg://commonground@127.0.0.1:5432/commonground"


def test_postgres_without_psycopg_names_the_extra_in_the_cli(tmp_path: Path) -> None:
    code = """
from app.cli import main
main(["migrate"])
"""
    run = run_without_psycopg(code, tmp_path, CG_DATABASE_URL=PG_URL)
    assert run.returncode == 1
    assert "pip install 'commonground[postgres]'" in run.stderr
    assert "Traceback" not in run.stderr


def test_postgres_without_psycopg_names_the_extra_when_making_an_engine(tmp_path: Path) -> None:
    code = """
from app.db import make_engine
try:
    make_engine(sys.argv[1])
except Exception as exc:
    print(type(exc).__name__, exc)
"""
    run = run_without_psycopg(code, tmp_path, PG_URL)
    assert run.returncode == 0, run.stderr
    assert "pip install 'commonground[postgres]'" in run.stdout
