"""Search on every storage backend: the SQL compiler agrees with the in-memory matcher.

The ``repository`` fixture (tests/conftest.py) runs each test on SQLite and PostgreSQL.
Resources are written with their real index rows (``extract_index``); every result is
compared with :func:`wardbook.search.matcher.matches` over the same stored resources, in
the order the sort asks for (R4 search.html#sort), across every page (search.html#paging).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

import orjson
import pytest

from wardbook.errors import BadRequest
from wardbook.search.extract import extract_index
from wardbook.search.index import IndexRows
from wardbook.search.matcher import matches
from wardbook.search.parse import parse_search
from wardbook.search.query import SearchQuery
from wardbook.storage.base import Dialect, Page, Repository, SqlRunner
from wardbook.storage.search_sql import run_search, search_ids

from .data import (
    SECOND,
    SECOND_PATIENT,
    T0,
    load,
    new_version,
    synthea_record,
    synthea_resources,
)

pytestmark = pytest.mark.anyio

PATIENT = "057aa36e-b892-9964-75b9-ffb46b097e34"
OTHER_PATIENT = "0696ac49-3128-87d3-7344-04510aa4f324"


def query(resource_type: str | None, text: str) -> SearchQuery:
    return parse_search(resource_type, parse_qsl(text, keep_blank_values=True), strict=True)


async def all_pages(repository: Repository, q: SearchQuery) -> tuple[list[str], list[Page]]:
    """Follow next cursors to the end; the ids in page order and the pages."""
    pages = [await repository.search(q)]
    while pages[-1].next_cursor is not None:
        assert len(pages) < 200, "paging does not end"
        q = parse_search(
            q.resource_type, parse_qsl(q.to_query_string(pages[-1].next_cursor)), strict=True
        )
        pages.append(await repository.search(q))
    return [e.id for p in pages for e in p.entries], pages


def expected_ids(
    stored: Sequence[dict[str, Any]], q: SearchQuery, rows: Sequence[IndexRows] | None = None
) -> list[str]:
    """Matching ids in the order the query's sort implies (pid = load order breaks ties)."""
    found = [
        (pid, r)
        for pid, r in enumerate(stored)
        if matches(r, q, rows=rows[pid] if rows is not None else None)
    ]

    def key(item: tuple[int, dict[str, Any]]) -> tuple[Any, ...]:
        pid, resource = item
        parts: list[Any] = []
        for sort in q.sort:
            value: Any = (
                resource["meta"]["lastUpdated"] if sort.param == "_lastUpdated" else resource["id"]
            )
            parts.append(_Desc(value) if sort.descending else value)
        return (*parts, pid)

    return [r["id"] for _, r in sorted(found, key=key)]


