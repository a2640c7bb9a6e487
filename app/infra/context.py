"""What every service and job is given: a database session inside one
transaction, plus the settings. It lives beneath the services so that the
infrastructure (jobs, events, rate limits) can take it without importing the
domain; ``app.services`` re-exports it, where callers have always found it."""

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
