"""Instance configuration, read from ``CG_*`` environment variables.

Every setting has a safe default for a laptop: SQLite under ``./data``, served on
http://127.0.0.1:8000. Production sets ``CG_DOMAIN``, ``CG_SCHEME=https`` and a
PostgreSQL ``CG_DATABASE_URL`` (see ``deploy/``).
"""

from __future__ import annotations

import importlib
import ipaddress
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


def missing_database_driver(url: str) -> str | None:
    """Why ``url`` cannot be opened for want of its driver, or None.

    psycopg is the optional ``commonground[postgres]`` extra, so a SQLite install never
    needs it; a PostgreSQL URL without it should say which extra to install instead of
    failing deep inside SQLAlchemy. Only PostgreSQL URLs ever import the driver."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # not a URL at all: SQLAlchemy's own error says so
    if parsed.get_backend_name() != "postgresql":
        return None
    driver = parsed.get_driver_name()  # "psycopg2" for a bare postgresql://
    try:
        importlib.import_module(driver)
    except ImportError:
        hint = "" if driver == "psycopg" else " and write the URL as postgresql+psycopg://…"
        return (
            f"the database URL names PostgreSQL, whose driver {driver} is not installed: "
            f"pip install 'commonground[postgres]'{hint}"
        )
    return None


def host_of(domain: str) -> str:
    """The host part of ``host[:port]`` (IPv6 literals keep their brackets off)."""
    if domain.startswith("["):
        return domain[1 : domain.index("]")]
    return domain.rsplit(":", 1)[0] if domain.count(":") == 1 else domain


def is_loopback_host(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """All knobs an admin can turn. Documented in README.md#configuration."""

    model_config = SettingsConfigDict(env_prefix="CG_", extra="ignore")

    data_dir: Path = Field(default=Path("./data"))
    database_url: str = ""
    domain: str = "127.0.0.1:8000"
    scheme: Literal["http", "https"] = "http"
    secret_key: str = ""
    instance_name: str = "Commonground"

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_upload_bytes: int = Field(default=8_388_608, ge=1024)
    max_post_chars: int = Field(default=10_000, ge=1)

    login_max_failures: int = Field(default=10, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)
    session_days: int = Field(default=30, ge=1)

    # Rate limits (app/infra/ratelimit.py): at most N attempts per sliding window,
    # per account and per client address (the inbox: per remote domain). Generous:
    # a normal member never meets them; they stop scripts. README "Rate limits".
    signup_limit_per_client: int = Field(default=50, ge=1)
    signup_limit_window_seconds: int = Field(default=3600, ge=1)
    post_limit_per_account: int = Field(default=60, ge=1)
    post_limit_per_client: int = Field(default=300, ge=1)
    post_limit_window_seconds: int = Field(default=600, ge=1)
    reaction_limit_per_account: int = Field(default=600, ge=1)
    reaction_limit_per_client: int = Field(default=3000, ge=1)
    reaction_limit_window_seconds: int = Field(default=600, ge=1)
    token_limit_per_account: int = Field(default=30, ge=1)
    token_limit_per_client: int = Field(default=100, ge=1)
    token_limit_window_seconds: int = Field(default=3600, ge=1)
    # OAuth client apps registered (POST /api/v1/apps) per client address
    app_limit_per_client: int = Field(default=30, ge=1)
    app_limit_window_seconds: int = Field(default=3600, ge=1)
    # OAuth's "password" grant (an app takes the member's password itself): off unless
    # an admin turns it on; docs/mastodon-api.md
    oauth_password_grant: bool = False
    module_limit_per_account: int = Field(default=30, ge=1)
    module_limit_per_client: int = Field(default=100, ge=1)
    module_limit_window_seconds: int = Field(default=3600, ge=1)
    # Submitted modules: at most this many sandbox zygotes (one per module version)
    # live at once, the least recently used evicted (algorithms/sandbox.py).
    sandbox_max_zygotes: int = Field(default=8, ge=1, le=256)
    inbox_limit_per_domain: int = Field(default=3000, ge=1)
    inbox_limit_window_seconds: int = Field(default=300, ge=1)
    # Media (app/services/media.py): uploads per account and client, remote files
    # fetched per domain, each in its window; bytes stored per member.
    media_limit_per_account: int = Field(default=60, ge=1)
    media_limit_per_client: int = Field(default=300, ge=1)
    media_limit_window_seconds: int = Field(default=3600, ge=1)
    report_limit_per_account: int = Field(
        default=10, ge=1
    )  # reports filed (app/services/reports.py)
    report_limit_per_client: int = Field(default=50, ge=1)
    report_limit_window_seconds: int = Field(default=3600, ge=1)
    remote_media_limit_per_domain: int = Field(default=300, ge=1)
    remote_media_limit_window_seconds: int = Field(default=300, ge=1)
    media_quota_bytes: int = Field(default=1_073_741_824, ge=0)
    media_max_bytes: int = Field(default=8_388_608, ge=1024)  # one uploaded file
    # the Mastodon API's v2 upload processes a file this small in the request, a larger
    # one in the media.process job (202, apps poll); 0: every one in the job
    media_process_inline_bytes: int = Field(default=1_048_576, ge=0)
    remote_media_max_bytes: int = Field(default=4_194_304, ge=1024)  # a larger one stays a link
    # account lifecycle (docs/accounts.md): hours between asking to delete an
    # account and its deletion; days an export stays downloadable; import file cap
    deletion_grace_hours: float = Field(default=72, ge=0)
    export_keep_days: int = Field(default=7, ge=1)
    import_max_bytes: int = Field(default=1_048_576, ge=1024)
    media_max_pixels: int = Field(default=40_000_000, ge=1)  # refused above (decompression bombs)
    media_max_side: int = Field(default=2048, ge=16)  # resized to fit
    media_preview_side: int = Field(default=400, ge=16)
    # Where files live: "local" (data_dir/media) or "s3" (any S3-compatible server)
    media_storage: str = Field(default="local", pattern=r"^(local|s3)$")
    s3_endpoint_url: str = ""
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""

    # argon2id cost; tests lower it so the suite stays fast. Production keeps defaults.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65_536, ge=8)

    # Federation. Private/loopback peers are for tests and local demos only.
    allow_private_addresses: bool = False
    # "Authorized fetch": ActivityPub documents are served only to signed requests.
    secure_mode: bool = False
    delivery_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # First retry delay of a failed job (doubling after); first circuit-breaker pause.
    # Tests shorten both; production keeps the defaults.
    retry_base_seconds: float = Field(default=30.0, gt=0)
    breaker_base_seconds: float = Field(default=120.0, gt=0)

    # E-mail digests (app/infra/mail.py): smtp://[user:password@]host[:port] (add
    # ?starttls=1 to upgrade), or smtps://… for TLS from the start. Empty: mails are
    # written to the log and to <data dir>/outbox/ (development).
    smtp_url: str = ""
    mail_from: str = ""  # default: notifications@<domain>
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=300)

    # Live updates (GET /api/cg/v1/stream): a stream ends after this long and the browser's
    # EventSource reconnects, so a revoked token stops receiving within it
    # and long-lived streams spread again over the web workers.
    stream_max_seconds: float = Field(default=300.0, gt=0, le=3600)

    # Who may sign up (app/services/registration.py; an admin can change it on /admin):
    # open; approval (an admin approves each applicant); invite (an invite link is
    # needed); closed. The first-run setup link and `create-admin` work in every mode.
    registration: Literal["open", "approval", "invite", "closed"] = "open"
    members_may_invite: bool = False  # members, not only admins, create invite links
    # Sign-ups must confirm their e-mail address before they can log in
    # (app/services/emails.py; an admin can change it on /admin).
    email_verification: bool = False
    email_link_hours: float = Field(default=48.0, gt=0, le=24 * 30)  # a confirmation link
    reset_link_minutes: float = Field(default=60.0, gt=0, le=24 * 60)  # a password-reset link
    # mails asked for by address (password reset, "send the link again"): per
    # client and per address in a sliding window
    mail_limit_per_address: int = Field(default=5, ge=1)
    mail_limit_per_client: int = Field(default=30, ge=1)
    mail_limit_window_seconds: int = Field(default=3600, ge=1)

    web_workers: int = Field(default=1, ge=1)
    worker_poll_seconds: float = Field(default=1.0, gt=0)
    # Wake the worker when a job is queued (PostgreSQL NOTIFY; on SQLite a worker in
    # the same process, `serve --with-worker`); off: it only polls.
    worker_wake: bool = True
    worker_concurrency: int = Field(default=16, ge=1, le=256)

    @field_validator("domain")
    @classmethod
    def _domain_shape(cls, v: str) -> str:
        v = v.strip().lower()
        if not v or "/" in v or "@" in v or " " in v:
            raise ValueError("CG_DOMAIN must be host[:port], e.g. social.example.org")
        return v

    @field_validator("database_url")
    @classmethod
    def _driver_installed(cls, v: str) -> str:
        problem = missing_database_driver(v) if v else None
        if problem:
            raise ValueError(f"CG_DATABASE_URL: {problem}")
        return v

    @model_validator(mode="after")
    def _http_only_on_loopback(self) -> Settings:
        if self.scheme == "http" and not is_loopback_host(host_of(self.domain)):
            raise ValueError(
                "CG_SCHEME=http is only allowed for loopback domains (127.0.0.1, localhost, ::1); "
                "use https for a public domain"
            )
        return self

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.domain}"

    @property
    def secure_cookies(self) -> bool:
        return self.scheme == "https"

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'commonground.db').resolve()}"

    @cached_property
    def resolved_secret_key(self) -> str:
        """The configured key, else one generated on first run and kept in the data dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process won the race; use its key
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]  # pydantic validates the overrides at run time
