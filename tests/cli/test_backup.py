"""`wardbook backup` / `restore`: exact to every version, deleted marker and table row,
taken while writes go on; refused into a non-empty database; the metric follows."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import PG_ADMIN_URL, create_pg_database, drop_pg_database
from wardbook.cli import main
from wardbook.service.resources import ResourceService
from wardbook.storage.backup import Manifest, manifest_path
from wardbook.storage.base import Repository
from wardbook.storage.factory import open_repository


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def new_database(
    request: pytest.FixtureRequest, tmp_path: Path, make_pg_database: Callable[[], str]
) -> Callable[[], str]:
    """A factory of new, empty databases of one backend."""
    counter = iter(range(100))

    def make() -> str:
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path}/db{next(counter)}.db"
        return make_pg_database()

    return make


def migrated(url: str) -> str:
    assert main(["migrate", "--database", url]) == 0
    return url


async def with_service(url: str, work: Callable[[ResourceService], object]) -> object:
    repository = open_repository(url)
    await repository.open()
    try:
        result = work(ResourceService(repository))
        return await result if asyncio.iscoroutine(result) else result
    finally:
        await repository.close()


async def snapshot(url: str) -> dict[str, list[tuple[int, bool, bytes | None]]]:
    """Every resource's whole history: (version, deleted, body) newest first."""

    async def work(service: ResourceService) -> dict[str, list[tuple[int, bool, bytes | None]]]:
        repository: Repository = service.repository
        page = await repository.history(count=1000)
        out: dict[str, list[tuple[int, bool, bytes | None]]] = {}
        for entry in page.entries:
            out.setdefault(f"{entry.resource_type}/{entry.id}", []).append(
                (entry.version, entry.deleted, entry.body)
            )
        return out

    return await with_service(url, work)  # type: ignore[return-value]


def patient(pid: str, family: str) -> dict[str, object]:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": family}]}


async def write_first_batch(service: ResourceService) -> None:
    await service.update("Patient", "a", patient("a", "One"))
    await service.update("Patient", "a", patient("a", "Two"))
    await service.update("Patient", "b", patient("b", "Gone"))
    await service.delete("Patient", "b")
    await service.update("Patient", "c", patient("c", "Stays"))
    for n in range(20):
        await service.create("Observation", observation(n))


async def write_second_batch(service: ResourceService) -> None:
    await service.update("Patient", "a", patient("a", "Three"))
    await service.update("Patient", "d", patient("d", "Later"))
    await service.delete("Patient", "c")


def observation(n: int) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": "Patient/a"},
        "valueQuantity": {"value": 60 + n, "unit": "/min"},
    }


