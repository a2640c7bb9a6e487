"""Remote actors: validating an actor document and keeping what we need of it.

A remote Person (or Service, Application) becomes an :class:`Account` row with its
domain, a remote Group a :class:`Community` row; their endpoints go to
``remote_actors`` and their key to ``actor_keys``. Every URL an actor claims
(inbox, outbox, followers, key) must be on the actor's own host, so a document
can never point us at someone else's inbox or key.
"""

from __future__ import annotations

import functools
import re
from typing import Any, TypedDict
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from app.models import Account, ActorKey, Community, RemoteActor, utcnow
from app.services import Ctx, account_deletion
from app.text import plain_text, sanitize_html
from federation import vocab
from federation.fetcher import FetchError, normalize_host
from federation.httpsig import load_public_key

PERSON_TYPES = frozenset({"Person", "Service", "Application", "Organization"})
GROUP_TYPES = frozenset({"Group"})
ACTOR_ORDER = ("Person", "Service", "Application", "Organization", "Group")
HANDLE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
MAX_PEM = 16_384


def actor_kind(doc: object) -> str | None:
    """The actor type of a document (``type`` a string or a list): a person's or a
    Group's; None if it declares neither, or both (which could not be told apart)."""
    declared = vocab.types_of(doc)
    if declared & PERSON_TYPES and declared & GROUP_TYPES:
        return None
    return vocab.first_of(doc, ACTOR_ORDER)


class InvalidActor(ValueError):
    """An actor document we refuse to store, with the reason."""


@functools.lru_cache(maxsize=4096)
def host_of(url: str) -> str:
    """The normalised ``host[:port]`` (punycode, lower-case, default port dropped) of a
    URL, or InvalidActor. This is the one comparison used for every origin check.
    Cached: a pure function of the string, asked several times per delivery."""
    try:
        return normalize_host(url)
    except FetchError as exc:
        raise InvalidActor(f"not a usable URL: {url!r}") from exc


def authority_of(url: str) -> str:
    """``host[:port]`` (default port dropped), as a remote actor's ``domain`` is stored;
    ports matter: two instances on one loopback address are different peers."""
    return host_of(url)


def same_host(a: str, b: str) -> bool:
    try:
        return host_of(a) == host_of(b)
    except InvalidActor:
        return False


def _url(doc: dict, key: str, *, host: str) -> str | None:
    """An optional URL on the actor's host: absent is None, anything else must be one."""
    if doc.get(key) is None:
        return None
    return _required_url(doc, key, host=host)


