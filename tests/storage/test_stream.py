"""stream_current: every current, live resource, in batches, from one snapshot."""

from __future__ import annotations

from contextlib import aclosing

import orjson
import pytest

from wardbook.storage.base import Repository, StoredResource

from .helpers import SECOND, T0, new_version, patient, synthea, write

pytestmark = pytest.mark.anyio


async def collect(repository: Repository, **filters: object) -> list[StoredResource]:
    return [r async for r in repository.stream_current(**filters)]  # type: ignore[arg-type]


@pytest.fixture
async def record(repository: Repository) -> dict[str, list[str]]:
    """A whole Synthea patient record (over 1,000 observations: several stream batches)."""
    person = patient()
    observations = synthea("Observation")
    encounters = synthea("Encounter")
    versions = [new_version(person, 1, T0)]
    versions += [new_version(r, 1, T0 + i) for i, r in enumerate(observations + encounters)]
    versions.append(new_version(observations[0], 2, T0 + 10 * SECOND))
    versions.append(new_version(encounters[0], 2, T0 + 10 * SECOND, deleted=True))
    await repository.write_many(versions)
    return {
        "Patient": [person["id"]],
        "Observation": [o["id"] for o in observations],
        "Encounter": [e["id"] for e in encounters[1:]],  # the first one is deleted
    }


async def test_streams_every_live_current_version_once(
    repository: Repository, record: dict[str, list[str]]
) -> None:
    streamed = await collect(repository)

    keys = [(r.resource_type, r.id) for r in streamed]
    assert len(keys) == len(set(keys)) > 1000
    assert set(keys) == {(t, i) for t, ids in record.items() for i in ids}
    assert all(not r.deleted and r.body for r in streamed)
    updated = next(r for r in streamed if r.id == record["Observation"][0])
    assert updated.version == 2
    assert orjson.loads(updated.body or b"")["meta"]["versionId"] == "2"


async def test_filters_by_type_and_since(
    repository: Repository, record: dict[str, list[str]]
) -> None:
    patients = await collect(repository, resource_types=["Patient"])
    two_types = await collect(repository, resource_types=["Patient", "Encounter"])
    recent = await collect(repository, since=T0 + 10 * SECOND)

    assert [r.id for r in patients] == record["Patient"]
    assert len(two_types) == 1 + len(record["Encounter"])
    assert [(r.id, r.version) for r in recent] == [(record["Observation"][0], 2)]


async def test_the_stream_reads_one_snapshot(
    repository: Repository, record: dict[str, list[str]]
) -> None:
    late = synthea("Condition", 1)[0]
    seen: list[str] = []
    async with aclosing(
        repository.stream_current(resource_types=["Observation", "Condition"])
    ) as stream:
        async for stored in stream:
            if not seen:
                await write(repository, new_version(late, 1, T0 + 20 * SECOND))
            seen.append(stored.id)

    assert late["id"] not in seen
    assert len(seen) == len(record["Observation"])
    assert await repository.read("Condition", late["id"]) is not None


async def test_an_abandoned_stream_releases_its_connection(
    repository: Repository, record: dict[str, list[str]]
) -> None:
    for _ in range(15):  # more than the PostgreSQL pool holds
        async with aclosing(repository.stream_current()) as stream:
            async for _stored in stream:
                break
    await write(repository, new_version(synthea("Condition", 1)[0], 1, T0 + 30 * SECOND))
    assert len(await collect(repository, resource_types=["Condition"])) == 1
