"""The `wardbook` command line as a user runs it: exit codes, messages, effects."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

WARDBOOK = str(Path(sys.executable).parent / "wardbook")
SYNTHEA = Path(__file__).resolve().parents[2].parent / "shared/data/blaze-synthea"
PATIENT_BUNDLE = SYNTHEA / "057aa36e-b892-9964-75b9-ffb46b097e34.json.bz2"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([WARDBOOK, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/cli.db"
    assert run("migrate", "--database", url).returncode == 0
    return url


def count(url: str, resource_type: str) -> int:
    import sqlite3

    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        row = conn.execute(
            "SELECT count(*) FROM resource_entity WHERE res_type = ? AND NOT deleted",
            (resource_type,),
        ).fetchone()
    return int(row[0])


def test_migrate_reports_what_it_applied(tmp_path: Path) -> None:
    from wardbook.storage.base import Dialect
    from wardbook.storage.migrate import load_migrations

    first = run("migrate", "--database", f"sqlite:///{tmp_path / 'fresh.db'}")
    assert first.returncode == 0, first.stderr
    names = [m.name for m in load_migrations(Dialect.SQLITE)]
    assert first.stdout.strip() == f"Applied {len(names)} migration(s): {', '.join(names)}"


def test_migrate_twice_is_a_no_op(database: str) -> None:
    again = run("migrate", "--database", database)
    assert again.returncode == 0
    assert "Applied 0 migration(s)" in again.stdout


def test_demo_is_deterministic_and_idempotent(database: str) -> None:
    first = run("demo", "--patients", "3", "--seed", "5", "--database", database)
    assert first.returncode == 0, first.stderr
    assert count(database, "Patient") == 3
    observations = count(database, "Observation")
    assert observations > 10
    again = run("demo", "--patients", "3", "--seed", "5", "--database", database)
    assert again.returncode == 0
    assert " 0 resource(s) written" in again.stdout
    assert count(database, "Observation") == observations


def test_load_a_synthea_bundle_then_reload_creates_no_versions(database: str) -> None:
    # The patient's record refers to the hospitals and practitioners by conditional
    # references (Organization?identifier=...); named after them, they are still read first.
    references = sorted(SYNTHEA.glob("0-*.json.bz2"), reverse=True)
    loaded = run("load", str(PATIENT_BUNDLE), *map(str, references), "--database", database)
    assert loaded.returncode == 0, loaded.stderr
    assert "retried" not in loaded.stdout  # nothing waited for the end of the input
    assert count(database, "Patient") == 1
    assert count(database, "Observation") > 100
    again = run("load", str(PATIENT_BUNDLE), *map(str, references), "--database", database)
    assert again.returncode == 0
    assert "Loaded 0 resource(s)" in again.stdout


def test_load_rejects_a_record_whose_conditional_references_match_nothing(
    database: str,
) -> None:
    loaded = run("load", str(PATIENT_BUNDLE), "--database", database)
    assert loaded.returncode == 1
    assert "Organization?identifier=" in loaded.stderr
    assert "matches no resource, also after the whole input was loaded" in loaded.stderr
    # The last line sums them up: how many references, how many resources, examples.
    summary = loaded.stderr.strip().splitlines()[-1]
    assert "conditional reference(s) matched no resource after the whole input" in summary
    assert " resource(s) naming them were not loaded: " in summary
    assert "?identifier=" in summary and " more" in summary
    assert "retried after the whole input: 0 loaded," in loaded.stdout
    assert count(database, "Patient") == 1  # its own record names no hospital
    assert count(database, "Encounter") == 0  # each names one: none is stored half-linked


def test_load_ndjson_gz_and_folders(database: str, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    lines = [{"resourceType": "Patient", "id": f"nd-{i}", "gender": "female"} for i in range(5)]
    with gzip.open(folder / "Patient.ndjson.gz", "wt") as handle:
        handle.write("\n".join(json.dumps(line) for line in lines) + "\n")
    loaded = run("load", str(folder), "--database", database)
    assert loaded.returncode == 0, loaded.stderr
    assert "Loaded 5 resource(s)" in loaded.stdout
    assert count(database, "Patient") == 5


def test_load_reports_each_rejected_resource_and_fails(database: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.ndjson"
    good = {"resourceType": "Patient", "id": "ok-1"}
    wrong = {"resourceType": "Patient", "id": "bad-1", "gender": "robot"}
    bad.write_text(f"{json.dumps(good)}\n{json.dumps(wrong)}\nnot json\n")
    result = run("load", str(bad), "--database", database)
    assert result.returncode == 1
    assert "1 resource(s), 0 unchanged, 2 rejected" in result.stdout
    assert "rejected Patient/bad-1" in result.stderr
    assert "robot" in result.stderr
    assert "not valid JSON" in result.stderr
    assert count(database, "Patient") == 1  # the good one is in, nothing half-written


def test_missing_path_is_one_clear_line(database: str) -> None:
    result = run("load", "/no/such/place", "--database", database)
    assert result.returncode == 1
    assert result.stderr.strip() == "wardbook load: /no/such/place: no such file or folder"


def test_no_auth_refused_off_loopback_and_in_production(database: str) -> None:
    public = run("serve", "--host", "0.0.0.0", "--no-auth", "--database", database)
    assert public.returncode == 1
    assert "only allowed on a loopback host" in public.stderr
    production = subprocess.run(
        [WARDBOOK, "serve", "--no-auth", "--database", database],
        capture_output=True,
        text=True,
        timeout=60,
        env={"WARDBOOK_ENV": "production", "PATH": "/usr/bin:/bin"},
    )
    assert production.returncode == 1
    assert "refused with WARDBOOK_ENV=production" in production.stderr


def test_unmigrated_database_is_refused_with_a_hint(tmp_path: Path) -> None:
    result = run("demo", "--patients", "1", "--database", f"sqlite:///{tmp_path}/new.db")
    assert result.returncode == 1
    assert "run 'wardbook migrate'" in result.stderr


def test_unknown_database_url_is_one_clear_line() -> None:
    result = run("migrate", "--database", "mysql://nope")
    assert result.returncode == 1
    assert result.stderr.startswith("wardbook migrate: unsupported database URL")


@pytest.mark.postgres
def test_load_and_demo_leave_postgresql_with_fresh_planner_statistics(
    make_pg_database: Callable[[], str], tmp_path: Path
) -> None:
    """Right after a bulk load autovacuum has not analyzed the tables yet, and the planner
    took 104,302 fresh resources for a few (a two-criterion search: 480 ms for 2)."""
    import asyncio

    import asyncpg

    async def analyzed(url: str) -> dict[str, bool]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch(
                "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables"
                " WHERE relname IN ('resource_entity', 'resource_version', 'idx_token',"
                " 'idx_string', 'idx_reference', 'idx_text')"
            )
        finally:
            await conn.close()
        return {str(r[0]): bool(r[1]) for r in rows}

    demo = make_pg_database()
    assert run("migrate", "--database", demo).returncode == 0
    before = asyncio.run(analyzed(demo))  # migration 0019 analyzed four index tables
    assert not before["resource_entity"] and not before["resource_version"]
    done = run("demo", "--patients", "2", "--seed", "3", "--database", demo)
    assert done.returncode == 0, done.stderr
    after = asyncio.run(analyzed(demo))
    assert len(after) == 6 and all(after.values()), after

    loaded = make_pg_database()
    assert run("migrate", "--database", loaded).returncode == 0
    bundle = tmp_path / "one.ndjson"
    bundle.write_text('{"resourceType": "Patient", "id": "a1", "gender": "female"}\n')
    done = run("load", str(bundle), "--database", loaded)
    assert done.returncode == 0, done.stderr
    assert all(asyncio.run(analyzed(loaded)).values())
