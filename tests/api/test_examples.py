"""Every official R4 example is accepted and reads back equal, on every backend.

The few examples that break the specification's own rules are listed, each with the rule,
in ``tests/fhir/known_invalid_examples.py``; they must be refused with an OperationOutcome
that names that rule.
"""

from __future__ import annotations

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


def load_examples() -> list[dict[str, Any]]:
    with gzip.open(EXAMPLES, "rb") as handle:
        return [jsonio.loads(line) for line in handle if line.strip()]


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
