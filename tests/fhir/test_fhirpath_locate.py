"""Locating FHIRPath results inside a resource (the path subset of R4 fhirpatch.html)."""

from __future__ import annotations

from typing import Any

import pytest

from wardbook.errors import BadRequest, Unprocessable
from wardbook.fhir.fhirpath_locate import locate

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "name": [
        {"use": "official", "family": "Chalmers", "given": ["Peter", "James"]},
        {"use": "usual", "given": ["Jim"], "_given": [{"id": "nick"}]},
    ],
    "birthDate": "1974-12-25",
    "_birthDate": {
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                "valueDateTime": "1974-12-25T14:35:45-05:00",
            }
        ]
    },
    "deceasedBoolean": False,
    "contact": [{"name": {"text": "Bénédicte"}, "gender": "female"}],
}

OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "valueQuantity": {"value": 185, "unit": "lbs"},
    "component": [
        {"code": {"text": "systolic"}, "valueQuantity": {"value": 107}},
        {"code": {"text": "note"}, "valueString": "arm"},
    ],
    "contained": [{"resourceType": "Patient", "id": "p", "gender": "male"}],
}


def locations(resource: dict[str, Any], expression: str) -> list[str]:
    return [node.location for node in locate(resource, expression)]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("Patient", ["Patient"]),
        ("Patient.name", ["Patient.name[0]", "Patient.name[1]"]),
        (
            "Patient.name.given",
            ["Patient.name[0].given[0]", "Patient.name[0].given[1]", "Patient.name[1].given[0]"],
        ),
        (
            "name.given",
            ["Patient.name[0].given[0]", "Patient.name[0].given[1]", "Patient.name[1].given[0]"],
        ),
        ("Patient.name.given[2]", ["Patient.name[1].given[0]"]),
        ("Patient.name.given[3]", []),
        ("Patient.name[0].given.last()", ["Patient.name[0].given[1]"]),
        ("Patient.name.first().given.tail()", ["Patient.name[0].given[1]"]),
        ("Patient.name.where(use = 'usual').given.single()", ["Patient.name[1].given[0]"]),
        ("Patient.name.given.where($this = 'James')", ["Patient.name[0].given[1]"]),
        ("Patient.name[1].given[0].id", ["Patient.name[1].given[0].id"]),
        ("Patient.birthDate.extension", ["Patient.birthDate.extension[0]"]),
        (
            "Patient.birthDate.extension('http://hl7.org/fhir/StructureDefinition/patient-birthTime')"
            ".value",
            ["Patient.birthDate.extension[0].valueDateTime"],
        ),
        ("Patient.deceased", ["Patient.deceasedBoolean"]),
        ("Patient.deceased.ofType(boolean)", ["Patient.deceasedBoolean"]),
        ("Patient.deceased.ofType(dateTime)", []),
        ("Patient.contact.name.text", ["Patient.contact[0].name.text"]),
        ("Patient.`contact`[0]", ["Patient.contact[0]"]),
        ("(Patient.name)[1]", ["Patient.name[1]"]),
        ("%resource.birthDate", ["Patient.birthDate"]),
        ("Patient.photo", []),
    ],
)
def test_patient_paths(expression: str, expected: list[str]) -> None:
    assert locations(PATIENT, expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("Observation.value", ["Observation.valueQuantity"]),
        ("Observation.valueQuantity.value", ["Observation.valueQuantity.value"]),
        ("Observation.value as Quantity", ["Observation.valueQuantity"]),
        ("Observation.value as FHIR.string", []),
        ("Observation.value.as(Quantity).unit", ["Observation.valueQuantity.unit"]),
        (
            "Observation.component.value",
            ["Observation.component[0].valueQuantity", "Observation.component[1].valueString"],
        ),
        ("Observation.component.value.ofType(string)", ["Observation.component[1].valueString"]),
        ("Observation.component.where(value.value > 100)", ["Observation.component[0]"]),
        (
            "Observation.component.where(code.text = 'note').value",
            ["Observation.component[1].valueString"],
        ),
        ("Observation.contained.ofType(Patient).gender", ["Observation.contained[0].gender"]),
        ("Observation.contained.where(id = 'p')", ["Observation.contained[0]"]),
    ],
)
def test_observation_paths(expression: str, expected: list[str]) -> None:
    assert locations(OBSERVATION, expression) == expected


def test_nodes_know_their_types_and_definitions() -> None:
    (node,) = locate(OBSERVATION, "Observation.component[0].value")
    assert (node.fhir_type, node.type_path, node.key) == ("Quantity", "Quantity", "valueQuantity")
    assert node.element is not None and node.element.path == "Observation.component.value[x]"
    (contact,) = locate(PATIENT, "Patient.contact")
    assert (contact.fhir_type, contact.type_path) == ("BackboneElement", "Patient.contact")
    (given,) = locate(PATIENT, "Patient.name[1].given")
    assert given.is_primitive and given.extension_holder() == {"id": "nick"}


def test_the_resource_is_not_changed_by_locating() -> None:
    before = repr(PATIENT)
    locate(PATIENT, "Patient.name.where(given.exists() and use = 'official').given")
    assert repr(PATIENT) == before


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("Patient.name.count()", "the function count() is not supported"),
        ("Patient.name | Patient.telecom", "the operator '|' is not supported"),
        ("Patient.name.exists()", "the function exists() is not supported"),
        ("'Patient'", "the literal 'Patient' is not supported"),
        ("Patient.name is HumanName", "the operator 'is' is not supported"),
        ("Patient.name['a']", "an indexer that is not an integer is not supported"),
        ("%ucum", "the variable %ucum is not supported"),
        ("Patient.name.first(1)", "first() takes no arguments"),
        ("Patient.name.where()", "where() takes exactly one argument"),
        ("Patient.name.given[", "is not a valid FHIRPath expression"),
        ("Patient..name", "is not a valid FHIRPath expression"),
        ("", "is not a valid FHIRPath expression: "),
        ("Patient.name.where(given.frobnicate())", "a function fhirpathpy does not implement"),
    ],
)
def test_unsupported_or_invalid_paths_are_bad_requests(expression: str, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        locate(PATIENT, expression)
    assert message in caught.value.message


def test_a_path_for_another_resource_type_is_unprocessable() -> None:
    with pytest.raises(Unprocessable) as caught:
        locate(PATIENT, "Observation.status")
    assert caught.value.message == (
        "'Observation.status' starts with Observation, but the resource is a Patient"
    )


def test_single_of_many_is_unprocessable() -> None:
    with pytest.raises(Unprocessable) as caught:
        locate(PATIENT, "Patient.name.single()")
    assert "single() was applied to 2 elements" in caught.value.message
