"""Node 22 and the npm packages tests run with it, from node_modules (package.json,
installed by `make node_modules/.installed-stamp`): the Fedify judge and the
Mastodon client libraries masto and megalodon. Missing, they skip with the reason
on a developer's machine and fail under REQUIRE_JUDGES=1 (CI)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import judge_missing

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "node_modules" / ".bin" / "node"


def node_with(package: str) -> str:
    """The path of Node >= 22 from node_modules, once ``package`` is installed there."""
    if not (ROOT / "node_modules" / package).is_dir():
        judge_missing(f"{package} is not installed: run `make node_modules/.installed-stamp` (npm)")
    if not NODE.exists():
        judge_missing(
            "node_modules has no Node 22 (npm package `node`): "
            "run `make node_modules/.installed-stamp`"
        )
    version = subprocess.run([NODE, "--version"], capture_output=True, text=True, check=True)
    if int(version.stdout.strip().lstrip("v").split(".")[0]) < 22:
        judge_missing(f"{package} needs Node >= 22; node_modules has {version.stdout.strip()}")
    return str(NODE)
