"""Loads the modules that register job handlers (and, later, event listeners),
so every process (web server, worker, CLI) runs with the same wiring."""

from __future__ import annotations


def load() -> None:
    import app.infra.mail
    import app.services.account_deletion
    import app.services.account_export
    import app.services.commonground
    import app.services.decisions
    import app.services.digests
    import app.services.governance
    import app.services.live_posts
    import app.services.maintenance
    import app.services.media
    import app.services.media_processing
    import app.services.moderation
    import app.services.notifications
    import app.services.ranking.feeds  # noqa: F401
    import federation.archive
    import federation.artifacts
    import federation.backfill
    import federation.delivery
    import federation.flags
    import federation.inbox
    import federation.lifecycle
    import federation.media
    import federation.moderation
    import federation.outbound  # noqa: F401
