"""What a Mastodon client sends: the same parameters as a query string, a form
(Mastodon.py's way), a multipart form (with files) or a JSON body (masto.js's).

:func:`read` merges them into one dict, arrays named ``key[]`` as lists, and
:func:`parse` checks them against a pydantic model; what fails is a 422 in
Mastodon's shape (app/mastodon/problems.py), never a 500."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.datastructures import UploadFile

from app import safejson
from app.api.schemas import CleanStr
from app.errors import DomainError

M = TypeVar("M", bound=BaseModel)


Text = CleanStr  # the native API's one check: no NUL, no lone surrogate


class Params(BaseModel):
    """A Mastodon method's parameters: unknown ones are ignored, as Rails does."""

    model_config = ConfigDict(extra="ignore")


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if key.endswith("[]"):
        out.setdefault(key[:-2], []).append(value)
    else:
        out[key] = value


async def read(request: Request) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        _put(out, key, value)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        raw = await request.body()
        if raw.strip():
            try:
                body = safejson.loads(raw)
            except ValueError as exc:
                raise DomainError("The request body is not valid JSON.") from exc
            if not isinstance(body, dict):
                raise DomainError("The request body must be a JSON object.")
            out.update({k.removesuffix("[]"): v for k, v in body.items()})
    elif kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        for key, item in form.multi_items():
            _put(out, key, item)
    return out


def parse(model: type[M], values: dict[str, Any]) -> M:
    """``values`` checked against ``model``; a failure is a validation error (422)."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from exc


def file(values: dict[str, Any], key: str) -> UploadFile | None:
    value = values.pop(key, None)
    return value if isinstance(value, UploadFile) else None
