"""Transaction Bundles for loading demo data (R4 http.html#transaction).

Every entry is a PUT to ``Type/id``, so loading the same data twice updates in place
instead of creating duplicates; ids that are UUIDs also get a ``urn:uuid:`` fullUrl.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime

from wardbook.demo.elements import Resource
from wardbook.demo.generator import generate, shared_resources


def as_transaction_bundle(resources: Iterable[Resource]) -> Resource:
    """A transaction Bundle with one PUT entry per resource (resources are not copied)."""
    entries: list[Resource] = []
    for resource in resources:
        resource_type = resource.get("resourceType")
        resource_id = resource.get("id")
        if not resource_type or not resource_id:
            raise ValueError("every resource in a PUT transaction needs resourceType and id")
        entry: Resource = {}
        if _is_uuid(resource_id):
            entry["fullUrl"] = f"urn:uuid:{resource_id}"
        entry["resource"] = resource
        entry["request"] = {"method": "PUT", "url": f"{resource_type}/{resource_id}"}
        entries.append(entry)
    bundle: Resource = {"resourceType": "Bundle", "type": "transaction"}
    if entries:
        bundle["entry"] = entries
    return bundle


def transaction_bundles(
    patients: int,
    seed: int,
    *,
    now: datetime | None = None,
    patients_per_bundle: int = 10,
) -> Iterator[Resource]:
    """The shared resources as one Bundle, then the patients, a few per Bundle."""
    if patients_per_bundle < 1:
        raise ValueError("patients_per_bundle must be at least 1")
    yield as_transaction_bundle(shared_resources(seed))
    batch: list[Resource] = []
    in_batch = 0
    for record in generate(patients, seed, now=now):
        batch += record
        in_batch += 1
        if in_batch == patients_per_bundle:
            yield as_transaction_bundle(batch)
            batch, in_batch = [], 0
    if batch:
        yield as_transaction_bundle(batch)


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
