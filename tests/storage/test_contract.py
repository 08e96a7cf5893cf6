"""The Repository contract (wardbook.storage.base), identical on every backend."""

from __future__ import annotations

import orjson
import pytest

from wardbook.storage.base import Repository, StoredResource, VersionConflict

from .helpers import SECOND, T0, must_read, new_version, patient, rows, synthea, write

pytestmark = pytest.mark.anyio


def json_of(stored: StoredResource | None) -> object:
    assert stored is not None and stored.body is not None
    return orjson.loads(stored.body)


async def test_create_then_read_returns_the_stored_version(repository: Repository) -> None:
    resource = patient()
    v1 = new_version(resource, 1, T0)
    await write(repository, v1)

    stored = await repository.read("Patient", resource["id"])

    assert stored is not None
    assert (stored.resource_type, stored.id, stored.version) == ("Patient", resource["id"], 1)
    assert stored.last_updated == T0
    assert stored.deleted is False
    assert stored.method == "POST"
    assert isinstance(stored.body, bytes)
    assert json_of(stored) == orjson.loads(v1.body or b"")
    assert json_of(stored) == json_of(await repository.vread("Patient", resource["id"], 1))


async def test_unknown_resources_and_versions_read_as_none(repository: Repository) -> None:
    resource = patient()
    await write(repository, new_version(resource, 1, T0))

    assert await repository.read("Patient", "no-such-id") is None
    assert await repository.read("Observation", resource["id"]) is None
    assert await repository.vread("Patient", resource["id"], 2) is None
    assert await repository.vread("Patient", "no-such-id", 1) is None
    for version in (0, -1, 2**31, 2**63, 10**30):  # as a client may ask: _history/<any>
        assert await repository.vread("Patient", resource["id"], version) is None


async def test_update_increments_the_version_and_keeps_every_old_one(
    repository: Repository,
) -> None:
    resource = patient()
    await write(repository, new_version(resource, 1, T0))
    resource["name"][0]["family"] = "Okafor"
    await write(repository, new_version(resource, 2, T0 + SECOND))
    resource["gender"] = "female"
    await write(repository, new_version(resource, 3, T0 + 2 * SECOND))

    current = await repository.read("Patient", resource["id"])
    assert current is not None and current.version == 3
    assert current.last_updated == T0 + 2 * SECOND
    first = json_of(await repository.vread("Patient", resource["id"], 1))
    second = json_of(await repository.vread("Patient", resource["id"], 2))
    assert isinstance(first, dict) and isinstance(second, dict)
    assert first["name"][0]["family"] != "Okafor"
    assert second["name"][0]["family"] == "Okafor"
    latest = json_of(current)
    assert isinstance(latest, dict) and latest["gender"] == "female"


async def test_delete_writes_a_marker_and_old_versions_stay_readable(
    repository: Repository,
) -> None:
    resource = patient()
    await write(repository, new_version(resource, 1, T0))
    await write(repository, new_version(resource, 2, T0 + SECOND, deleted=True))

    marker = await repository.read("Patient", resource["id"])
    assert marker is not None
    assert (marker.version, marker.deleted, marker.body, marker.method) == (2, True, None, "DELETE")
    assert (await repository.vread("Patient", resource["id"], 2)) == marker
    old = await repository.vread("Patient", resource["id"], 1)
    assert old is not None and not old.deleted and old.body is not None


async def test_a_deleted_resource_can_be_written_again(repository: Repository) -> None:
    resource = patient()
    await write(
        repository,
        new_version(resource, 1, T0),
        new_version(resource, 2, T0 + SECOND, deleted=True),
        new_version(resource, 3, T0 + 2 * SECOND),
    )

    current = await repository.read("Patient", resource["id"])
    assert current is not None and (current.version, current.deleted) == (3, False)


