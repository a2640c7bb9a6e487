"""ActivityStreams vocabulary shared by every federation module."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

AS_PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"
AS2_TYPE = "application/activity+json"
LD_TYPE = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
JRD_TYPE = "application/jrd+json"
CG_NS = "https://commonground.social/ns#"

# Our own terms, published as a JSON-LD context (see docs/federation.md).
CG_CONTEXT = {
    "cg": CG_NS,
    # Mastodon's term for an image's placeholder (attachments carry one)
    "toot": "http://joinmastodon.org/ns#",
    "blurhash": "toot:blurhash",
    "stance": "cg:stance",
    # the words of the rule a Group's moderation activity cites (docs/federation.md)
    "rule": "cg:rule",
    # account moves, as Mastodon names them
    "alsoKnownAs": {"@id": "as:alsoKnownAs", "@type": "@id"},
    "movedTo": {"@id": "as:movedTo", "@type": "@id"},
    # ranking modules (docs/algorithms.md#publishing)
    "sha256": "cg:sha256",
    "version": "cg:version",
    "license": "cg:license",
    "forkedFrom": {"@id": "cg:forkedFrom", "@type": "@id"},
    "parameters": {"@id": "cg:parameters", "@type": "@json"},
    # shared-reality artifacts (docs/artifacts.md#federation)
    "Revision": "cg:Revision",
    "Statement": "cg:Statement",
    "artifactKind": "cg:artifactKind",
    "stage": "cg:stage",
    "revision": {"@id": "cg:revision", "@type": "@id"},
    "revisionCount": "cg:revisionCount",
    "revisionAuthor": {"@id": "cg:revisionAuthor", "@type": "@id"},
    "baseRevision": {"@id": "cg:baseRevision", "@type": "@id"},
    "contributors": {"@id": "cg:contributors", "@type": "@id", "@container": "@list"},
    "artifactLinks": {"@id": "cg:artifactLinks", "@container": "@list"},
    "statements": {"@id": "cg:statements", "@container": "@list"},
    "Hashtag": "as:Hashtag",
    "sensitive": "as:sensitive",
}

CONTEXT = [AS_CONTEXT, SECURITY_CONTEXT, CG_CONTEXT]
PAGE_SIZE = 20


def wants_as2(accept: str) -> bool:
    """Does an Accept header ask for ActivityStreams JSON rather than HTML?"""
    accept = accept.lower()
    if "application/activity+json" in accept:
        return True
    return "application/ld+json" in accept and "activitystreams" in accept


# --- reading values: JSON-LD lets any property hold one value or a list ------------
#
# Every federation module reads ``type`` and links through these, so that
# ``"type": ["Note", "Article"]`` or ``"actor": ["https://…"]`` means the same
# everywhere (docs/federation.md, "Values given as lists").

MAX_TYPES = 8  # a handful of types per object; more is refused at the inbox
MAX_TYPE_CHARS = 40


def as_list(value: object) -> list:
    """A value that may be one item or a list of them, as a list (absent: empty)."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def one(value: object) -> object | None:
    """The single value of a property: itself, or the sole member of a one-item
    list; None for an empty list or several (which is not one value)."""
    if isinstance(value, list):
        return value[0] if len(value) == 1 else None
    return value


def id_of(value: object) -> str | None:
    """The id of one link: a string, an object's ``id``, or either as the sole
    member of a list. Several links are not one: None."""
    value = one(value)
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return value["id"]
    return None


def ids_of(value: object) -> list[str]:
    """The ids of every link in a property that holds one or several (``to``, ``cc``)."""
    return [link for v in as_list(value) if (link := id_of(v)) is not None]


def href_of(value: object) -> str | None:
    """The URL of a link given as a string, a ``Link`` object (its ``href``), or a
    list of them (the first)."""
    value = next(iter(as_list(value)), None)
    if isinstance(value, dict):
        value = value.get("href")
    return value if isinstance(value, str) else None


def types_of(obj: object) -> frozenset[str]:
    """The types an object declares: ``type`` as a string or a list of strings
    (anything else in it is no type)."""
    if not isinstance(obj, dict):
        return frozenset()
    return frozenset(t for t in as_list(obj.get("type")) if isinstance(t, str))


def is_type(obj: object, *names: str) -> bool:
    """Does ``obj`` declare any of ``names`` among its types?"""
    return not types_of(obj).isdisjoint(names)


def kind_of(obj: object, known: Iterable[str]) -> str | None:
    """The one type of ``obj`` that is in ``known`` (an activity's handler); None
    when it declares none of them, or two (``["Create", "Delete"]`` is ambiguous)."""
    found = types_of(obj).intersection(known)
    return next(iter(found)) if len(found) == 1 else None


def first_of(obj: object, preference: Sequence[str]) -> str | None:
    """The first of ``preference`` that ``obj`` declares: an object typed
    ``["Note", "Article"]`` is an Article to a reader that knows Articles."""
    declared = types_of(obj)
    return next((name for name in preference if name in declared), None)


def valid_type(value: object) -> bool:
    """A usable ``type``: a short string, or a short non-empty list of them."""
    names = value if isinstance(value, list) else [value]
    return 0 < len(names) <= MAX_TYPES and all(
        isinstance(n, str) and 0 < len(n) <= MAX_TYPE_CHARS for n in names
    )


def type_label(obj: object, known: Iterable[str]) -> str:
    """A type to show for ``obj`` (e.g. an inbox item's): its known kind, else the
    first it declares."""
    kind = kind_of(obj, known)
    if kind is None and isinstance(obj, dict):
        kind = next((t for t in as_list(obj.get("type")) if isinstance(t, str)), "")
    return (kind or "")[:MAX_TYPE_CHARS]
