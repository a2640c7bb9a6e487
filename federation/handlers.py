"""Processing verified incoming activities: a table of small handlers by type.

The inbox edge (:mod:`federation.inbox`) has already checked the signature and
the origin rules; here each activity type's handler applies it through the
service layer. A handler that needs a document we do not have (an unknown actor,
the post replied to, an announced object) raises :class:`NeedsFetch`; the job
fetches it, stores it and runs the handler again, within a fetch budget.
A handler that decides to drop an activity raises :class:`Ignored` with why.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlmodel import col, select

from app.db import get_or_raise
from app.errors import DomainError
from app.infra import jobs
from app.models import Account, Community, DeletedObject, Follow, Post, Reaction
from app.services import Ctx, boosts, follows, moderation, posts, reactions, rules
from app.text import plain_text
from federation import remote, vocab
from federation.vocab import AS_PUBLIC

# The posts we store, most specific first: an object typed ["Note", "Article"] is an
# Article (the Note is what such senders add for Mastodon's sake)
OBJECT_ORDER = ("Question", "Article", "Page", "Note")
PUBLIC_ALIASES = frozenset({AS_PUBLIC, "as:Public", "Public"})
MAX_REPLY_DEPTH = 8


class NeedsFetch(Exception):  # a request, not an error
    """The handler needs the document at ``url`` (an actor or an object) first."""

    def __init__(self, url: str, kind: str) -> None:
        super().__init__(f"needs {kind} {url}")
        self.url, self.kind = url, kind


class Ignored(Exception):  # an outcome, not an error
    """The activity is valid but there is nothing for us to do with it."""


class Budget:
    """How many more documents processing one activity may fetch, how deep a
    reply chain may be followed, and which fetches already failed (a handler
    asking again gets no fetch and carries on without the document)."""

    def __init__(self, fetches: int = 12, depth: int = MAX_REPLY_DEPTH) -> None:
        self.fetches, self.depth = fetches, depth
        self.failed: set[str] = set()

    def need(self, url: str, kind: str) -> None:
        if url in self.failed or self.fetches <= 0 or (kind == "object" and self.depth <= 0):
            return
        raise NeedsFetch(url, kind)

    def spend(self, need: NeedsFetch) -> None:
        self.fetches -= 1
        if need.kind == "object":
            self.depth -= 1


Handler = Callable[[Ctx, dict, Account | Community, Budget], None]
HANDLERS: dict[str, Handler] = {}
# Kinds of objects other modules store (e.g. artifacts): (does it apply?, store it)
# Objects that are not posts (e.g. an artifact's revision), stored by their own storer;
# what a storer returns is not used
ObjectStorer = Callable[[Ctx, dict, "Budget"], object]
OBJECT_STORERS: list[tuple[Callable[[dict], bool], ObjectStorer]] = []
# Reactions on things that are not posts (e.g. statements): True once handled
REACTION_TARGETS: list[Callable[[Ctx, dict, Account, str], bool]] = []


def stores(applies: Callable[[dict], bool]) -> Callable:
    """Register a storer for objects that ``applies`` recognises."""

    def register(fn: ObjectStorer) -> Callable:
        OBJECT_STORERS.append((applies, fn))
        return fn

    return register


def handles(*types: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for t in types:
            HANDLERS[t] = fn
        return fn

    return register


def process(ctx: Ctx, activity: dict, budget: Budget) -> None:
    """Apply one activity (Ignored / NeedsFetch propagate to the caller)."""
    kind = vocab.kind_of(activity, HANDLERS)
    if kind is None:  # none we know, or two (which one would be guessing)
        raise Ignored(f"{activity.get('type')!r} activities are not supported")
    handler = HANDLERS[kind]
    actor = actor_of(ctx, vocab.id_of(activity.get("actor")) or "", budget)
    if isinstance(actor, Account) and not actor.is_active:
        raise Ignored("the actor was deleted")
    handler(ctx, activity, actor, budget)


def actor_of(ctx: Ctx, uri: str, budget: Budget) -> Account | Community:
    found = remote.known(ctx, uri)
    if found is None:
        budget.need(uri, "actor")
        raise Ignored(f"unknown actor {uri}")
    return found


def _local_target(ctx: Ctx, uri: str | None) -> Account | Community | None:
    found = remote.known(ctx, uri) if uri else None
    return found if found is not None and not found.domain else None


# --- follows -----------------------------------------------------------------


@handles("Follow")
def on_follow(ctx: Ctx, activity: dict, actor: Account | Community, budget: Budget) -> None:
    target = _local_target(ctx, vocab.id_of(activity.get("object")))
    if target is None:
        raise Ignored("that is not an actor of this instance")
    if not isinstance(actor, Account):
        raise Ignored("only people follow here")
    follows.follow(ctx, actor, target, activity_uri=activity["id"])


def _follow_in(ctx: Ctx, obj: object, actor: Account | Community) -> Follow | None:
    """The local follow an Accept / Reject / Undo refers to."""
    obj = vocab.one(obj)
    follow_id = vocab.id_of(obj)
    found = follows.find_by_activity(ctx, follow_id) if follow_id else None
    if found is None and isinstance(obj, dict):
        follower = remote.known(ctx, vocab.id_of(obj.get("actor")) or "")
        target = remote.known(ctx, vocab.id_of(obj.get("object")) or "")
        if isinstance(follower, Account) and target is not None:
            found = follows.between(ctx, follower, target)
    return found


@handles("Accept")
def on_accept(ctx: Ctx, activity: dict, actor: Account | Community, budget: Budget) -> None:
    follow = _follow_in(ctx, activity.get("object"), actor)
    if follow is None:
        raise Ignored("no follow of ours matches")
    target_id = follow.target_account_id or follow.target_community_id
    if target_id != actor.id or isinstance(actor, Account) != bool(follow.target_account_id):
        raise Ignored("only the followed actor can accept")
    follows.accepted(ctx, follow)


@handles("Reject")
def on_reject(ctx: Ctx, activity: dict, actor: Account | Community, budget: Budget) -> None:
    follow = _follow_in(ctx, activity.get("object"), actor)
    if follow is None:
        raise Ignored("no follow of ours matches")
    target_id = follow.target_account_id or follow.target_community_id
    if target_id != actor.id:
        raise Ignored("only the followed actor can reject")
    follows.remove(ctx, follow)


@handles("Block")
def on_block(ctx: Ctx, activity: dict, actor: Account | Community, budget: Budget) -> None:
    """Someone elsewhere blocked one of our members: their follows of each other
    end (our member is not told who blocked them, as on Mastodon)."""
    if isinstance(actor, Community):
        _group_ban(ctx, activity, actor)
        return
    target = _local_target(ctx, vocab.id_of(activity.get("object")))
    if not isinstance(target, Account) or not isinstance(actor, Account):
        raise Ignored("only people block people here")
    for follower, followed in ((actor, target), (target, actor)):
        follow = follows.between(ctx, follower, followed)
        if follow is not None:
            follows.remove(ctx, follow)


def grounds_of(activity: dict) -> moderation.Grounds:
    """A Group's reason (``summary``) and the rule it cited (our ``rule`` term), as
    plain text whatever markup the peer sent."""
    reason, rule = activity.get("summary"), activity.get("rule")
    return moderation.Grounds(
        reason=plain_text(reason, limit=moderation.MAX_REASON) if isinstance(reason, str) else "",
        rule_text=plain_text(rule, limit=rules.MAX_RULE) if isinstance(rule, str) else "",
    )


def _group_ban(ctx: Ctx, block: dict, group: Community, *, lifted: bool = False) -> None:
    """A remote Group's ban of a member from itself (``target``: the Group)."""
    if vocab.id_of(block.get("target")) != group.uri:
        raise Ignored("a Group bans members only from itself")
    member = remote.known(ctx, vocab.id_of(block.get("object")) or "")
    if not isinstance(member, Account):
        raise Ignored("the banned member is not known here")
    try:
        moderation.remote_ban(
            ctx, group, member, _time(block.get("endTime")), grounds_of(block), lifted=lifted
        )
    except DomainError as exc:
        raise Ignored(str(exc.detail)) from exc