def _required_url(doc: dict, key: str, *, host: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or len(value) > 2048:
        raise InvalidActor(f"{key} must be a URL")
    if host_of(value) != host:
        raise InvalidActor(f"{key} {value!r} is not on the actor's host {host}")
    return value


def _text(value: Any, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _key(doc: dict, uri: str, host: str) -> tuple[str, str]:
    key = doc.get("publicKey")
    if isinstance(key, list):
        key = next((k for k in key if isinstance(k, dict)), None)
    if not isinstance(key, dict):
        raise InvalidActor("the actor has no publicKey")
    key_id, owner, pem = key.get("id"), key.get("owner"), key.get("publicKeyPem")
    if not isinstance(key_id, str) or host_of(key_id) != host:
        raise InvalidActor("publicKey.id must be on the actor's host")
    if owner != uri:
        raise InvalidActor("publicKey.owner must be the actor itself")
    if not isinstance(pem, str) or len(pem) > MAX_PEM:
        raise InvalidActor("publicKey.publicKeyPem is missing or too long")
    try:
        load_public_key(pem)
    except ValueError as exc:
        raise InvalidActor("publicKey.publicKeyPem is not a usable public key") from exc
    return key_id, pem


class ActorFields(TypedDict):
    """What :func:`validate` keeps of an actor document, checked."""

    uri: str
    type: str
    domain: str
    handle: str
    name: str
    summary: str  # sanitized HTML
    inbox: str
    shared_inbox: str | None
    outbox: str | None
    followers: str | None
    url: str | None  # the actor's page, for people
    icon: str  # "" for none
    approval: bool  # follows wait for the actor's approval
    key_id: str
    pem: str
    aliases: list[str]  # alsoKnownAs: the actors it says it also is (account moves)
    moved_to: str | None  # movedTo: where it moved


MAX_ALIASES = 20


def _actor_ids(value: object) -> list[str]:
    ids = (vocab.id_of(v) for v in vocab.as_list(value))
    return [i for i in ids if i and i.startswith(("https://", "http://")) and len(i) <= 2048]


def validate(doc: dict) -> ActorFields:
    """The fields we keep, or InvalidActor saying what is wrong."""
    uri = doc.get("id")
    if not isinstance(uri, str) or not uri.startswith(("https://", "http://")) or "#" in uri:
        raise InvalidActor("an actor needs an http(s) id without a fragment")
    if len(uri) > 2048:
        raise InvalidActor("the actor id is too long")
    kind = actor_kind(doc)
    if kind is None:
        raise InvalidActor(f"{doc.get('type')!r} is not an actor type we follow")
    host = host_of(uri)
    handle = doc.get("preferredUsername")
    if not isinstance(handle, str) or not HANDLE_RE.match(handle):
        tail = urlsplit(uri).path.rstrip("/").rsplit("/", 1)[-1]
        handle = tail if HANDLE_RE.match(tail or "") else "actor"
    endpoints = doc.get("endpoints")
    if not isinstance(endpoints, dict):
        endpoints = {}
    key_id, pem = _key(doc, uri, host)
    icon = next((i for i in vocab.as_list(doc.get("icon")) if isinstance(i, dict)), {})
    icon_url = vocab.href_of(icon.get("url"))
    html_url = vocab.href_of(doc.get("url"))
    return {
        "uri": uri,
        "type": kind,
        "domain": authority_of(uri),
        "handle": handle,
        "name": _text(doc.get("name"), 100),
        "summary": sanitize_html(_text(doc.get("summary"), 20_000)),
        "inbox": _required_url(doc, "inbox", host=host),
        "shared_inbox": _url(endpoints, "sharedInbox", host=host),
        "outbox": _url(doc, "outbox", host=host),
        "followers": _url(doc, "followers", host=host),
        "url": html_url if html_url and html_url.startswith(("https://", "http://")) else None,
        "icon": icon_url
        if isinstance(icon_url, str) and icon_url.startswith("https://") and len(icon_url) < 2048
        else "",
        "approval": bool(doc.get("manuallyApprovesFollowers")),
        "key_id": key_id,
        "pem": pem,
        "aliases": _actor_ids(doc.get("alsoKnownAs"))[:MAX_ALIASES],
        "moved_to": next(iter(_actor_ids(doc.get("movedTo"))), None),
    }


def known(ctx: Ctx, uri: str) -> Account | Community | None:
    """The actor with this id, local or remote, if we know it."""
    return (
        ctx.db.exec(select(Account).where(col(Account.uri) == uri)).first()
        or ctx.db.exec(select(Community).where(col(Community.uri) == uri)).first()
    )


def endpoints(ctx: Ctx, uri: str) -> RemoteActor | None:
    return ctx.db.exec(select(RemoteActor).where(col(RemoteActor.uri) == uri)).first()


def inbox_of(ctx: Ctx, uri: str, *, shared: bool = True) -> str | None:
    found = endpoints(ctx, uri)
    if found is None:
        return None
    return (found.shared_inbox if shared else None) or found.inbox


def _free_handle(
    ctx: Ctx,
    model: type[Account] | type[Community],
    key_col: str,
    handle: str,
    domain: str,
    uri: str,
) -> str:
    """A handle already taken on that domain by another id (a renamed actor) gets a suffix."""
    key = handle.lower()
    column = getattr(model, key_col)
    taken = ctx.db.exec(
        select(model).where(column == key, col(model.domain) == domain, col(model.uri) != uri)
    ).first()
    return key if taken is None else f"{key[:80]}~{abs(hash(uri)) % 10**8}"


def store_actor(ctx: Ctx, doc: dict) -> Account | Community:
    """Insert or refresh a remote actor from its (already fetched or verified) document."""
    fields = validate(doc)
    is_group = fields["type"] in GROUP_TYPES
    existing = known(ctx, fields["uri"])
    if existing is not None and existing.domain == "":
        raise InvalidActor("that id is one of ours")
    row: Account | Community
    if is_group:
        group = existing if isinstance(existing, Community) else None
        key = _free_handle(
            ctx, Community, "name_key", fields["handle"], fields["domain"], fields["uri"]
        )
        group = group or Community(uri=fields["uri"], domain=fields["domain"], name="", name_key="")
        group.name, group.name_key = fields["handle"], key
        group.title = fields["name"] or fields["handle"]
        group.description = plain_text(fields["summary"], 2000)
        group.join_policy = "approval" if fields["approval"] else "open"
        group.updated_at = utcnow()
        row = group
    else:
        person = existing if isinstance(existing, Account) else None
        key = _free_handle(
            ctx, Account, "username_key", fields["handle"], fields["domain"], fields["uri"]
        )
        person = person or Account(
            uri=fields["uri"], domain=fields["domain"], username="", username_key=""
        )
        person.username, person.username_key = fields["handle"], key
        person.display_name = fields["name"]
        person.bio = fields["summary"][:5000]
        person.avatar_url = fields["icon"]
        person.also_known_as = "\n".join(fields["aliases"])
        person.moved_to_uri = fields["moved_to"]
        person.updated_at = utcnow()
        row = person
    try:
        with ctx.db.begin_nested():
            ctx.db.add(row)
            _store_endpoints(ctx, fields)
            _store_key(ctx, fields)
    except IntegrityError:  # another process stored it at the same moment: theirs is fine
        found = known(ctx, fields["uri"])
        if found is None:
            raise
        return found
    return row


def _store_endpoints(ctx: Ctx, fields: ActorFields) -> None:
    row = endpoints(ctx, fields["uri"]) or RemoteActor(uri=fields["uri"], actor_type="", inbox="")
    row.actor_type = fields["type"]
    row.inbox, row.shared_inbox = fields["inbox"], fields["shared_inbox"]
    row.outbox, row.followers, row.url = fields["outbox"], fields["followers"], fields["url"]
    row.fetched_at = utcnow()
    ctx.db.add(row)


def _store_key(ctx: Ctx, fields: ActorFields) -> None:
    key = ctx.db.exec(select(ActorKey).where(col(ActorKey.key_id) == fields["key_id"])).first()
    if key is not None and key.owner_uri != fields["uri"]:
        raise InvalidActor("that key id already belongs to another actor")
    key = key or ActorKey(key_id=fields["key_id"], owner_uri=fields["uri"], public_key_pem="")
    key.public_key_pem, key.fetched_at = fields["pem"], utcnow()
    ctx.db.add(key)


def stored_key(ctx: Ctx, key_id: str) -> ActorKey | None:
    return ctx.db.exec(select(ActorKey).where(col(ActorKey.key_id) == key_id)).first()


def deactivate(ctx: Ctx, uri: str) -> bool:
    """A remote actor deleted itself: a person's posts become tombstones (replies keep
    their place), its follows and memberships end; a Group (a community dissolved
    at its home) is gone here with what it held, as a community dissolved here is."""
    actor = known(ctx, uri)
    if isinstance(actor, Account) and actor.domain:
        account_deletion.remote_left(ctx, actor)  # posts tombstoned, follows ended
        return True
    if isinstance(actor, Community) and actor.domain:
        ctx.db.delete(actor)
        ctx.db.flush()
        return True
    return False
