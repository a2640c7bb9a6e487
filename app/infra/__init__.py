"""Infrastructure the domain runs on, knowing nothing of it: background jobs as
rows (``jobs``), domain events (``events``), rate limits (``ratelimit``) and the
:class:`~app.infra.context.Ctx` every call takes. Imports only ``app.config``,
``app.db``, ``app.errors`` and ``app.models`` (tests/test_import_layout.py)."""