@handles("Undo")
def on_undo(ctx: Ctx, activity: dict, actor: Account | Community, budget: Budget) -> None:
    obj = vocab.one(activity.get("object"))
    inner_id = vocab.id_of(obj)
    if isinstance(actor, Community) and isinstance(obj, dict) and vocab.is_type(obj, "Block"):
        if vocab.id_of(obj.get("actor")) != actor.uri:
            raise Ignored("a Group undoes only its own bans")
        _group_ban(ctx, obj, actor, lifted=True)
        return
    if vocab.is_type(obj, "Follow") or (inner_id and follows.find_by_activity(ctx, inner_id)):
        follow = _follow_in(ctx, obj, actor)
        if follow is None or follow.follower_id != actor.id:
            raise Ignored("no follow by that actor matches")
        follows.remove(ctx, follow)
        return
    if inner_id and isinstance(actor, Account) and (boost := boosts.find_by_uri(ctx, inner_id)):
        if boost.account_id != actor.id:
            raise Ignored("a boost is undone only by its booster")
        boosts.remove(ctx, boost)
        return
    if inner_id and isinstance(actor, Account):  # reactions are people's
        gone = ctx.db.exec(
            select(Reaction).where(
                col(Reaction.activity_uri) == inner_id, col(Reaction.account_id) == actor.id
            )
        ).all()
        for reaction in gone:
            reactions.unreact(ctx, actor, reaction.post_id, reaction.kind)
        if gone:
            return
    raise Ignored("nothing of ours to undo")


