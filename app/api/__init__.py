"""The JSON API under ``/api/cg/v1``."""

from fastapi import APIRouter

from app.api import (
    account_data,
    accounts,
    algorithms,
    artifacts,
    blocks,
    bookmarks,
    communities,
    emails,
    feeds,
    follows,
    media,
    moderation,
    mutes,
    notifications,
    posts,
    registration,
    reports,
    rules,
    search,
)
from app.api.schemas import ErrorOut

_errors = {s: {"model": ErrorOut} for s in (400, 401, 403, 404, 409, 413, 422, 429)}

router = APIRouter(prefix="/api/cg/v1", responses=_errors)
for module in (
    accounts,
    emails,  # before media's /me/{which}
    account_data,
    communities,
    posts,
    bookmarks,
    media,
    follows,
    blocks,
    mutes,
    feeds,
    search,
    algorithms,
    artifacts,
    notifications,
    registration,
    rules,
    reports,
    moderation,
):
    router.include_router(module.router)
