"""The instance as Mastodon apps ask about it: /api/v1/instance, /api/v2/instance,
its rules, peers and weekly activity, and a member's preferences."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlmodel import col, select

from app import __version__
from app.api.auth import Reader
from app.deps import CtxDep
from app.mastodon import entities
from app.models import Account
from app.services import Ctx, media, registration, rules, usage

router = APIRouter()

MASTODON_VERSION = "4.2.1"  # the Mastodon API this one follows (docs/mastodon-api.md)
VERSION = f"{MASTODON_VERSION} (compatible; Commonground {__version__})"
SOURCE_URL = "https://commonground.social/"
URL_CHARACTERS = 23  # what apps count a link as (Mastodon's), see docs/mastodon-api.md
IMAGE_TYPES = sorted({*media.FORMATS.values(), "image/gif"})


def _streaming(ctx: Ctx) -> str:
    return ctx.base_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)


def _registrations(ctx: Ctx) -> dict[str, Any]:
    mode = registration.mode(ctx)
    message = {
        "invite": "Sign-up here is by invitation: ask a member for an invite link.",
        "closed": "Sign-up is closed on this instance.",
    }.get(mode)
    return {
        "enabled": mode in ("open", "approval"),
        "approval_required": mode == "approval",
        "message": message,
        "url": None,
    }


def _rules(ctx: Ctx) -> list[dict[str, str]]:
    return [{"id": str(r.id), "text": r.text, "hint": ""} for r in rules.of(ctx)]


def _contact_account(ctx: Ctx) -> dict[str, Any] | None:
    admin = ctx.db.exec(
        select(Account)
        .where(col(Account.is_admin), col(Account.domain) == "", col(Account.is_active))
        .order_by(col(Account.id))
    ).first()
    return entities.account(ctx, admin) if admin is not None else None


def _configuration(ctx: Ctx) -> dict[str, Any]:
    s = ctx.settings
    return {
        "accounts": {"max_featured_tags": 0, "max_pinned_statuses": 0},
        "statuses": {
            "max_characters": s.max_post_chars,
            "max_media_attachments": media.MAX_PER_POST,
            "characters_reserved_per_url": URL_CHARACTERS,
        },
        "media_attachments": {
            "supported_mime_types": IMAGE_TYPES,
            "image_size_limit": s.media_max_bytes,
            "image_matrix_limit": s.media_max_pixels,
            "video_size_limit": 0,
            "video_frame_rate_limit": 0,
            "video_matrix_limit": 0,
        },
        "polls": {
            "max_options": 0,
            "max_characters_per_option": 0,
            "min_expiration": 0,
            "max_expiration": 0,
        },
        "translation": {"enabled": False},
    }


@router.get("/api/v1/instance")
def instance_v1(ctx: CtxDep) -> dict[str, Any]:
    counted = usage.usage(ctx)
    reg = _registrations(ctx)
    return {
        "uri": ctx.settings.domain,
        "title": ctx.settings.instance_name,
        "short_description": "",
        "description": "",
        "email": "",
        "version": VERSION,
        "urls": {"streaming_api": _streaming(ctx)},
        "stats": {
            "user_count": counted.users,
            "status_count": counted.local_posts,
            "domain_count": counted.domains,
        },
        "thumbnail": ctx.base_url + entities.DEFAULT_HEADER,
        "languages": ["en"],
        "registrations": reg["enabled"],
        "approval_required": reg["approval_required"],
        "invites_enabled": registration.mode(ctx) == "invite",
        "configuration": _configuration(ctx),
        "contact_account": _contact_account(ctx),
        "rules": _rules(ctx),
    }


@router.get("/api/v2/instance")
def instance_v2(ctx: CtxDep) -> dict[str, Any]:
    counted = usage.usage(ctx)
    configuration = _configuration(ctx)
    configuration["urls"] = {"streaming": _streaming(ctx)}
    configuration["vapid"] = {"public_key": ""}
    return {
        "domain": ctx.settings.domain,
        "title": ctx.settings.instance_name,
        "version": VERSION,
        "source_url": SOURCE_URL,
        "description": "",
        "usage": {"users": {"active_month": counted.users}},
        "thumbnail": {
            "url": ctx.base_url + entities.DEFAULT_HEADER,
            "blurhash": None,
            "versions": {},
        },
        "languages": ["en"],
        "configuration": configuration,
        "registrations": _registrations(ctx),
        "api_versions": {"mastodon": 1, "commonground": 1},
        "contact": {"email": "", "account": _contact_account(ctx)},
        "rules": _rules(ctx),
    }


@router.get("/api/v1/instance/rules")
def instance_rules(ctx: CtxDep) -> list[dict[str, str]]:
    return _rules(ctx)


@router.get("/api/v1/instance/peers")
def instance_peers(ctx: CtxDep) -> list[str]:
    return usage.known_domains(ctx)


@router.get("/api/v1/instance/activity")
def instance_activity(ctx: CtxDep) -> list[dict[str, str]]:
    return [
        {
            "week": str(int(w.start.timestamp())),
            "statuses": str(w.posts),
            "logins": "0",
            "registrations": str(w.registrations),
        }
        for w in usage.weeks(ctx)
    ]


@router.get("/api/v1/preferences")
def preferences(account: Reader) -> dict[str, Any]:
    return {
        "posting:default:visibility": "public",
        "posting:default:sensitive": False,
        "posting:default:language": None,
        "reading:expand:media": "default",
        "reading:expand:spoilers": account.expand_warnings,
    }
