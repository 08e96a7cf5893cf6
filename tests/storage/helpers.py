"""Realistic resources (Synthea) turned into versions to write, and row queries for tests."""

from __future__ import annotations

import bz2
import copy
import functools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from wardbook.search.index import DateRow, IndexRows, ReferenceRow, StringRow, TokenRow
from wardbook.storage.base import Dialect, NewVersion, Repository, StoredResource, to_micros

# ../shared/data relative to the project root (tests/storage/helpers.py -> parents[2]).
SYNTHEA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "blaze-synthea"
BUNDLE = SYNTHEA / "057aa36e-b892-9964-75b9-ffb46b097e34.json.bz2"

T0 = to_micros(datetime(2024, 3, 1, 8, 30, tzinfo=UTC))
SECOND = 1_000_000


@functools.cache
def _bundle_resources() -> tuple[str, ...]:
    with bz2.open(BUNDLE) as handle:
        bundle = json.load(handle)
    return tuple(json.dumps(entry["resource"]) for entry in bundle["entry"])


def synthea(resource_type: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Fresh copies of the bundle's resources of one type (a Synthea patient's record)."""
    found = [json.loads(text) for text in _bundle_resources()]
    chosen = [r for r in found if r["resourceType"] == resource_type]
    return chosen[:limit]


def patient() -> dict[str, Any]:
    return synthea("Patient")[0]


def body(resource: dict[str, Any], version: int, last_updated: int) -> bytes:
    """The stored form: the resource with meta.versionId and meta.lastUpdated filled in."""
    stored = copy.deepcopy(resource)
    meta = stored.setdefault("meta", {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = datetime.fromtimestamp(last_updated / SECOND, UTC).isoformat()
    return orjson.dumps(stored)


def index_of(resource: dict[str, Any]) -> IndexRows:
    """A small hand-made index (family, gender, birthdate, identifiers, subject, code)."""
    rows = IndexRows()
    for name in resource.get("name", []):
        if "family" in name:
            family = name["family"]
            rows.string.append(StringRow("family", family.lower(), family))
    if "gender" in resource:
        rows.token.append(
            TokenRow("gender", "http://hl7.org/fhir/administrative-gender", resource["gender"])
        )
    if "birthDate" in resource:
        day = to_micros(datetime.fromisoformat(resource["birthDate"]).replace(tzinfo=UTC))
        rows.date.append(DateRow("birthdate", day, day + 86_400 * SECOND))
    for identifier in resource.get("identifier", []):
        rows.token.append(TokenRow("identifier", identifier.get("system"), identifier["value"]))
    for coding in resource.get("code", {}).get("coding", []):
        rows.token.append(TokenRow("code", coding.get("system"), coding.get("code")))
    subject = resource.get("subject", {}).get("reference")
    if subject:
        target = subject.removeprefix("urn:uuid:")
        rows.reference.append(ReferenceRow("subject", "Patient", target))
    return rows


def new_version(
    resource: dict[str, Any],
    version: int,
    last_updated: int,
    *,
    method: str | None = None,
    deleted: bool = False,
) -> NewVersion:
    """The NewVersion the service would write for ``resource``."""
    if deleted:
        return NewVersion(
            resource["resourceType"], resource["id"], version, last_updated, "DELETE", None, None
        )
    return NewVersion(
        resource_type=resource["resourceType"],
        id=resource["id"],
        version=version,
        last_updated=last_updated,
        method=method or ("POST" if version == 1 else "PUT"),
        body=body(resource, version, last_updated),
        index=index_of(resource),
    )


async def write(repository: Repository, *versions: NewVersion) -> None:
    """Each version in its own transaction, as the service does."""
    for version in versions:
        async with repository.transaction() as tx:
            await tx.write(version)


async def must_read(repository: Repository, resource_type: str, resource_id: str) -> StoredResource:
    """The current version, failing the test when there is none."""
    stored = await repository.read(resource_type, resource_id)
    assert stored is not None, f"{resource_type}/{resource_id} not found"
    return stored


async def rows(repository: Repository, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run ``?``-placeholder SQL on either backend (through a transaction's runner)."""
    async with repository.transaction() as tx:
        return await tx.runner.fetch_all(sql, params)


