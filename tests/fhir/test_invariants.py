"""The hand-written R4 invariants (Bundle bdl-*, Patient pat-1, Observation obs-*)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from wardbook.fhir.validator import validate_resource

Example = Callable[[str, str], dict[str, Any]]


def invariant_errors(resource: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (i.diagnostics.split(":", 1)[0], i.expression[0])
        for i in validate_resource(resource).issues
        if i.code == "invariant"
    ]


@pytest.fixture
def transaction(example: Example) -> dict[str, Any]:
    bundle = example("Bundle", "bundle-transaction")
    assert validate_resource(bundle).ok
    return bundle


def test_bdl_3_request_required_in_transaction(transaction: dict[str, Any]) -> None:
    del transaction["entry"][1]["request"]
    assert invariant_errors(transaction) == [("bdl-3", "Bundle.entry[1]")]


def test_bdl_3_request_prohibited_in_collection(transaction: dict[str, Any]) -> None:
    transaction["type"] = "collection"
    errors = invariant_errors(transaction)
    assert errors and {code for code, _ in errors} == {"bdl-3"}


def test_bdl_1_total_only_in_searchset(transaction: dict[str, Any]) -> None:
    transaction["total"] = 3
    assert invariant_errors(transaction) == [("bdl-1", "Bundle.total")]


def test_bdl_7_full_urls_are_unique(transaction: dict[str, Any]) -> None:
    transaction["entry"][1]["fullUrl"] = transaction["entry"][0]["fullUrl"]
    assert ("bdl-7", "Bundle.entry[1].fullUrl") in invariant_errors(transaction)


def test_bdl_8_full_url_not_version_specific(transaction: dict[str, Any]) -> None:
    transaction["entry"][0]["fullUrl"] = "http://example.org/fhir/Patient/1/_history/1"
    assert invariant_errors(transaction) == [("bdl-8", "Bundle.entry[0].fullUrl")]


def test_bdl_5_entry_needs_resource_request_or_response(transaction: dict[str, Any]) -> None:
    transaction["entry"].append({"fullUrl": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"})
    errors = invariant_errors(transaction)
    assert ("bdl-5", f"Bundle.entry[{len(transaction['entry']) - 1}]") in errors


def test_document_needs_composition_first(example: Example) -> None:
    document = example("Bundle", "father")
    assert document["type"] == "document" and validate_resource(document).ok
    document["entry"].reverse()
    assert invariant_errors(document) == [("bdl-11", "Bundle.entry[0]")]
    del document["timestamp"]
    assert ("bdl-10", "Bundle") in invariant_errors(document)


def test_pat_1_contact_needs_details(example: Example) -> None:
    patient = example("Patient", "example")
    patient["contact"] = [{"gender": "female"}]
    assert invariant_errors(patient) == [("pat-1", "Patient.contact[0]")]


def test_obs_6_no_data_absent_reason_with_a_value(example: Example) -> None:
    obs = example("Observation", "example")
    obs["dataAbsentReason"] = {"text": "lost"}
    assert invariant_errors(obs) == [("obs-6", "Observation.dataAbsentReason")]


def test_obs_3_reference_range_needs_content(example: Example) -> None:
    obs = example("Observation", "example")
    obs["referenceRange"] = [{"appliesTo": [{"text": "adults"}]}]
    assert invariant_errors(obs) == [("obs-3", "Observation.referenceRange[0]")]


def test_obs_7_component_repeating_the_code(example: Example) -> None:
    obs = example("Observation", "example")
    obs["component"] = [{"code": {"coding": [obs["code"]["coding"][0]]}}]
    assert invariant_errors(obs) == [("obs-7", "Observation.component[0].code")]


def test_quantity_invariants(example: Example) -> None:
    obs = example("Observation", "example")
    del obs["valueQuantity"]["system"]
    assert invariant_errors(obs) == [("qty-3", "Observation.valueQuantity")]


def test_simple_quantity_has_no_comparator(example: Example) -> None:
    request = example("MedicationRequest", "medrx0302")
    request["dispenseRequest"]["quantity"]["comparator"] = "<"
    assert invariant_errors(request) == [
        ("sqty-1", "MedicationRequest.dispenseRequest.quantity.comparator")
    ]


def test_period_start_not_after_end(example: Example) -> None:
    patient = example("Patient", "example")
    patient["identifier"][0]["period"] = {"start": "2001-05-06", "end": "2001-05-05"}
    assert invariant_errors(patient) == [("per-1", "Patient.identifier[0].period")]
    patient["identifier"][0]["period"] = {
        "start": "2001-05-06T10:00:00+10:00",
        "end": "2001-05-06T01:00:00Z",
    }
    assert invariant_errors(patient) == []  # same instant in two zones
    patient["identifier"][0]["period"] = {"start": "2001-05-06", "end": "2001"}
    assert invariant_errors(patient) == []  # different precision: not comparable


def test_att_1_data_needs_content_type(example: Example) -> None:
    patient = example("Patient", "example")
    patient["photo"] = [{"data": "aGVsbG8="}]
    assert invariant_errors(patient) == [("att-1", "Patient.photo[0]")]
    patient["photo"][0]["contentType"] = "image/png"
    assert invariant_errors(patient) == []


def test_rat_1_numerator_and_denominator_together(example: Example) -> None:
    obs = example("Observation", "example")
    del obs["valueQuantity"]
    obs["valueRatio"] = {"numerator": {"value": 1}}
    assert invariant_errors(obs) == [("rat-1", "Observation.valueRatio")]
    obs["valueRatio"]["denominator"] = {"value": 2}
    assert invariant_errors(obs) == []


def test_rng_2_low_not_above_high(example: Example) -> None:
    obs = example("Observation", "example")
    obs["referenceRange"] = [
        {"low": {"value": 10, "unit": "kg"}, "high": {"value": 5, "unit": "kg"}}
    ]
    errors = [(k, e) for k, e in invariant_errors(obs) if k != "qty-3"]
    assert errors == []  # referenceRange low/high are SimpleQuantity, not a Range
    del obs["valueQuantity"]
    obs["valueRange"] = {"low": {"value": 10, "unit": "kg"}, "high": {"value": 5, "unit": "kg"}}
    assert ("rng-2", "Observation.valueRange") in invariant_errors(obs)
    obs["valueRange"]["high"]["unit"] = "g"
    assert ("rng-2", "Observation.valueRange") not in invariant_errors(obs)


@pytest.mark.parametrize(
    ("repeat", "key"),
    [
        ({"duration": 1}, "tim-1"),
        ({"period": 1}, "tim-2"),
        ({"duration": -1, "durationUnit": "h"}, "tim-4"),
        ({"period": -1, "periodUnit": "d"}, "tim-5"),
        ({"periodMax": 2}, "tim-6"),
        ({"durationMax": 2}, "tim-7"),
        ({"countMax": 2}, "tim-8"),
        ({"offset": 30, "when": ["CM"]}, "tim-9"),
        ({"timeOfDay": ["08:00:00"], "when": ["MORN"]}, "tim-10"),
    ],
)
def test_timing_invariants(example: Example, repeat: dict[str, Any], key: str) -> None:
    request = example("MedicationRequest", "medrx0302")
    request["dosageInstruction"] = [{"timing": {"repeat": repeat}}]
    assert invariant_errors(request) == [
        (key, "MedicationRequest.dosageInstruction[0].timing.repeat")
    ]
