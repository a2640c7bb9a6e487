"""Sensitive media in a real browser with JavaScript off: a Mastodon Note marked
``sensitive: true`` with no summary shows its text at once and its image only
once the reader opens the disclosure (Debian's chromium against a real server)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from app.db import make_engine, transaction
from app.models import Post
from app.services import Ctx
from federation import handlers, remote
from federation.vocab import AS_PUBLIC
from tests.conftest import make_settings
from tests.server_process import ServerProcess
from tests.test_browser import browser  # noqa: F401 - the shared chromium fixture
from tests.test_federation_content import PEER, actor_doc

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser


def _receive_sensitive_note(server: ServerProcess) -> int:
    """Store the Note in the server's database, as its inbox job would."""
    url = f"sqlite:///{server.data_dir / 'commonground.db'}"
    engine = make_engine(url)
    try:
        with transaction(engine) as db:
            ctx = Ctx(db, make_settings(server.data_dir, url, domain=f"127.0.0.1:{server.port}"))
            remote.store_actor(ctx, actor_doc("rita"))
            note = {
                "id": f"{PEER}/notes/xray",
                "type": "Note",
                "attributedTo": f"{PEER}/users/rita",
                "sensitive": True,
                "content": "<p>Broken, the doctor says.</p>",
                "attachment": [
                    {
                        "type": "Image",
                        "mediaType": "image/png",
                        "url": f"{PEER}/media/xray.png",
                        "name": "An X-ray of a wrist",
                    }
                ],
                "to": [AS_PUBLIC],
            }
            activity = {
                "id": f"{PEER}/activities/xray",
                "type": "Create",
                "actor": note["attributedTo"],
                "object": note,
            }
            handlers.process(ctx, activity, handlers.Budget())
            return db.exec(select(Post.id).where(Post.uri == note["id"])).one()
    finally:
        engine.dispose()


def test_sensitive_media_stay_folded_until_opened_without_javascript(
    browser: Browser,  # noqa: F811
) -> None:
    with ServerProcess() as server:
        post_id = _receive_sensitive_note(server)
        page = browser.new_context(java_script_enabled=False).new_page()
        page.goto(f"{server.url}/posts/{post_id}")
        expect(page.get_by_text("Broken, the doctor says.")).to_be_visible()
        expect(page.locator("details.content-warning")).to_have_count(0)
        image = page.get_by_role("link", name="An X-ray of a wrist")
        expect(image).to_be_hidden()
        page.locator("details.sensitive-media summary").click()
        expect(image).to_be_visible()
        expect(image).to_have_attribute("href", f"{PEER}/media/xray.png")
