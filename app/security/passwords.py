"""argon2id password hashing (argon2-cffi), with rehash on parameter change."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.config import Settings

_hashers: dict[tuple[int, int], PasswordHasher] = {}


def hasher(settings: Settings) -> PasswordHasher:
    key = (settings.argon2_time_cost, settings.argon2_memory_kib)
    if key not in _hashers:
        _hashers[key] = PasswordHasher(time_cost=key[0], memory_cost=key[1])
    return _hashers[key]


def hash_password(settings: Settings, password: str) -> str:
    return hasher(settings).hash(password)


def verify_password(settings: Settings, stored: str | None, password: str) -> bool:
    if not stored:
        # Burn comparable time so unknown usernames are not distinguishable by timing.
        hasher(settings).hash(password)
        return False
    try:
        return hasher(settings).verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(settings: Settings, stored: str) -> bool:
    return hasher(settings).check_needs_rehash(stored)
