"""Make docs/screenshot-home.png: a demo instance's home feed in Debian's chromium.

    .venv/bin/python scripts/screenshot.py [OUTPUT.png]

Starts a throwaway server on 127.0.0.1 (``commonground migrate``, ``serve``,
``demo-data``), logs in as the demo member ``ada`` and photographs her home feed
at 1200x900. Never downloads a browser: it needs ``chromium`` on PATH.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.server_process import ServerProcess  # noqa: E402

OUT = ROOT / "docs" / "screenshot-home.png"
MAX_BYTES = 300_000
VIEWPORT = {"width": 1200, "height": 900}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def main(out: Path = OUT) -> None:
    from playwright.sync_api import expect, sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("chromium is not on PATH (Debian: apt-get install chromium)")
    with ServerProcess() as server, sync_playwright() as p:
        print(server.run("demo-data").stdout.strip())
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(f"{server.url}/login")
            page.get_by_label("Username").fill("ada")
            page.get_by_label("Password").fill("demo-password")
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(f"{server.url}/")
            page.goto(f"{server.url}/")  # once more, without the "Welcome" flash
            expect(page.get_by_role("article").first).to_be_visible()
            # show one "Why am I seeing this?" explanation, the feed's signature feature
            page.locator("details.why").first.evaluate("d => d.open = true")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
        finally:
            browser.close()
    size = out.stat().st_size
    print(f"wrote {out} ({size:,} bytes)")
    if size > MAX_BYTES:
        sys.exit(f"{out} is larger than {MAX_BYTES:,} bytes; keep README images small")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else OUT)
