"""Errors under the Mastodon client API's paths, in Mastodon's shape.

Mastodon answers every failure with ``{"error": "<a sentence>"}`` and its status:
apps show the sentence, and some match on it (a 401 with "The access token is
invalid" sends the member to log in again). app/main.py's error handlers call
:func:`response` for these paths, so every error there, the domain's, validation's,
a missing route's or an unexpected one, gets this shape and never a stack trace.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

PREFIXES = ("/api/v1/", "/api/v2/")

# Mastodon's own sentences where apps may match on them
NOT_FOUND = "Record not found"
INVALID_TOKEN = "The access token is invalid"  # noqa: S105 - a message, not a secret
OUT_OF_SCOPE = "This action is outside the authorized scopes"
# what search refuses without a token, in Mastodon's words (by the error's code)
SIGNED_IN_ONLY = {
    "resolve_needs_token": "Search queries that resolve remote resources are not supported "
    "without authentication",
    "offset_needs_token": "Search queries pagination is not supported without authentication",
}
GENERIC = {
    400: "Bad request",
    403: "This action is not allowed",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Request entity too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests",
    500: "Something went wrong on our side; nothing was saved.",
}


def is_mastodon_path(path: str) -> bool:
    return path.startswith(PREFIXES)


def message(status: int, code: str, detail: object) -> str:
    """The sentence for an error: Mastodon's own for 401 and 404 and for a token
    without the scope, else the domain's sentence, else a general one."""
    if status == 401:
        return SIGNED_IN_ONLY.get(code, INVALID_TOKEN)
    if status == 404:
        return NOT_FOUND
    if code == "insufficient_scope":
        return OUT_OF_SCOPE
    if isinstance(detail, str) and detail and status != 500:
        return detail
    if isinstance(detail, list) and detail:  # validation: field and message, as Rails says
        parts = []
        for item in detail:
            if isinstance(item, dict):
                field = str(item.get("field") or "").split(".")[-1]
                parts.append(f"{field} {item.get('message', '')}".strip())
        if parts:
            return "Validation failed: " + ", ".join(parts)
    return GENERIC.get(status, "Error")


def response(
    status: int, code: str, detail: object, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": message(status, code, detail)}, status, headers=headers)
