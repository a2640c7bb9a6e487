"""A remote post's content warning in a real browser with JavaScript off: Debian's
chromium (see tests/test_browser.py for the fixture) against a real server
process. The body, and its media links, stay hidden until the reader opens the
warning."""

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


def receive_note(server: ServerProcess, note: dict) -> int:
    """Store a Mastodon-style Note by rita (a remote member) in the server's database,
    as its inbox job would, and say its post id."""
    url = f"sqlite:///{server.data_dir / 'commonground.db'}"
    engine = make_engine(url)
    try:
        with transaction(engine) as db:
            ctx = Ctx(db, make_settings(server.data_dir, url, domain=f"127.0.0.1:{server.port}"))
            remote.store_actor(ctx, actor_doc("rita"))
            note = {"type": "Note", "attributedTo": f"{PEER}/users/rita", "to": [AS_PUBLIC], **note}
            activity = {
                "id": f"{note['id']}/activity",
                "type": "Create",
                "actor": note["attributedTo"],
                "object": note,
            }
            handlers.process(ctx, activity, handlers.Budget())
            return db.exec(select(Post.id).where(Post.uri == note["id"])).one()
    finally:
        engine.dispose()


WARNED_NOTE = {
    "id": f"{PEER}/notes/cw",
    "summary": "Spoilers for the finale",
    "sensitive": True,
    "content": "<p>The butler did it.</p>",
    "attachment": [
        {
            "type": "Document",
            "mediaType": "image/png",
            "url": f"{PEER}/media/butler.png",
            "name": "The butler, holding a candlestick",
        }
    ],
}


def test_a_content_warning_hides_the_body_until_opened_without_javascript(
    browser: Browser,  # noqa: F811
) -> None:
    with ServerProcess() as server:
        post_id = receive_note(server, WARNED_NOTE)
        page = browser.new_context(java_script_enabled=False).new_page()
        page.goto(f"{server.url}/posts/{post_id}")
        warning = page.locator("details.content-warning summary")
        expect(warning).to_have_text("Spoilers for the finale")
        body = page.get_by_text("The butler did it.")
        media = page.get_by_role("link", name="The butler, holding a candlestick")
        expect(body).to_be_hidden()
        expect(media).to_be_hidden()
        warning.click()
        expect(body).to_be_visible()
        expect(media).to_be_visible()
        expect(media).to_have_attribute("href", f"{PEER}/media/butler.png")
