"""Chains, ``_has``, ``_list``, includes and sorts: SQL against the in-memory oracle.

R4 search.html#chaining, #has, #list, #include, #revinclude and #sort. Hypothesis draws
queries (AND of terms, a sort, include directives, a page size) over a generated clinical
graph (tests/search/graph.py) and, separately, fixed queries run over two Synthea records;
every page of matches and every page's includes must equal what the pure matcher
(:mod:`wardbook.search.matcher`) computes, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wardbook.search.matcher import Universe, included, matches, sort_value
from wardbook.search.parse import parse_search
from wardbook.search.query import SearchQuery
from wardbook.storage.base import Page, Repository

from .data import SECOND_PATIENT, load, synthea_record
from .graph import INCLUDES, SORTS, TERMS, clinical_graph

pytestmark = pytest.mark.anyio


def query(resource_type: str | None, text: str) -> SearchQuery:
    return parse_search(resource_type, parse_qsl(text, keep_blank_values=True), strict=True)


def _sort_key(universe: Universe, q: SearchQuery, index: int) -> tuple[Any, ...]:
    parts: list[Any] = []
    for key in q.sort:
        value = sort_value(universe.rows[index], universe.resources[index], key)
        if value is None:
            parts.append((1, 0))
        else:
            parts.append((0, _Desc(value) if key.descending else value))
    return (*parts, index)


class _Desc:
    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        return bool(self.value > other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)


def expected_matches(universe: Universe, q: SearchQuery) -> list[int]:
    """Universe indexes (= load order = pid order) of the matches, in sort order."""
    found = [
        i
        for i, r in enumerate(universe.resources)
        if matches(r, q, rows=universe.rows[i], universe=universe)
    ]
    return sorted(found, key=lambda i: _sort_key(universe, q, i))


async def pages_of(repository: Repository, q: SearchQuery) -> list[Page]:
    pages = [await repository.search(q)]
    while pages[-1].next_cursor is not None:
        assert len(pages) < 300, "paging does not end"
        q = query(q.resource_type, q.to_query_string(pages[-1].next_cursor))
        pages.append(await repository.search(q))
    return pages


def _key(entry: Any) -> tuple[str, str]:
    return (entry.resource_type, entry.id)


async def check(repository: Repository, universe: Universe, q: SearchQuery) -> list[int]:
    """Every page's matches and includes equal the oracle's; returns the match indexes."""
    expected = expected_matches(universe, q)
    pages = await pages_of(repository, q)
    got = [universe.by_key[_key(e)] for p in pages for e in p.entries]
    assert got == expected, q.to_query_string()
    assert {p.total for p in pages} == {len(expected)}
    for page in pages:
        page_matches = [universe.by_key[_key(e)] for e in page.entries]
        want = included(page_matches, q.includes, universe)
        have = [universe.by_key[_key(e)] for e in page.included]
        assert len(have) == len(set(have)), "an included resource appears twice"
        assert set(have) == want, q.to_query_string()
        assert not set(have) & set(page_matches)
    return expected


_graph_cache: dict[int, Universe] = {}


async def graph_universe(repository: Repository) -> Universe:
    """Load the generated graph once per repository (Hypothesis reuses the fixture)."""
    if id(repository) not in _graph_cache:
        _graph_cache.clear()
        stored = await load(repository, clinical_graph())
        _graph_cache[id(repository)] = Universe(stored)
    return _graph_cache[id(repository)]


@st.composite
def graph_queries(draw: st.DrawFn) -> str:
    resource_type = draw(st.sampled_from(sorted(TERMS)))
    terms = draw(st.lists(st.sampled_from(TERMS[resource_type]), max_size=2, unique=True))
    parts = list(terms)
    if draw(st.booleans()):
        parts.append("_sort=" + draw(st.sampled_from(SORTS[resource_type])))
    parts += draw(st.lists(st.sampled_from(INCLUDES[resource_type]), max_size=3, unique=True))
    parts.append(f"_count={draw(st.sampled_from([1, 4, 9, 1000]))}")
    return f"{resource_type}?{'&'.join(parts)}"


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=graph_queries())
async def test_sql_equals_the_oracle_on_generated_graphs(repository: Repository, text: str) -> None:
    universe = await graph_universe(repository)
    resource_type, _, params = text.partition("?")
    await check(repository, universe, query(resource_type, params))


async def test_every_catalogued_term_sort_and_include(repository: Repository) -> None:
    """Each building block alone, so none is left to chance (and none is vacuous)."""
    universe = await graph_universe(repository)
    empty = []
    for resource_type, terms in TERMS.items():
        for text in terms:
            if not await check(repository, universe, query(resource_type, text)):
                empty.append(text)
        for sort in SORTS[resource_type]:
            await check(repository, universe, query(resource_type, f"_sort={sort}&_count=7"))
        for include in INCLUDES[resource_type]:
            await check(repository, universe, query(resource_type, f"{include}&_count=5"))
    assert empty == []


PATIENT = "057aa36e-b892-9964-75b9-ffb46b097e34"

SYNTHEA_QUERIES = [
    ("Observation", "subject:Patient.family=Cormier289"),
    ("Observation", "patient.gender=female&code=8302-2"),
    # a chain over four target types: UNION ALL when it drives, OR when it is probed
    ("Observation", "subject.identifier=http://hl7.org/fhir/sid/us-ssn|999-82-5655"),
    ("Observation", "code=8302-2&subject.identifier=http://hl7.org/fhir/sid/us-ssn|999-82-5655"),
    ("Observation", f"subject={PATIENT}&encounter.class=AMB&date=ge2015&code:not=8302-2"),
    ("Observation", "encounter:Encounter.subject:Patient.family=Cormier289&_sort=-date"),
    ("Procedure", "reason-reference:Condition.subject:Patient.family=Cormier289"),
    ("MedicationRequest", "medication.code=854235,198440,854252"),
    ("Patient", "_has:Encounter:patient:class=IMP"),
    ("Patient", "_has:Encounter:patient:class=AMB&_has:Encounter:patient:date=2010"),
    ("Patient", "_has:Encounter:patient:_has:Observation:encounter:code=8302-2"),
    ("Encounter", "_has:Observation:encounter:code=8302-2&_sort=date"),
    ("Observation", "code=8302-2&_include=Observation:subject&_include=Observation:encounter"),
    ("Encounter", "_revinclude=Observation:encounter&_count=4"),
    ("Encounter", "_revinclude=*&_count=3&_sort=-date"),
    ("MedicationRequest", "_include=MedicationRequest:medication&_count=10"),
    ("Patient", "_revinclude=Encounter:patient&_revinclude:iterate=Observation:encounter"),
    ("Observation", "category=vital-signs&_sort=code,-date&_count=50"),
    ("Observation", "category=laboratory&_sort=-value-quantity&_count=100"),
    ("Condition", "_sort=onset-date,code&_count=6"),
    ("Encounter", "_sort=-type,date&_count=7"),
    ("Claim", "_sort=-patient,_id&_count=300"),
    ("Immunization", "_sort=vaccine-code,-date&_count=4&_include=Immunization:patient"),
]


async def test_synthea_records(repository: Repository) -> None:
    stored = await load(repository, synthea_record() + synthea_record(SECOND_PATIENT))
    universe = Universe(stored)
    sizes = []
    for resource_type, text in SYNTHEA_QUERIES:
        sizes.append(len(await check(repository, universe, query(resource_type, text))))
    assert all(sizes), list(zip(SYNTHEA_QUERIES, sizes, strict=True))
