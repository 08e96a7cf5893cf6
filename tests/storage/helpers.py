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
from wardbook.storage.base import NewVersion, Repository, StoredResource, to_micros

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
