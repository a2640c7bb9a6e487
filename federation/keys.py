"""Local actors' signing keys, made on first use and kept in ``actor_keys``.

Generating an RSA-2048 key takes tens of milliseconds, so it happens the first
time an actor document is served or an activity is signed, not at sign-up.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.db import side_transaction
from app.models import ActorKey
from federation.httpsig import generate_keypair


def key_id_for(actor_uri: str) -> str:
    return f"{actor_uri}#main-key"


def local_key(db: Session, actor_uri: str) -> ActorKey:
    """The actor's key, created (race-safely) if it has none yet.

    In a reading request (serving an actor document) the new key is written in
    its own short transaction (a reading one cannot write); in a writing
    transaction it is simply added there.
    """
    key = _find(db, actor_uri)
    if key is not None:
        return key
    private_pem, public_pem = generate_keypair()
    candidate = ActorKey(
        key_id=key_id_for(actor_uri),
        owner_uri=actor_uri,
        public_key_pem=public_pem,
        private_key_pem=private_pem,
    )
    if db.info.get("read_only"):
        with side_transaction(db) as own:
            return _insert(own, candidate, actor_uri)
    return _insert(db, candidate, actor_uri)


def private_pem(db: Session, actor_uri: str) -> str:
    """The private half of a local actor's key (made with it), to sign with."""
    pem = local_key(db, actor_uri).private_key_pem
    if pem is None:  # never for a local actor: local_key makes both halves
        raise ValueError(f"{actor_uri} has no private key here")
    return pem


def _find(db: Session, actor_uri: str) -> ActorKey | None:
    return db.exec(select(ActorKey).where(col(ActorKey.key_id) == key_id_for(actor_uri))).first()


def _insert(db: Session, candidate: ActorKey, actor_uri: str) -> ActorKey:
    existing = _find(db, actor_uri)
    if existing is not None:
        return existing
    try:
        with db.begin_nested():
            db.add(candidate)
        return candidate
    except IntegrityError:  # another process made it first: use theirs
        theirs = _find(db, actor_uri)
        if theirs is None:  # the conflict was not over this actor's key
            raise
        return theirs
