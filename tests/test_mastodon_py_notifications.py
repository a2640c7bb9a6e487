"""Mastodon.py, a real client library, against a real server process: its
notifications, dismissing one, read markers and a report."""

from __future__ import annotations

import pytest

from tests.server_process import ServerProcess
from tests.test_mastodon_py import SCOPES, logged_in_browser
from tests.test_pages import PASSWORD

mastodon = pytest.importorskip("mastodon")  # Mastodon.py, pinned in the dev extras
pytestmark = pytest.mark.slow


def test_mastodon_py_notifications_markers_and_report() -> None:
    with ServerProcess(env={"CG_OAUTH_PASSWORD_GRANT": "1"}) as server:
        base = server.url
        for name in ("ada", "bob"):
            logged_in_browser(base, name).close()
        client_id, client_secret = mastodon.Mastodon.create_app(
            "Mastodon.py test", scopes=SCOPES, api_base_url=base
        )
        # no mastodon_version: it asks the server's (/api/v1/instance/), as apps do, so
        # it takes the current endpoints (a version it is told is read as 1.0.0)
        ada, bob = (
            mastodon.Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=base)
            for _ in range(2)
        )
        assert ada.verify_minimum_version("4.0.0", cached=True)
        ada.log_in("ada", PASSWORD, scopes=SCOPES, allow_http=True)
        bob.log_in("bob", PASSWORD, scopes=SCOPES, allow_http=True)
        me = ada.me()
        post = ada.status_post("my first garden")
        bob.account_follow(me.id)
        bob.status_favourite(post.id)

        notes = ada.notifications()
        assert [n.type for n in notes] == ["favourite", "follow"]
        like, follow = notes
        assert like.account.acct == "bob" and like.status.id == post.id
        assert follow.status is None and ada.notifications(id=follow.id).id == follow.id

        marked = ada.markers_set("notifications", follow.id)
        assert marked.notifications.last_read_id == str(follow.id)
        got = ada.markers_get(["notifications", "home"])
        assert got.notifications.version == 0 and "home" not in got
        assert ada.notifications_unread_count().count == 1  # the like is newer

        ada.notifications_dismiss(like.id)
        assert [n.id for n in ada.notifications()] == [follow.id]

        nasty = bob.status_post("buy my seeds")
        report = ada.report(bob.me().id, status_ids=[nasty.id], comment="spam", category="spam")
        assert report.category == "spam" and report.target_account.acct == "bob"
        assert [str(s) for s in report.status_ids] == [str(nasty.id)]
        with pytest.raises(mastodon.MastodonAPIError):
            ada.report(bob.me().id, status_ids=[post.id])  # Ada's own post, not Bob's
