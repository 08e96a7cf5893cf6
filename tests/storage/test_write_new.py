"""write_new: a brand-new resource with its index rows, atomically, on every backend."""

from __future__ import annotations

import pytest

from wardbook.storage.base import Repository, VersionConflict

from .helpers import T0, index_of, index_rows, must_read, new_version, patient

pytestmark = pytest.mark.anyio


async def test_write_new_stores_version_and_index(repository: Repository) -> None:
    resource = {**patient(), "id": "fresh-1"}
    await repository.write_new(new_version(resource, 1, T0))
    stored = await must_read(repository, "Patient", "fresh-1")
    assert stored.version == 1
    assert not stored.deleted
    expected = {(row.param, row.value_norm, row.value_exact) for row in index_of(resource).string}
    assert expected
    assert await index_rows(repository, "idx_string", "Patient", "fresh-1") == expected
    history = await repository.history(resource_type="Patient", resource_id="fresh-1")
    assert [entry.version for entry in history.entries] == [1]


async def test_write_new_of_an_existing_resource_conflicts_and_changes_nothing(
    repository: Repository,
) -> None:
    resource = {**patient(), "id": "fresh-2"}
    await repository.write_new(new_version(resource, 1, T0))
    with pytest.raises(VersionConflict):
        await repository.write_new(new_version({**resource, "gender": "other"}, 1, T0 + 1))
    stored = await must_read(repository, "Patient", "fresh-2")
    assert stored.last_updated == T0
    history = await repository.history(resource_type="Patient", resource_id="fresh-2")
    assert history.total == 1