class _Desc:
    """Reverses the order of a sort component."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        return bool(self.value > other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)


SEARCHES = [
    # token (R4 search.html#token)
    ("Observation", "code=http://loinc.org|8302-2"),
    ("Observation", "code=8302-2,29463-7"),
    ("Observation", "code=|8302-2"),
    ("Observation", "code=http://loinc.org|"),
    ("Observation", "code:not=http://loinc.org|8302-2"),
    ("Observation", "code:text=body"),
    ("Observation", "category=vital-signs&code=8302-2"),
    ("Observation", "status=http://hl7.org/fhir/observation-status|final"),
    ("Observation", "value-quantity:missing=true"),
    ("Patient", "gender=female"),
    ("Patient", "identifier=http://hl7.org/fhir/sid/us-ssn|999-82-5655"),
    ("Patient", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|SS|999-82-5655"),
    ("Patient", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|DL|999-82-5655"),
    ("Patient", "deceased=true"),
    ("Patient", "telecom=555-942-8848"),
    ("Encounter", "class=AMB"),
    ("Encounter", "type:text=prenatal"),
    ("Condition", "clinical-status=active&code:text=miscarriage"),
    ("Immunization", "vaccine-code=http://hl7.org/fhir/sid/cvx|140"),
    ("MedicationRequest", "intent=order&status:not=active"),
    # string (search.html#string)
    ("Patient", "family=cor"),
    ("Patient", "family=CÖR"),
    ("Patient", "family:exact=Cormier289"),
    ("Patient", "family:exact=cormier289"),
    ("Patient", "family:contains=MIER"),
    ("Patient", "name=chi,zzz&address-city=east"),
    ("Patient", "address=01516"),
    # date (search.html#date, #prefix)
    ("Observation", "date=2015"),
    ("Observation", "date=ge2015-06"),
    ("Encounter", "date=lt2000"),
    ("Observation", "date=gt2019-01-01T00:00:00Z&date=le2020"),
    ("Observation", "date=sa2019"),
    ("Condition", "onset-date=eb1990"),
    ("Observation", "date=ne2015"),
    ("Observation", "date=ap2015-06-01"),
    ("Encounter", "date=2010"),
    ("Encounter", "date=ge2019-03-01T10:00:00+01:00"),
    ("Condition", "onset-date=le1990,ge2019"),
    ("Patient", "birthdate=le1960"),
    # quantity (search.html#quantity)
    ("Observation", "value-quantity=gt170|http://unitsofmeasure.org|cm"),
    ("Observation", "value-quantity=le1.677|http://unitsofmeasure.org|m"),
    ("Observation", "value-quantity=lt100000||g"),
    ("Observation", "value-quantity=ap80"),
    ("Observation", "value-quantity=sa90|http://unitsofmeasure.org|[lb_av]"),
    ("Observation", "component-value-quantity=gt120"),
    # reference (search.html#reference)
    ("Observation", f"subject=Patient/{PATIENT}"),
    ("Observation", f"patient={OTHER_PATIENT}"),
    ("Observation", f"subject:Patient={PATIENT}"),
    ("Observation", f"subject=Group/{PATIENT}"),
    ("Patient", "general-practitioner:missing=true"),
    ("Condition", f"subject={PATIENT}&encounter:missing=false"),
    ("Claim", f"patient=Patient/{PATIENT}"),
    # uri, composite, common parameters
    ("Observation", "_profile=http://hl7.org/fhir/StructureDefinition/bodyheight"),
    ("Observation", "_profile:below=http://hl7.org/fhir/StructureDefinition/body"),
    ("Observation", "code-value-concept=http://loinc.org|72166-2$http://snomed.info/sct|266919005"),
    ("Observation", "code-value-concept=72166-2$266919005,72166-2$449868002"),
    ("Observation", f"_lastUpdated=ge{'2024-03-01T09:00:00Z'}&_lastUpdated=lt2024-03-01T10:00:00Z"),
    ("DiagnosticReport", "_lastUpdated=eb2024-03-01T08:40:00Z"),
    # several criteria: one drives, the others probe each candidate (where_sql)
    ("Observation", f"subject=Patient/{PATIENT}&code=http://loinc.org|8302-2&date=ge2015"),
    ("Observation", f"code=8302-2&date=ge2015&patient={PATIENT}&value-quantity=gt150"),
    ("Observation", f"_id=a,b&subject={PATIENT}"),
    ("Observation", f"subject={PATIENT}&code:not=8302-2&value-quantity:missing=true"),
    ("Observation", "category:in=http://hl7.org/fhir/ValueSet/observation-category&date=le2015"),
    # sorts
    ("Observation", "category=laboratory&_sort=_id"),
    ("Observation", "category=laboratory&_sort=-_lastUpdated"),
    ("Observation", "date=ge2018&_sort=_lastUpdated,-_id"),
    ("Encounter", "_sort=-_id"),
]


@pytest.fixture
async def loaded(repository: Repository) -> tuple[Repository, list[dict[str, Any]]]:
    """Two Synthea patients' records (about 4,100 resources)."""
    resources = synthea_record() + synthea_record(SECOND_PATIENT)
    stored = await load(repository, resources)
    return repository, stored


