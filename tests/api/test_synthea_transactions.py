"""Every Blaze Synthea bundle loads through POST /fhir (transactions and batches), both backends.

The data (../shared/data/blaze-synthea, see its README) is two batch bundles of hospitals
and practitioners with conditional creates, then 120 patient transaction bundles whose
entries link by ``urn:uuid:`` and name practitioners, organisations and locations by
conditional references (``Practitioner?identifier=...``).
"""

from __future__ import annotations

import bz2
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.search.data import SYNTHEA as DATA
from tests.synthea_sample import HOSPITALS, PATIENTS, PRACTITIONERS, trimmed
from wardbook.fhir import jsonio

pytestmark = pytest.mark.anyio


# ../shared/data/README.md: 92,114 entries.
EXPECTED = {
    "Observation": 42929,
    "Claim": 9856,
    "DiagnosticReport": 8229,
    "MedicationRequest": 5087,
    "Encounter": 4769,
    "DocumentReference": 4769,
    "ExplanationOfBenefit": 4769,
    "Procedure": 3608,
    "SupplyDelivery": 1886,
    "Immunization": 1616,
    "Condition": 1597,
    "CareTeam": 540,
    "CarePlan": 540,
    "Medication": 326,
    "MedicationAdministration": 326,
    "Practitioner": 195,
    "PractitionerRole": 195,
    "Organization": 194,
    "Location": 194,
    "ImagingStudy": 145,
    "Patient": 120,
    "Provenance": 120,
    "AllergyIntolerance": 76,
    "Device": 28,
}
_REFERENCE = re.compile(rb'"reference":"([^"]*)"')


def bundles() -> list[Path]:
    # The 0-* batches (hospitals, practitioners) sort first: the patients refer to them.
    return sorted(DATA.glob("*.json.bz2"))


@pytest.mark.slow
async def test_all_synthea_bundles_load_with_the_expected_counts(
    client: httpx.AsyncClient,
) -> None:
    files = bundles()
    assert len(files) == 122  # 120 patient transactions and 2 batches
    entries = 0
    for path in files:
        raw = bz2.decompress(path.read_bytes())
        response = await client.post(
            "",
            content=raw,
            headers={"Content-Type": "application/fhir+json", "Prefer": "return=minimal"},
            timeout=600,
        )
        assert response.status_code == 200, (path.name, response.text[:500])
        body: dict[str, Any] = response.json()
        statuses = {e["response"]["status"] for e in body["entry"]}
        assert statuses == {"201 Created"}, (path.name, statuses)
        entries += len(body["entry"])
    assert entries == sum(EXPECTED.values())
    for resource_type, expected in EXPECTED.items():
        found = await client.get(f"/{resource_type}", params={"_summary": "count"})
        assert found.json()["total"] == expected, resource_type
    # Every link was resolved: no urn:uuid: and no conditional reference was stored, and
    # each encounter's practitioner, location and patient can be read.
    page = (await client.get("/Encounter", params={"_count": "50"})).json()
    targets: set[str] = set()
    for entry in page["entry"]:
        stored = jsonio.dumps(entry["resource"])
        for match in _REFERENCE.findall(stored):
            reference = match.decode()
            assert not reference.startswith("urn:"), reference
            assert "?" not in reference, reference
            targets.add(reference)
    assert any(t.startswith("Practitioner/") for t in targets)
    assert any(t.startswith("Location/") for t in targets)
    for target in sorted(targets):
        assert (await client.get(f"/{target}")).status_code == 200, target


@pytest.mark.slow
async def test_reloading_a_batch_of_conditional_creates_makes_nothing_new(
    client: httpx.AsyncClient,
) -> None:
    hospitals = bundles()[0]
    assert hospitals.name.startswith("0-hospital")
    raw = bz2.decompress(hospitals.read_bytes())
    for expected in ("201 Created", "200 OK"):
        response = await client.post(
            "", content=raw, headers={"Content-Type": "application/fhir+json"}
        )
        assert response.status_code == 200
        assert {e["response"]["status"] for e in response.json()["entry"]} == {expected}
    count = await client.get("/Organization", params={"_summary": "count"})
    assert count.json()["total"] == len(jsonio.loads(raw)["entry"]) // 2


async def test_a_small_synthea_output_loads_by_post_with_no_entry_failing(
    client: httpx.AsyncClient,
) -> None:
    """The quick guard of the Synthea shapes (the fixtures hold one Synthea generation)."""
    bodies = [trimmed(HOSPITALS, PATIENTS), trimmed(PRACTITIONERS, PATIENTS)]
    bodies += [bz2.decompress(path.read_bytes()) for path in PATIENTS]
    for body in bodies:
        assert len(body) < 32 * 1024 * 1024  # the server's default body limit
        response = await client.post(
            "", content=body, headers={"Content-Type": "application/fhir+json"}, timeout=120
        )
        assert response.status_code == 200, response.text[:500]
        statuses = {e["response"]["status"] for e in response.json()["entry"]}
        assert statuses == {"201 Created"}, statuses
    for patient in PATIENTS:
        bundle = jsonio.loads(bz2.decompress(patient.read_bytes()))
        [record] = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
        everything = await client.get(f"/Patient/{record['resource']['id']}/$everything")
        stored = everything.content
        assert b"?identifier=" not in stored and b"urn:uuid:" not in stored
