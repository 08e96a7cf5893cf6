"""`wardbook golive check` against real deployments: a development setup fails and names each
unmet item; a production-like PostgreSQL setup (admin with MFA, a real `backup --verify`, the
rules file, a certificate made here, an intact audit chain) passes every item."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pyotp
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.cli.test_cli_security import _write_events
from wardbook.auth.users import UserStore
from wardbook.cli import main
from wardbook.config import load_settings
from wardbook.ops import golive
from wardbook.storage.factory import open_repository

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/monitoring/rules.yml"
PUBLIC_HOST = "wardbook.hospital.test"
ADMIN_PASSWORD = "correct horse battery staple"
ALL_ITEMS = [
    "production-settings",
    "tls",
    "secrets",
    "migrations",
    "admin-mfa",
    "backup",
    "replicas",
    "audit-chain",
    "alert-rules",
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets: the developer's own WARDBOOK_* must not leak in."""
    for name in list(os.environ):
        if name.startswith("WARDBOOK_"):
            monkeypatch.delenv(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def migrated_url(
    request: pytest.FixtureRequest, tmp_path: Path, make_pg_database: Callable[[], str]
) -> str:
    url = f"sqlite:///{tmp_path}/golive.db" if request.param == "sqlite" else make_pg_database()
    assert main(["migrate", "--database", url]) == 0
    return url


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """Run `wardbook golive check --json ...`: (exit status, report by item id)."""
    capsys.readouterr()
    status = main(["golive", "check", "--json", *args])
    report = json.loads(capsys.readouterr().out)
    assert [item["id"] for item in report["items"]] == ALL_ITEMS
    return status, {item["id"]: item for item in report["items"]}


def by_status(items: dict[str, Any], status: str) -> set[str]:
    return {name for name, item in items.items() if item["status"] == status}


def run_async(work: Callable[[Any], Any], url: str) -> Any:
    async def go() -> Any:
        repository = open_repository(url)
        await repository.open()
        try:
            return await work(repository)
        finally:
            await repository.close()

    return asyncio.run(go())


def add_admin(url: str, name: str, *, confirm_mfa: bool) -> None:
    """An admin account; with ``confirm_mfa`` they enter a real code from their authenticator."""

    async def work(repository: Any) -> None:
        store = UserStore(repository)
        enrolment = await store.add(name, ["admin"], ADMIN_PASSWORD)
        if confirm_mfa:
            code = pyotp.TOTP(enrolment.totp_secret).now()
            assert await store.verify_second_factor(enrolment.user, code)

    run_async(work, url)


def self_signed_certificate(path: Path, host: str, *, days: int, not_before_days: int = -1) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=not_before_days))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def production_environment(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("WARDBOOK_ENV", "production")
    monkeypatch.setenv("WARDBOOK_DATABASE_URL", url)
    monkeypatch.setenv("WARDBOOK_SECRET_KEY", secrets.token_urlsafe(48))
    monkeypatch.setenv("WARDBOOK_PUBLIC_URL", f"https://{PUBLIC_HOST}")
    monkeypatch.setenv("WARDBOOK_WORKERS", "2")


# --- a development setup ---------------------------------------------------------------------


def test_a_development_setup_fails_and_names_each_unmet_item(
    migrated_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARDBOOK_DATABASE_URL", migrated_url)
    status, items = check(capsys)

    assert status == 1
    assert by_status(items, "fail") == {
        "production-settings",
        "tls",
        "secrets",
        "admin-mfa",
        "backup",
        "alert-rules",
    }
    assert by_status(items, "pass") == {"migrations", "audit-chain"}
    assert by_status(items, "skip") == {"replicas"}
    assert "WARDBOOK_ENV=development" in items["production-settings"]["detail"]
    assert "not https://" in items["tls"]["detail"]
    assert "development default" in items["secrets"]["detail"]
    assert "no active admin account" in items["admin-mfa"]["detail"]
    assert "no restore-tested backup" in items["backup"]["detail"]
    assert "no source" in items["alert-rules"]["detail"]
    assert all(items[name]["fix"] for name in by_status(items, "fail"))

    # The text report says the same to a person, with the fix under each failure.
    capsys.readouterr()
    assert main(["golive", "check"]) == 1
    text = capsys.readouterr().out
    assert "[FAIL] backup" in text and "fix: run `wardbook backup --output FILE --verify`" in text
    assert "NOT ready to go live: 6 of 9 items failed" in text


def test_pending_migrations_fail_the_check_without_crashing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/empty.db"
    sqlite3.connect(tmp_path / "empty.db").close()  # exists, never migrated
    status, items = check(capsys, "--database", url)
    assert status == 1
    assert items["migrations"]["status"] == "fail"
    assert "0001_initial" in items["migrations"]["detail"]
    assert "could not be checked" in items["admin-mfa"]["detail"]


def test_a_missing_sqlite_database_is_reported_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, items = check(capsys, "--database", f"sqlite:///{tmp_path}/nowhere.db")
    assert status == 1
    assert "no database at" in items["migrations"]["detail"]
    assert not (tmp_path / "nowhere.db").exists()


# --- a production-like setup ---------------------------------------------------------------


@pytest.fixture
def production(
    tmp_path: Path,
    make_pg_database: Callable[[], str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """A PostgreSQL deployment meeting every item; yields its database URL."""
    url = make_pg_database()
    assert main(["migrate", "--database", url]) == 0
    production_environment(monkeypatch, url)
    add_admin(url, "ops.admin", confirm_mfa=True)
    _write_events(url, 5)
    assert main(["backup", "--output", str(tmp_path / "wardbook.dump"), "--verify"]) == 0
    yield url


@pytest.mark.postgres
def test_a_production_setup_passes_every_item(
    production: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert = self_signed_certificate(tmp_path / "tls.pem", PUBLIC_HOST, days=90)
    status, items = check(capsys, "--tls-cert", str(cert), "--rules-file", str(RULES))

    assert status == 0, json.dumps(items, indent=1)
    assert by_status(items, "fail") == set()
    assert by_status(items, "skip") == {"replicas"}  # none configured; the drill tests them
    assert "valid until" in items["tls"]["detail"]
    assert "1 active admin account(s)" in items["admin-mfa"]["detail"]
    assert "5 entries verified" in items["audit-chain"]["detail"]
    assert f"{len(golive.EXPECTED_ALERTS)} alerts" in items["alert-rules"]["detail"]
    assert str(RULES) in items["alert-rules"]["source"]


@pytest.mark.postgres
def test_each_production_item_fails_when_its_condition_breaks(
    production: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_admin(production, "new.admin", confirm_mfa=False)
    expiring = self_signed_certificate(tmp_path / "soon.pem", PUBLIC_HOST, days=10)
    monkeypatch.setenv("WARDBOOK_LOG_LEVEL", "debug")
    status, items = check(capsys, "--tls-cert", str(expiring), "--rules-file", str(RULES))
    assert status == 1
    assert by_status(items, "fail") == {"production-settings", "tls", "admin-mfa"}
    assert "WARDBOOK_LOG_LEVEL=debug" in items["production-settings"]["detail"]
    assert "expires within 30 days" in items["tls"]["detail"]
    assert "new.admin" in items["admin-mfa"]["detail"]
    assert "ops.admin" not in items["admin-mfa"]["detail"]

    # The threshold is the operator's: 7 days accepts the 10-day certificate.
    monkeypatch.delenv("WARDBOOK_LOG_LEVEL")
    _, items = check(capsys, "--tls-cert", str(expiring), "--cert-min-days", "7")
    assert items["tls"]["status"] == "pass"

    # A backup older than the window (its log row moved back 25 hours) fails.
    async def age_backups() -> None:
        conn = await asyncpg.connect(production)
        try:
            await conn.execute(
                "UPDATE ops_backup_log SET finished_at = finished_at - $1", 25 * 3600 * 10**6
            )
        finally:
            await conn.close()

    asyncio.run(age_backups())
    _, items = check(capsys)
    assert items["backup"]["status"] == "fail"
    assert "older than 24 h" in items["backup"]["detail"]


# --- single items on both backends --------------------------------------------------------


def test_a_backup_without_verify_does_not_count(
    migrated_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["backup", "--output", str(tmp_path / "plain.bak"), "--database", migrated_url]) == 0
    )
    _, items = check(capsys, "--database", migrated_url)
    assert items["backup"]["status"] == "fail"
    assert "was not verified" in items["backup"]["detail"]

    assert (
        main(
            ["backup", "--output", str(tmp_path / "v.bak"), "--verify", "--database", migrated_url]
        )
        == 0
    )
    _, items = check(capsys, "--database", migrated_url)
    assert items["backup"]["status"] == "pass"


def test_an_admin_without_mfa_fails_until_they_confirm_it(
    migrated_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    add_admin(migrated_url, "first.admin", confirm_mfa=False)
    _, items = check(capsys, "--database", migrated_url)
    assert items["admin-mfa"]["status"] == "fail"
    assert "first.admin" in items["admin-mfa"]["detail"]

    assert main(["user", "disable", "first.admin", "--database", migrated_url]) == 0
    add_admin(migrated_url, "second.admin", confirm_mfa=True)
    _, items = check(capsys, "--database", migrated_url)
    assert items["admin-mfa"]["status"] == "pass"  # a disabled admin cannot sign in


def test_a_tampered_audit_event_fails_the_chain_item(
    migrated_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_events(migrated_url, 4)

    async def tamper(repository: Any) -> str:
        rows = await repository.query("SELECT event_id FROM audit_chain WHERE seq = 2")
        event_id = str(rows[0][0])
        if migrated_url.startswith("sqlite"):
            await repository.execute(
                "UPDATE resource_version SET body = replace(body, 'p1', 'p7')"
                " WHERE res_type = 'AuditEvent' AND res_id = ?",
                (event_id,),
            )
        else:
            conn = await asyncpg.connect(migrated_url)
            try:
                await conn.execute(
                    "UPDATE resource_version SET body = replace(body::text, 'p1', 'p7')::jsonb"
                    " WHERE res_type = 'AuditEvent' AND res_id = $1",
                    event_id,
                )
            finally:
                await conn.close()
        return event_id

    event_id = run_async(tamper, migrated_url)
    _, items = check(capsys, "--database", migrated_url)
    assert items["audit-chain"]["status"] == "fail"
    assert f"entry 2 (AuditEvent/{event_id})" in items["audit-chain"]["detail"]


# --- configuration items, without a database --------------------------------------------


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "empty"),
        ("short-but-random-Xq9", "fewer than 32"),
        ("abcdefghijkl" * 4, "repeated pattern"),
        ("our-hospital-wardbook-secret-2026!!", "looks made up"),
        ("0101010110101010100101010110101001", "looks weak"),
    ],
)
def test_weak_secret_keys_are_named(key: str, problem: str) -> None:
    found = golive.secret_key_problem(key)
    assert found is not None and problem in found


def test_random_secret_keys_pass() -> None:
    for _ in range(50):
        assert golive.secret_key_problem(secrets.token_urlsafe(32)) is None
        assert golive.secret_key_problem(secrets.token_hex(16)) is None


def test_default_database_passwords_fail_the_secrets_item() -> None:
    settings = load_settings(
        {
            "WARDBOOK_SECRET_KEY": secrets.token_urlsafe(48),
            "WARDBOOK_DATABASE_URL": "postgresql://wardbook:wardbook-dev-only@db:5432/wardbook",
            "WARDBOOK_DATABASE_REPLICA_URLS": "postgresql://wardbook:Short1@replica/wardbook",
        }
    )
    item = golive.check_secrets(settings)
    assert item.status == "fail"
    assert "WARDBOOK_DATABASE_URL uses a default or well-known password" in item.detail
    assert "WARDBOOK_DATABASE_REPLICA_URLS has a password of 6 characters" in item.detail
    assert "wardbook-dev-only" not in item.detail  # never print the secret itself


def test_a_certificate_for_another_host_or_not_yet_valid_fails(tmp_path: Path) -> None:
    settings = load_settings({"WARDBOOK_PUBLIC_URL": f"https://{PUBLIC_HOST}/"})
    other = self_signed_certificate(tmp_path / "other.pem", "intranet.test", days=365)
    item = golive.check_tls(settings, golive.Options(tls_cert=other))
    assert item.status == "fail" and f"does not name {PUBLIC_HOST}" in item.detail

    future = self_signed_certificate(tmp_path / "f.pem", PUBLIC_HOST, days=365, not_before_days=3)
    item = golive.check_tls(settings, golive.Options(tls_cert=future))
    assert item.status == "fail" and "is not valid before" in item.detail

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    item = golive.check_tls(settings, golive.Options(tls_cert=garbage))
    assert item.status == "fail" and "cannot read a PEM certificate" in item.detail


def test_a_wildcard_certificate_names_one_label() -> None:
    assert golive.host_matches("*.hospital.test", PUBLIC_HOST)
    assert not golive.host_matches("*.test", PUBLIC_HOST)
    assert not golive.host_matches("*.hospital.test", "hospital.test")


def test_the_expected_alerts_are_those_of_the_shipped_rules_file() -> None:
    document = yaml.safe_load(RULES.read_text())
    alerts = [r["alert"] for g in document["groups"] for r in g["rules"] if "alert" in r]
    assert list(golive.EXPECTED_ALERTS) == alerts
    assert golive.alert_names_in_file(RULES.read_text()) == alerts


def test_a_rules_file_missing_alerts_or_invalid_fails(tmp_path: Path) -> None:
    text = RULES.read_text()
    partial = tmp_path / "partial.yml"
    cut = text.index("  - name: wardbook-infrastructure-alerts")
    partial.write_text(text[:cut])
    item = golive.check_alert_rules(golive.Options(rules_file=partial))
    assert item.status == "fail"
    assert "lacks 4 alert(s)" in item.detail and "WardbookDiskSpaceLow" in item.detail

    broken = tmp_path / "broken.yml"
    broken.write_text(text.replace("expr: up{job=", "expr: up{{job=", 1))
    item = golive.check_alert_rules(golive.Options(rules_file=broken))
    assert item.status == "fail" and "promtool check rules" in item.detail


def test_an_unreachable_database_is_a_finding_and_its_password_is_never_printed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "Unguessable-Passw0rd-42"
    monkeypatch.setenv("WARDBOOK_DATABASE_URL", f"postgresql://wardbook:{password}@127.0.0.1:1/x")
    capsys.readouterr()
    assert main(["golive", "check", "--json"]) == 1
    out = capsys.readouterr().out
    report = json.loads(out)
    assert password not in out
    assert report["database"] == "postgresql://wardbook:****@127.0.0.1:1/x"
    items = {item["id"]: item for item in report["items"]}
    for name in ("migrations", "admin-mfa", "backup", "audit-chain"):
        assert items[name]["status"] == "fail"
        assert "the database cannot be opened" in items[name]["detail"]
    assert items["replicas"]["status"] == "skip"