async def test_sql_agrees_with_the_matcher(
    loaded: tuple[Repository, list[dict[str, Any]]],
) -> None:
    repository, stored = loaded
    rows = [extract_index(r) for r in stored]
    failures = []
    empty = []
    for resource_type, text in SEARCHES:
        q = query(resource_type, text + "&_count=1000")
        ids, pages = await all_pages(repository, q)
        expected = expected_ids(stored, q, rows)
        if ids != expected or pages[0].total != len(expected):
            failures.append(f"{resource_type}?{text}: got {len(ids)} expected {len(expected)}")
        if not expected:
            empty.append(text)
    assert failures == []
    # Only the searches meant to find nothing find nothing.
    assert empty == [
        "code=|8302-2",
        "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|DL|999-82-5655",
        "family:exact=cormier289",
        f"subject=Group/{PATIENT}",
        f"_id=a,b&subject={PATIENT}",
    ]


async def test_system_level_search(loaded: tuple[Repository, list[dict[str, Any]]]) -> None:
    repository, stored = loaded
    q = query(
        None,
        "_type=Patient,Encounter,Condition&_count=50&_sort=_id"
        "&_profile:below=http://hl7.org/fhir/us/core/StructureDefinition/us-core-",
    )

    ids, pages = await all_pages(repository, q)

    assert ids == expected_ids(stored, q)
    assert {e.resource_type for p in pages for e in p.entries} == {
        "Patient",
        "Encounter",
        "Condition",
    }
    assert len(pages) > 1


@pytest.mark.parametrize(
    "sort", ["", "&_sort=_lastUpdated", "&_sort=-_lastUpdated", "&_sort=_id", "&_sort=-_id,_id"]
)
async def test_paging_is_complete_stable_and_in_order(repository: Repository, sort: str) -> None:
    observations = synthea_resources("Observation")[:120]
    stored = await load(repository, observations)
    q = query("Observation", f"category=vital-signs&_count=7{sort}")

    ids, pages = await all_pages(repository, q)

    assert ids == expected_ids(stored, q)
    assert len(ids) == len(set(ids)) > 7
    assert all(len(p.entries) == 7 for p in pages[:-1])
    assert 0 < len(pages[-1].entries) <= 7 and pages[-1].next_cursor is None
    assert {p.total for p in pages} == {len(ids)}


async def test_exact_page_boundary_has_no_empty_next_page(repository: Repository) -> None:
    await load(repository, synthea_resources("Encounter")[:10])

    page = await repository.search(query("Encounter", "_count=10"))
    assert len(page.entries) == 10 and page.next_cursor is None and page.total == 10

    first = await repository.search(query("Encounter", "_count=5"))
    assert first.next_cursor is not None


async def test_total_modes_and_count_zero(repository: Repository) -> None:
    await load(repository, synthea_resources("Encounter"))

    only_total = await repository.search(query("Encounter", "_count=0"))
    summary_count = await repository.search(query("Encounter", "_summary=count"))
    no_total = await repository.search(query("Encounter", "_total=none&_count=5"))
    nothing = await repository.search(query("Encounter", "_count=0&_total=none"))

    assert (only_total.entries, only_total.total) == ([], 30)
    assert (summary_count.entries, summary_count.total) == ([], 30)
    assert no_total.total is None and len(no_total.entries) == 5
    assert (nothing.entries, nothing.total) == ([], None)


