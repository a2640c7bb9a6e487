"""Domain errors. Services raise these; the API and pages turn them into answers.

Each carries a stable machine-readable ``code`` and a human ``detail``, so that a
client always gets ``{"error": code, "detail": ...}`` and a page a clear message.
"""

from __future__ import annotations

from typing import Any

# A sentence, as a rule; a few errors carry what a form shows instead: a merge
# conflict's two versions (a dict), a module checker's findings (a list).
Detail = str | dict[str, Any] | list[dict[str, Any]]


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, detail: Detail, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code


class Invalid(DomainError):
    status = 422
    code = "invalid"


class NotAuthenticated(DomainError):
    status = 401
    code = "not_authenticated"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Gone(DomainError):
    status = 410
    code = "gone"


class TooLarge(DomainError):
    """A file, image or quota too big for this instance (413)."""

    status = 413
    code = "too_large"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
