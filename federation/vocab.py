"""ActivityStreams vocabulary shared by every federation module."""

from __future__ import annotations

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
