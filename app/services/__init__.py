"""The domain service layer.

Web pages, the JSON API, the CLI and (later) federation all call these
functions; none of them holds business rules of its own. Every function takes a
:class:`Ctx` (a database session inside a transaction, plus settings) and raises
:mod:`app.errors` exceptions on bad input.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from app.config import Settings


@dataclass
class Ctx:
    db: Session
    settings: Settings

    @property
    def base_url(self) -> str:
        return self.settings.base_url