# --- reactions ---------------------------------------------------------------

STANCES = {"agree", "disagree", "pass"}
REACTIONS = {"Like": "like", "Dislike": "disagree", "Ignore": "pass"}


def reaction_kind(activity: dict) -> str:
    """Like is a like, unless it carries our ``stance``; Dislike and Ignore are
    stances (disagree, pass) and only count as such."""
    stance = activity.get("stance")
    kind = REACTIONS[vocab.kind_of(activity, REACTIONS) or "Like"]
    return stance if kind == "like" and stance == "agree" else kind


@handles("Like", "Dislike", "Ignore")
def on_reaction(ctx: Ctx, activity: dict, actor: Account | Community, budget: Budget) -> None:
    if not isinstance(actor, Account):
        raise Ignored("only people react")
    post = posts.find_by_uri(ctx, vocab.id_of(activity.get("object")) or "")
    if post is None:
        if any(fn(ctx, activity, actor, reaction_kind(activity)) for fn in REACTION_TARGETS):
            return
        raise Ignored("we do not have that post")
    if post.is_deleted:
        raise Ignored("that post was deleted")
    reactions.react(ctx, actor, post.id, reaction_kind(activity), activity_uri=activity["id"])


# --- objects -----------------------------------------------------------------


def _addressed(obj: dict) -> list[str]:
    return [link for field in ("to", "cc", "audience") for link in vocab.ids_of(obj.get(field))]


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _url(obj: dict) -> str | None:
    url = vocab.href_of(obj.get("url"))
    ok = url is not None and url.startswith(("https://", "http://")) and len(url) <= 2048
    return url if ok else None


def _tags(obj: dict) -> list[str]:
    out = []
    for tag in vocab.as_list(obj.get("tag")):
        if vocab.is_type(tag, "Hashtag") and isinstance(tag.get("name"), str):
            name = tag["name"].lstrip("#").strip()
            if name and len(name) <= 100 and name.replace("_", "").isalnum():
                out.append(name)
    return out[:30]


def _mentions(ctx: Ctx, obj: dict) -> list[Account]:
    """Members of this instance the object names with a ``Mention`` tag."""
    found: list[Account] = []
    for tag in vocab.as_list(obj.get("tag"))[:100]:
        if vocab.is_type(tag, "Mention"):
            href = vocab.href_of(tag.get("href"))
            local = _local_target(ctx, href) if href else None
            if isinstance(local, Account) and local.is_active:
                found.append(local)
    return found


