"""What the chart calls a prescribed medicine (wardbook.web.chart.medication)."""

from __future__ import annotations

from typing import Any

import pytest

from wardbook.web.chart import medication

RX = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _request(**elements: Any) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": "mr", "status": "active", **elements}


@pytest.mark.parametrize(
    ("request_elements", "name"),
    [
        ({"medicationCodeableConcept": {"text": "Paracetamol 1 g"}}, "Paracetamol 1 g"),
        (  # a compounded medicine sent as a contained Medication (references.html#contained)
            {
                "medicationReference": {"reference": "#m1"},
                "contained": [
                    {"resourceType": "Medication", "id": "m0", "code": {"text": "Other"}},
                    {
                        "resourceType": "Medication",
                        "id": "m1",
                        "code": {"coding": [{"system": RX, "code": "1191", "display": "Aspirin"}]},
                    },
                ],
            },
            "Aspirin",
        ),
        (
            {"medicationReference": {"reference": "Medication/x", "display": "Insulin glargine"}},
            "Insulin glargine",
        ),
        ({"medicationReference": {"reference": "#gone"}, "contained": []}, "Unnamed medicine"),
        ({"medicationReference": {"reference": "#m1", "display": "As sent"}}, "As sent"),
        ({}, "Unnamed medicine"),
    ],
)
def test_the_medicine_is_named_from_the_code_a_contained_medication_or_the_display(
    request_elements: dict[str, Any], name: str
) -> None:
    assert medication(_request(**request_elements)).name == name
