"""`wardbook config check`: effective configuration per environment profile, secrets masked.

Runs the real CLI entry point with a controlled environment; covers each profile's refusals,
masking of passwords in URLs and of secrets, sources, typo warnings and the JSON form.
"""

from __future__ import annotations

import json
import os

import pytest

from wardbook.cli import main
from wardbook.config import load_settings
from wardbook.ops.config_check import check, mask_url

SECRET = "q7Xv2LpR9sTz4WmK8cYb3NdF6hJg1AeU5oIi0"
PROD_OK = {
    "WARDBOOK_ENV": "production",
    "WARDBOOK_DATABASE_URL": "postgresql://wardbook:pw-s3cret@db.internal:5432/wardbook",
    "WARDBOOK_DATABASE_REPLICA_URLS": "postgresql://wardbook:pw-s3cret@db-ro.internal:5432/wardbook",
    "WARDBOOK_SECRET_KEY": SECRET,
    "WARDBOOK_PUBLIC_URL": "https://ehr.example.org",
    "WARDBOOK_WORKERS": "4",
    "WARDBOOK_REDIS_URL": "redis://:redis-pass@cache:6379/0",
}


def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    *args: str,
) -> tuple[int, str]:
    for name in list(os.environ):
        if name.startswith("WARDBOOK_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(["config", "check", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_development_defaults_are_fine(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(monkeypatch, capsys, {})
    assert code == 0, out
    assert "WARDBOOK_ENV=development (profile dev)" in out
    assert "sqlite:///./wardbook.db  [default]" in out
    assert "**** (development default)" in out
    assert out.rstrip().endswith("OK")


def test_safe_production_passes_and_masks_every_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(monkeypatch, capsys, PROD_OK)
    assert code == 0, out
    for secret in ("pw-s3cret", SECRET, "redis-pass"):
        assert secret not in out
    assert (
        "postgresql://wardbook:****@db.internal:5432/wardbook  [env WARDBOOK_DATABASE_URL]" in out
    )
    assert "postgresql://wardbook:****@db-ro.internal:5432/wardbook" in out
    assert "secret_key" in out and "****  [env WARDBOOK_SECRET_KEY]" in out


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"WARDBOOK_DATABASE_URL": "sqlite:///./wardbook.db"}, "needs PostgreSQL"),
        ({"WARDBOOK_DATABASE_REPLICA_URLS": "sqlite:///replica.db"}, "needs PostgreSQL"),
        ({"WARDBOOK_PUBLIC_URL": "http://ehr.example.org"}, "needs TLS"),
        ({"WARDBOOK_LOG_LEVEL": "debug"}, "WARDBOOK_LOG_LEVEL=debug is refused"),
        ({"WARDBOOK_WORKERS": "1"}, "needs at least 2 workers"),
        ({"WARDBOOK_SECRET_KEY": "short"}, "WARDBOOK_SECRET_KEY"),
        ({"WARDBOOK_NO_AUTH": "true"}, "--no-auth is refused"),
        ({"WARDBOOK_DB_POOL_MIN": "20"}, "WARDBOOK_DB_POOL_MIN=20 is above"),
    ],
)
def test_production_refuses_unsafe_settings(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, str],
    problem: str,
) -> None:
    code, out = run(monkeypatch, capsys, {**PROD_OK, **change})
    assert code == 1
    assert problem in out
    assert "problem(s)" in out.splitlines()[-1]


def test_staging_profile_needs_postgresql_and_https_but_one_worker_is_fine(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(monkeypatch, capsys, {"WARDBOOK_ENV": "staging"})
    assert code == 1
    assert "WARDBOOK_ENV=staging needs PostgreSQL" in out
    assert "WARDBOOK_ENV=staging needs its public address over TLS" in out
    staging = {**PROD_OK, "WARDBOOK_ENV": "staging", "WARDBOOK_WORKERS": "1"}
    code, out = run(monkeypatch, capsys, staging)
    assert code == 0, out
    assert "(profile staging)" in out


def test_every_problem_is_listed_at_once_and_typos_warned(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"WARDBOOK_ENV": "production", "WARDBOOK_DATABSE_URL": "postgresql://x@y/z"}
    code, out = run(monkeypatch, capsys, env)
    assert code == 1
    problems = [line for line in out.splitlines() if line.startswith("problem: ")]
    assert len(problems) >= 3  # secret, PostgreSQL, TLS, workers: not just the first
    assert "warning: WARDBOOK_DATABSE_URL is not a setting Wardbook knows" in out


def test_json_output_and_flag_source(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(
        monkeypatch, capsys, PROD_OK, "--json", "--database", "postgresql://a:flag-pass@h:5432/d"
    )
    assert code == 0, out
    report = json.loads(out)
    assert report["ok"] is True and report["profile"] == "production"
    assert report["settings"]["database_url"] == {
        "value": "postgresql://a:****@h:5432/d",
        "source": "flag",
    }
    assert "flag-pass" not in out


def test_a_malformed_number_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(monkeypatch, capsys, {"WARDBOOK_PORT": "eighty"})
    assert code == 1
    assert out.strip() == "wardbook config: WARDBOOK_PORT='eighty' is not a whole number"


def test_mask_url_keeps_everything_but_the_password() -> None:
    assert (
        mask_url("postgresql://u:p@h:5432/d?sslmode=require")
        == "postgresql://u:****@h:5432/d?sslmode=require"
    )
    assert mask_url("postgresql://u@h/d") == "postgresql://u@h/d"
    assert mask_url("postgresql://u:p@[::1]:5432/d") == "postgresql://u:****@[::1]:5432/d"


def test_report_is_pure() -> None:
    report = check(load_settings({}), {})
    assert report.ok and report.profile == "dev"
