"""The inbox: the one door remote servers knock on.

At the edge, in this order and once for every inbox (personal and shared):
parse (JSON object, no ``@graph``/``@reverse``/``@included``, an id, a type and an
actor), count the delivery against its domain's rate limit, refuse blocked domains,
verify the HTTP signature, make sure the signer
is the actor (else believe only the copy fetched from the activity's origin),
check that the activity (and the object of Create/Update/Delete) is on the
actor's host, then store the raw activity and queue a job in one transaction and
answer 202. Processing happens in the ``ap.inbox`` job (:mod:`federation.handlers`).
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy import bindparam, exists, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from app import safejson
from app.db import transaction
from app.errors import DomainError
from app.infra import jobs, ratelimit
from app.models import Account, Block, Community, InboxItem, PeerDomain, utcnow
from app.services import Ctx
from federation import handlers, network, remote, signatures, vocab
from federation.fetcher import FetchError, check_jsonld
from federation.httpsig import SignatureError
from federation.signatures import in_db as _in_db
from federation.signatures import network_of as _network

log = logging.getLogger("commonground.inbox")
router = APIRouter(include_in_schema=False)
Name = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
ORIGIN_CHECKED = ("Create", "Update", "Delete")
MANY_OBJECTS = ("Flag",)  # a report names an account and its posts (federation/flags.py)


class Refused(DomainError):
    """An inbox POST we do not take, with the status and reason the sender gets."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail, code=code)
        self.status = status


def parse_activity(body: bytes) -> dict[str, Any]:
    try:
        activity = safejson.loads(body)
    except safejson.UnsafeJSON as exc:
        raise Refused(400, "invalid_json", f"The body was refused: {exc}.") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused(400, "invalid_json", "The body is not JSON.") from exc
    if not isinstance(activity, dict):
        raise Refused(400, "invalid_activity", "An activity is a JSON object.")
    try:
        check_jsonld(activity)
    except FetchError as exc:
        raise Refused(400, "invalid_activity", str(exc.args[0] if exc.args else exc)) from exc
    ok_id = isinstance(activity.get("id"), str) and activity["id"].startswith(
        ("https://", "http://")
    )
    if not ok_id or len(activity["id"]) > 2048:
        raise Refused(400, "invalid_activity", "An activity needs an http(s) id.")
    return shaped(activity)


def shaped(activity: dict[str, Any]) -> dict[str, Any]:
    """Check an activity's type, actor and object (each may be given as a list, of
    one: anything else is refused with what is wrong), and name its actor and its
    object by themselves, not in a list, for everything after. A ``Flag`` keeps
    its list of objects (what it reports)."""
    if not vocab.valid_type(activity.get("type")):
        raise Refused(
            400, "invalid_activity", "An activity needs a type: a name, or a short list of names."
        )
    if len(vocab.as_list(activity.get("actor"))) > 1:
        raise Refused(400, "invalid_activity", "An activity has one actor, not a list of several.")
    actor = vocab.id_of(activity.get("actor"))
    if not actor or not actor.startswith(("https://", "http://")) or len(actor) > 2048:
        raise Refused(400, "invalid_activity", "An activity needs an actor.")
    obj = activity.get("object")
    if isinstance(obj, list) and not vocab.is_type(activity, *MANY_OBJECTS):
        if len(obj) != 1:
            raise Refused(400, "invalid_activity", "The object must be a single object or id.")
        activity["object"] = obj[0]
    activity["actor"] = actor
    return activity


def kind_of(activity: dict) -> str:
    """The activity's type as the edge and the inbox item name it: the one we
    handle, else the first it declares (processing then ignores it)."""
    return vocab.type_label(activity, handlers.HANDLERS)


async def receive(request: Request, owner_name: str | None) -> JSONResponse:
    settings = request.app.state.settings
    body = await request.body()
    activity = parse_activity(body)
    actor_uri = activity["actor"]
    try:
        remote.host_of(actor_uri)
    except remote.InvalidActor as exc:
        raise Refused(400, "invalid_activity", str(exc)) from exc
    if actor_uri.startswith(settings.base_url + "/"):
        raise Refused(403, "forbidden", "Activities of our own actors do not come in from outside.")
    await _count_delivery(request, actor_uri)

    # The common case, a known peer whose key we used a moment ago: verify with
    # no I/O, then check the facts and store in one transaction. Anything else
    # (or any failure here) takes the full path below, in its careful order.
    if (fast := await signatures.verify_cached(request, body)) is not None:
        verified, signer = fast
        if signer != actor_uri:
            activity = await _from_origin(request, activity)
        _check_origin(activity)
        return await _store(request, activity, verified.key_id, owner_name)

    owner_exists, domain_blocked, owner_blocked, known = await _in_db(
        request, lambda ctx: _facts(ctx, owner_name, actor_uri)
    )
    _refuse_by_facts(owner_exists, domain_blocked, owner_blocked, owner_name)
    if kind_of(activity) in ("Delete", "Update") and not known:
        # nothing of theirs is stored, so there is nothing to change
        return JSONResponse({"status": "ignored"}, status_code=202)

    try:
        verified, signer = await signatures.verify(request, body)
    except SignatureError as exc:
        raise Refused(401, "invalid_signature", exc.reason) from exc
    if signer != actor_uri:
        activity = await _from_origin(request, activity)
    _check_origin(activity)
    return await _store(request, activity, verified.key_id, owner_name)


