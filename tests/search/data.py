"""Real test data for search: Synthea patient records and the official R4 examples.

Synthea transaction bundles reference their entries by ``urn:uuid:`` fullUrls; the service
rewrites those to ``Type/id`` before storing, and :func:`synthea_record` does the same.
"""

from __future__ import annotations

import bz2
import copy
import functools
import gzip
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from wardbook.fhir.meta import stamp
from wardbook.search.extract import extract_index
from wardbook.storage.base import Dialect, NewVersion, Repository, to_micros

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SYNTHEA = DATA / "blaze-synthea"
EXAMPLES = DATA / "r4-examples" / "r4-examples.ndjson.gz"
EXPECTED_COUNTS = SYNTHEA / "expected-search-counts.tsv"
FIRST_PATIENT = SYNTHEA / "057aa36e-b892-9964-75b9-ffb46b097e34.json.bz2"
SECOND_PATIENT = SYNTHEA / "0696ac49-3128-87d3-7344-04510aa4f324.json.bz2"

T0 = to_micros(datetime(2024, 3, 1, 8, 30, tzinfo=UTC))
SECOND = 1_000_000


def _resolve(node: Any, targets: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and ref in targets:
            node["reference"] = targets[ref]
        for value in node.values():
            _resolve(value, targets)
    elif isinstance(node, list):
        for item in node:
            _resolve(item, targets)


@functools.cache
def _record(path: Path) -> str:
    with bz2.open(path) as handle:
        bundle = json.load(handle)
    entries = bundle["entry"]
    targets = {
        e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in entries
        if "fullUrl" in e
    }
    resources = [e["resource"] for e in entries]
    _resolve(resources, targets)
    return json.dumps(resources)


def synthea_record(path: Path = FIRST_PATIENT) -> list[dict[str, Any]]:
    """Fresh copies of one Synthea patient's resources, references made relative."""
    found: list[dict[str, Any]] = json.loads(_record(path))
    return found


def synthea_resources(resource_type: str, path: Path = FIRST_PATIENT) -> list[dict[str, Any]]:
    return [r for r in synthea_record(path) if r["resourceType"] == resource_type]


def official_examples() -> Iterator[dict[str, Any]]:
    """The 5,297 official R4 examples."""
    with gzip.open(EXAMPLES) as handle:
        for line in handle:
            yield json.loads(line)


def stored_form(resource: dict[str, Any], version: int, last_updated: int) -> dict[str, Any]:
    """The resource as the service stores it (id, meta.versionId, meta.lastUpdated set)."""
    return stamp(copy.deepcopy(resource), resource["id"], version, last_updated)


def new_version(resource: dict[str, Any], version: int, last_updated: int) -> NewVersion:
    """A version with its body and index rows, as the service would write it."""
    stored = stored_form(resource, version, last_updated)
    return NewVersion(
        resource_type=stored["resourceType"],
        id=stored["id"],
        version=version,
        last_updated=last_updated,
        method="POST" if version == 1 else "PUT",
        body=orjson.dumps(stored),
        index=extract_index(stored),
    )


async def analyze(repository: Repository) -> None:
    """Gather planner statistics (PostgreSQL): fresh tables have none, so the planner would
    guess one row everywhere and nest chained subqueries the slow way round. Autovacuum
    does this in production."""
    if repository.dialect == Dialect.POSTGRES:
        async with repository.transaction() as tx:
            await tx.runner.fetch_all("ANALYZE", [])


async def load(
    repository: Repository,
    resources: list[dict[str, Any]],
    *,
    seed: int = 7,
    statistics: bool = True,
) -> list[dict[str, Any]]:
    """Write version 1 of each resource; lastUpdated is shuffled so it differs from pid order.

    Returns the stored forms (what searches return and the matcher sees).
    """
    stamps = [T0 + i * SECOND for i in range(len(resources))]
    random.Random(seed).shuffle(stamps)
    # A few equal stamps exercise the pid tie-break of the sort.
    for i in range(0, len(stamps) - 1, 10):
        stamps[i + 1] = stamps[i]
    versions = [new_version(r, 1, t) for r, t in zip(resources, stamps, strict=True)]
    await repository.write_many(versions)
    if statistics:
        await analyze(repository)
    return [stored_form(r, 1, t) for r, t in zip(resources, stamps, strict=True)]