def warning_of(obj: dict) -> str | None:
    """Mastodon's content warning is a Note's ``summary``; on a Page or Article the
    summary is an excerpt unless the object is marked ``sensitive``."""
    summary = obj.get("summary")
    if not isinstance(summary, str):
        return None
    warns = vocab.first_of(obj, OBJECT_ORDER) in ("Note", "Question")
    warns = warns or obj.get("sensitive") is True
    return summary if warns else None


def attachments_of(obj: dict) -> list[dict]:
    """Candidate attachments of a Note or an artifact's Page (validated and
    bounded by ``posts.attachments_json``)."""
    return [
        {
            "url": vocab.href_of(a.get("url")),
            "media_type": a.get("mediaType"),
            "name": a.get("name"),
        }
        for a in vocab.as_list(obj.get("attachment"))[:100]
        if isinstance(a, dict)
    ]


def _poll(obj: dict) -> dict | None:
    """A ``Question``'s options (``oneOf``, or ``anyOf`` for several choices) with their
    counts (``replies.totalItems``) and end (``endTime``, or ``closed``)."""
    if vocab.first_of(obj, OBJECT_ORDER) != "Question":
        return None
    multiple = isinstance(obj.get("anyOf"), list)
    choices = obj.get("anyOf") if multiple else obj.get("oneOf")
    options = []
    for choice in choices[:100] if isinstance(choices, list) else []:
        if isinstance(choice, dict):
            replies = choice.get("replies")
            votes = replies.get("totalItems") if isinstance(replies, dict) else 0
            options.append({"name": choice.get("name"), "votes": votes})
    end = _time(obj.get("endTime")) or _time(obj.get("closed"))
    return {"multiple": multiple, "options": options, "end_time": end}


def _community_of(ctx: Ctx, obj: dict, budget: Budget) -> Community | None:
    audience = vocab.id_of(obj.get("audience"))
    for uri in ([audience] if audience else []) + _addressed(obj):
        found = remote.known(ctx, uri)
        if isinstance(found, Community):
            return found
    if audience:
        budget.need(audience, "actor")
    return None


def author_of(obj: dict) -> str | None:
    """The one author of an object: ``attributedTo`` as a link, an object, or a
    list holding exactly one person (Groups listed beside them are ignored)."""
    value = obj.get("attributedTo")
    if not isinstance(value, list):
        return vocab.id_of(value)
    people = [vocab.id_of(v) for v in value if vocab.id_of(v) and not vocab.is_type(v, "Group")]
    return people[0] if len(people) == 1 else None


