"""Zero-downtime upgrades: the previous release keeps working on the migrated schema.

The previous release is taken from git history: the tree just before the newest commit that
added a migration (so its schema is the previous one). The test plays a rolling deploy on
both backends: the previous release migrates its database and serves; the current release
migrates (expand) while the previous one keeps serving; then both serve side by side and each
reads what the other wrote. Every FHIR interaction the old release issues - create, read,
update, search, history, delete - runs its own queries against the new schema.
Also: scripts/deploy/migration_policy.py accepts every current migration and refuses each
kind of contract statement that is not declared (docs/operations/migrations.md).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import Server, free_port, migrate

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = "src/wardbook/storage/migrations"
FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def git(*args: str) -> str:
    result = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, check=True)
    return result.stdout.decode()


@pytest.fixture(scope="module")
def previous_release(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """(commit, src folder) of the release before the newest migration."""
    added = git("log", "--diff-filter=A", "--format=%H", "--", f"{MIGRATIONS}/*/*.sql").split()
    assert len(added) >= 2, "git history with at least two schema versions is needed"
    commit = git("rev-parse", f"{added[0]}^").strip()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "src/wardbook"],
        capture_output=True,
        check=True,
    ).stdout
    target = tmp_path_factory.mktemp("previous")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    old = {p.name for p in (target / MIGRATIONS).glob("*/*.sql")}
    new = {p.name for p in (ROOT / MIGRATIONS).glob("*/*.sql")}
    assert old < new, "the previous release must have fewer migrations than this one"
    return commit, target / "src"


def old_env(src: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(src), "WARDBOOK_LOG_LEVEL": "warning"}


class OldServer(Server):
    """`wardbook serve` of the previous release (its source first on PYTHONPATH)."""

    src: Path

    def command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "wardbook.cli", "serve", "--database", self.database),
            *("--port", str(self.port), "--no-auth"),
        ]

    def environment(self) -> dict[str, str]:
        return old_env(self.src)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(
    request: pytest.FixtureRequest, tmp_path: Path, make_pg_database: Callable[[], str]
) -> str:
    return f"sqlite:///{tmp_path}/wardbook.db" if request.param == "sqlite" else make_pg_database()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    running: list[Server] = []
    yield running
    for server in running:
        server.stop()


def patient(family: str) -> dict[str, object]:
    return {"resourceType": "Patient", "name": [{"family": family, "given": ["Ada"]}]}


def create(base: str, family: str) -> str:
    response = httpx.post(f"{base}/fhir/Patient", json=patient(family), headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_migration_policy_accepts_the_current_migrations() -> None:
    policy = ROOT / "scripts" / "deploy" / "migration_policy.py"
    result = subprocess.run([sys.executable, str(policy)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    assert "expand only" in result.stdout


@pytest.mark.parametrize(
    ("sql", "finding"),
    [
        ("ALTER TABLE resource DROP COLUMN body;", "drops a column"),
        ("DROP TABLE resource_history;", "drops a table"),
        ("ALTER TABLE resource RENAME COLUMN body TO content;", "renames"),
        ("ALTER TABLE resource ALTER COLUMN id TYPE bigint;", "changes a column type"),
        ("ALTER TABLE resource ALTER COLUMN body SET NOT NULL;", "NOT NULL"),
        ("ALTER TABLE resource ADD COLUMN ward text NOT NULL;", "without a DEFAULT"),
        ("TRUNCATE resource;", "truncates"),
    ],
)
def test_migration_policy_refuses_undeclared_contract_steps(
    tmp_path: Path, sql: str, finding: str
) -> None:
    policy = ROOT / "scripts" / "deploy" / "migration_policy.py"
    bad = tmp_path / "0099_bad.sql"
    bad.write_text(f"-- a change\n{sql}\n")
    result = subprocess.run([sys.executable, str(policy), str(bad)], capture_output=True, text=True)
    assert result.returncode == 1 and finding in result.stdout
    fine = tmp_path / "0099_fine.sql"
    fine.write_text(
        "ALTER TABLE resource ADD COLUMN ward text NOT NULL DEFAULT '';\n"
        "CREATE INDEX i ON resource (ward);\n"
    )
    assert (
        subprocess.run([sys.executable, str(policy), str(fine)], capture_output=True).returncode
        == 0
    )
    declared = tmp_path / "0099_contract.sql"
    declared.write_text(f"-- contract: the old column; unused since release 42\n{sql}\n")
    assert (
        subprocess.run([sys.executable, str(policy), str(declared)], capture_output=True).returncode
        == 0
    )


@pytest.mark.slow
def test_previous_release_keeps_serving_through_a_rolling_upgrade(
    previous_release: tuple[str, Path], empty_database: str, servers: list[Server]
) -> None:
    commit, src = previous_release
    probe = subprocess.run(
        [sys.executable, "-c", "import wardbook; print(wardbook.__file__)"],
        env=old_env(src),
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.startswith(str(src)), "the old release's code must be the one imported"

    # 1. The previous release migrates its database (previous schema) and serves.
    subprocess.run(
        [sys.executable, "-m", "wardbook.cli", "migrate", "--database", empty_database],
        env=old_env(src),
        check=True,
        capture_output=True,
    )
    old = OldServer(empty_database, free_port())
    old.src = src
    old.start()
    servers.append(old)
    before = create(old.base, "Expandbefore")

    # 2. This release migrates (expand) while the previous one keeps serving.
    migrate(empty_database)
    assert httpx.get(f"{old.base}/readyz").json() == {"status": "ready"}

    # 3. The previous release runs its queries on the new schema: every interaction.
    assert httpx.get(f"{old.base}/fhir/Patient/{before}", headers=FHIR_JSON).status_code == 200
    during = create(old.base, "Expandduring")
    updated = {**patient("Expandduring"), "id": during, "gender": "female"}
    response = httpx.put(f"{old.base}/fhir/Patient/{during}", json=updated, headers=FHIR_JSON)
    assert response.status_code == 200 and response.json()["meta"]["versionId"] == "2"
    found = httpx.get(
        f"{old.base}/fhir/Patient", params={"family": "Expandduring"}, headers=FHIR_JSON
    )
    assert [e["resource"]["id"] for e in found.json().get("entry", [])] == [during]
    history = httpx.get(f"{old.base}/fhir/Patient/{during}/_history", headers=FHIR_JSON).json()
    assert len(history["entry"]) == 2
    doomed = create(old.base, "Expanddoomed")
    assert httpx.delete(f"{old.base}/fhir/Patient/{doomed}", headers=FHIR_JSON).status_code in (
        200,
        204,
    )
    assert httpx.get(f"{old.base}/fhir/Patient/{doomed}", headers=FHIR_JSON).status_code == 410

    # 4. Both releases side by side, each reading the other's writes.
    new = Server(empty_database, free_port())
    new.start()
    servers.append(new)
    assert httpx.get(f"{new.base}/readyz").json() == {"status": "ready"}
    for resource_id in (before, during):
        assert (
            httpx.get(f"{new.base}/fhir/Patient/{resource_id}", headers=FHIR_JSON).status_code
            == 200
        )
    assert httpx.get(f"{new.base}/fhir/Patient/{doomed}", headers=FHIR_JSON).status_code == 410
    after = create(new.base, "Expandafter")
    assert httpx.get(f"{old.base}/fhir/Patient/{after}", headers=FHIR_JSON).status_code == 200
    found = httpx.get(
        f"{old.base}/fhir/Patient", params={"family": "Expandafter"}, headers=FHIR_JSON
    )
    assert [e["resource"]["id"] for e in found.json().get("entry", [])] == [after], commit
