"""`make demo` stores links to the instance `make run` serves: the same PORT, or
the CG_DOMAIN the admin set. Runs the real Makefile target on a fresh database."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from sqlmodel import Session, select

from app.db import make_engine
from app.models import Community, Post

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("make_args", "cg_domain", "base"),
    [
        (["PORT=8123"], None, "http://127.0.0.1:8123"),
        (["PORT=8123"], "localhost:8777", "http://localhost:8777"),
    ],
)
def test_make_demo_links_name_the_instance_make_run_serves(
    tmp_path: Path, make_args: list[str], cg_domain: str | None, base: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CG_")}
    env.update(CG_DATA_DIR=str(tmp_path), CG_ARGON2_TIME_COST="1", CG_ARGON2_MEMORY_KIB="1024")
    if cg_domain:
        env["CG_DOMAIN"] = cg_domain
    done = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "demo", *make_args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"{base}/login" in done.stdout
    engine = make_engine(f"sqlite:///{tmp_path / 'commonground.db'}")
    try:
        with Session(engine) as db:
            html = " ".join(p.html for p in db.exec(select(Post)))
            uris = [c.uri for c in db.exec(select(Community))]
    finally:
        engine.dispose()
    assert f'href="{base}/tags/cleanup"' in html and f'href="{base}/@ben"' in html
    assert "127.0.0.1:8000" not in html
    assert uris and all(uri.startswith(f"{base}/c/") for uri in uris)
