"""Shared fixtures: the async test runner and a ``repository`` on every storage backend.

``repository`` is an opened, migrated, empty repository, parametrized over SQLite (a file
in the test's tmp_path) and PostgreSQL (the server at 127.0.0.1:5432, user postgres, trust
auth). PostgreSQL tests carry the ``postgres`` mark: ``pytest -m "not postgres"`` runs
without a server. Each pytest-xdist worker gets its own PostgreSQL database, named
``wardbook_test_<pid>_<random>``, migrated once, emptied before every test and dropped at
the end of the session.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from wardbook.storage.base import Repository
from wardbook.storage.factory import open_repository

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_ADMIN_URL = f"{PG_SERVER}/postgres"

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """asyncpg needs asyncio; there is no trio variant of the tests."""
    return "asyncio"


# -- PostgreSQL databases --------------------------------------------------------------


def new_pg_database_name(prefix: str = "wardbook_test") -> str:
    """Unique per process (xdist worker) and per run."""
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"


async def _admin(sql: str) -> None:
    try:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc}); start it"
            " (scripts/ensure_services.sh) or deselect with -m 'not postgres'",
            pytrace=False,
        )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_pg_database(name: str | None = None) -> str:
    """Create an empty database and return its URL."""
    name = name or new_pg_database_name()
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return f"{PG_SERVER}/{name}"


def drop_pg_database(url: str) -> None:
    """Drop a database made by create_pg_database, disconnecting whoever still uses it."""
    name = url.rsplit("/", 1)[1]
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def make_pg_database() -> Iterator[Callable[[], str]]:
    """A factory of empty PostgreSQL databases, all dropped after the test."""
    made: list[str] = []

    def make() -> str:
        made.append(create_pg_database())
        return made[-1]

    yield make
    for url in made:
        drop_pg_database(url)


@pytest.fixture(scope="session")
def pg_session_database() -> Iterator[str]:
    """This worker's migrated PostgreSQL database (URL), dropped at the end of the session."""
    url = create_pg_database()
    try:

        async def migrate() -> None:
            repository = open_repository(url)
            await repository.open()
            try:
                await repository.migrate()
            finally:
                await repository.close()

        asyncio.run(migrate())
        yield url
    finally:
        drop_pg_database(url)


async def empty_pg_database(url: str) -> None:
    """Delete every row but the migration records (faster than a new database or TRUNCATE)."""
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch(
            "SELECT quote_ident(tablename) FROM pg_tables"
            " WHERE schemaname = current_schema() AND tablename <> 'schema_migrations'"
        )
        # Replica role skips foreign-key triggers, so the order of the deletes is free.
        deletes = "".join(f"DELETE FROM {row[0]};" for row in tables)
        await conn.execute(
            f"SET session_replication_role = replica; {deletes} RESET session_replication_role"
        )
    finally:
        await conn.close()


# -- the repository fixture ------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def repository_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty, migrated database of each backend (for the repository fixture)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'wardbook.db'}"
    url: str = request.getfixturevalue("pg_session_database")
    asyncio.run(empty_pg_database(url))
    return url


@pytest.fixture
async def repository(repository_url: str) -> AsyncIterator[Repository]:
    """An opened, migrated, empty repository; closed after the test."""
    repo = open_repository(repository_url)
    await repo.open()
    try:
        await repo.migrate()
        yield repo
    finally:
        await repo.close()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Make ``--dist loadgroup`` keep each ``xdist_group`` on one worker under pytest 9.

    pytest-xdist 3.8 groups tests by appending ``@group`` to ``item._nodeid``, but pytest 9
    reads the node id from the structured ``item._id``, so the suffix was lost and every
    browser test was scheduled on its own (two Chromiums and servers at once, and no order
    within the group). The same suffix is set on the structured id here.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import NodeId

    for item in items:
        groups = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        if groups and "@" not in item.nodeid and hasattr(item, "_id"):
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(sorted(groups))}")
