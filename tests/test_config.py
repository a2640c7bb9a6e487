"""Configuration: safe defaults, and refusal of unsafe combinations."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings


def test_http_is_refused_for_public_domains() -> None:
    with pytest.raises(ValidationError, match="only allowed for loopback"):
        Settings(domain="social.example.org", scheme="http")


@pytest.mark.parametrize("domain", ["127.0.0.1:8000", "localhost", "[::1]:8001", "127.0.0.5"])
def test_http_is_allowed_on_loopback(domain: str) -> None:
    assert Settings(domain=domain, scheme="http").base_url == f"http://{domain}"


def test_https_public_domain() -> None:
    s = Settings(domain="Social.Example.org", scheme="https")
    assert s.base_url == "https://social.example.org"
    assert s.secure_cookies


@pytest.mark.parametrize("domain", ["", "https://x.org", "a b", "x.org/path", "u@x.org"])
def test_malformed_domains_are_refused(domain: str) -> None:
    with pytest.raises(ValidationError):
        Settings(domain=domain, scheme="https")


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).resolved_secret_key
    second = Settings(data_dir=tmp_path).resolved_secret_key
    assert first == second and len(first) >= 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_configured_secret_key_wins(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, secret_key="abc").resolved_secret_key == "abc"
    assert not (tmp_path / "secret_key").exists()


def test_default_database_is_sqlite_in_data_dir(tmp_path: Path) -> None:
    url = Settings(data_dir=tmp_path).resolved_database_url
    assert url == f"sqlite:///{tmp_path.resolve() / 'commonground.db'}"


def test_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_DOMAIN", "cg.example")
    monkeypatch.setenv("CG_SCHEME", "https")
    monkeypatch.setenv("CG_MAX_BODY_BYTES", "2048")
    s = Settings()
    assert (s.domain, s.max_body_bytes) == ("cg.example", 2048)
