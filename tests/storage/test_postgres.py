"""PostgreSQL specifics: one round trip per read, jsonb bodies, outages as 503."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import asyncpg
import pytest

from wardbook.errors import BadRequest
from wardbook.storage.base import Repository, StorageError
from wardbook.storage.factory import open_repository
from wardbook.storage.postgres import PostgresRepository

from .helpers import SECOND, T0, new_version, patient, rows, write

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

# The shared fixtures (repository, repository_url) on the PostgreSQL backend only.
on_postgres = pytest.mark.parametrize("repository_url", ["postgresql"], indirect=True)


@pytest.fixture
async def single(repository: Repository, repository_url: str) -> AsyncIterator[Repository]:
    """A repository with one pooled connection, so a test can log every statement sent."""
    repo = open_repository(repository_url, pool_min_size=1, pool_max_size=1)
    await repo.open()
    try:
        yield repo
    finally:
        await repo.close()


async def statements_of(repo: Repository, work: Any) -> list[str]:
    """The SQL statements sent on the pool's connection and the read connections while
    ``work()`` ran."""
    assert isinstance(repo, PostgresRepository) and repo._pool is not None
    sent: list[str] = []

    def log(record: Any) -> None:
        sent.append(record.query)

    readers = list(repo._readers._idle) if repo._readers else []
    async with repo._pool.acquire() as conn:
        conn.add_query_logger(log)
    for reader in readers:
        reader.add_query_logger(log)
    try:
        await work()
    finally:
        async with repo._pool.acquire() as conn:
            conn.remove_query_logger(log)
        for reader in readers:
            reader.remove_query_logger(log)
    return sent


@on_postgres
async def test_read_and_vread_are_one_statement_each(single: Repository) -> None:
    resource = patient()
    await write(single, new_version(resource, 1, T0), new_version(resource, 2, T0 + SECOND))

    async def read_both() -> None:
        assert await single.read("Patient", resource["id"]) is not None
        assert await single.vread("Patient", resource["id"], 1) is not None

    assert len(await statements_of(single, read_both)) == 2


@on_postgres
async def test_a_create_is_two_statements_and_an_update_three(single: Repository) -> None:
    # Warm up: a connection's first use of an array type makes asyncpg introspect it once.
    warm_up = patient()
    warm_up["id"] = "warm-up"
    await write(single, new_version(warm_up, 1, T0))
    warm_up["name"][0]["family"] = "Okafor"
    await write(single, new_version(warm_up, 2, T0 + SECOND))
    resource = patient()
    create = await statements_of(single, lambda: write(single, new_version(resource, 1, T0)))
    resource["name"][0]["family"] = "Okafor"
    update = await statements_of(
        single, lambda: write(single, new_version(resource, 2, T0 + SECOND))
    )

    # BEGIN and COMMIT frame the writes; entity+version, then the index rows (+ their diff).
    assert len(create) == 2 + 2, "\n".join(q[:60] for q in create)
    assert len(update) == 2 + 3, update


@on_postgres
async def test_bodies_are_jsonb_and_come_back_as_bytes(repository: Repository) -> None:
    resource = patient()
    await write(repository, new_version(resource, 1, T0))

    stored = await repository.read("Patient", resource["id"])
    kinds = await rows(repository, "SELECT jsonb_typeof(body), body->>'id' FROM resource_version")

    assert stored is not None and isinstance(stored.body, bytes)
    assert kinds == [("object", resource["id"])]


async def test_an_unreachable_server_is_a_503() -> None:
    repo = open_repository("postgresql://postgres@127.0.0.1:1/nowhere")
    with pytest.raises(StorageError) as raised:
        await repo.open()
    assert raised.value.status == 503


@on_postgres
async def test_a_statement_timeout_is_a_503(repository_url: str) -> None:
    repo = open_repository(f"{repository_url}?command_timeout=0.2")
    await repo.open()
    try:
        with pytest.raises(StorageError):
            async with repo.transaction() as tx:
                await tx.runner.fetch_all("SELECT pg_sleep(2)", [])
    finally:
        await repo.close()


@on_postgres
async def test_reads_survive_connections_killed_by_the_server(
    single: Repository, repository_url: str
) -> None:
    resource = patient()
    await write(single, new_version(resource, 1, T0))
    for _ in range(3):
        await terminate_other_backends(repository_url)
        # The dead pooled connection is dropped and the read retried on a fresh one.
        stored = await single.read("Patient", resource["id"])
        assert stored is not None and stored.version == 1


@on_postgres
async def test_a_write_on_a_killed_connection_is_a_503_and_the_next_one_works(
    single: Repository, repository_url: str
) -> None:
    first, second = patient(), patient()
    second["id"] = "second"
    await write(single, new_version(first, 1, T0))
    await terminate_other_backends(repository_url)

    outcomes: list[StorageError | None] = []
    for resource in (first, second):
        try:
            await write(single, new_version(resource, 2 if resource is first else 1, T0))
            outcomes.append(None)
        except StorageError as error:
            outcomes.append(error)

    # A write is not retried (the service decides); at most the first one meets the
    # dead connection, and the pool then has a fresh one.
    assert outcomes[-1] is None
    assert all(o is None or o.status == 503 for o in outcomes)
    assert await single.read("Patient", "second") is not None


async def terminate_other_backends(url: str) -> None:
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()


@on_postgres
@pytest.mark.parametrize("where", ["body", "index"])
async def test_a_nul_character_is_the_clients_error_not_an_outage(
    repository: Repository, where: str
) -> None:
    resource = patient()
    resource["name"][0]["family"] = "Oka\x00for"
    version = new_version(resource, 1, T0)
    if where == "index":  # only the index row carries it
        clean = patient()
        version = replace(version, body=new_version(clean, 1, T0).body)

    with pytest.raises(BadRequest) as raised:
        await write(repository, version)

    assert raised.value.status == 400
    assert await repository.read("Patient", resource["id"]) is None


@on_postgres
async def test_reads_use_the_pool_when_every_read_connection_is_busy(
    repository: Repository,
) -> None:
    resource = patient()
    await write(repository, new_version(resource, 1, T0))

    reads = [repository.read("Patient", resource["id"]) for _ in range(50)]
    found = await asyncio.gather(*reads)

    assert all(stored is not None and stored.version == 1 for stored in found)


@on_postgres
async def test_a_cancelled_read_does_not_poison_its_connection(repository: Repository) -> None:
    resource = patient()
    await write(repository, new_version(resource, 1, T0))

    for _ in range(5):
        task = asyncio.create_task(repository.read("Patient", resource["id"]))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        stored = await repository.read("Patient", resource["id"])
        assert stored is not None and stored.version == 1