async def index_rows(
    repository: Repository, table: str, resource_type: str, resource_id: str
) -> set[tuple[Any, ...]]:
    """A resource's rows in one idx_* table, without pid and res_type."""
    found = await rows(
        repository,
        f"SELECT i.* FROM {table} i JOIN resource_entity e ON e.pid = i.pid"
        " WHERE e.res_type = ? AND e.res_id = ?",
        resource_type,
        resource_id,
    )
    return {tuple(row[2:]) for row in found}


# PostgreSQL plans from statistics. The tests share one session database, so what earlier
# tests left behind (dead index entries, stale page counts) made the planner's choice between
# two fitting indexes vary from run to run. Each plan is therefore made on the same seeded,
# analysed rows: several types, many values per parameter, a few rows per resource.
_SEEDED = "res_id LIKE 'seed-%'"  # only the rows seeded here, beside any a test wrote
_PG_SEED = (
    "INSERT INTO resource_entity (res_type, res_id, version, deleted, last_updated)"
    " SELECT (ARRAY['Observation','Observation','Observation','Patient','Encounter',"
    "'Condition','Procedure','MedicationRequest'])[1 + g % 8], 'seed-' || g, 1, false, g * 1000"
    " FROM generate_series(1, 4000) AS g",
    "INSERT INTO resource_version"
    " (pid, res_type, res_id, version, deleted, last_updated, method, body)"
    " SELECT pid, res_type, res_id, 1, false, last_updated, 'POST', NULL FROM resource_entity"
    f" WHERE {_SEEDED}",
    "INSERT INTO idx_string (pid, res_type, param, value_norm, value_exact)"
    " SELECT pid, res_type, p, md5(p || pid), md5(p || pid) FROM resource_entity,"
    f" unnest(ARRAY['family', 'given', 'name']) AS p WHERE {_SEEDED}",
    "INSERT INTO idx_token (pid, res_type, param, system, code, text)"
    " SELECT pid, res_type, p, 'http://loinc.org', (pid % 500)::text, NULL FROM resource_entity,"
    f" unnest(ARRAY['code', 'identifier']) AS p WHERE {_SEEDED}",
    "INSERT INTO idx_date (pid, res_type, param, low, high)"
    " SELECT pid, res_type, 'date', pid * 1000, pid * 1000 + 999 FROM resource_entity"
    f" WHERE {_SEEDED}",
    "INSERT INTO idx_reference (pid, res_type, param, target_type, target_id, url)"
    " SELECT pid, res_type, 'subject', 'Patient', 'p' || (pid % 500), NULL FROM resource_entity"
    f" WHERE {_SEEDED}"
    " UNION ALL SELECT pid, res_type, 'based-on', NULL, NULL, 'http://example.org/r/' || pid"
    f" FROM resource_entity WHERE pid % 10 = 0 AND {_SEEDED}",
    "INSERT INTO idx_text (pid, res_type, param, text)"
    " SELECT pid, res_type, '_content', md5(pid::text) || ' ' || md5((pid + 1)::text)"
    f" FROM resource_entity WHERE {_SEEDED}",
    "ANALYZE resource_entity, resource_version, idx_string, idx_token, idx_date, idx_reference,"
    " idx_text",
)


class _Planned(Exception):
    """Carries a plan out of a transaction that must be rolled back (it seeded rows)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


async def plan(repository: Repository, sql: str, *params: object) -> str:
    """The query plan as one string.

    On PostgreSQL the plan is made on seeded, analysed rows inside a transaction that is
    rolled back (see ``_PG_SEED``), with sequential scans disabled.
    """
    if repository.dialect is Dialect.SQLITE:
        async with repository.transaction() as tx:
            found = await tx.runner.fetch_all(f"EXPLAIN QUERY PLAN {sql}", params)
            return " | ".join(str(row[-1]) for row in found)
    try:
        async with repository.transaction() as tx:
            for statement in _PG_SEED:
                await tx.runner.fetch_all(statement, [])
            await tx.runner.fetch_all("SET LOCAL enable_seqscan = off", [])
            found = await tx.runner.fetch_all(f"EXPLAIN {sql}", params)
            raise _Planned(" | ".join(str(row[0]) for row in found))
    except _Planned as planned:
        return planned.text
