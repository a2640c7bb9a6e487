"""Local actors as ActivityStreams documents: a Person per member, a Group per
community (FEP-1b12) and an Application for the instance itself."""

from __future__ import annotations

from app.models import Account, Community
from app.services import Ctx, media
from app.services.accounts import profile_url
from federation.keys import key_id_for, local_key
from federation.vocab import CONTEXT

INSTANCE_ACTOR = "actor"


def instance_actor_uri(ctx: Ctx) -> str:
    return f"{ctx.base_url}/{INSTANCE_ACTOR}"


def _public_key(ctx: Ctx, uri: str) -> dict:
    key = local_key(ctx.db, uri)
    return {"id": key_id_for(uri), "owner": uri, "publicKeyPem": key.public_key_pem}


def _endpoints(ctx: Ctx, uri: str) -> dict:
    return {
        "inbox": f"{uri}/inbox",
        "outbox": f"{uri}/outbox",
        "followers": f"{uri}/followers",
        "following": f"{uri}/following",
        "endpoints": {"sharedInbox": f"{ctx.base_url}/inbox"},
    }


def person(ctx: Ctx, account: Account) -> dict:
    uri = account.uri
    doc = {
        "@context": CONTEXT,
        "id": uri,
        "type": "Person",
        "preferredUsername": account.username,
        "name": account.name,
        "summary": account.bio,
        "url": profile_url(ctx, account),
        "published": account.created_at.isoformat(),
        "manuallyApprovesFollowers": False,
        "discoverable": True,
        **_endpoints(ctx, uri),
        "publicKey": _public_key(ctx, uri),
    }
    if account.also_known_as:
        doc["alsoKnownAs"] = account.also_known_as.splitlines()
    if account.moved_to_uri:
        doc["movedTo"] = account.moved_to_uri
    for which, field, url in (
        ("avatar", "icon", account.avatar_url),
        ("header", "image", account.header_url),
    ):
        if url:
            doc[field] = {"type": "Image", "url": url}
            row = media.profile_image(ctx, account, which)
            if row is not None:
                doc[field] |= {"mediaType": row.media_type, "name": row.description}
    return doc


def tombstone(account: Account) -> dict:
    """What a deleted member's actor URL answers (with 410 Gone)."""
    deleted = account.deleted_at.isoformat() if account.deleted_at else None
    return {
        "@context": CONTEXT,
        "id": account.uri,
        "type": "Tombstone",
        "formerType": "Person",
        "deleted": deleted,
    }


def group(ctx: Ctx, community: Community) -> dict:
    uri = community.uri
    return {
        "@context": CONTEXT,
        "id": uri,
        "type": "Group",
        "preferredUsername": community.name,
        "name": community.display_title,
        "summary": community.charter_html or community.description,
        "content": community.description,
        "url": uri,
        "published": community.created_at.isoformat(),
        "manuallyApprovesFollowers": community.join_policy == "approval",
        "postingRestrictedToMods": False,
        **_endpoints(ctx, uri),
        "publicKey": _public_key(ctx, uri),
    }


def application(ctx: Ctx) -> dict:
    """The instance actor: signs fetches made on behalf of the whole instance."""
    uri = instance_actor_uri(ctx)
    return {
        "@context": CONTEXT,
        "id": uri,
        "type": "Application",
        "preferredUsername": ctx.settings.domain,
        "name": ctx.settings.instance_name,
        "url": ctx.base_url,
        "manuallyApprovesFollowers": True,
        "inbox": f"{uri}/inbox",
        "outbox": f"{uri}/outbox",
        "followers": f"{uri}/followers",
        "following": f"{uri}/following",
        "endpoints": {"sharedInbox": f"{ctx.base_url}/inbox"},
        "publicKey": _public_key(ctx, uri),
    }
