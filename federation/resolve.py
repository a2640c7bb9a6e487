"""Remote lookup for search: ``name@domain``, an actor URL or a post URL typed into
the search box is made known here (before the request's transaction), so the
search can offer to follow or open it.

Actors go through :func:`federation.network.ensure_known` (WebFinger, then the
actor document). A URL that is not an actor is fetched once through the
SSRF-safe fetcher (the document's ``id`` must be the URL fetched, so its origin
vouches for it) and stored by the federation object store
(:func:`federation.handlers.store_object`), which fetches its author if needed;
its parent is not followed (the thread page can do that).
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import col, select

from app.config import Settings
from app.models import Post
from app.services import Ctx
from federation import handlers, remote
from federation.network import Network, ensure_known, in_db

MAX_ACTOR_FETCHES = 2


def looks_remote(settings: Settings, q: str) -> bool:
    """Whether ``q`` names something on another server: a URL, or ``name@domain``."""
    q = q.strip()
    if q.startswith(("http://", "https://")):
        return not q.startswith(settings.base_url + "/")
    name, at, domain = q.lstrip("@").partition("@")
    return bool(at and name and domain and " " not in q and domain.lower() != settings.domain)


async def resolve(engine: Engine, settings: Settings, q: str) -> None:
    """Make what ``q`` names known here; FetchError/InvalidActor say why not."""
    q = q.strip()
    if not q.startswith(("http://", "https://")):
        await ensure_known(engine, settings, q)
        return

    def already(ctx: Ctx) -> bool:
        found_post = ctx.db.exec(select(col(Post.id)).where(col(Post.uri) == q)).first()
        return found_post is not None or remote.known(ctx, q) is not None

    if await in_db(engine, settings, already, write=False):
        return
    net = Network(engine, settings)
    try:
        doc = await net.fetch(q)
        if remote.actor_kind(doc) is not None:
            await in_db(engine, settings, lambda ctx: remote.store_actor(ctx, doc))
            return
        budget = handlers.Budget(fetches=MAX_ACTOR_FETCHES, depth=0)  # no parents
        for _ in range(MAX_ACTOR_FETCHES + 1):
            try:
                await in_db(engine, settings, lambda ctx: handlers.store_object(ctx, doc, budget))
                return
            except handlers.NeedsFetch as need:  # its author, not met yet
                budget.spend(need)
                await net.fetch_actor(need.url)
    finally:
        await net.aclose()
