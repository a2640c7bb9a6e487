"""The domain service layer.

Web pages, the JSON API, the CLI and (later) federation all call these
functions; none of them holds business rules of its own. Every function takes a
:class:`Ctx` (a database session inside a transaction, plus settings) and raises
:mod:`app.errors` exceptions on bad input.
"""

from __future__ import annotations

from app.infra.context import Ctx

__all__ = ["Ctx"]
