"""Concurrent writers: no lost updates, no gaps, conflicts reported, reads never blocked.

On PostgreSQL every task has its own pooled connection (truly concurrent transactions);
on SQLite the write lock serializes them, and the outcome must be the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from wardbook.storage.base import Repository, VersionConflict
from wardbook.storage.factory import open_repository

from .helpers import SECOND, T0, new_version, patient, write

pytestmark = pytest.mark.anyio

WRITERS = 20


@pytest.fixture
async def wide(repository: Repository, repository_url: str) -> AsyncIterator[Repository]:
    """A second repository on the same database with a connection per writer."""
    repo = open_repository(repository_url, pool_min_size=WRITERS, pool_max_size=WRITERS)
    await repo.open()
    try:
        yield repo
    finally:
        await repo.close()


async def race(task: Callable[[int], Awaitable[None]]) -> list[BaseException | None]:
    """Start ``WRITERS`` tasks together; each one's exception, or None."""
    gate = asyncio.Event()

    async def run(number: int) -> BaseException | None:
        await gate.wait()
        try:
            await task(number)
        except Exception as exc:
            return exc
        return None

    tasks = [asyncio.create_task(run(n)) for n in range(WRITERS)]
    await asyncio.sleep(0.05)
    gate.set()
    return list(await asyncio.gather(*tasks))


async def test_racing_creates_of_one_resource_let_exactly_one_win(wide: Repository) -> None:
    resource = patient()

    async def create(number: int) -> None:
        async with wide.transaction() as tx:
            await tx.write(new_version(resource, 1, T0 + number))

    outcomes = await race(create)

    assert outcomes.count(None) == 1
    assert all(isinstance(o, VersionConflict) for o in outcomes if o is not None)
    page = await wide.history(resource_type="Patient", resource_id=resource["id"])
    assert [e.version for e in page.entries] == [1]


async def test_writers_serialized_by_lock_key_make_versions_without_gaps(
    wide: Repository,
) -> None:
    resource = patient()

    async def bump(number: int) -> None:
        async with wide.transaction() as tx:
            await tx.lock_key(f"Patient/{resource['id']}")
            current = await tx.current("Patient", resource["id"])
            next_version = 1 if current is None else current.version + 1
            await tx.write(new_version(resource, next_version, T0 + next_version * SECOND))

    outcomes = await race(bump)

    assert outcomes == [None] * WRITERS
    page = await wide.history(resource_type="Patient", resource_id=resource["id"], count=100)
    assert sorted(e.version for e in page.entries) == list(range(1, WRITERS + 1))


async def test_current_locks_an_existing_resource_against_other_writers(
    wide: Repository,
) -> None:
    resource = patient()
    await write(wide, new_version(resource, 1, T0))

    async def bump(number: int) -> None:
        async with wide.transaction() as tx:
            current = await tx.current("Patient", resource["id"])
            assert current is not None
            await asyncio.sleep(0)  # let the others try to read in between
            await tx.write(new_version(resource, current.version + 1, T0 + number))

    outcomes = await race(bump)

    assert outcomes == [None] * WRITERS
    stored = await wide.read("Patient", resource["id"])
    assert stored is not None and stored.version == WRITERS + 1


async def test_updates_from_a_stale_read_conflict_instead_of_losing_writes(
    wide: Repository,
) -> None:
    resource = patient()
    await write(wide, new_version(resource, 1, T0))

    async def update_from_read(number: int) -> None:
        seen = await wide.read("Patient", resource["id"])  # outside the transaction
        assert seen is not None
        async with wide.transaction() as tx:
            await tx.write(new_version(resource, seen.version + 1, T0 + SECOND + number))

    outcomes = await race(update_from_read)

    winners = outcomes.count(None)
    assert winners >= 1
    assert all(isinstance(o, VersionConflict) for o in outcomes if o is not None)
    stored = await wide.read("Patient", resource["id"])
    assert stored is not None and stored.version == 1 + winners


async def test_reads_see_only_committed_versions_and_are_not_blocked(
    repository: Repository,
) -> None:
    resource = patient()
    await write(repository, new_version(resource, 1, T0))

    async with repository.transaction() as tx:
        await tx.write(new_version(resource, 2, T0 + SECOND))
        during = await asyncio.wait_for(repository.read("Patient", resource["id"]), 5)
        history = await asyncio.wait_for(repository.history(resource_type="Patient"), 5)

    after = await repository.read("Patient", resource["id"])
    assert during is not None and during.version == 1
    assert history.total == 1
    assert after is not None and after.version == 2
