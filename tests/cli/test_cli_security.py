"""`wardbook user ...` and `wardbook audit verify` as an operator runs them."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.cli.test_cli import WARDBOOK
from wardbook.audit.records import AuditRecord
from wardbook.audit.writer import AuditWriter
from wardbook.auth.principal import LOCAL_DEVELOPER
from wardbook.storage.factory import open_repository

GOOD_PASSWORD = "correct horse battery staple"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WARDBOOK, *args], capture_output=True, text=True, timeout=120, input=stdin
    )


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/cli.db"
    assert run("migrate", "--database", url).returncode == 0
    return url


def test_user_add_prints_the_otpauth_uri_and_lists(database: str) -> None:
    added = run(
        "user",
        "add",
        "Alice",
        "--role",
        "physician",
        "--password-stdin",
        "--database",
        database,
        stdin=GOOD_PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stderr
    uri = added.stdout.strip()
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    assert "alice" in parsed.path
    assert len(parse_qs(parsed.query)["secret"][0]) >= 32

    listed = run("user", "list", "--database", database)
    assert listed.stdout.split() == ["alice", "physician", "active", "mfa-pending"]

    again = run(
        "user",
        "add",
        "alice",
        "--role",
        "nurse",
        "--password-stdin",
        "--database",
        database,
        stdin=GOOD_PASSWORD + "\n",
    )
    assert again.returncode == 1 and "already exists" in again.stderr

    assert run("user", "disable", "alice", "--database", database).returncode == 0
    assert "disabled" in run("user", "list", "--database", database).stdout
    reset = run("user", "reset-mfa", "alice", "--database", database)
    assert reset.returncode == 0 and reset.stdout.startswith("otpauth://totp/")
    assert reset.stdout != added.stdout


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "at least 12"),
        ("password1234", "too common"),
        ("Sunshine2024!", "too common"),
        ("aaaaaaaaaaaaaaa", "too easy"),
        ("alice-is-my-name", "user name"),
    ],
)
def test_weak_passwords_are_refused(database: str, password: str, message: str) -> None:
    added = run(
        "user",
        "add",
        "alice",
        "--role",
        "nurse",
        "--password-stdin",
        "--database",
        database,
        stdin=password + "\n",
    )
    assert added.returncode == 1
    assert message in added.stderr


def test_unknown_role_is_refused(database: str) -> None:
    added = run(
        "user",
        "add",
        "bob",
        "--role",
        "wizard",
        "--password-stdin",
        "--database",
        database,
        stdin=GOOD_PASSWORD + "\n",
    )
    assert added.returncode == 1 and "Unknown role wizard" in added.stderr


def _write_events(url: str, count: int) -> None:
    async def work() -> None:
        repository = open_repository(url)
        await repository.open()
        try:
            writer = AuditWriter(repository)
            for n in range(count):
                await writer.submit(
                    AuditRecord(
                        kind="rest",
                        recorded=1_700_000_000_000_000 + n,
                        principal=LOCAL_DEVELOPER,
                        source_ip="127.0.0.1",
                        method="GET",
                        path=f"/fhir/Patient/p{n}",
                        interaction="read",
                        resource_type="Patient",
                        resource_id=f"p{n}",
                        patients={f"p{n}"},
                    )
                )
            await writer.flush()
        finally:
            await repository.close()

    asyncio.run(work())


def test_audit_verify_detects_an_altered_row(database: str) -> None:
    _write_events(database, 5)
    intact = run("audit", "verify", "--database", database)
    assert intact.returncode == 0, intact.stderr
    assert "5 entries" in intact.stdout

    path = database.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        _seq, event_id = conn.execute(
            "SELECT seq, event_id FROM audit_chain WHERE seq = 3"
        ).fetchone()
        conn.execute(
            "UPDATE resource_version SET body = replace(body, 'p2', 'p9')"
            " WHERE res_type = 'AuditEvent' AND res_id = ?",
            (event_id,),
        )
    broken = run("audit", "verify", "--database", database)
    assert broken.returncode != 0
    assert f"entry 3 (AuditEvent/{event_id})" in broken.stderr
    assert "altered" in broken.stderr


def test_the_chain_table_refuses_updates_and_deletes(database: str) -> None:
    _write_events(database, 2)
    path = database.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit_chain SET prev_hash = 'x' WHERE seq = 1")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit_chain WHERE seq = 2")
