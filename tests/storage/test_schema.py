"""The migrated schema: idx_* columns mirror the row types, and the hot queries use indexes."""

from __future__ import annotations

import pytest

from wardbook.storage.base import Dialect, Repository
from wardbook.storage.index_tables import INDEX_TABLES

from .helpers import rows

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


# PostgreSQL plans from statistics. The tests share one session database, so what earlier
# tests left behind (dead index entries, stale page counts) made the planner's choice between
# two fitting indexes vary from run to run. Each plan is therefore made on the same seeded,
# analysed rows: several types, many values per parameter, a few rows per resource.
_PG_SEED = (
    "INSERT INTO resource_entity (res_type, res_id, version, deleted, last_updated)"
    " SELECT (ARRAY['Observation','Observation','Observation','Patient','Encounter',"
    "'Condition','Procedure','MedicationRequest'])[1 + g % 8], 'seed-' || g, 1, false, g * 1000"
    " FROM generate_series(1, 4000) AS g",
    "INSERT INTO resource_version"
    " (pid, res_type, res_id, version, deleted, last_updated, method, body)"
    " SELECT pid, res_type, res_id, 1, false, last_updated, 'POST', NULL FROM resource_entity",
    "INSERT INTO idx_string (pid, res_type, param, value_norm, value_exact)"
    " SELECT pid, res_type, p, md5(p || pid), md5(p || pid) FROM resource_entity,"
    " unnest(ARRAY['family', 'given', 'name']) AS p",
    "INSERT INTO idx_token (pid, res_type, param, system, code, text)"
    " SELECT pid, res_type, p, 'http://loinc.org', (pid % 500)::text, NULL FROM resource_entity,"
    " unnest(ARRAY['code', 'identifier']) AS p",
    "INSERT INTO idx_date (pid, res_type, param, low, high)"
    " SELECT pid, res_type, 'date', pid * 1000, pid * 1000 + 999 FROM resource_entity",
    "INSERT INTO idx_reference (pid, res_type, param, target_type, target_id, url)"
    " SELECT pid, res_type, 'subject', 'Patient', 'p' || (pid % 500), NULL FROM resource_entity"
    " UNION ALL SELECT pid, res_type, 'based-on', NULL, NULL, 'http://example.org/r/' || pid"
    " FROM resource_entity WHERE pid % 10 = 0",
    "ANALYZE resource_entity, resource_version, idx_string, idx_token, idx_date, idx_reference",
)


class _Planned(Exception):
    """Carries a plan out of a transaction that must be rolled back (it seeded rows)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


async def plan(repository: Repository, sql: str, *params: object) -> str:
    """The query plan as one string.

    On PostgreSQL the plan is made on seeded, analysed rows inside a transaction that is
    rolled back (see ``_PG_SEED``), with sequential scans disabled.
    """
    if repository.dialect is Dialect.SQLITE:
        async with repository.transaction() as tx:
            found = await tx.runner.fetch_all(f"EXPLAIN QUERY PLAN {sql}", params)
            return " | ".join(str(row[-1]) for row in found)
    try:
        async with repository.transaction() as tx:
            for statement in _PG_SEED:
                await tx.runner.fetch_all(statement, [])
            await tx.runner.fetch_all("SET LOCAL enable_seqscan = off", [])
            found = await tx.runner.fetch_all(f"EXPLAIN {sql}", params)
            raise _Planned(" | ".join(str(row[0]) for row in found))
    except _Planned as planned:
        return planned.text


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
