"""Every official R4 example is accepted and reads back equal, on every backend.

The few examples that break the specification's own rules are listed, each with the rule,
in ``tests/fhir/known_invalid_examples.py``; they must be refused with an OperationOutcome
that names that rule.
"""

from __future__ import annotations

import functools
import gzip
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fhir.known_invalid_examples import KNOWN_INVALID_EXAMPLES as KNOWN_INVALID
from wardbook.fhir import jsonio
from wardbook.fhir.meta import strip_server_meta

pytestmark = pytest.mark.anyio

EXAMPLES = (
    Path(__file__).resolve().parents[2].parent / "shared/data/r4-examples/r4-examples.ndjson.gz"
)


@functools.cache
def _example_lines() -> tuple[bytes, ...]:
    with gzip.open(EXAMPLES, "rb") as handle:
        return tuple(line for line in handle if line.strip())


def load_examples() -> list[dict[str, Any]]:
    """Fresh parsed copies of every official example (callers may mutate them)."""
    return [jsonio.loads(line) for line in _example_lines()]


def names_rule(outcome: dict[str, Any], rule: str) -> bool:
    """The OperationOutcome has an issue at the element the rule names (indexes ignored)."""
    assert outcome["resourceType"] == "OperationOutcome"
    element = re.search(r"`([^`]+)`", rule)
    assert element is not None, rule
    for issue in outcome["issue"]:
        for expression in issue.get("expression", []):
            if re.sub(r"\[\d+\]", "", expression) == element.group(1):
                return True
    return False


async def test_every_official_example_round_trips(client: httpx.AsyncClient) -> None:
    examples = load_examples()
    assert len(examples) == 5297
    failures: list[str] = []
    refused = 0
    for example in examples:
        key = (example["resourceType"], example["id"])
        url = f"/{example['resourceType']}/{example['id']}"
        response = await client.put(
            url, content=jsonio.dumps(example), headers={"Content-Type": "application/fhir+json"}
        )
        if key in KNOWN_INVALID:
            refused += 1
            if response.status_code != 400:
                failures.append(f"{url}: known invalid but got {response.status_code}")
            elif not names_rule(response.json(), KNOWN_INVALID[key]):
                failures.append(f"{url}: refused without naming {KNOWN_INVALID[key]}")
            continue
        if response.status_code not in (200, 201):
            failures.append(f"{url}: {response.status_code} {response.text[:300]}")
            continue
        read = await client.get(url)
        got = strip_server_meta(jsonio.loads(read.content))
        if got != strip_server_meta(example):
            failures.append(f"{url}: reads back different")
    assert not failures, "\n".join(failures[:50])
    assert refused == len(KNOWN_INVALID)


async def test_decimal_precision_is_kept(client: httpx.AsyncClient) -> None:
    body = (
        b'{"resourceType":"Observation","status":"final","code":{"text":"Temp"},'
        b'"valueQuantity":{"value":37.50,"unit":"Cel","system":"http://unitsofmeasure.org",'
        b'"code":"Cel"}}'
    )
    created = await client.post(
        "/Observation", content=body, headers={"Content-Type": "application/fhir+json"}
    )
    assert created.status_code == 201
    read = await client.get(f"/Observation/{created.json()['id']}")
    assert b'"value":37.50' in read.content.replace(b" ", b"")


def official_example(resource_type: str, resource_id: str) -> dict[str, Any]:
    """A fresh copy of one official example (parsing only the candidate lines)."""
    needle = f'"id":"{resource_id}"'.encode()
    for line in _example_lines():
        if needle in line:
            parsed = jsonio.loads(line)
            if parsed["resourceType"] == resource_type and parsed["id"] == resource_id:
                return parsed  # type: ignore[no-any-return]
    raise LookupError(f"{resource_type}/{resource_id}")


MUTATIONS = [
    # (type, id, mutate, expected expression)
    ("Patient", "example", lambda r: r.update(gender="robot"), "Patient.gender"),
    ("Patient", "example", lambda r: r.update(birthDate="1974-13-45"), "Patient.birthDate"),
    ("Patient", "example", lambda r: r.update(nickname="Pete"), "Patient.nickname"),
    (
        "Patient",
        "example",
        lambda r: r["name"][0].update(family=["a", "b"]),
        "Patient.name[0].family",
    ),
    (
        "Observation",
        "example",
        lambda r: r.update(valueString="also a value"),
        "Observation.valueString",
    ),
    ("Observation", "example", lambda r: r.pop("status"), "Observation.status"),
    (
        "Observation",
        "example",
        lambda r: r["subject"].update(reference="Patient/has space"),
        "Observation.subject.reference",
    ),
]


@pytest.mark.parametrize(("resource_type", "resource_id", "mutate", "expression"), MUTATIONS)
async def test_broken_examples_are_refused_at_the_broken_element(
    client: httpx.AsyncClient,
    resource_type: str,
    resource_id: str,
    mutate: Any,
    expression: str,
) -> None:
    example = next(
        e for e in load_examples() if e["resourceType"] == resource_type and e["id"] == resource_id
    )
    mutate(example)
    response = await client.put(
        f"/{resource_type}/{resource_id}",
        content=jsonio.dumps(example),
        headers={"Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 400, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    expressions = [e for issue in outcome["issue"] for e in issue.get("expression", [])]
    assert expression in expressions, expressions
    assert (await client.get(f"/{resource_type}/{resource_id}")).status_code == 404