def store_object(ctx: Ctx, obj: dict, budget: Budget) -> Post | None:
    """Store a Note / Page / Article whose authenticity was established by the caller."""
    for applies, store in OBJECT_STORERS:
        if applies(obj):
            if not isinstance(obj.get("id"), str) or not remote.same_host(
                obj["id"], author_of(obj) or ""
            ):
                raise Ignored("an object must be on its author's host")
            store(ctx, obj, budget)
            return None  # not a post
    kind = vocab.first_of(obj, OBJECT_ORDER)
    if kind is None:
        raise Ignored(f"{obj.get('type')!r} objects are not stored")
    uri = obj.get("id")
    author_uri = author_of(obj)
    if not isinstance(uri, str) or not author_uri or not remote.same_host(uri, author_uri):
        raise Ignored("an object must be on its author's host")
    if uri.startswith(ctx.base_url + "/"):
        return posts.find_by_uri(ctx, uri)
    if ctx.db.exec(select(DeletedObject).where(col(DeletedObject.uri) == uri)).first():
        raise Ignored("that object was already deleted")
    if not PUBLIC_ALIASES & set(_addressed(obj)):
        raise Ignored("only public posts are stored")
    # Public in ``to`` is public; only in ``cc`` (or audience), Mastodon's unlisted
    public = bool(PUBLIC_ALIASES & set(vocab.ids_of(obj.get("to"))))
    author = actor_of(ctx, author_uri, budget)
    if not isinstance(author, Account):
        raise Ignored("posts are written by people")
    parent = None
    parent_uri = vocab.id_of(obj.get("inReplyTo"))
    if parent_uri:
        parent = posts.find_by_uri(ctx, parent_uri)
        if parent is None:
            budget.need(parent_uri, "object")
    community = _community_of(ctx, obj, budget)
    if parent is not None and parent.community_id is not None:
        community = ctx.db.get(Community, parent.community_id)
    if community is not None and not community.domain:
        from app.services import communities

        if not communities.is_active_member(ctx, author, community):
            raise Ignored("the author is not a member of that community")
    content = obj.get("content")
    if not isinstance(content, str):
        content = ""
    if not content and isinstance(obj.get("contentMap"), dict):
        content = next((v for v in obj["contentMap"].values() if isinstance(v, str)), "")
    if len(content) > 500_000:
        raise Ignored("the content is too long")
    try:
        return posts.store_remote(
            ctx,
            uri=uri,
            author=author,
            html=content,
            object_type=kind if kind != "Question" else "Note",
            title=obj.get("name") if isinstance(obj.get("name"), str) else None,
            url=_url(obj),
            published=_time(obj.get("published")),
            updated=_time(obj.get("updated")),
            parent=parent,
            community=community,
            tags=_tags(obj),
            summary=warning_of(obj),
            sensitive=obj.get("sensitive") is True,
            attachments=attachments_of(obj),
            poll=_poll(obj),
            mentions=_mentions(ctx, obj),
            visibility="public" if public else "unlisted",
        )
    except DomainError as exc:
        raise Ignored(exc.detail) from exc


def _object(activity: dict) -> dict | None:
    obj = vocab.one(activity.get("object"))
    return obj if isinstance(obj, dict) else None


@handles("Create")
def on_create(ctx: Ctx, activity: dict, actor: Account | Community, budget: Budget) -> None:
    obj = _object(activity)
    if obj is None:
        raise Ignored("Create needs an embedded object")
    if author_of(obj) != actor.uri:
        raise Ignored("the object's author is not the activity's actor")
    store_object(ctx, obj, budget)


@handles("Update")
def on_update(ctx: Ctx, activity: dict, actor: Account | Community, budget: Budget) -> None:
    obj = _object(activity)
    if obj is None:
        raise Ignored("Update needs an embedded object")
    if obj.get("id") == actor.uri:
        remote.store_actor(ctx, obj)
        return
    if author_of(obj) != actor.uri:
        raise Ignored("only the author updates a post")
    store_object(ctx, obj, budget)


@handles("Delete")
def on_delete(ctx: Ctx, activity: dict, actor: Account | Community, budget: Budget) -> None:
    uri = vocab.id_of(activity.get("object"))
    if not uri:
        raise Ignored("Delete of nothing")
    if uri == actor.uri:
        remote.deactivate(ctx, uri)  # a person's boosts go too (account_deletion)
        return
    post = posts.find_by_uri(ctx, uri)
    if post is None:
        if remote.same_host(uri, actor.uri):
            ctx.db.add(DeletedObject(uri=uri[:2048], actor_uri=actor.uri))
        return
    author = get_or_raise(ctx.db, Account, post.author_id)
    if isinstance(actor, Community):  # a Group moderating its own thread (FEP-1b12)
        try:
            moderation.remote_removal(ctx, actor, post, grounds_of(activity))
        except DomainError as exc:
            raise Ignored("a community deletes only posts in its own threads") from exc
        return
    if author.id != actor.id:
        raise Ignored("only the author (or its community) deletes a post")
    if author.is_local:
        raise Ignored("remote actors cannot delete our members' posts")
    posts.delete_remote(ctx, post)


