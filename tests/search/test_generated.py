"""SQL and matcher agree on generated data: edge-case values and random queries.

Resources are generated from a seeded ``random.Random`` (deterministic, no shrinking
needed): codes with and without systems, strings with accents and LIKE wildcards, dates at
every precision and several zones, quantities in convertible units, references of several
types, missing elements. Each query is checked on both backends against the matcher.
"""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import urlencode

import pytest

from wardbook.search.extract import extract_index
from wardbook.search.matcher import Universe, contained_matches, matches
from wardbook.search.parse import parse_search
from wardbook.service.resources import contained_page
from wardbook.storage.base import Repository

from .data import load
from .test_search_sql import all_pages, expected_ids

pytestmark = pytest.mark.anyio

SYSTEMS = ["http://loinc.org", "http://snomed.info/sct", None]
CODES = ["1", "2", "x-1", "A|B", "a,b"]
WORDS = ["Zoë", "zoe", "Müller", "100%_off", "O'Neil", "ann marie", "Ånn", "b\\c"]
DATES = [
    "2020",
    "2020-02",
    "2020-02-29",
    "2020-03-01T00:00:00Z",
    "2020-02-29T23:30:00-01:00",
    "2020-03-01T10:15:30.123+05:30",
    "2019-12-31T23:59:59Z",
    "2021-01-01",
]
UNITS = [("mg", 5400), ("g", 5.4), ("kg", 0.0054), ("mL", 5), ("Cel", 37), ("[degF]", 98.6)]
TYPES = ["Patient", "Group", "Device"]


def _observation(rng: random.Random, i: int) -> dict[str, Any]:
    obs: dict[str, Any] = {"resourceType": "Observation", "id": f"o{i}", "status": "final"}
    if rng.random() < 0.9:
        codings = []
        for _ in range(rng.randint(1, 2)):
            coding: dict[str, Any] = {"code": rng.choice(CODES)}
            system = rng.choice(SYSTEMS)
            if system:
                coding["system"] = system
            if rng.random() < 0.5:
                coding["display"] = rng.choice(WORDS)
            codings.append(coding)
        obs["code"] = {"coding": codings}
        if rng.random() < 0.3:
            obs["code"]["text"] = rng.choice(WORDS)
    choice = rng.random()
    if choice < 0.5:
        obs["effectiveDateTime"] = rng.choice(DATES)
    elif choice < 0.8:
        period: dict[str, str] = {}
        if rng.random() < 0.8:
            period["start"] = rng.choice(DATES)
        if rng.random() < 0.6:
            period["end"] = rng.choice(DATES)
        if period.get("start", "") > period.get("end", "9999"):
            period["start"], period["end"] = period["end"], period["start"]
        obs["effectivePeriod"] = period
    if rng.random() < 0.7:
        unit, value = rng.choice(UNITS)
        quantity: dict[str, Any] = {"value": value * rng.choice([1, 1, 2, 0.5]), "code": unit}
        if rng.random() < 0.8:
            quantity["system"] = "http://unitsofmeasure.org"
        if rng.random() < 0.5:
            quantity["unit"] = unit
        obs["valueQuantity"] = quantity
    elif rng.random() < 0.5:
        obs["valueString"] = rng.choice(WORDS)
    if rng.random() < 0.8:
        obs["subject"] = {"reference": f"{rng.choice(TYPES)}/p{rng.randint(0, 3)}"}
    if rng.random() < 0.2:
        obs["subject"] = {"identifier": {"system": "urn:mrn", "value": str(rng.randint(0, 3))}}
    if rng.random() < 0.3:
        obs["meta"] = {"profile": [f"http://x.org/StructureDefinition/{rng.choice(WORDS)}"]}
    return obs


