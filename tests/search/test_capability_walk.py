"""Every search parameter the CapabilityStatement advertises returns the right matches.

The official R4 examples (5,297 resources of 140 types) are loaded; for each advertised
(type, parameter) a value is taken from a real resource's index rows, the search runs in
SQL under strict handling, and the result must equal the in-memory matcher's over the
same resources and contain the resource the value came from. Parameters without example
data still run (with a synthetic value) and must agree with the matcher. Each reference
parameter is also chained (``param:Type._id=...``) and reverse-chained (``_has``), and
every advertised ``_include``/``_revinclude`` must parse and run.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import pytest

from wardbook.api.capabilities import capability_statement
from wardbook.errors import BadRequest
from wardbook.fhir import registry
from wardbook.fhir.registry import search_parameters
from wardbook.search.extract import extract_index
from wardbook.search.index import IndexRows
from wardbook.search.matcher import Universe, included, matches
from wardbook.search.params import near
from wardbook.search.params.escape import escape
from wardbook.search.parse import parse_search
from wardbook.search.query import SearchQuery
from wardbook.storage.base import Repository

from .data import load, official_examples
from .test_linked_search import check, expected_matches, pages_of


async def check_first_page(repository: Repository, universe: Universe, q: SearchQuery) -> None:
    """The first page's matches and includes equal the oracle's."""
    page = await repository.search(q)
    want = expected_matches(universe, q)[: q.count]
    assert [universe.by_key[(e.resource_type, e.id)] for e in page.entries] == want
    have = {universe.by_key[(e.resource_type, e.id)] for e in page.included}
    assert have == included(want, q.includes, universe), q.to_query_string()


pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def _instant(micros: int) -> str:
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros)
    return f"{moment.year:04d}" + moment.strftime("-%m-%dT%H:%M:%S.%f") + "Z"


def _number(value: float) -> str:
    return repr(value) if value != int(value) else str(int(value))


def value_from(rows: IndexRows, code: str, ptype: str) -> str | None:
    """A search value that the resource with ``rows`` satisfies for parameter ``code``."""

    def first(table: list[Any]) -> Any:
        return next((r for r in table if r.param == code), None)

    if ptype == "token":
        row = first(rows.token)
        if row is None or row.code is None:
            return None
        return f"{escape(row.system)}|{escape(row.code)}" if row.system else escape(row.code)
    if ptype == "string":
        row = first(rows.string)
        return None if row is None or not row.value_exact.strip() else escape(row.value_exact)
    if ptype == "date":
        row = first(rows.date)
        return None if row is None else f"ge{_instant(row.low)}"
    if ptype == "number":
        row = first(rows.number)
        return None if row is None else _number(row.value)
    if ptype == "quantity":
        row = first(rows.quantity)
        if row is None:
            return None
        unit = f"|{escape(row.system or '')}|{escape(row.code)}" if row.code else ""
        return f"{_number(row.value)}{unit}"
    if ptype == "uri":
        row = first(rows.uri)
        return None if row is None else escape(row.uri)
    if ptype == "special" and code == "near":
        lat = next((r.value for r in rows.number if r.param == near.LATITUDE), None)
        lon = next((r.value for r in rows.number if r.param == near.LONGITUDE), None)
        return None if lat is None or lon is None else f"{_number(lat)}|{_number(lon)}|50|km"
    if ptype == "reference":
        row = first(rows.reference)
        if row is None:
            return None
        if row.target_type and row.target_id:
            return escape(f"{row.target_type}/{row.target_id}")
        # Relative canonicals ("PlanDefinition/KDN5") would read as local references.
        absolute = row.url is not None and ("://" in row.url or row.url.startswith("urn:"))
        return escape(row.url) if absolute else None
    return None


SYNTHETIC = {
    "token": "abc",
    "string": "smith",
    "date": "ge2020-01-01",
    "number": "gt1",
    "quantity": "5.4||mg",
    "uri": "http://example.org/fhir/x",
    "reference": "Patient/abc",
}


def _query(resource_type: str, params: list[tuple[str, str]]) -> SearchQuery:
    return parse_search(resource_type, params, strict=True)


async def test_every_advertised_parameter_returns_the_right_matches(
    repository: Repository,
) -> None:
    examples = list(official_examples())
    stored = await load(repository, examples)
    universe = Universe(stored)
    by_type: dict[str, list[int]] = defaultdict(list)
    for i, resource in enumerate(stored):
        by_type[resource["resourceType"]].append(i)
    statement = capability_statement("http://testserver/fhir")
    failures: list[str] = []
    from_data = synthetic = chained = 0
    for entry in statement["rest"][0]["resource"]:
        rtype = entry["type"]
        members = by_type.get(rtype, [])
        for param in entry["searchParam"]:
            code, ptype = param["name"], param["type"]
            source, value = None, None
            if code == "_id" and members:
                source, value = members[0], escape(stored[members[0]]["id"])
            elif code == "_lastUpdated":
                value = "ge2024-03-01"
            else:
                for i in members:
                    value = value_from(universe.rows[i], code, ptype)
                    if value is not None:
                        source = i
                        break
            if value is None:
                if ptype not in SYNTHETIC:
                    continue  # composite without example data: covered by test_search_sql
                value = SYNTHETIC[ptype]
                synthetic += 1
            else:
                from_data += 1
            params = [(code, value)]
            try:
                q = _query(rtype, [*params, ("_count", "1000")])
            except BadRequest as error:
                failures.append(f"{rtype}?{code}={value}: refused: {error.message}")
                continue
            got = {
                (e.resource_type, e.id) for p in await pages_of(repository, q) for e in p.entries
            }
            want = {
                (stored[i]["resourceType"], stored[i]["id"])
                for i in members
                if matches(stored[i], q, rows=universe.rows[i], universe=universe)
            }
            if got != want:
                failures.append(f"{rtype}?{code}={value}: {len(got)} != {len(want)}")
            if source is not None and (rtype, stored[source]["id"]) not in got:
                failures.append(f"{rtype}?{code}={value}: misses its source resource")
            if ptype == "reference" and source is not None and "/" in value:
                # The same reference as a chain and as a reverse chain.
                target_type, target_id = value.split("/", 1)
                targets = search_parameters(rtype)[code].targets
                if registry.is_resource_type(target_type) and target_type in (
                    targets or (target_type,)
                ):
                    chain = _query(rtype, [(f"{code}:{target_type}._id", target_id)])
                    has = _query(target_type, [(f"_has:{rtype}:{code}:_id", stored[source]["id"])])
                    for cq in (chain, has):
                        await check(repository, universe, cq)
                    chained += 1
    assert failures == [], "\n".join(failures[:40])
    assert from_data > 900 and chained > 150, (from_data, synthetic, chained)
    # Every advertised include directive parses and runs.
    directives = 0
    for entry in statement["rest"][0]["resource"]:
        rtype = entry["type"]
        for name, key in (("_include", "searchInclude"), ("_revinclude", "searchRevInclude")):
            for directive in entry.get(key, []):
                q = _query(rtype, [(name, directive), ("_count", "20")])
                await check_first_page(repository, universe, q)
                directives += 1
    assert directives > 1000


def test_index_rows_give_values_their_resource_matches() -> None:
    """The value builder itself: each built value matches its own resource (pure)."""
    resource = {
        "resourceType": "Observation",
        "id": "x",
        "status": "final",
        "code": {"coding": [{"system": "http://a|b", "code": "c,d"}]},
        "valueQuantity": {"value": 5.25, "system": "http://unitsofmeasure.org", "code": "mg"},
        "effectiveDateTime": "2021-03-04",
        "subject": {"reference": "Patient/p1"},
    }
    rows = extract_index(resource)
    for code, ptype in (
        ("code", "token"),
        ("value-quantity", "quantity"),
        ("date", "date"),
        ("subject", "reference"),
    ):
        value = value_from(rows, code, ptype)
        assert value is not None
        q = _query("Observation", [(code, value)])
        assert matches(resource, q, rows=rows), (code, value)
