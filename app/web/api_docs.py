"""The interactive API docs (/docs) and the site icon, served by the app itself:
Swagger UI's files come from the ``fastapi-offline`` package (pinned in
pyproject.toml), so the docs work without any other host, and the page's
Content-Security-Policy allows only them and the page's own inline start-up script."""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response

from app.middleware import content_security_policy
from app.web.templating import STATIC_DIR

router = APIRouter(include_in_schema=False)
SWAGGER_UI_DIR = Path(str(files("fastapi_offline") / "static"))
ASSETS = "/docs/assets"  # where create_app mounts SWAGGER_UI_DIR
INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def _script_hashes(html: bytes) -> list[str]:
    """CSP source expressions for the page's inline scripts (Swagger UI's start-up call)."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in INLINE_SCRIPT.findall(html)
    ]


@router.get("/docs")
def swagger_ui(request: Request) -> Response:
    app = request.app
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} — docs",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url="/favicon.ico",
        swagger_ui_parameters={"validatorUrl": None},  # never ask another host to validate
    )
    csp = content_security_policy(script_src=" ".join(["'self'", *_script_hashes(page.body)]))
    return HTMLResponse(page.body, headers={"Content-Security-Policy": csp})


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "favicon.ico",
        media_type="image/x-icon",
        headers={"Cache-Control": "public, max-age=86400"},
    )