@pytest.mark.parametrize("stale_version", [1, 3])
async def test_a_version_other_than_current_plus_one_conflicts(
    repository: Repository, stale_version: int
) -> None:
    resource = patient()
    await write(repository, new_version(resource, 1, T0))

    with pytest.raises(VersionConflict):
        await write(repository, new_version(resource, stale_version, T0 + SECOND))

    current = await repository.read("Patient", resource["id"])
    assert current is not None and current.version == 1
    assert len(await rows(repository, "SELECT vid FROM resource_version")) == 1


async def test_a_conflict_caught_inside_a_transaction_leaves_the_rest_committed(
    repository: Repository,
) -> None:
    first, second = synthea("Observation", 2)
    await write(repository, new_version(first, 1, T0))

    async with repository.transaction() as tx:
        with pytest.raises(VersionConflict):
            await tx.write(new_version(first, 1, T0 + SECOND))
        await tx.write(new_version(second, 1, T0 + SECOND))

    assert (await must_read(repository, "Observation", first["id"])).version == 1
    assert await repository.read("Observation", second["id"]) is not None


async def test_an_exception_rolls_the_whole_transaction_back(repository: Repository) -> None:
    first, second = synthea("Observation", 2)

    with pytest.raises(RuntimeError, match="boom"):
        async with repository.transaction() as tx:
            await tx.write(new_version(first, 1, T0))
            await tx.write(new_version(second, 1, T0))
            raise RuntimeError("boom")

    assert await repository.read("Observation", first["id"]) is None
    assert await rows(repository, "SELECT pid FROM resource_entity") == []
    assert await rows(repository, "SELECT pid FROM idx_token") == []


async def test_current_sees_the_transactions_own_writes(repository: Repository) -> None:
    resource = patient()
    async with repository.transaction() as tx:
        assert await tx.current("Patient", resource["id"]) is None
        await tx.write(new_version(resource, 1, T0))
        current = await tx.current("Patient", resource["id"])
        assert current is not None and current.version == 1
        await tx.write(new_version(resource, 2, T0 + SECOND, deleted=True))
        marker = await tx.current("Patient", resource["id"])
        assert marker is not None and marker.deleted


async def test_a_finished_transaction_refuses_further_use(repository: Repository) -> None:
    async with repository.transaction() as tx:
        pass
    with pytest.raises(RuntimeError):
        await tx.write(new_version(patient(), 1, T0))


async def test_write_many_writes_a_patient_record_in_one_go(repository: Repository) -> None:
    observations = synthea("Observation", 40)
    person = patient()
    versions = [new_version(person, 1, T0)]
    versions += [new_version(o, 1, T0 + i) for i, o in enumerate(observations)]
    # The same batch may also carry later versions of resources it creates.
    versions.append(new_version(observations[0], 2, T0 + SECOND))
    versions.append(new_version(observations[1], 2, T0 + SECOND, deleted=True))

    await repository.write_many(versions)

    assert (await repository.read("Patient", person["id"])) is not None
    assert (await must_read(repository, "Observation", observations[0]["id"])).version == 2
    assert (await must_read(repository, "Observation", observations[1]["id"])).deleted
    assert (await must_read(repository, "Observation", observations[2]["id"])).version == 1
    assert len(await rows(repository, "SELECT vid FROM resource_version")) == 43
    subjects = await rows(
        repository,
        "SELECT count(*) FROM idx_reference WHERE res_type = ? AND param = ? AND target_id = ?",
        "Observation",
        "subject",
        person["id"],
    )
    assert subjects == [(39,)]  # the deleted observation lost its index rows


async def test_write_many_is_all_or_nothing(repository: Repository) -> None:
    existing, new = synthea("Observation", 2)
    await write(repository, new_version(existing, 1, T0))

    with pytest.raises(VersionConflict):
        await repository.write_many([new_version(new, 1, T0), new_version(existing, 1, T0)])

    assert await repository.read("Observation", new["id"]) is None
    assert len(await rows(repository, "SELECT vid FROM resource_version")) == 1


async def test_ping_succeeds_on_an_open_repository(repository: Repository) -> None:
    await repository.ping()
