"""SQLite group commit: queued writers share a COMMIT, failures stay their own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from wardbook.storage.sqlite import SqliteRepository

from .helpers import SECOND, T0, new_version, patient

pytestmark = pytest.mark.anyio


class Boom(Exception):
    pass


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[SqliteRepository]:
    repository = SqliteRepository(str(tmp_path / "group.db"))
    await repository.open()
    await repository.migrate()
    try:
        yield repository
    finally:
        await repository.close()


async def test_concurrent_writers_share_commits_and_all_persist(
    repo: SqliteRepository, tmp_path: Path
) -> None:
    base = patient()
    committed: list[int] = []
    commit = repo._committer.commit

    def counting_commit(conn: Any) -> None:
        committed.append(1)
        commit(conn)

    repo._committer.commit = counting_commit  # type: ignore[method-assign]

    async def create(number: int) -> None:
        resource = {**base, "id": f"group-{number}"}
        async with repo.transaction() as tx:
            await tx.write(new_version(resource, 1, T0 + number * SECOND))

    await asyncio.gather(*(create(n) for n in range(40)))
    assert 1 <= len(committed) < 10  # 40 writers, a handful of COMMITs
    # A second connection (another process's view) sees every acknowledged write.
    other = SqliteRepository(str(tmp_path / "group.db"))
    await other.open()
    try:
        for number in range(40):
            assert await other.read("Patient", f"group-{number}") is not None
    finally:
        await other.close()


async def test_a_failing_writer_rolls_back_only_its_own_work(repo: SqliteRepository) -> None:
    base = patient()

    async def create(number: int) -> None:
        resource = {**base, "id": f"member-{number}"}
        async with repo.transaction() as tx:
            await tx.write(new_version(resource, 1, T0 + number * SECOND))
            if number % 3 == 0:
                raise Boom(number)

    results = await asyncio.gather(*(create(n) for n in range(30)), return_exceptions=True)
    failed = {n for n, r in enumerate(results) if isinstance(r, Boom)}
    assert failed == {n for n in range(30) if n % 3 == 0}
    for number in range(30):
        stored = await repo.read("Patient", f"member-{number}")
        assert (stored is None) == (number in failed), number


async def test_a_cancelled_queued_writer_does_not_strand_the_group(
    repo: SqliteRepository,
) -> None:
    base = patient()
    release = asyncio.Event()

    async def slow_first() -> None:
        async with repo.transaction() as tx:
            await tx.write(new_version({**base, "id": "first"}, 1, T0))
            await release.wait()

    async def queued() -> None:
        async with repo.transaction() as tx:
            await tx.write(new_version({**base, "id": "queued"}, 1, T0 + SECOND))

    first = asyncio.create_task(slow_first())
    await asyncio.sleep(0.01)
    waiter = asyncio.create_task(queued())
    await asyncio.sleep(0.01)
    waiter.cancel()  # the queued writer goes away before it gets the lock
    release.set()
    await asyncio.wait_for(first, timeout=5)
    assert await repo.read("Patient", "first") is not None
    assert await repo.read("Patient", "queued") is None
