"""`make federation-demo` works: both instances come up, follow each other, and
each member's home feed shows posts from the other instance."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server_process import ROOT, free_port

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "federation_demo.py"


def test_federation_demo_shows_remote_posts_on_both_sides(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DEMO_PORTS": f"{free_port()},{free_port()}",
        "DEMO_DATA_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),  # this checkout's code, as tests/server_process.py runs it
    }
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "federation works" in result.stdout
    assert "log in as ada" in result.stdout
