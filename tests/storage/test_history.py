"""History (R4 http.html#history) at instance, type and system level, on every backend."""

from __future__ import annotations

from typing import Any

import pytest

from wardbook.errors import BadRequest
from wardbook.storage.base import Page, Repository

from .helpers import SECOND, T0, new_version, patient, synthea, write

pytestmark = pytest.mark.anyio


def at(seconds: int) -> int:
    return T0 + seconds * SECOND


def labels(page: Page) -> list[str]:
    """Each entry as Type/id/version, compact enough to compare whole pages."""
    return [f"{e.resource_type}/{e.id}/{e.version}" for e in page.entries]


@pytest.fixture
async def timeline(repository: Repository) -> dict[str, Any]:
    """A patient updated then deleted, and two observations, at known instants.

    Newest first: O2/1 @25s, P/3 (delete) @20s, O1/2 @15s, P/2 @10s, O1/1 @5s, P/1 @0s.
    """
    person = patient()
    first, second = synthea("Observation", 2)
    person["id"], first["id"], second["id"] = "P", "O1", "O2"
    await write(
        repository,
        new_version(person, 1, at(0)),
        new_version(first, 1, at(5)),
        new_version(person, 2, at(10)),
        new_version(first, 2, at(15)),
        new_version(person, 3, at(20), deleted=True),
        new_version(second, 1, at(25)),
    )
    return {"P": person, "O1": first, "O2": second}


async def test_instance_history_is_newest_first_with_the_delete(
    repository: Repository, timeline: dict[str, Any]
) -> None:
    page = await repository.history(resource_type="Patient", resource_id="P")

    assert labels(page) == ["Patient/P/3", "Patient/P/2", "Patient/P/1"]
    assert page.total == 3
    assert page.next_cursor is None
    delete = page.entries[0]
    assert (delete.deleted, delete.body, delete.method) == (True, None, "DELETE")
    assert [e.method for e in page.entries[1:]] == ["PUT", "POST"]
    assert all(e.body for e in page.entries[1:])


async def test_type_history_holds_only_that_type(
    repository: Repository, timeline: dict[str, Any]
) -> None:
    page = await repository.history(resource_type="Observation")

    assert labels(page) == ["Observation/O2/1", "Observation/O1/2", "Observation/O1/1"]
    assert page.total == 3


async def test_system_history_holds_every_version(
    repository: Repository, timeline: dict[str, Any]
) -> None:
    page = await repository.history()

    assert [e.last_updated for e in page.entries] == [at(s) for s in (25, 20, 15, 10, 5, 0)]
    assert page.total == 6


async def test_since_keeps_versions_created_at_or_after_the_instant(
    repository: Repository, timeline: dict[str, Any]
) -> None:
    system = await repository.history(since=at(10))
    instance = await repository.history(resource_type="Patient", resource_id="P", since=at(11))
    kind = await repository.history(resource_type="Observation", since=at(15))

    assert labels(system) == ["Observation/O2/1", "Patient/P/3", "Observation/O1/2", "Patient/P/2"]
    assert system.total == 4
    assert labels(instance) == ["Patient/P/3"]
    assert labels(kind) == ["Observation/O2/1", "Observation/O1/2"]


async def test_at_gives_the_versions_current_at_that_instant(
    repository: Repository, timeline: dict[str, Any]
) -> None:
    system = await repository.history(at=at(12))
    kind = await repository.history(resource_type="Observation", at=at(30))
    deleted = await repository.history(resource_type="Patient", resource_id="P", at=at(20))
    exact = await repository.history(resource_type="Patient", resource_id="P", at=at(10))
    before = await repository.history(resource_type="Patient", resource_id="P", at=at(0) - 1)

    assert labels(system) == ["Patient/P/2", "Observation/O1/1"]  # O2 did not exist yet
    assert system.total == 2
    assert labels(kind) == ["Observation/O2/1", "Observation/O1/2"]
    assert labels(deleted) == ["Patient/P/3"]  # the deletion was current then
    assert labels(exact) == ["Patient/P/2"]
    assert labels(before) == [] and before.total == 0


async def test_count_and_cursor_page_through_everything_once(
    repository: Repository, timeline: dict[str, Any]
) -> None:
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = await repository.history(count=4, cursor=cursor)
        assert page.total == 6
        seen += labels(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 6 and len(set(seen)) == 6
    assert seen[:4] == labels(await repository.history(count=4))


async def test_a_page_does_not_shift_when_new_versions_arrive(
    repository: Repository, timeline: dict[str, Any]
) -> None:
    first = await repository.history(count=2)
    await write(repository, new_version(timeline["O2"], 2, at(30)))

    second = await repository.history(count=2, cursor=first.next_cursor)

    assert labels(first) == ["Observation/O2/1", "Patient/P/3"]
    assert labels(second) == ["Observation/O1/2", "Patient/P/2"]
    assert second.total == 7


async def test_paging_through_versions_with_the_same_instant(repository: Repository) -> None:
    observations = synthea("Observation", 5)
    await write(repository, *(new_version(o, 1, at(1)) for o in observations))

    seen: list[str] = []
    cursor = None
    while True:
        page = await repository.history(resource_type="Observation", count=1, cursor=cursor)
        seen += labels(page)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    # Ties on last_updated fall back to insertion order, newest first.
    assert seen == [f"Observation/{o['id']}/1" for o in reversed(observations)]


async def test_count_zero_gives_only_the_total(
    repository: Repository, timeline: dict[str, Any]
) -> None:
    page = await repository.history(count=0)

    assert page.entries == [] and page.total == 6 and page.next_cursor is None


async def test_history_of_a_resource_that_never_existed_is_empty(
    repository: Repository, timeline: dict[str, Any]
) -> None:
    page = await repository.history(resource_type="Patient", resource_id="nobody")

    assert page.entries == [] and page.total == 0


@pytest.mark.parametrize("cursor", ["not base64!", "AAAA", ""])
async def test_a_forged_cursor_is_a_bad_request(
    repository: Repository, timeline: dict[str, Any], cursor: str
) -> None:
    with pytest.raises(BadRequest):
        await repository.history(cursor=cursor)