@handles("Move")
def on_move(ctx: Ctx, activity: dict, actor: Account | Community, budget: Budget) -> None:
    """A remote account moved (Mastodon's shape: actor = object = the old account,
    target = the new one). Checking the target's aliases needs a fresh fetch, so a
    job does it and moves the local followers (federation/lifecycle.py)."""
    target = vocab.id_of(activity.get("target"))
    if not isinstance(actor, Account) or vocab.id_of(activity.get("object")) != actor.uri:
        raise Ignored("only an account moves itself")
    if not target or target == actor.uri or not target.startswith(("https://", "http://")):
        raise Ignored("a Move needs a target other than the actor")
    if not follows.remote_is_followed(ctx, actor):
        raise Ignored("nobody here follows the account that moved")
    jobs.enqueue(ctx, "ap.move", {"origin": actor.uri, "target": target[:2048]})


RELAYED = (
    "Create",
    "Update",
    "Delete",
    "Like",
    "Dislike",
    "Undo",
    "Block",
)  # FEP-1b12 in an Announce


@handles("Announce")
def on_announce(ctx: Ctx, activity: dict, actor: Account | Community, budget: Budget) -> None:
    """A boost, or (FEP-1b12) a Group relaying what happened in it."""
    obj = vocab.one(activity.get("object"))
    inner_type = vocab.kind_of(obj, RELAYED)
    if isinstance(actor, Account) and inner_type is None:
        _person_boost(ctx, activity, actor, vocab.id_of(obj), budget)
        return
    if not follows.remote_is_followed(ctx, actor):
        raise Ignored("nobody here follows the announcer")
    if isinstance(obj, dict) and inner_type is not None:
        inner_actor = vocab.id_of(obj.get("actor"))
        inner_object = vocab.id_of(obj.get("object"))
        trusted = (
            inner_actor
            and remote.same_host(inner_actor, actor.uri)
            and (inner_object is None or remote.same_host(inner_object, actor.uri))
        )
        # a Group's own moderation of its threads (the inner actor is the signer)
        trusted = trusted or (
            isinstance(actor, Community)
            and inner_actor == actor.uri
            and inner_type in ("Delete", "Block", "Undo")
        )
        if trusted and isinstance(obj.get("id"), str):
            process(ctx, obj, budget)
            return
        if inner_type in ("Create", "Update") and inner_object:
            _announced_object(ctx, inner_object, budget)
            return
        raise Ignored("an announced activity from another host is not trusted")
    uri = vocab.id_of(obj)
    if not uri:
        raise Ignored("Announce of nothing")
    _announced_object(ctx, uri, budget)


def _person_boost(
    ctx: Ctx, activity: dict, actor: Account, uri: str | None, budget: Budget
) -> None:
    """A person's boost of a post: recorded when the post is one we hold (theirs to
    boost whoever follows them here) or can fetch because someone here follows them."""
    boost_id = activity.get("id")
    if not uri or not isinstance(boost_id, str) or len(boost_id) > 2048:
        raise Ignored("Announce of nothing, or without an id")
    if not remote.same_host(boost_id, actor.uri):
        raise Ignored("an Announce's id is on its actor's host")
    post = posts.find_by_uri(ctx, uri)
    if post is None:
        if not follows.remote_is_followed(ctx, actor):
            raise Ignored("nobody here follows the announcer")
        _announced_object(ctx, uri, budget)
        post = posts.find_by_uri(ctx, uri)
    if post is None:
        raise Ignored("could not fetch the announced object")
    known = boosts.find_by_uri(ctx, boost_id)
    if known is not None and known.account_id != actor.id:
        raise Ignored("that Announce id is another actor's boost")
    try:
        boosts.boost(ctx, actor, post, uri=boost_id, at=_time(activity.get("published")))
    except DomainError as exc:  # a deleted post, an author who blocked them
        raise Ignored(f"not a boost we record: {exc}") from exc


def _announced_object(ctx: Ctx, uri: str, budget: Budget) -> None:
    if posts.find_by_uri(ctx, uri) is None:
        budget.need(uri, "object")
        raise Ignored("could not fetch the announced object")
