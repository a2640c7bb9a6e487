"""Serving media files, inert: whatever a file holds, a browser shows it as the
image type we stored, never sniffs it as something else, and runs nothing in it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.infra import storage

router = APIRouter(include_in_schema=False)  # files, not part of the API

# sandbox: no scripts, no forms, no same-origin even if a browser rendered it as a page
MEDIA_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


def safe_headers(key: str) -> dict[str, str]:
    ctype = storage.content_type(key)
    disposition = "inline" if ctype.startswith("image/") else "attachment"
    return {
        "Content-Type": ctype,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": MEDIA_CSP,
        "Content-Disposition": f'{disposition}; filename="{key}"',
        "Cache-Control": "public, max-age=31536000, immutable",  # a key never changes
        "Cross-Origin-Resource-Policy": "cross-origin",
    }


def _missing() -> Response:
    return Response(
        "No such file.",
        status_code=404,
        media_type="text/plain",
        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": MEDIA_CSP},
    )


@router.get("/media/{key}")
def media_file(key: str, request: Request) -> Response:
    if not storage.valid_key(key):
        return _missing()
    data = storage.storage_for(request.app.state.settings).get(key)
    if data is None:
        return _missing()
    return Response(data, headers=safe_headers(key))
