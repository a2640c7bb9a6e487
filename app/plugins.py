"""Loads the modules that register job handlers (and, later, event listeners),
so every process (web server, worker, CLI) runs with the same wiring."""

from __future__ import annotations


def load() -> None:
    import app.services.commonground  # noqa: F401
    import app.services.decisions  # noqa: F401
    import app.services.governance  # noqa: F401
    import app.services.maintenance  # noqa: F401
    import app.services.ranking.feeds  # noqa: F401
    import federation.artifacts  # noqa: F401
    import federation.backfill  # noqa: F401
    import federation.delivery  # noqa: F401
    import federation.inbox  # noqa: F401
    import federation.outbound  # noqa: F401
