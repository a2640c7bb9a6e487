"""The `commonground` command line: migrate, create-admin, demo-data, worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import Session, func, select

from app.cli import main
from app.db import make_engine
from app.models import Account, Community, Job, Post


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "CG_DATA_DIR": str(tmp_path),
        "CG_ARGON2_TIME_COST": "1",
        "CG_ARGON2_MEMORY_KIB": "1024",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def count(tmp_path: Path, model: type) -> int:
    engine = make_engine(f"sqlite:///{tmp_path / 'commonground.db'}")
    try:
        with Session(engine) as db:
            return db.exec(select(func.count()).select_from(model)).one()
    finally:
        engine.dispose()


def test_migrate_create_admin_and_demo_data(env: dict, tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(main, ["migrate"])
    assert r.exit_code == 0 and "up to date" in r.output
    assert runner.invoke(main, ["migrate"]).exit_code == 0  # idempotent

    r = runner.invoke(main, ["create-admin", "root"], env={"CG_ADMIN_PASSWORD": "admin password"})
    assert r.exit_code == 0 and "created" in r.output
    r = runner.invoke(main, ["create-admin", "root"], env={"CG_ADMIN_PASSWORD": "admin password"})
    assert r.exit_code == 1 and "taken" in r.output

    r = runner.invoke(main, ["demo-data"])
    assert r.exit_code == 0 and "demo-password" in r.output
    assert count(tmp_path, Community) == 3 and count(tmp_path, Post) == 9
    assert runner.invoke(main, ["demo-data"]).output.startswith("demo data is already there")
    assert count(tmp_path, Account) == 5


def test_create_admin_prompts_for_a_password(env: dict, tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(main, ["migrate"])
    r = runner.invoke(main, ["create-admin", "root"], input="short\nshort\n")
    assert r.exit_code == 1 and "8" in r.output  # a clear message, no traceback
    assert "Traceback" not in r.output


def test_bad_configuration_is_explained(env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_DOMAIN", "social.example.org")
    r = CliRunner().invoke(main, ["migrate"])
    assert r.exit_code == 1 and "CG_SCHEME=http is only allowed" in r.output


def test_serve_refuses_an_unmigrated_database(env: dict) -> None:
    r = CliRunner().invoke(main, ["serve", "--port", "1"])
    assert r.exit_code == 1 and "commonground migrate" in r.output


def test_worker_process_runs_jobs_and_stops_on_sigterm(env: dict, tmp_path: Path) -> None:
    assert CliRunner().invoke(main, ["migrate"]).exit_code == 0
    exe = Path(sys.executable).with_name("commonground")
    proc = subprocess.Popen(
        [str(exe), "worker"],
        env={**os.environ, **env, "CG_WORKER_POLL_SECONDS": "0.1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        done = 0
        while time.monotonic() < deadline and not done:
            time.sleep(0.3)
            engine = make_engine(f"sqlite:///{tmp_path / 'commonground.db'}")
            with Session(engine) as db:  # the worker schedules and runs housekeeping
                done = db.exec(
                    select(func.count()).select_from(Job).where(Job.state == "done")
                ).one()
            engine.dispose()
        assert done >= 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "worker stopped" in out