async def _count_delivery(request: Request, actor_uri: str) -> None:
    """The per-domain rate limit, before any signature check or key fetch: a sender
    over its limit costs one short transaction and gets 429 with Retry-After. The
    domain is the one the activity claims (nothing is verified yet)."""
    domain = remote.authority_of(actor_uri)
    await _in_db(
        request,
        lambda ctx: ratelimit.limit(ctx, "inbox", domain=domain),
        write=True,
    )


# Built once: this runs for every POST, and building the expression costs more
# than running it. (SQLAlchemy's select: SQLModel's is typed for up to four columns.)
_FACTS = select(
    exists().where(
        col(Account.username_key) == bindparam("owner"),
        col(Account.domain) == "",
        col(Account.is_active),
    ),
    exists().where(col(Community.name_key) == bindparam("owner"), col(Community.domain) == ""),
    exists().where(
        col(PeerDomain.domain).in_(bindparam("domains", expanding=True)), col(PeerDomain.blocked)
    ),
    exists().where(col(Account.uri) == bindparam("actor")),
    exists().where(col(Community.uri) == bindparam("actor")),
    exists().where(  # the inbox's owner blocked the sender
        col(Block.target_uri) == bindparam("actor"),
        col(Block.account_id) == col(Account.id),
        col(Account.username_key) == bindparam("owner"),
        col(Account.domain) == "",
    ),
)


def _facts(ctx: Ctx, owner_name: str | None, actor_uri: str) -> tuple[bool, bool, bool, bool]:
    """What the edge needs to know, in one query: does the inbox's owner exist (a
    local member or community), is the sender blocked (its domain by the admins,
    or itself by the inbox's owner), do we know the sender."""
    domains = sorted({remote.host_of(actor_uri), remote.authority_of(actor_uri)})
    owner = (owner_name or "").strip().lower()
    params = {"owner": owner, "domains": domains, "actor": actor_uri}
    member, community, domain_blocked, known_account, known_community, owner_blocked = (
        ctx.db.execute(_FACTS, params).one()
    )
    exists_ = owner_name is None or member or community
    return exists_, domain_blocked, owner_blocked, known_account or known_community


def _refuse_by_facts(
    exists: bool, domain_blocked: bool, owner_blocked: bool, owner_name: str | None
) -> None:
    if not exists:
        raise Refused(404, "unknown_actor", f"No actor named “{owner_name}” here.")
    if domain_blocked:
        raise Refused(403, "domain_blocked", "This instance does not accept activities from you.")
    if owner_blocked:
        raise Refused(403, "blocked", "This member does not accept activities from you.")


async def _from_origin(request: Request, activity: dict) -> dict:
    """The signer is not the actor (a relayed activity): trust only the origin's copy."""
    actor_uri = activity["actor"]
    if not remote.same_host(activity["id"], actor_uri):
        raise Refused(401, "signer_not_actor", "The signer is not the activity's actor.")
    try:
        fetched = await _network(request).fetch(activity["id"])
    except FetchError as exc:
        raise Refused(
            401,
            "signer_not_actor",
            "The signer is not the activity's actor, and its origin does not confirm it.",
        ) from exc
    same = vocab.types_of(fetched) == vocab.types_of(activity)
    if vocab.id_of(fetched.get("actor")) != actor_uri or not same:
        raise Refused(401, "signer_not_actor", "The origin's copy is a different activity.")
    try:
        return shaped(fetched)
    except Refused as exc:
        raise Refused(401, "signer_not_actor", f"The origin's copy: {exc.detail}") from exc


def _check_origin(activity: dict) -> None:
    actor_uri = activity["actor"]
    if not remote.same_host(activity["id"], actor_uri):
        raise Refused(403, "foreign_origin", "The activity id is not on the actor's host.")
    if vocab.is_type(activity, *ORIGIN_CHECKED):  # any of them, listed with what else
        obj = vocab.id_of(activity.get("object"))
        if not obj or not remote.same_host(obj, actor_uri):
            raise Refused(403, "foreign_origin", "The object is not on the actor's host.")