def test_restore_gives_exactly_the_backed_up_state(
    new_database: Callable[[], str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = migrated(new_database())
    asyncio.run(with_service(source, write_first_batch))
    at_backup = asyncio.run(snapshot(source))
    output = tmp_path / "wardbook.backup"
    assert main(["backup", "--database", source, "--output", str(output), "--verify"]) == 0
    assert "verified" in capsys.readouterr().out
    assert manifest_path(output).exists()

    asyncio.run(with_service(source, write_second_batch))
    assert asyncio.run(snapshot(source)) != at_backup

    target = new_database()
    assert main(["restore", "--database", target, "--input", str(output)]) == 0
    restored = asyncio.run(snapshot(target))
    assert restored == at_backup
    assert [v for v, deleted, _ in restored["Patient/b"] if deleted] == [2]
    assert "Patient/d" not in restored
    assert len(restored["Patient/a"]) == 2
    # the restored database is a working Wardbook database: it takes new writes
    asyncio.run(with_service(target, write_second_batch))
    assert asyncio.run(snapshot(target))["Patient/a"][0][0] == 3


def test_restore_refuses_a_non_empty_database(
    new_database: Callable[[], str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = migrated(new_database())
    asyncio.run(with_service(source, write_first_batch))
    output = tmp_path / "b.backup"
    assert main(["backup", "--database", source, "--output", str(output)]) == 0
    assert main(["restore", "--database", source, "--input", str(output)]) == 1
    assert "not empty" in capsys.readouterr().err


def test_restore_detects_a_backup_that_does_not_match_its_manifest(
    new_database: Callable[[], str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = migrated(new_database())
    asyncio.run(with_service(source, write_first_batch))
    output = tmp_path / "c.backup"
    assert main(["backup", "--database", source, "--output", str(output)]) == 0
    recorded = Manifest.from_json(manifest_path(output).read_bytes())
    tables = {**recorded.tables, "resource_version": recorded.tables["resource_version"] + 1}
    tampered = Manifest(recorded.format, recorded.created_at, tables, recorded.versions_sha256)
    manifest_path(output).write_bytes(tampered.to_json())
    assert main(["restore", "--database", new_database(), "--input", str(output)]) == 1
    assert "differs from the backup" in capsys.readouterr().err


def test_backup_while_writes_go_on_is_consistent(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    source = migrated(new_database())
    stop = threading.Event()

    def writer() -> None:
        async def work(service: ResourceService) -> None:
            n = 0
            while not stop.is_set():
                await service.create("Observation", observation(n))
                n += 1

        asyncio.run(with_service(source, work))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        output = tmp_path / "live.backup"
        for _ in range(3):
            # --verify restores and compares every table with the snapshot's own counts
            assert main(["backup", "--database", source, "--output", str(output), "--verify"]) == 0
    finally:
        stop.set()
        thread.join()
    target = new_database()
    assert main(["restore", "--database", target, "--input", str(output)]) == 0


def test_a_backup_of_the_wrong_kind_is_refused(
    new_database: Callable[[], str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"not a backup at all")
    assert main(["restore", "--database", new_database(), "--input", str(junk)]) == 1
    assert "not a Wardbook backup" in capsys.readouterr().err


def test_last_backup_time_is_recorded(new_database: Callable[[], str], tmp_path: Path) -> None:
    source = migrated(new_database())

    async def last(service: ResourceService) -> int | None:
        return await service.repository.last_backup_time()

    assert asyncio.run(with_service(source, last)) is None
    assert main(["backup", "--database", source, "--output", str(tmp_path / "x.backup")]) == 0
    assert isinstance(asyncio.run(with_service(source, last)), int)


async def _pg(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def public_tables(url: str) -> int:
    rows = asyncio.run(_pg(url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
    return int(rows[0][0])


def test_verify_into_a_named_scratch_database(
    request: pytest.FixtureRequest,
    new_database: Callable[[], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """WARDBOOK_BACKUP_VERIFY_DATABASE: PostgreSQL restores into it; SQLite needs none."""
    postgres = request.node.callspec.params["new_database"] == "postgresql"
    source = migrated(new_database())
    asyncio.run(with_service(source, write_first_batch))
    scratch = new_database() if postgres else "ignored-on-sqlite"
    name = scratch.rsplit("/", 1)[-1]
    monkeypatch.setenv("WARDBOOK_BACKUP_VERIFY_DATABASE", name)
    output = tmp_path / "scratch.backup"
    for _ in range(2):  # the scratch database is reusable night after night
        assert main(["backup", "--database", source, "--output", str(output), "--verify"]) == 0
        assert "verified by a test restore" in capsys.readouterr().out
    if postgres:
        assert public_tables(scratch) == 0  # emptied after the check
        # A restore interrupted half-way leaves tables behind: the next verify clears them.
        assert main(["restore", "--database", scratch, "--input", str(output)]) == 0
        assert public_tables(scratch) > 0
        assert main(["backup", "--database", source, "--output", str(output), "--verify"]) == 0
        assert public_tables(scratch) == 0
    assert asyncio.run(snapshot(source))  # the source is untouched

    async def verified(service: ResourceService) -> list[bool]:
        rows = await service.repository.query("SELECT verified FROM ops_backup_log", ())
        return [bool(row[0]) for row in rows]

    assert all(asyncio.run(with_service(source, verified)))


@pytest.mark.postgres
def test_verify_refuses_to_empty_the_source_or_a_foreign_database(
    make_pg_database: Callable[[], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = migrated(make_pg_database())
    asyncio.run(with_service(source, write_first_batch))
    before = asyncio.run(snapshot(source))
    output = tmp_path / "refused.backup"
    argv = ["backup", "--database", source, "--output", str(output), "--verify"]

    assert main([*argv, "--verify-database", source]) == 1
    assert "names the database being backed up" in capsys.readouterr().err
    assert asyncio.run(snapshot(source)) == before

    foreign = make_pg_database()
    asyncio.run(_pg(foreign, "CREATE TABLE payroll (id int)"))
    asyncio.run(_pg(foreign, "INSERT INTO payroll VALUES (1)"))
    monkeypatch.setenv("WARDBOOK_BACKUP_VERIFY_DATABASE", foreign.rsplit("/", 1)[1])
    assert main(argv) == 1
    assert "is not a verification scratch database" in capsys.readouterr().err
    assert asyncio.run(_pg(foreign, "SELECT id FROM payroll"))[0][0] == 1


@pytest.mark.postgres
def test_verify_without_createdb_uses_the_scratch_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Kubernetes kit's set-up: the app role owns its databases and cannot create one."""
    role = f"wardbook_nocreatedb_{secrets.token_hex(4)}"
    asyncio.run(_pg(PG_ADMIN_URL, f'CREATE ROLE "{role}" LOGIN NOCREATEDB NOSUPERUSER'))
    made: list[str] = []
    try:
        for _ in range(2):
            made.append(create_pg_database())
            name = made[-1].rsplit("/", 1)[1]
            asyncio.run(_pg(PG_ADMIN_URL, f'ALTER DATABASE "{name}" OWNER TO "{role}"'))
        source, scratch = (url.replace("postgres@", f"{role}@", 1) for url in made)
        migrated(source)
        asyncio.run(with_service(source, write_first_batch))
        output = tmp_path / "nightly.backup"
        argv = ["backup", "--database", source, "--output", str(output), "--verify"]

        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "no CREATEDB" in err and "WARDBOOK_BACKUP_VERIFY_DATABASE" in err

        monkeypatch.setenv("WARDBOOK_BACKUP_VERIFY_DATABASE", scratch.rsplit("/", 1)[1])
        assert main(argv) == 0
        assert "verified by a test restore" in capsys.readouterr().out
        assert public_tables(scratch) == 0
    finally:
        for url in made:
            drop_pg_database(url)
        asyncio.run(_pg(PG_ADMIN_URL, f'DROP ROLE IF EXISTS "{role}"'))
