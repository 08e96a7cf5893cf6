"""Every search parameter the CapabilityStatement advertises is executed (strict handling).

Under ``Prefer: handling=strict`` a parameter the engine cannot run is a 400, so a 200 for
each advertised parameter proves the CapabilityStatement claims nothing the code lacks.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from wardbook.fhir.registry import search_parameter_by_url, search_parameters

pytestmark = pytest.mark.anyio

SAMPLES = {
    "token": "http://example.org/codes|abc",
    "string": "smith",
    "date": "ge2020-01-01",
    "number": "gt1",
    "quantity": "5.4||mg",
    "uri": "http://example.org/fhir/x",
    "special": "42.25|-83.69|10|km",  # Location near, the only special one advertised
}


def sample(resource_type: str, code: str) -> str:
    param = search_parameters(resource_type)[code]
    if code == "_id":
        return "abc"
    if param.type == "reference":
        target = param.targets[0] if param.targets else "Patient"
        return f"{target}/abc"
    if param.type == "composite":
        parts = []
        for definition, _ in param.components:
            component = search_parameter_by_url(definition)
            assert component is not None
            if component.type == "reference":
                target = component.targets[0] if component.targets else "Patient"
                parts.append(f"{target}/abc")
            elif component.type in ("quantity", "number", "date"):
                parts.append(SAMPLES[component.type])  # an ordered last component
            else:
                parts.append(SAMPLES.get(component.type, "abc").split("|")[-1])
        return "$".join(parts)
    return SAMPLES[param.type]


async def test_every_advertised_parameter_is_executed(client: httpx.AsyncClient) -> None:
    statement = (await client.get("/metadata")).json()
    failures: list[str] = []
    checked = 0
    for resource in statement["rest"][0]["resource"]:
        resource_type = resource["type"]
        for param in resource["searchParam"]:
            value = sample(resource_type, param["name"])
            response = await client.get(
                f"/{resource_type}",
                params={param["name"]: value},
                headers={"Prefer": "handling=strict"},
            )
            checked += 1
            body: Any = response.json()
            if response.status_code != 200 or body.get("type") != "searchset":
                failures.append(f"{resource_type}?{param['name']}={value}: {response.text[:200]}")
    assert checked > 2000
    assert not failures, "\n".join(failures[:40])


async def test_unadvertised_parameter_is_refused_under_strict(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/Patient", params={"_filter": "name eq x"}, headers={"Prefer": "handling=strict"}
    )
    assert response.status_code == 400
    lenient = await client.get("/Patient", params={"_filter": "name eq x"})
    assert lenient.status_code == 200
    outcome = lenient.json()["entry"][-1]
    assert outcome["search"]["mode"] == "outcome"
    assert "_filter" in outcome["resource"]["issue"][0]["diagnostics"]
