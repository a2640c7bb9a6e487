"""The request bodies Mastodon clients send: JSON, form or multipart, read into one
dict of strings (and lists of strings), bounded and free of NULs, so the services
see one shape whatever the client chose."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, Header, Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from app import safejson
from app.services.oauth import OAuthError

Fields = dict[str, str | list[str]]
MAX_VALUE = 10_000


def _clean(name: str, value: object) -> str | list[str]:
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [_text(name, v) for v in value]
    if isinstance(value, (bool, int, float)):
        return _text(name, str(value).lower() if isinstance(value, bool) else str(value))
    if not isinstance(value, str):
        raise OAuthError("invalid_request", f"{name[:50]} must be a string.")
    return _text(name, value)


def _text(name: str, value: str) -> str:
    if len(value) > MAX_VALUE:
        raise OAuthError("invalid_request", f"{name[:50]} is too long.")
    if "\x00" in value or not safejson.storable_text(value):  # as the native API's CleanStr
        raise OAuthError("invalid_request", f"{name[:50]} holds characters that are not allowed.")
    return value


async def body_fields(request: Request) -> Fields:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if not raw.strip():
        return {}
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            data = safejson.loads(raw)
        except ValueError as exc:
            raise OAuthError("invalid_request", "The request body is not valid JSON.") from exc
        if not isinstance(data, dict):
            raise OAuthError("invalid_request", "The JSON body must be an object.")
        return {str(k)[:100]: _clean(str(k), v) for k, v in data.items()}
    if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = await request.form()
        except (MultiPartException, ValueError, AssertionError) as exc:
            raise OAuthError("invalid_request", "The form body could not be read.") from exc
        out: Fields = {}
        for key in set(form.keys()):
            values = [v for v in form.getlist(key) if not isinstance(v, UploadFile)]
            name = key.removesuffix("[]")
            out[name] = (
                [_text(name, v) for v in values]
                if key.endswith("[]")
                else (_text(name, values[-1]) if values else "")
            )
        return out
    raise OAuthError("invalid_request", "Send JSON, a form, or multipart form data.")


def text(fields: Fields, name: str) -> str:
    value = fields.get(name, "")
    if isinstance(value, list):
        raise OAuthError("invalid_request", f"{name} must be a string, not a list.")
    return value


def strings(fields: Fields) -> dict[str, str]:
    """Every field as one string; a list where a string belongs is refused."""
    return {name: text(fields, name) for name in fields}


def basic_auth(authorization: Annotated[str | None, Header()] = None) -> tuple[str, str] | None:
    """HTTP Basic client authentication (client_secret_basic), if sent."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise OAuthError("invalid_client", "The Basic credentials are malformed.", 401) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "The Basic credentials are malformed.", 401)
    return unquote(client_id), unquote(secret)


BodyFields = Annotated[Fields, Depends(body_fields)]
BasicAuth = Annotated[tuple[str, str] | None, Depends(basic_auth)]
