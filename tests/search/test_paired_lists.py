"""Same-rank string criteria intersect their index lists on SQLite (search_sql.paired_lists).

``Patient?family=smith&given=ann``: the family name drives, and the given name is listed
from its own index and intersected, instead of probing every Smith -- unless the given
name has ``PAIRED_LIST_LIMIT`` rows or more, when it is probed as before. Either way the
answer is the AND of the criteria (R4 search.html), checked here on both backends.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest

from wardbook.search.parse import parse_search
from wardbook.storage.base import Dialect, Repository
from wardbook.storage.search_sql import PAIRED_LIST_LIMIT, ids_sql, where_sql

from .data import load

pytestmark = pytest.mark.anyio

SMITHS = range(0, 40)
JOHNS = range(30, 30 + PAIRED_LIST_LIMIT + 44)  # more rows than a paired list may have
ANNS = range(35, 45)


def _patient(n: int) -> dict[str, Any]:
    given = ["John"] if n in JOHNS else []
    if n in ANNS:
        given.append("Ann")
    return {
        "resourceType": "Patient",
        "id": f"p{n}",
        "name": [{"family": "Smith" if n in SMITHS else f"Other{n % 7}", "given": given or ["Bo"]}],
        "address": [{"state": "MA"}],
    }


def _query(text: str) -> Any:
    return parse_search("Patient", parse_qsl(text), strict=True)


@pytest.fixture
async def population(repository: Repository) -> Repository:
    await load(repository, [_patient(n) for n in range(max(JOHNS) + 1)])
    return repository


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("family=smith&given=ann", set(SMITHS) & set(ANNS)),  # the given name is listed
        ("given=ann&family=smith", set(SMITHS) & set(ANNS)),
        ("family=smith&given=john", set(SMITHS) & set(JOHNS)),  # too many Johns: probed
        ("name=smi&given=an&address-state=MA", set(SMITHS) & set(ANNS)),
        ("family=smith&given=nobody", set()),
        ("family=smith&given=ann&_id=p36,p50", {36}),
    ],
)
async def test_the_answer_is_the_and_of_the_criteria(
    population: Repository, text: str, expected: set[int]
) -> None:
    page = await population.search(_query(f"{text}&_count=500&_total=accurate"))

    assert sorted(e.id for e in page.entries) == sorted(f"p{n}" for n in expected)
    assert page.total == len(expected)


def test_only_sqlite_pairs_and_only_criteria_of_the_drivers_rank() -> None:
    query = _query("family=smith&given=ann&birthdate=1970")
    sqlite = where_sql(query, Dialect.SQLITE).text
    plain = where_sql(query, Dialect.POSTGRES).text

    assert sqlite.count("CASE WHEN (SELECT count(*) FROM (SELECT i.pid FROM idx_string i") == 1
    assert f"LIMIT {PAIRED_LIST_LIMIT}) n) < {PAIRED_LIST_LIMIT} THEN d.pid IN (" in sqlite
    # The birthdate is a date (another rank): still a probe of each match.
    assert "EXISTS (SELECT 1 FROM idx_date i WHERE i.pid = e.pid" in sqlite
    assert "CASE" not in plain
    # PostgreSQL's probes name the resource type (see test_driving.py); otherwise the same.
    typed = "i.pid = e.pid AND i.res_type = ? AND i.param = ?"
    assert plain.replace(typed, "i.pid = e.pid AND i.param = ?") == where_sql(query).text
    # A token drives a string: nothing of the same rank, nothing paired.
    assert "CASE" not in where_sql(_query("family=smith&gender=female"), Dialect.SQLITE).text


@pytest.mark.parametrize("repository_url", ["sqlite"], indirect=True)
async def test_sqlite_reads_both_lists_from_covering_indexes(population: Repository) -> None:
    sql = ids_sql(_query("family=smith&given=ann"), 11, dialect=Dialect.SQLITE)
    async with population.transaction() as tx:
        rows = await tx.runner.fetch_all(f"EXPLAIN QUERY PLAN {sql.text}", sql.params)
    plan = [str(row[-1]) for row in rows]

    listed = [line for line in plan if "idx_string_value" in line]
    assert len(listed) == 3, plan  # the driver, the bounded count, the paired list
    assert all("COVERING INDEX" in line for line in listed), plan
    # Only the bounded count's own derived table is scanned, never an index table.
    assert [line for line in plan if line.startswith("SCAN")] == ["SCAN n"], plan