def _query(rng: random.Random) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []

    def escaped(text: str) -> str:
        return text.replace("\\", "\\\\").replace(",", "\\,").replace("|", "\\|")

    for _ in range(rng.randint(1, 2)):
        kind = rng.choice(["code", "date", "quantity", "subject", "string", "missing", "uri"])
        if kind == "code":
            system = rng.choice([*SYSTEMS, ""])
            code = escaped(rng.choice(CODES))
            form = rng.choice(["code", "system|code", "|code", "system|"])
            value = {
                "code": code,
                "system|code": f"{system or 'http://loinc.org'}|{code}",
                "|code": f"|{code}",
                "system|": f"{system or 'http://snomed.info/sct'}|",
            }[form]
            modifier = rng.choice(["", "", ":not"])
            if rng.random() < 0.2:
                modifier, value = ":text", escaped(rng.choice(WORDS)[:3])
            params.append((f"code{modifier}", value))
        elif kind == "date":
            prefix = rng.choice(["", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"])
            values = ",".join(prefix + rng.choice(DATES) for _ in range(rng.randint(1, 2)))
            params.append(("date", values))
        elif kind == "quantity":
            prefix = rng.choice(["", "gt", "lt", "ge", "le", "ne", "ap", "sa", "eb"])
            unit, amount = rng.choice(UNITS)
            form = rng.choice(["full", "code", "bare"])
            text = f"{prefix}{amount}"
            if form == "full":
                text += f"|http://unitsofmeasure.org|{unit}"
            elif form == "code":
                text += f"||{unit}"
            params.append(("value-quantity", text))
        elif kind == "subject":
            target = rng.choice(
                [f"{rng.choice(TYPES)}/p{rng.randint(0, 3)}", f"p{rng.randint(0, 3)}"]
            )
            if rng.random() < 0.2:
                params.append(("subject:identifier", f"urn:mrn|{rng.randint(0, 3)}"))
            elif rng.random() < 0.2:
                params.append((f"subject:{rng.choice(TYPES)}", f"p{rng.randint(0, 3)}"))
            else:
                params.append(("subject", target))
        elif kind == "string":
            modifier = rng.choice(["", ":exact", ":contains"])
            word = rng.choice(WORDS)
            params.append((f"value-string{modifier}", escaped(word if modifier else word[:3])))
        elif kind == "missing":
            name = rng.choice(["code", "date", "value-quantity", "subject", "_profile"])
            params.append((f"{name}:missing", rng.choice(["true", "false"])))
        else:
            modifier = rng.choice(["", ":below", ":above"])
            word = rng.choice(WORDS)
            uri = f"http://x.org/StructureDefinition/{word}"
            if modifier == ":below":
                uri = uri[: rng.randint(20, len(uri))]
            elif modifier == ":above":
                uri += "/_history/1"
            params.append((f"_profile{modifier}", escaped(uri)))
    params.append(("_sort", rng.choice(["_id", "-_lastUpdated", "_lastUpdated,_id"])))
    params.append(("_count", str(rng.choice([3, 10, 1000]))))
    return params


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_sql_and_matcher_agree_on_generated_data(repository: Repository, seed: int) -> None:
    rng = random.Random(seed)
    resources = [_observation(rng, i) for i in range(80)]
    stored = await load(repository, resources, seed=seed)
    rows = [extract_index(r) for r in stored]
    disagreements = []
    hits = 0
    for _ in range(60):
        params = _query(rng)
        q = parse_search("Observation", params, strict=True)
        ids, _ = await all_pages(repository, q)
        expected = expected_ids(stored, q, rows)
        hits += bool(expected)
        if ids != expected:
            disagreements.append(f"?{urlencode(params)}: sql {ids} != matcher {expected}")
    assert disagreements == []
    assert hits > 20


def _report(rng: random.Random, i: int) -> dict[str, Any]:
    """A DiagnosticReport holding one to three generated Observations (search.html#contained)."""
    contained = []
    for j in range(rng.randint(1, 3)):
        obs = _observation(rng, i * 10 + j)
        obs["id"] = f"c{j}"
        obs.pop("meta", None)  # contained resources carry no meta.lastUpdated
        contained.append(obs)
    return {
        "resourceType": "DiagnosticReport",
        "id": f"r{i}",
        "status": "final",
        "code": {"text": "panel"},
        "result": [{"reference": f"#{c['id']}"} for c in contained],
        "contained": contained,
    }


@pytest.mark.parametrize("seed", [4, 5])
async def test_sql_and_matcher_agree_on_contained_resources(
    repository: Repository, seed: int
) -> None:
    """``_contained=true|both`` with every ``_containedType``: the SQL candidates, narrowed
    per contained resource by ResourceService.contained_page, are exactly what the matcher
    finds -- across pages, with negations and criteria two contained resources could
    satisfy only together."""
    rng = random.Random(seed)
    resources = [_observation(rng, i) for i in range(30)] + [_report(rng, i) for i in range(40)]
    stored = await load(repository, resources, seed=seed)
    rows = [extract_index(r) for r in stored]
    disagreements = []
    hits = 0
    for _ in range(50):
        params = [p for p in _query(rng) if not p[0].startswith("_sort")]
        params += [("_sort", rng.choice(["_id", "-_id"]))]
        params += [("_contained", rng.choice(["true", "both"]))]
        contained_type = rng.choice(["container", "contained"])
        params += [("_containedType", contained_type)]
        q = parse_search("Observation", params, strict=True)
        _, pages = await all_pages(repository, q)
        shown = [
            f"{e.container}/{e.id}" if e.container else f"{e.resource_type}/{e.id}"
            for p in pages
            for e in contained_page(p, q).entries
        ]
        plain = parse_search(
            "Observation", [p for p in params if not p[0].startswith("_contained")], strict=True
        )
        expected: list[str] = []
        by_id = {r["id"]: r for r in stored}
        for rid in expected_ids(stored, q, rows):
            resource = by_id[rid]
            container = f"{resource['resourceType']}/{rid}"
            if contained_type == "container":
                expected.append(container)
                continue
            if q.contained == "both" and matches(resource, plain):
                expected.append(container)
            expected += [f"{container}/{c['id']}" for c in contained_matches(resource, plain)]
        hits += bool(expected)
        if shown != expected:
            disagreements.append(f"?{urlencode(params)}: sql {shown} != matcher {expected}")
    assert disagreements == []
    assert hits > 15


def _chained_report(rng: random.Random, i: int, standalone: int) -> dict[str, Any]:
    """A report whose ``result`` points at contained Observations, standalone ones or both."""
    report = _report(rng, i)
    refs = report["result"][: rng.randint(0, len(report["result"]))]
    if not refs:  # dom-3 aside, an unreferenced contained resource must not be followed
        report["result"] = []
    else:
        report["result"] = refs
    if rng.random() < 0.5 or not refs:
        report["result"].append({"reference": f"Observation/o{rng.randrange(standalone)}"})
    return report


@pytest.mark.parametrize("seed", [6, 7])
async def test_sql_and_matcher_agree_on_chains_into_contained_resources(
    repository: Repository, seed: int
) -> None:
    """``DiagnosticReport?result.<param>=...``: the chain follows ``result`` into the
    standalone Observations and into the contained ones it points to (``#c0``), never into
    a contained Observation ``result`` does not name (R4 search.html#contained); SQL and
    the matcher agree across pages."""
    rng = random.Random(seed)
    observations = [_observation(rng, i) for i in range(30)]
    reports = [_chained_report(rng, i, len(observations)) for i in range(40)]
    # Subjects for a chain that continues from a contained Observation to a standalone one.
    subjects = [
        {"resourceType": t, "id": f"p{n}", "active": rng.random() < 0.5}
        for t in ("Patient", "Device")
        for n in range(4)
    ]
    stored = await load(repository, observations + reports + subjects, seed=seed)
    universe = Universe(stored)
    disagreements = []
    hits = inside = continued = 0
    for n in range(70):
        chained = [
            (f"result:Observation.{name}", value)
            for name, value in _query(rng)
            if not name.startswith(("_sort", "_count"))
        ]
        if n >= 50:  # result -> (contained) Observation -> subject -> Patient or Device
            target = rng.choice(["", ":Patient", ":Device"])
            chained = [(f"result.subject{target}._id", f"p{rng.randint(0, 3)}")]
            if target != ":Device" and rng.random() < 0.5:
                chained = [(f"result.subject{target or ':Patient'}.active", "true")]
        params = [*chained, ("_sort", "_id"), ("_count", str(rng.choice([3, 1000])))]
        q = parse_search("DiagnosticReport", params, strict=True)
        ids, _ = await all_pages(repository, q)
        expected = sorted(
            r["id"]
            for n, r in enumerate(stored)
            if r["resourceType"] == "DiagnosticReport"
            and matches(r, q, rows=universe.rows[n], universe=universe)
        )
        plain = [
            r["id"]
            for r in reports
            if all(_follows_standalone(r, name, value, universe) for name, value in chained)
        ]
        hits += bool(expected)
        inside += len(set(expected) - set(plain))
        continued += len(set(expected) - set(plain)) if n >= 50 else 0
        if ids != expected:
            disagreements.append(f"?{urlencode(params)}: sql {ids} != matcher {expected}")
    assert disagreements == []
    assert hits > 10
    assert inside > 0  # some matches exist only through contained Observations
    assert continued > 0  # ... and some only through a chain continuing from one


def _follows_standalone(report: dict[str, Any], name: str, value: str, universe: Universe) -> bool:
    """Whether one chained criterion holds through ``report``'s standalone results only."""
    q = parse_search("DiagnosticReport", [(name, value)], strict=True)
    bare = {k: v for k, v in report.items() if k != "contained"}
    return matches(bare, q, rows=extract_index(bare), universe=universe)
