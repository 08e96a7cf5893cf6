"""WARDBOOK_ENV=production refuses default or weak secrets, plain HTTP and --no-auth."""

from __future__ import annotations

from pathlib import Path

import pytest

from wardbook.config import ConfigError, load_settings

STRONG = "k7Qp2vX9zR4mT8wL1nB6cY3hJ5dF0sGa"


def settings(**env: str) -> None:
    load_settings({"WARDBOOK_ENV": "production", **env}).check()


def test_production_needs_a_strong_secret_and_tls() -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        settings(WARDBOOK_PUBLIC_URL="https://ehr.example.org")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        settings(WARDBOOK_SECRET_KEY="short", WARDBOOK_PUBLIC_URL="https://ehr.example.org")
    with pytest.raises(ConfigError, match="repetitive"):
        settings(WARDBOOK_SECRET_KEY="a" * 40, WARDBOOK_PUBLIC_URL="https://ehr.example.org")
    with pytest.raises(ConfigError, match="TLS"):
        settings(WARDBOOK_SECRET_KEY=STRONG, WARDBOOK_PUBLIC_URL="http://ehr.example.org")
    with pytest.raises(ConfigError, match="no-auth"):
        settings(WARDBOOK_SECRET_KEY=STRONG, WARDBOOK_TLS_TERMINATED="true", WARDBOOK_NO_AUTH="1")
    settings(WARDBOOK_SECRET_KEY=STRONG, WARDBOOK_PUBLIC_URL="https://ehr.example.org")
    settings(WARDBOOK_SECRET_KEY=STRONG, WARDBOOK_TLS_TERMINATED="true")


def test_secret_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(STRONG + "\n")
    loaded = load_settings({"WARDBOOK_SECRET_KEY_FILE": str(secret)})
    assert loaded.secret_key == STRONG
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings({"WARDBOOK_SECRET_KEY_FILE": str(tmp_path / "missing")})


def test_development_allows_the_default_secret() -> None:
    load_settings({}).check()