async def _store(
    request: Request, activity: dict, key_id: str, owner_name: str | None
) -> JSONResponse:
    def store() -> str:
        with transaction(request.app.state.engine) as db:
            ctx = Ctx(db, request.app.state.settings)
            owner_exists, domain_blocked, owner_blocked, known = _facts(
                ctx, owner_name, activity["actor"]
            )
            _refuse_by_facts(owner_exists, domain_blocked, owner_blocked, owner_name)
            if kind_of(activity) in ("Delete", "Update") and not known:
                return "ignored"
            # A replay is caught by the unique activity id (IntegrityError below),
            # which costs nothing on the common path of a new activity.
            item = InboxItem(
                activity_id=activity["id"],
                activity_type=kind_of(activity),
                actor_uri=activity["actor"],
                key_id=key_id[:2048],
                body=json.dumps(activity, separators=(",", ":")),
            )
            db.add(item)
            db.flush()
            jobs.enqueue(ctx, "ap.inbox", {"item": item.id})
            return "accepted"

    try:
        status = await network.to_thread(store)
    except IntegrityError:  # an activity id seen before: a replay, or a sender's retry
        status = "duplicate"
    return JSONResponse({"status": status}, status_code=202)


@router.post("/inbox")
@router.post("/actor/inbox")
async def shared_inbox(request: Request) -> JSONResponse:
    return await receive(request, None)


@router.post("/users/{name}/inbox")
@router.post("/c/{name}/inbox")
async def personal_inbox(request: Request, name: Name) -> JSONResponse:
    return await receive(request, name)


# --- processing --------------------------------------------------------------


def _apply(ctx: Ctx, item_id: int, budget: handlers.Budget) -> None:
    item = ctx.db.get(InboxItem, item_id)
    if item is None or item.state != "queued":
        return
    try:
        with ctx.db.begin_nested():
            handlers.process(ctx, json.loads(item.body), budget)
        item.state, item.error = "done", None
    except handlers.Ignored as exc:
        item.state, item.error = "ignored", str(exc)[:2000]
    except (DomainError, remote.InvalidActor) as exc:
        item.state, item.error = "ignored", f"{type(exc).__name__}: {exc}"[:2000]
    item.processed_at = utcnow()
    ctx.db.add(item)


def _store_fetched(ctx: Ctx, need: handlers.NeedsFetch, doc: dict, budget: handlers.Budget) -> None:
    if need.kind == "actor":
        remote.store_actor(ctx, doc)
    else:
        with ctx.db.begin_nested():
            handlers.store_object(ctx, doc, budget)


async def run_with_fetches(job: jobs.JobContext, apply: Any) -> None:
    """Run ``apply(ctx, budget)`` until it no longer needs documents: fetch each
    one it asks for (and what those need in turn), store it, and try again."""
    budget = handlers.Budget()
    net = network.shared(job)
    while True:
        try:
            await job.run_db(lambda ctx: apply(ctx, budget))
            return
        except handlers.NeedsFetch as first:
            stack: list[handlers.NeedsFetch] = [first]
        docs: dict[str, dict] = {}
        while stack:
            need = stack[-1]
            if need.url not in docs:
                budget.spend(need)
                try:
                    docs[need.url] = await net.fetch(need.url)
                except FetchError as exc:
                    if exc.retryable and job.job.attempts < 3:
                        raise  # a peer hiccup: the whole job is retried later
                    budget.failed.add(need.url)
                    stack.pop()
                    continue
            try:
                doc = docs[need.url]
                await job.run_db(
                    functools.partial(_store_fetched, need=need, doc=doc, budget=budget)
                )
                stack.pop()
            except handlers.NeedsFetch as deeper:
                if deeper.url in docs or len(stack) > handlers.MAX_REPLY_DEPTH + 2:
                    budget.failed.add(need.url)
                    stack.pop()
                else:
                    stack.append(deeper)
            except (handlers.Ignored, remote.InvalidActor, DomainError) as exc:
                log.info("not storing %s: %s", need.url, exc)
                budget.failed.add(need.url)
                stack.pop()


@jobs.handler("ap.inbox")
async def process_item(job: jobs.JobContext, payload: dict) -> None:
    await run_with_fetches(job, lambda ctx, budget: _apply(ctx, payload["item"], budget))


@jobs.on_dead("ap.inbox")
def _item_failed(db: Session, payload: dict, error: str) -> None:
    """The job gave up (or kept killing its worker): its item ends ``failed``, with
    the reason, for the admin page, instead of staying ``queued`` forever."""
    item = db.get(InboxItem, payload.get("item"))
    if item is not None and item.state == "queued":
        item.state, item.error, item.processed_at = "failed", error[:2000], utcnow()
        db.add(item)
