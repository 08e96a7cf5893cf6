"""SQLite lets the AND criterion with the fewest index rows drive (search_sql.choose_driver).

The rank by kind would let a token drive before a string and the first of two tokens drive:
``Patient?gender=female&family=robinson`` probed every woman, ``Condition?clinical-status=
active&code=X`` every active Condition. The answer is the AND of the criteria whichever
drives (R4 search.html), checked here on both backends; the choice is pinned on SQLite.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import pytest

from wardbook.search.parse import parse_search
from wardbook.storage.base import Dialect, Repository
from wardbook.storage.search_sql import DRIVER_SMALL, choose_driver, ids_sql

from .data import load

pytestmark = pytest.mark.anyio

WOMEN = range(0, DRIVER_SMALL + 40)
ROBINSONS = range(DRIVER_SMALL + 30, DRIVER_SMALL + 50)  # ten women, ten men
ACTIVE = range(0, DRIVER_SMALL + 20)
ASTHMA = range(DRIVER_SMALL + 10, DRIVER_SMALL + 30)  # ten active, ten resolved
SNOMED = "http://snomed.info/sct"


def _patient(n: int) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": f"p{n}",
        "gender": "female" if n in WOMEN else "male",
        "name": [{"family": "Robinson" if n in ROBINSONS else f"Other{n % 9}"}],
    }


def _condition(n: int) -> dict[str, Any]:
    status = "active" if n in ACTIVE else "resolved"
    return {
        "resourceType": "Condition",
        "id": f"c{n}",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": status,
                }
            ]
        },
        "code": {"coding": [{"system": SNOMED, "code": "195967001" if n in ASTHMA else "1"}]},
        "subject": {"reference": f"Patient/p{n}"},
    }


def _query(resource_type: str, text: str) -> Any:
    return parse_search(resource_type, parse_qsl(text), strict=True)


@pytest.fixture
async def population(repository: Repository) -> Repository:
    size = DRIVER_SMALL + 60
    await load(repository, [_patient(n) for n in range(size)])
    await load(repository, [_condition(n) for n in range(size)])
    return repository


CASES = [
    ("Patient", "gender=female&family=robinson", "p", set(WOMEN) & set(ROBINSONS)),
    ("Patient", "family=robinson&gender=female", "p", set(WOMEN) & set(ROBINSONS)),
    ("Patient", "gender=male&family=robinson", "p", set(ROBINSONS) - set(WOMEN)),
    ("Condition", "clinical-status=active&code=195967001", "c", set(ACTIVE) & set(ASTHMA)),
    ("Condition", "clinical-status=active&code=nothing", "c", set()),
    (
        "Condition",
        "clinical-status=resolved&code=1",
        "c",
        set(range(DRIVER_SMALL + 60)) - set(ACTIVE) - set(ASTHMA),
    ),
]


@pytest.mark.parametrize(("resource_type", "text", "prefix", "expected"), CASES)
async def test_the_answer_is_the_and_of_the_criteria(
    population: Repository, resource_type: str, text: str, prefix: str, expected: set[int]
) -> None:
    page = await population.search(_query(resource_type, f"{text}&_count=7&_total=accurate"))
    assert page.total == len(expected)
    seen = [e.id for e in page.entries]
    while page.next_cursor is not None:
        query = _query(resource_type, f"{text}&_count=7&_total=accurate")
        query.cursor = page.next_cursor
        page = await population.search(query)
        seen.extend(e.id for e in page.entries)
    assert sorted(seen) == sorted(f"{prefix}{n}" for n in expected)


async def _driver(repository: Repository, resource_type: str, text: str) -> int | None:
    async with repository.transaction() as tx:
        return await choose_driver(tx.runner, _query(resource_type, text))


@pytest.mark.parametrize("repository_url", ["sqlite"], indirect=True)
async def test_sqlite_lets_the_smaller_list_drive(population: Repository) -> None:
    # gender (a token) outranks family, but 104 women against 20 Robinsons: family drives.
    assert await _driver(population, "Patient", "gender=female&family=robinson") == 1
    assert await _driver(population, "Patient", "family=robinson&gender=female") == 0
    # Two tokens: the rank takes the first; the code has fewer rows.
    assert await _driver(population, "Condition", "clinical-status=active&code=195967001") == 1
    query = _query("Condition", "clinical-status=active&code=195967001")
    text = ids_sql(query, 11, dialect=Dialect.SQLITE, driver=1).text
    assert "e.pid IN (SELECT i.pid FROM idx_token i WHERE i.res_type = ? AND i.param = ?" in text
    assert text.count("EXISTS (SELECT 1 FROM idx_token i WHERE i.pid = e.pid") == 1
    async with population.transaction() as tx:
        rows = await tx.runner.fetch_all(
            f"EXPLAIN QUERY PLAN {text}",
            ids_sql(query, 11, dialect=Dialect.SQLITE, driver=1).params,
        )
    assert not [r for r in rows if str(r[-1]).startswith("SCAN")], rows


@pytest.mark.parametrize("repository_url", ["sqlite"], indirect=True)
async def test_sqlite_keeps_the_rank_when_it_is_small_or_smallest(population: Repository) -> None:
    # The code's list (20 rows) is under DRIVER_SMALL: nothing else is counted.
    assert await _driver(population, "Condition", "code=195967001&clinical-status=active") is None
    # 84 active Conditions, 104 with code 1: the rank's driver is the smaller list.
    assert await _driver(population, "Condition", "clinical-status=active&code=1") is None
    # The other way round the code is counted first, and the status list is smaller.
    assert await _driver(population, "Condition", "code=1&clinical-status=active") == 1
    # A reference (or _id, a chain, a compartment) always drives: nothing is counted.
    assert (
        await _driver(population, "Condition", "subject=Patient/p1&clinical-status=active") is None
    )
    # One criterion: nothing to choose.
    assert await _driver(population, "Patient", "gender=female") is None


@pytest.mark.parametrize("repository_url", ["postgresql"], indirect=True)
async def test_postgresql_plans_from_its_own_statistics(population: Repository) -> None:
    assert await _driver(population, "Patient", "gender=female&family=robinson") is None


async def _estimate(repository: Repository, code: str) -> int:
    async with repository.transaction() as tx:
        await tx.runner.fetch_all("ANALYZE idx_token", [])
        found = await tx.runner.fetch_all(
            "EXPLAIN (FORMAT JSON) SELECT pid FROM idx_token WHERE res_type = 'Condition'"
            f" AND param = 'clinical-status' AND code = '{code}'",  # test constant
            [],
        )
    plan = found[0][0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


@pytest.mark.parametrize("repository_url", ["postgresql"], indirect=True)
async def test_postgresql_estimates_a_common_code_from_extended_statistics(
    population: Repository,
) -> None:
    """Migration 0019: without statistics on (res_type, param, code) together, PostgreSQL
    multiplied three selectivities and estimated the 84 active Conditions at a row or two,
    so it let them drive (docs/search.md, "Which criterion drives a search")."""
    estimate = await _estimate(population, "active")
    assert len(ACTIVE) / 2 <= estimate <= len(ACTIVE) * 2

    # Without them (the session's database is shared: put them back afterwards).
    statistic = "idx_token_type_param_code"
    async with population.transaction() as tx:
        await tx.runner.fetch_all(f"DROP STATISTICS {statistic}", [])
    try:
        assert await _estimate(population, "active") < len(ACTIVE) / 4  # what it was
    finally:
        async with population.transaction() as tx:
            await tx.runner.fetch_all(
                f"CREATE STATISTICS {statistic} (mcv, dependencies)"
                " ON res_type, param, code FROM idx_token",
                [],
            )
