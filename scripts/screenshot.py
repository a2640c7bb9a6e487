"""Make docs/screenshot-home.png: a demo instance's home feed, in Debian's chromium.

.venv/bin/python scripts/screenshot.py
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.server_process import ServerProcess  # noqa: E402
from tests.test_browser import CHROMIUM_ARGS  # noqa: E402


def main() -> None:
    from playwright.sync_api import sync_playwright

    out = ROOT / "docs" / "screenshot-home.png"
    with ServerProcess() as server, sync_playwright() as p:
        server.run("demo-data")
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium"), headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{server.url}/login")
        page.get_by_label("Username").fill("ada")
        page.get_by_label("Password").fill("demo-password")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{server.url}/")
        page.locator("details.why").first.evaluate("d => d.open = true")
        page.screenshot(path=str(out))
        browser.close()
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")  # noqa: T201


if __name__ == "__main__":
    main()
