"""The migrated schema: idx_* columns mirror the row types, and the hot queries use indexes."""

from __future__ import annotations

import pytest

from wardbook.storage.base import Dialect, Repository
from wardbook.storage.index_tables import INDEX_TABLES

from .helpers import plan, rows

pytestmark = pytest.mark.anyio


async def columns(repository: Repository, table: str) -> list[str]:
    if repository.dialect is Dialect.SQLITE:
        found = await rows(repository, "SELECT name FROM pragma_table_info(?) ORDER BY cid", table)
    else:
        found = await rows(
            repository,
            "SELECT column_name::text FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            table,
        )
    return [row[0] for row in found]


async def test_index_tables_have_exactly_the_row_type_columns(repository: Repository) -> None:
    for table in INDEX_TABLES:
        # PostgreSQL's idx_text has the key SQLite's rowid gives for free (full-text links).
        rowid = (
            ["rowid"] if table.name == "idx_text" and repository.dialect is Dialect.POSTGRES else []
        )
        assert await columns(repository, table.name) == ["pid", "res_type", *table.columns, *rowid]


@pytest.mark.parametrize(
    ("index", "sql", "params"),
    [
        (
            # On PostgreSQL, statistics left by earlier tests in the shared session database
            # can make the planner prefer the (res_type, last_updated) index for a near-empty
            # table; either is an index lookup by type, never a scan.
            "resource_entity_type_id|resource_entity_type_updated",
            "SELECT pid FROM resource_entity WHERE res_type = ? AND res_id = ?",
            ("Patient", "p1"),
        ),
        (
            "resource_entity_type_updated",
            "SELECT pid FROM resource_entity WHERE res_type = ? AND last_updated >= ?",
            ("Patient", 3_990_000),  # recent changes: the last few seeded rows
        ),
        (
            "idx_string_value",  # prefix search as a code-point range
            "SELECT pid FROM idx_string WHERE res_type = ? AND param = ?"
            " AND value_norm >= ? AND value_norm < ?",
            ("Patient", "family", "oka", "okb"),
        ),
        (
            "idx_token_code",
            "SELECT pid FROM idx_token"
            " WHERE res_type = ? AND param = ? AND code = ? AND system = ?",
            ("Observation", "code", "8867-4", "http://loinc.org"),
        ),
        (
            "idx_date_range",
            "SELECT pid FROM idx_date WHERE res_type = ? AND param = ? AND low >= ? AND low < ?",
            ("Observation", "date", 0, 10),
        ),
        (
            # With no statistics PostgreSQL may pick either reference index; both fit.
            "idx_reference_target|idx_reference_any_source",
            "SELECT pid FROM idx_reference"
            " WHERE res_type = ? AND param = ? AND target_type = ? AND target_id = ?",
            ("Observation", "subject", "Patient", "p1"),
        ),
        (
            "idx_reference_url",
            "SELECT pid FROM idx_reference WHERE res_type = ? AND param = ? AND url = ?",
            ("Observation", "based-on", "http://example.org/r/1"),
        ),
        (
            # On a near-empty table PostgreSQL may walk the wider target index instead
            # (seen in CI); either is an index, never a table scan.
            "idx_reference_any_source|idx_reference_target",
            "SELECT pid FROM idx_reference WHERE target_type = ? AND target_id = ?",
            ("Patient", "p1"),
        ),
        (
            "idx_token_pid",
            "SELECT code FROM idx_token WHERE pid = ?",
            (1,),
        ),
        (
            "resource_version_type_updated",
            "SELECT vid FROM resource_version v WHERE v.res_type = ?"
            " ORDER BY v.last_updated DESC, v.vid DESC LIMIT 10",
            ("Patient",),
        ),
        (
            "resource_version_updated",
            "SELECT vid FROM resource_version v ORDER BY v.last_updated DESC, v.vid DESC LIMIT 10",
            (),
        ),
    ],
)
async def test_hot_queries_use_their_index(
    repository: Repository, index: str, sql: str, params: tuple[object, ...]
) -> None:
    found = await plan(repository, sql, *params)
    assert any(name in found for name in index.split("|")), found


@pytest.mark.postgres
@pytest.mark.parametrize("repository_url", ["postgresql"], indirect=True)
async def test_postgres_answers_like_prefix_from_the_string_index(
    repository: Repository,
) -> None:
    found = await plan(
        repository,
        "SELECT pid FROM idx_string WHERE res_type = ? AND param = ? AND value_norm LIKE ?",
        "Patient",
        "family",
        "oka%",
    )
    assert "idx_string_value" in found
