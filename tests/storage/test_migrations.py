"""Migrations: applied once, in order, recorded; safe twice and from several processes."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from wardbook.storage.base import Dialect, Repository, StorageError
from wardbook.storage.factory import open_repository
from wardbook.storage.migrate import load_migrations

pytestmark = pytest.mark.anyio


async def opened(url: str) -> Repository:
    repository = open_repository(url)
    await repository.open()
    return repository


async def test_migrate_applies_everything_once_and_is_then_a_no_op(blank_url: str) -> None:
    repository = await opened(blank_url)
    try:
        every = [m.name for m in load_migrations(repository.dialect)]
        assert await repository.pending_migrations() == every

        before = time.time_ns() // 1000
        assert await repository.migrate() == every
        assert await repository.migrate() == []
        assert await repository.pending_migrations() == []

        async with repository.transaction() as tx:
            recorded = await tx.runner.fetch_all(
                "SELECT version, name, applied_at FROM schema_migrations ORDER BY version", []
            )
        assert [(v, n) for v, n, _ in recorded] == [
            (m.version, m.name) for m in load_migrations(repository.dialect)
        ]
        assert all(before <= applied <= time.time_ns() // 1000 for _, _, applied in recorded)
    finally:
        await repository.close()


def test_concurrent_migrations_apply_each_file_exactly_once(blank_url: str) -> None:
    """Four processes' worth of migrate() at once (threads, each with its own loop and
    connections): one applies the files, the others wait for its lock and find nothing."""
    barrier = threading.Barrier(4)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    async def migrate_once() -> list[str]:
        repository = await opened(blank_url)
        try:
            barrier.wait(timeout=30)
            return await repository.migrate()
        finally:
            await repository.close()

    def run() -> None:
        try:
            results.append(asyncio.run(migrate_once()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    every = [
        m.name
        for m in load_migrations(Dialect.POSTGRES if "postgres" in blank_url else Dialect.SQLITE)
    ]
    assert sorted(results, key=len) == [[], [], [], every]


async def test_a_database_that_is_not_migrated_answers_503(blank_url: str) -> None:
    repository = await opened(blank_url)
    try:
        with pytest.raises(StorageError) as raised:
            await repository.read("Patient", "example")
        assert raised.value.status == 503
        assert raised.value.headers["Retry-After"]
    finally:
        await repository.close()


def test_both_dialects_have_the_same_migration_versions() -> None:
    sqlite = [(m.version, m.name) for m in load_migrations(Dialect.SQLITE)]
    postgres = [(m.version, m.name) for m in load_migrations(Dialect.POSTGRES)]

    assert sqlite == postgres
    # Numbers are assigned per feature branch, so gaps are allowed; order and uniqueness not.
    versions = [v for v, _ in sqlite]
    assert versions[0] == 1
    assert versions == sorted(set(versions))