async def test_results_are_current_versions_and_never_deleted(repository: Repository) -> None:
    conditions = synthea_resources("Condition")[:3]
    await load(repository, conditions)
    changed, removed, kept = conditions
    changed = dict(changed, code={"coding": [{"system": "http://x", "code": "new"}]})
    await repository.write_many([new_version(changed, 2, T0 + 10_000 * SECOND)])
    async with repository.transaction() as tx:
        from wardbook.storage.base import NewVersion

        await tx.write(
            NewVersion("Condition", removed["id"], 2, T0 + 10_001 * SECOND, "DELETE", None, None)
        )

    everything = await repository.search(query("Condition", ""))
    by_new_code = await repository.search(query("Condition", "code=http://x|new"))
    by_old_code = await repository.search(
        query("Condition", f"code={conditions[0]['code']['coding'][0]['code']}&_id={changed['id']}")
    )
    by_id = await repository.search(query("Condition", f"_id={removed['id']},{kept['id']}"))

    assert sorted(e.id for e in everything.entries) == sorted([changed["id"], kept["id"]])
    assert everything.total == 2
    assert [(e.id, e.version) for e in by_new_code.entries] == [(changed["id"], 2)]
    body = orjson.loads(by_new_code.entries[0].body or b"")
    assert body["code"]["coding"][0]["code"] == "new" and body["meta"]["versionId"] == "2"
    assert by_old_code.entries == []
    assert [e.id for e in by_id.entries] == [kept["id"]]


async def test_a_transaction_searches_its_own_writes(repository: Repository) -> None:
    patient = synthea_resources("Patient")[0]

    async with repository.transaction() as tx:
        await tx.write(new_version(patient, 1, T0))
        inside = await tx.search(query("Patient", "family=cormier"))
        ids = await search_ids(tx.runner, query("Patient", "gender=female"), 2)

    assert [e.id for e in inside.entries] == [patient["id"]]
    assert ids == [("Patient", patient["id"])]


class CountingRunner:
    """Counts statements, to prove a page costs a fixed number of queries (no N+1)."""

    def __init__(self, inner: SqlRunner) -> None:
        self.inner = inner
        self.statements: list[str] = []

    @property
    def dialect(self) -> Dialect:
        return self.inner.dialect

    async def fetch_all(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        assert sql.count("?") == len(params)
        self.statements.append(sql)
        return await self.inner.fetch_all(sql, params)


async def test_a_page_costs_at_most_three_statements(repository: Repository) -> None:
    await load(repository, synthea_resources("Observation")[:200])

    async with repository.transaction() as tx:
        runner = CountingRunner(tx.runner)
        first = await run_search(runner, query("Observation", "category=vital-signs&_count=50"))
        assert len(first.entries) == 50 and first.next_cursor is not None
        assert len(runner.statements) == 3  # ids, total, bodies
        runner.statements.clear()
        small = await run_search(runner, query("Observation", "code=8302-2"))
        assert 0 < len(small.entries) < 50
        assert len(runner.statements) == 2  # the total is the page's size


async def test_bad_cursors_are_rejected(repository: Repository) -> None:
    await load(repository, synthea_resources("Encounter"))
    page = await repository.search(query("Encounter", "_count=5&_sort=_id"))
    assert page.next_cursor is not None

    for cursor in ["garbage", "e30", page.next_cursor + "x"]:
        with pytest.raises(BadRequest):
            await repository.search(query("Encounter", f"_count=5&_sort=_id&_cursor={cursor}"))
    with pytest.raises(BadRequest, match="cursor"):  # made for another sort order
        await repository.search(
            query("Encounter", f"_count=5&_sort=-_lastUpdated&_cursor={page.next_cursor}")
        )


async def test_like_wildcards_in_values_are_literal(repository: Repository) -> None:
    patients = []
    for i, family in enumerate(["100%_pure", "100xypure", "O'Neil"]):
        patient = synthea_resources("Patient")[0]
        patient["id"] = f"p{i}"
        patient["name"] = [{"family": family}]
        patients.append(patient)
    await load(repository, patients)

    percent = await repository.search(query("Patient", "family:contains=0%_p"))
    quote = await repository.search(query("Patient", "family=o'n"))

    assert [e.id for e in percent.entries] == ["p0"]
    assert [e.id for e in quote.entries] == ["p2"]
