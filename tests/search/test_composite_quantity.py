"""Composites ending in an ordered component, on every backend (R4 search.html#composite).

``code-value-quantity=http://loinc.org|8480-6$gt140`` matches an Observation when one element
has the code *and* a value above 140: the prefix, precision and unit rules are those of the
plain quantity (and date) parameters. Blood pressures carry systolic (8480-6) and diastolic
(8462-4) components, so a diastolic search must never borrow the systolic value of the same
Observation. Expected results are written out by hand, and once more computed from the
fixture values with plain Python; the in-memory matcher must agree with the SQL too.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import pytest

from wardbook.errors import BadRequest
from wardbook.search.extract import extract_index
from wardbook.search.index import IndexRows
from wardbook.search.matcher import matches
from wardbook.search.parse import parse_search
from wardbook.search.query import SearchQuery
from wardbook.storage.base import Repository

from .data import load

pytestmark = pytest.mark.anyio

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SYS, DIA = "8480-6", "8462-4"
MMHG = f"|{UCUM}|mm[Hg]"
# UCUM: 1 mm[Hg] = 133.322 Pa, 1 kPa = 1000 Pa (enough digits for the values below).
PASCALS = {"mm[Hg]": 133.322, "kPa": 1000.0}

# id: (systolic, diastolic), each (value, UCUM unit)
BLOOD_PRESSURES: dict[str, tuple[tuple[float, str], tuple[float, str]]] = {
    "bp1": ((150, "mm[Hg]"), (80, "mm[Hg]")),
    "bp2": ((120, "mm[Hg]"), (90, "mm[Hg]")),
    "bp3": ((140, "mm[Hg]"), (95, "mm[Hg]")),
    "bp4": ((100.5, "mm[Hg]"), (60, "mm[Hg]")),
    "bp5": ((20, "kPa"), (10.7, "kPa")),  # 150.0 / 80.3 mm[Hg]
}
# id: (code, value, UCUM unit): one value on the Observation itself
SINGLE: dict[str, tuple[str, float, str]] = {
    "sys1": (SYS, 145, "mm[Hg]"),
    "hr1": ("8867-4", 72, "/min"),
    "hr2": ("8867-4", 110, "/min"),
    "glu1": ("2339-0", 5.4, "mmol/L"),
}
LMP = "8665-2"  # last menstrual period start date: a dateTime or Period value


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _code(code: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code}]}


def fixtures() -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = []
    for rid, ((s, su), (d, du)) in BLOOD_PRESSURES.items():
        resources.append(
            {
                "resourceType": "Observation",
                "id": rid,
                "status": "final",
                "code": _code("85354-9"),
                "component": [
                    {"code": _code(SYS), "valueQuantity": _quantity(s, su)},
                    {"code": _code(DIA), "valueQuantity": _quantity(d, du)},
                ],
            }
        )
    for rid, (code, value, unit) in SINGLE.items():
        resources.append(
            {
                "resourceType": "Observation",
                "id": rid,
                "status": "final",
                "code": _code(code),
                "valueQuantity": _quantity(value, unit),
            }
        )
    dates: dict[str, dict[str, Any]] = {
        "lmp1": {"valueDateTime": "2024-01-15"},
        "lmp2": {"valueDateTime": "2023-06-01T10:00:00Z"},
        "lmp3": {"valuePeriod": {"start": "2024-02-01", "end": "2024-02-10"}},
    }
    for rid, value in dates.items():
        resources.append(
            {"resourceType": "Observation", "id": rid, "status": "final", "code": _code(LMP)}
            | value
        )
    resources.append(
        {
            "resourceType": "Observation",
            "id": "coded",
            "status": "final",
            "code": _code(SYS),  # the systolic code, but no quantity
            "valueCodeableConcept": _code("LA6576-8"),
        }
    )
    resources.append(
        {
            "resourceType": "ValueSet",
            "id": "vs-elderly",
            "status": "active",
            "useContext": [
                {
                    "code": {
                        "system": "http://terminology.hl7.org/CodeSystem/usage-context-type",
                        "code": "age",
                    },
                    "valueQuantity": {"value": 65, "system": UCUM, "code": "a"},
                }
            ],
        }
    )
    return resources


Stored = tuple[Repository, list[tuple[dict[str, Any], IndexRows]]]


@pytest.fixture
async def stored(repository: Repository) -> Stored:
    """The fixtures in the database, and as stored with their index rows (for the matcher)."""
    resources = await load(repository, fixtures(), statistics=False)
    return repository, [(r, extract_index(r)) for r in resources]


def query(resource_type: str, text: str) -> SearchQuery:
    return parse_search(resource_type, parse_qsl(text + "&_count=1000"), strict=True)


async def search(stored: Stored, text: str, resource_type: str = "Observation") -> set[str]:
    """The ids the database finds, after checking the in-memory matcher finds the same."""
    repository, resources = stored
    q = query(resource_type, text)
    page = await repository.search(q)
    assert page.next_cursor is None
    found = {e.id for e in page.entries}
    oracle = {r["id"] for r, rows in resources if matches(r, q, rows=rows)}
    assert found == oracle, "matcher and SQL disagree"
    return found


CASES = [
    # pairing: bp1 is 150/80, so no diastolic above 140 anywhere
    (f"component-code-value-quantity={LOINC}|{DIA}$gt140", set()),
    (f"component-code-value-quantity={LOINC}|{DIA}$gt85", {"bp2", "bp3"}),
    # units omitted compare the number as written (bp5 is in kPa); given, UCUM-canonical
    (f"component-code-value-quantity={LOINC}|{SYS}$gt140", {"bp1"}),
    (f"component-code-value-quantity={LOINC}|{SYS}$gt140{MMHG}", {"bp1", "bp5"}),
    # a unit code without a system: that code or unit text, or UCUM-canonical (bp5)
    (f"component-code-value-quantity={SYS}$gt140||mm[Hg]", {"bp1", "bp5"}),
    (f"component-code-value-quantity={SYS}$lt120", {"bp4", "bp5"}),
    (f"component-code-value-quantity={SYS}$lt120{MMHG}", {"bp4"}),
    (f"component-code-value-quantity={SYS}$ge140", {"bp1", "bp3"}),
    (f"component-code-value-quantity={SYS}$le120", {"bp2", "bp4", "bp5"}),
    # eq is the precision range of the value as written: 100 is [99.5, 100.5)
    (f"component-code-value-quantity={SYS}$150", {"bp1"}),
    (f"component-code-value-quantity={SYS}$eq150{MMHG}", {"bp1", "bp5"}),
    (f"component-code-value-quantity={SYS}$100.5", {"bp4"}),
    (f"component-code-value-quantity={SYS}$100", set()),
    (f"component-code-value-quantity={DIA}$80{MMHG}", {"bp1", "bp5"}),
    (f"component-code-value-quantity={SYS}$ne150", {"bp2", "bp3", "bp4", "bp5"}),
    (f"component-code-value-quantity={SYS}$ap130", {"bp2", "bp3"}),
    (f"component-code-value-quantity={SYS}$sa140", {"bp1"}),
    (f"component-code-value-quantity={SYS}$eb140", {"bp2", "bp4", "bp5"}),
    # the value on the Observation itself is not a component, and the other way round
    (f"code-value-quantity={LOINC}|{SYS}$gt140", {"sys1"}),
    (f"code-value-quantity={SYS}$gt0", {"sys1"}),
    (f"combo-code-value-quantity={SYS}$ge145", {"bp1", "sys1"}),
    (f"combo-code-value-quantity={SYS}$ge145{MMHG}", {"bp1", "bp5", "sys1"}),
    (f"code-value-quantity=8867-4$gt100|{UCUM}|/min", {"hr2"}),
    (f"code-value-quantity=2339-0$5.4|{UCUM}|mmol/L", {"glu1"}),
    (f"code-value-quantity=2339-0$5400|{UCUM}|umol/L", {"glu1"}),  # canonical mol/L
    # wrong code, wrong system, a system-less code the data does not have
    (f"combo-code-value-quantity=http://snomed.info/sct|{SYS}$gt0", set()),
    (f"combo-code-value-quantity=|{SYS}$gt0", set()),
    ("combo-code-value-quantity=9999-9$gt0", set()),
    # OR values (comma) and AND (repeated parameter: each may match another component)
    (f"component-code-value-quantity={SYS}$gt145,{DIA}$lt70{MMHG}", {"bp1", "bp4"}),
    (
        f"component-code-value-quantity={SYS}$gt130&component-code-value-quantity={DIA}$lt90",
        {"bp1"},
    ),
    (f"code-value-quantity={SYS}$gt140,8867-4$lt100", {"sys1", "hr1"}),
    # a date last (Observation code-value-date: dateTime or Period values)
    (f"code-value-date={LMP}$ge2024-01-01", {"lmp1", "lmp3"}),
    (f"code-value-date={LOINC}|{LMP}$2024-01", {"lmp1"}),
    (f"code-value-date={LMP}$lt2024", {"lmp2"}),
    (f"code-value-date={LMP}$2024-02", {"lmp3"}),
    (f"code-value-date={SYS}$ge2000", set()),
    # :missing reads the same rows
    ("component-code-value-quantity:missing=false", set(BLOOD_PRESSURES)),
    ("code-value-quantity:missing=false", set(SINGLE)),
    ("code-value-date:missing=true", {*BLOOD_PRESSURES, *SINGLE, "coded"}),
    # combined with a plain criterion
    (f"code=85354-9&component-code-value-quantity={DIA}$ge90", {"bp2", "bp3"}),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
async def test_composite_with_an_ordered_last_component(
    stored: Stored, text: str, expected: set[str]
) -> None:
    assert await search(stored, text) == expected


async def test_context_type_quantity(stored: Stored) -> None:
    assert await search(stored, "context-type-quantity=age$ge65", "ValueSet") == {"vs-elderly"}
    assert await search(stored, "context-type-quantity=age$gt65", "ValueSet") == set()
    assert await search(stored, "context-type-quantity=gender$ge65", "ValueSet") == set()


def _precision(text: str) -> tuple[float, float]:
    """The range a decimal as written stands for (R4 search.html#number)."""
    number = Decimal(text)
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    half = Decimal(5).scaleb(exponent - 1)
    return float(number - half), float(number + half)


def _expected(param: str, code: str, prefix: str, text: str, units: bool) -> set[str]:
    """The matches computed from the fixture values alone (no wardbook code)."""
    elements: list[tuple[str, str, float, str]] = []  # (id, code, value, unit)
    if param in ("component-code-value-quantity", "combo-code-value-quantity"):
        for rid, ((s, su), (d, du)) in BLOOD_PRESSURES.items():
            elements += [(rid, SYS, s, su), (rid, DIA, d, du)]
    if param in ("code-value-quantity", "combo-code-value-quantity"):
        elements += [(rid, c, v, u) for rid, (c, v, u) in SINGLE.items()]
    threshold = float(text)
    low, high = _precision(text)
    found = set()
    for rid, element_code, value, unit in elements:
        if element_code != code:
            continue
        if units:  # compared in pascals: mm[Hg] and kPa are both pressures
            if unit not in PASCALS:
                continue
            scale = PASCALS["mm[Hg]"]
            value, threshold_, low_, high_ = (
                value * PASCALS[unit],
                threshold * scale,
                low * scale,
                high * scale,
            )
        else:
            threshold_, low_, high_ = threshold, low, high
        ok = {
            "gt": value > threshold_,
            "lt": value < threshold_,
            "ge": value >= threshold_,
            "le": value <= threshold_,
            "eq": low_ <= value < high_,
            "ne": not (low_ <= value < high_),
        }[prefix]
        if ok:
            found.add(rid)
    return found


async def test_results_agree_with_values_computed_independently(
    stored: Stored,
) -> None:
    failures = []
    checked = 0
    for param in (
        "code-value-quantity",
        "component-code-value-quantity",
        "combo-code-value-quantity",
    ):
        for code in (SYS, DIA):
            for prefix in ("gt", "lt", "ge", "le", "eq", "ne"):
                for text in ("60", "80", "100.5", "140", "149"):
                    for units in (False, True):
                        value = f"{LOINC}|{code}${prefix}{text}{MMHG if units else ''}"
                        got = await search(stored, f"{param}={value}")
                        want = _expected(param, code, prefix, text, units)
                        checked += 1
                        if got != want:
                            failures.append(f"{param}={value}: {sorted(got)} != {sorted(want)}")
    assert checked == 3 * 2 * 6 * 5 * 2
    assert failures == []


async def test_sorting_by_a_composite_stays_unsupported() -> None:
    with pytest.raises(BadRequest) as caught:
        query("Observation", "_sort=code-value-quantity")
    assert caught.value.issues[0].code == "not-supported"


async def test_malformed_values_are_invalid() -> None:
    for text in (
        f"code-value-quantity={SYS}$gtabc",
        f"code-value-quantity={SYS}",
        f"code-value-date={SYS}$2024-13",
    ):
        with pytest.raises(BadRequest) as caught:
            query("Observation", text)
        assert caught.value.issues[0].code == "invalid", text


async def test_reindex_moves_rows_written_before_migration_0020(stored: Stored) -> None:
    """A database indexed before 0020 has exact-key rows only; ``wardbook reindex`` (the
    $reindex job) rewrites them, so the release notes can tell operators to run it."""
    from wardbook.service import reindex

    repository, _ = stored
    async with repository.transaction() as tx:
        await tx.runner.fetch_all(
            "INSERT INTO idx_composite (pid, res_type, param, key)"
            " SELECT pid, res_type, param, key || '$150' FROM idx_composite_quantity",
            [],
        )
        await tx.runner.fetch_all("DELETE FROM idx_composite_quantity", [])
    stale = await repository.search(
        query("Observation", f"component-code-value-quantity={SYS}$gt140")
    )
    assert stale.entries == []  # the matcher (fresh rows) would find bp1: not compared here

    job = await reindex.start_job(repository, ["Observation", "ValueSet"])
    done = await reindex.run_job(repository, job.id)

    assert done.status == "done"
    assert await search(stored, f"component-code-value-quantity={SYS}$gt140") == {"bp1"}
    assert await search(stored, "context-type-quantity=age$ge65", "ValueSet") == {"vs-elderly"}
    async with repository.transaction() as tx:
        left = await tx.runner.fetch_all(
            "SELECT count(*) FROM idx_composite WHERE param LIKE '%-quantity'", []
        )
    assert left[0][0] == 0
