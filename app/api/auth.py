"""Bearer-token authentication for the JSON API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from app.deps import CtxDep
from app.errors import Forbidden, NotAuthenticated
from app.models import Account
from app.services import auth


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise NotAuthenticated("Use `Authorization: Bearer <token>`.", code="invalid_token")
    return value.strip()


def optional_account(
    ctx: CtxDep, authorization: Annotated[str | None, Header()] = None
) -> Account | None:
    raw = _bearer(authorization)
    return auth.token_account(ctx, raw)[0] if raw else None


def _require(ctx: CtxDep, authorization: str | None, scope: str) -> Account:
    raw = _bearer(authorization)
    if raw is None:
        raise NotAuthenticated("This needs an API token: `Authorization: Bearer <token>`.")
    account, granted = auth.token_account(ctx, raw)
    if scope == "write" and granted != "write":
        raise Forbidden(
            "This token is read-only; create one with scope “write”.", code="insufficient_scope"
        )
    return account


def reader(ctx: CtxDep, authorization: Annotated[str | None, Header()] = None) -> Account:
    return _require(ctx, authorization, "read")


def writer(ctx: CtxDep, authorization: Annotated[str | None, Header()] = None) -> Account:
    return _require(ctx, authorization, "write")


def bearer_token(authorization: Annotated[str | None, Header()] = None) -> str | None:
    """The raw token of this request (e.g. to keep it when revoking the others)."""
    return _bearer(authorization)


MaybeAccount = Annotated[Account | None, Depends(optional_account)]
Reader = Annotated[Account, Depends(reader)]
Writer = Annotated[Account, Depends(writer)]
BearerToken = Annotated[str | None, Depends(bearer_token)]
