"""Where media files live, behind one small interface: ``put``, ``get``, ``delete``.

``LocalStorage`` keeps them under ``<data_dir>/media`` (the default); ``S3Storage``
in a bucket of any S3-compatible server (AWS, MinIO, Garage, Ceph), for an instance
that outgrows one machine. Either way the application serves them itself
(``app/web/media_pages.py``), so every file goes out with the same safe headers.

Keys are made here (:func:`new_key`) and checked on every call (:func:`valid_key`):
32 hex digits, an optional ``-preview``, a known extension. Nothing a visitor types
can name another file.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from app.config import Settings

# extension -> the Content-Type it is served with; nothing else is ever stored
TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
EXTENSIONS = {v: k for k, v in TYPES.items()}
_KEY = re.compile(r"^[0-9a-f]{32}(?:-preview)?\.(?:jpg|png|webp)$")


def new_key(media_type: str) -> tuple[str, str]:
    """A fresh (file, preview) pair of keys for an image of ``media_type``."""
    token, ext = secrets.token_hex(16), EXTENSIONS[media_type]
    return f"{token}.{ext}", f"{token}-preview.{ext}"


def valid_key(key: str) -> bool:
    return bool(_KEY.match(key))


def content_type(key: str) -> str:
    return TYPES.get(key.rsplit(".", 1)[-1], "application/octet-stream")


def _checked(key: str) -> str:
    if not valid_key(key):
        raise ValueError(f"not a media key: {key!r}")
    return key


class Storage(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes | None:
        """The file's bytes, or None if there is no such file."""
        ...

    def delete(self, key: str) -> None:
        """Remove the file; a missing one is no error (deletes may run twice)."""
        ...


class LocalStorage:
    """Files under one directory, two levels of fan-out by the key's first digits."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        key = _checked(key)
        return self.root / key[:2] / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # written aside and renamed, so a reader never sees half a file
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Storage:
    """Files in one bucket of an S3-compatible server (boto3, path-style URLs)."""

    def __init__(self, endpoint: str, bucket: str, region: str, access: str, secret: str) -> None:
        import boto3  # only instances that use S3 need it loaded
        from botocore.config import Config

        self.bucket = bucket
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint or None,
            region_name=region,
            aws_access_key_id=access or None,
            aws_secret_access_key=secret or None,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
        )

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=_checked(key), Body=data, ContentType=content_type(key)
        )

    def get(self, key: str) -> bytes | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=_checked(key))
        except self.client.exceptions.NoSuchKey:
            return None
        body: bytes = answer["Body"].read()
        return body

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=_checked(key))


def storage_for(settings: Settings) -> Storage:
    """The storage these settings name (one per distinct configuration)."""
    if settings.media_storage == "s3":
        return _s3(
            settings.s3_endpoint_url,
            settings.s3_bucket,
            settings.s3_region,
            settings.s3_access_key,
            settings.s3_secret_key,
        )
    return LocalStorage(settings.data_dir / "media")


@lru_cache(maxsize=8)
def _s3(endpoint: str, bucket: str, region: str, access: str, secret: str) -> S3Storage:
    """One client per configuration: boto3 clients are thread-safe and slow to make."""
    return S3Storage(endpoint, bucket, region, access, secret)
