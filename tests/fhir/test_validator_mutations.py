"""Break one element of a real example; the validator names exactly that element.

Each test starts from an official R4 example that validates cleanly, changes one thing
and expects one error: its OperationOutcome issue code and its FHIRPath expression.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from wardbook.errors import ValidationReport
from wardbook.fhir import jsonio
from wardbook.fhir.validator import validate_resource

Example = Callable[[str, str], dict[str, Any]]


def only_error(report: ValidationReport) -> tuple[str, str]:
    """The (issue code, expression) of the single error in the report."""
    errors = [(i.code, i.expression[0]) for i in report.issues if i.severity == "error"]
    assert len(errors) == 1, [(i.code, i.expression, i.diagnostics) for i in report.issues]
    return errors[0]


@pytest.fixture
def patient(example: Example) -> dict[str, Any]:
    resource = example("Patient", "example")
    assert validate_resource(resource).ok
    return resource


@pytest.fixture
def observation(example: Example) -> dict[str, Any]:
    resource = example("Observation", "example")
    assert validate_resource(resource).ok
    return resource


# unknown elements


def test_unknown_element(patient: dict[str, Any]) -> None:
    patient["name"][0]["nickname"] = "Jim"
    assert only_error(validate_resource(patient)) == ("structure", "Patient.name[0].nickname")


def test_unknown_top_level_element(patient: dict[str, Any]) -> None:
    patient["favouriteColour"] = "blue"
    assert only_error(validate_resource(patient)) == ("structure", "Patient.favouriteColour")


def test_choice_type_not_allowed_for_element(observation: dict[str, Any]) -> None:
    observation["effectiveCodeableConcept"] = observation.pop("valueQuantity")
    observation["valueQuantity"] = {"value": 1}
    del observation["effectiveDateTime"]
    assert only_error(validate_resource(observation)) == (
        "structure",
        "Observation.effectiveCodeableConcept",
    )


def test_resource_type_only_at_resource_root(patient: dict[str, Any]) -> None:
    patient["name"][1]["resourceType"] = "HumanName"
    assert only_error(validate_resource(patient)) == ("structure", "Patient.name[1].resourceType")


# primitives


@pytest.mark.parametrize(
    ("element", "value", "code"),
    [
        ("active", "true", "structure"),
        ("active", 1, "structure"),
        ("birthDate", "1974-13-25", "value"),
        ("birthDate", "2023-02-29", "value"),
        ("birthDate", "25/12/1974", "value"),
        ("birthDate", 1974, "structure"),
        ("gender", "", "value"),
        ("id", "bad id!", "value"),
        ("id", "x" * 65, "value"),
        ("implicitRules", "has space", "value"),
        ("language", " en", "value"),
    ],
)
def test_bad_primitive_value(
    patient: dict[str, Any], element: str, value: object, code: str
) -> None:
    patient[element] = value
    report = validate_resource(patient)
    assert only_error(report) == (code, f"Patient.{element}")


def test_leap_day_is_a_real_date(patient: dict[str, Any]) -> None:
    patient["birthDate"] = "2024-02-29"
    assert validate_resource(patient).ok


def test_bad_array_item_points_at_its_index(patient: dict[str, Any]) -> None:
    patient["name"][0]["given"][1] = 5
    assert only_error(validate_resource(patient)) == ("structure", "Patient.name[0].given[1]")


def test_empty_string(patient: dict[str, Any]) -> None:
    patient["name"][0]["family"] = ""
    assert only_error(validate_resource(patient)) == ("value", "Patient.name[0].family")


def test_bad_date_time(observation: dict[str, Any]) -> None:
    observation["effectiveDateTime"] = "2016-03-28T10:00"  # a time needs seconds and a zone
    assert only_error(validate_resource(observation)) == ("value", "Observation.effectiveDateTime")


def test_bad_decimal(observation: dict[str, Any]) -> None:
    observation["valueQuantity"]["value"] = "185"
    assert only_error(validate_resource(observation)) == (
        "structure",
        "Observation.valueQuantity.value",
    )


def test_decimal_keeps_its_text_and_validates() -> None:
    resource = jsonio.loads(
        b'{"resourceType":"Observation","status":"final","code":{"text":"x"},'
        b'"valueQuantity":{"value":1.50}}'
    )
    assert validate_resource(resource).ok


def test_integer_must_be_whole_and_32_bit(example: Example) -> None:
    resource = example("Patient", "example")
    resource["telecom"][1]["rank"] = 2**31
    assert only_error(validate_resource(resource)) == ("value", "Patient.telecom[1].rank")
    resource["telecom"][1]["rank"] = 1.5
    assert only_error(validate_resource(resource)) == ("structure", "Patient.telecom[1].rank")
    resource["telecom"][1]["rank"] = 0  # positiveInt
    assert only_error(validate_resource(resource)) == ("value", "Patient.telecom[1].rank")
    resource["telecom"][1]["rank"] = True
    assert only_error(validate_resource(resource)) == ("structure", "Patient.telecom[1].rank")


def test_bad_instant(patient: dict[str, Any]) -> None:
    patient["meta"] = {"lastUpdated": "2024-01-01"}
    assert only_error(validate_resource(patient)) == ("value", "Patient.meta.lastUpdated")


def test_bad_narrative(patient: dict[str, Any]) -> None:
    patient["text"]["div"] = "<p>no div</p>"
    assert only_error(validate_resource(patient)) == ("value", "Patient.text.div")


# required bindings


def test_code_outside_required_binding(patient: dict[str, Any]) -> None:
    patient["gender"] = "m"
    assert only_error(validate_resource(patient)) == ("code-invalid", "Patient.gender")


def test_status_outside_required_binding(observation: dict[str, Any]) -> None:
    observation["status"] = "done"
    assert only_error(validate_resource(observation)) == ("code-invalid", "Observation.status")


def test_codeable_concept_outside_required_binding(example: Example) -> None:
    condition = example("Condition", "example")
    assert validate_resource(condition).ok
    condition["clinicalStatus"]["coding"][0]["code"] = "gone"
    assert only_error(validate_resource(condition)) == (
        "code-invalid",
        "Condition.clinicalStatus.coding",
    )


def test_datatype_binding(patient: dict[str, Any]) -> None:
    patient["name"][0]["use"] = "formal"
    assert only_error(validate_resource(patient)) == ("code-invalid", "Patient.name[0].use")


# cardinality and arrays


def test_array_where_single_value_expected(patient: dict[str, Any]) -> None:
    patient["birthDate"] = ["1974-12-25"]
    patient.pop("_birthDate")
    assert only_error(validate_resource(patient)) == ("structure", "Patient.birthDate")


def test_single_value_where_array_expected(patient: dict[str, Any]) -> None:
    patient["name"] = patient["name"][0]
    assert only_error(validate_resource(patient)) == ("structure", "Patient.name")


def test_two_choices_of_value(observation: dict[str, Any]) -> None:
    observation["valueString"] = "185 lbs"
    assert only_error(validate_resource(observation)) == ("structure", "Observation.valueString")


@pytest.mark.parametrize("element", ["status", "code"])
def test_missing_required_element(observation: dict[str, Any], element: str) -> None:
    del observation[element]
    assert only_error(validate_resource(observation)) == ("required", f"Observation.{element}")


def test_required_choice_is_named_with_x(example: Example) -> None:
    resource = {"resourceType": "Extension"}
    assert not validate_resource(resource).ok  # Extension is no resource type
    group = example("Group", "101")
    assert validate_resource(group).ok
    characteristic = {"code": {"text": "x"}, "exclude": False}
    group["characteristic"] = [characteristic]
    assert only_error(validate_resource(group)) == (
        "required",
        "Group.characteristic[0].value[x]",
    )


def test_missing_required_element_in_backbone(example: Example) -> None:
    questionnaire = example("Questionnaire", "3141")
    assert validate_resource(questionnaire).ok
    del questionnaire["item"][0]["item"][0]["linkId"]
    assert only_error(validate_resource(questionnaire)) == (
        "required",
        "Questionnaire.item[0].item[0].linkId",
    )


@pytest.mark.parametrize(
    ("value", "code"),
    [({}, "structure"), ([], "structure"), (None, "structure")],
    ids=["empty-object", "empty-array", "null"],
)
def test_empty_and_null_values(patient: dict[str, Any], value: object, code: str) -> None:
    patient["maritalStatus"] = value if value != [] else {"coding": []}
    expected = "Patient.maritalStatus.coding" if value == [] else "Patient.maritalStatus"
    assert only_error(validate_resource(patient)) == (code, expected)


# primitive extensions


def test_primitive_extension_sibling_may_only_hold_id_and_extension(
    patient: dict[str, Any],
) -> None:
    patient["_birthDate"]["value"] = "x"
    assert only_error(validate_resource(patient)) == ("structure", "Patient.birthDate.value")


def test_primitive_extension_without_value_is_allowed(patient: dict[str, Any]) -> None:
    del patient["birthDate"]
    assert validate_resource(patient).ok


def test_primitive_extension_on_complex_element_is_unknown(patient: dict[str, Any]) -> None:
    patient["_name"] = [{"id": "a"}]
    assert only_error(validate_resource(patient)) == ("structure", "Patient._name")


def test_aligned_primitive_extension_arrays(patient: dict[str, Any]) -> None:
    ext = {"extension": [{"url": "http://example.org/x", "valueBoolean": True}]}
    patient["name"][0]["given"] = ["Peter", None]
    patient["name"][0]["_given"] = [None, ext]
    assert validate_resource(patient).ok
    patient["name"][0]["_given"] = [None, None]
    assert only_error(validate_resource(patient)) == ("structure", "Patient.name[0].given[1]")


def test_misaligned_primitive_extension_arrays(patient: dict[str, Any]) -> None:
    patient["name"][0]["_given"] = [{"id": "g1"}]
    assert only_error(validate_resource(patient)) == ("structure", "Patient.name[0].given")


def test_null_in_array_without_extension_sibling(patient: dict[str, Any]) -> None:
    patient["name"][0]["given"] = ["Peter", None]
    assert only_error(validate_resource(patient)) == ("structure", "Patient.name[0].given[1]")


# extensions


def test_extension_without_url(patient: dict[str, Any]) -> None:
    del patient["_birthDate"]["extension"][0]["url"]
    assert only_error(validate_resource(patient)) == (
        "required",
        "Patient.birthDate.extension[0].url",
    )


def test_extension_with_value_and_nested_extensions(patient: dict[str, Any]) -> None:
    ext = patient["_birthDate"]["extension"][0]
    ext["extension"] = [{"url": "part", "valueString": "x"}]
    assert only_error(validate_resource(patient)) == (
        "invariant",
        "Patient.birthDate.extension[0]",
    )


def test_extension_with_neither_value_nor_extensions(patient: dict[str, Any]) -> None:
    patient["extension"] = [{"url": "http://example.org/empty"}]
    assert only_error(validate_resource(patient)) == ("invariant", "Patient.extension[0]")


def test_extension_value_is_type_checked(patient: dict[str, Any]) -> None:
    patient["extension"] = [{"url": "http://example.org/x", "valueDate": "yesterday"}]
    assert only_error(validate_resource(patient)) == (
        "value",
        "Patient.extension[0].valueDate",
    )


# references


@pytest.mark.parametrize(
    "reference",
    ["Patient/", "Patient/a b", "patient/example", "Patient/example/history/1", "urn:uuid:123"],
)
def test_bad_reference_format(observation: dict[str, Any], reference: str) -> None:
    observation["subject"]["reference"] = reference
    report = validate_resource(observation)
    assert only_error(report)[1] == "Observation.subject.reference"


@pytest.mark.parametrize(
    "reference",
    [
        "Patient/example",
        "Patient/example/_history/2",
        "http://example.org/fhir/Patient/example",
        "https://example.org/fhir/Patient/1/_history/2",
        "urn:uuid:c757873d-ec9a-4326-a141-556f43239520",
        "urn:oid:1.2.3.4",
        "Patient?identifier=http://acme.org/mrn|12345",
    ],
)
def test_good_reference_formats(observation: dict[str, Any], reference: str) -> None:
    observation["subject"]["reference"] = reference
    assert validate_resource(observation).ok


def test_reference_to_disallowed_target_type(observation: dict[str, Any]) -> None:
    observation["subject"]["reference"] = "Medication/example"
    assert only_error(validate_resource(observation)) == (
        "invalid",
        "Observation.subject.reference",
    )


# contained resources


@pytest.fixture
def prescription(example: Example) -> dict[str, Any]:
    resource = example("MedicationRequest", "medrx0302")
    assert validate_resource(resource).ok
    assert resource["contained"][0]["id"] == "med0320"
    return resource


def test_contained_resource_is_validated(prescription: dict[str, Any]) -> None:
    prescription["contained"][0]["status"] = "in-stock"
    assert only_error(validate_resource(prescription)) == (
        "code-invalid",
        "MedicationRequest.contained[0].status",
    )


def test_nested_contained_resources(prescription: dict[str, Any]) -> None:
    prescription["contained"][0]["contained"] = [{"resourceType": "Substance", "id": "s"}]
    report = validate_resource(prescription)
    assert ("invariant", "MedicationRequest.contained[0].contained") in [
        (i.code, i.expression[0]) for i in report.issues
    ]


def test_contained_resource_with_version(prescription: dict[str, Any]) -> None:
    prescription["contained"][0]["meta"] = {"versionId": "1"}
    assert only_error(validate_resource(prescription)) == (
        "invariant",
        "MedicationRequest.contained[0].meta.versionId",
    )


def test_unreferenced_contained_resource(prescription: dict[str, Any]) -> None:
    prescription["medicationCodeableConcept"] = {"text": "azithromycin"}
    del prescription["medicationReference"]
    assert only_error(validate_resource(prescription)) == (
        "invariant",
        "MedicationRequest.contained[0]",
    )


def test_local_reference_to_missing_contained_resource(prescription: dict[str, Any]) -> None:
    prescription["contained"].append({"resourceType": "Medication", "id": "other"})
    prescription["medicationReference"]["reference"] = "#other"
    assert only_error(validate_resource(prescription)) == (
        "invariant",
        "MedicationRequest.contained[0]",
    )
    prescription["medicationReference"]["reference"] = "#nothing"
    errors = [(i.code, i.expression[0]) for i in validate_resource(prescription).issues]
    assert ("invariant", "MedicationRequest.medicationReference.reference") in errors


def test_contained_resource_of_wrong_type(prescription: dict[str, Any]) -> None:
    prescription["contained"][0] = {
        "resourceType": "Substance",
        "id": "med0320",
        "code": {"text": "x"},
    }
    assert only_error(validate_resource(prescription)) == (
        "invalid",
        "MedicationRequest.medicationReference.reference",
    )


# resources as a whole


def test_unknown_resource_type() -> None:
    assert only_error(validate_resource({"resourceType": "Patientt"})) == (
        "structure",
        "Resource.resourceType",
    )


def test_missing_resource_type() -> None:
    assert only_error(validate_resource({"id": "x"}))[0] == "required"


def test_not_an_object() -> None:
    assert only_error(validate_resource(["Patient"]))[0] == "structure"


def test_expected_resource_type(patient: dict[str, Any]) -> None:
    assert validate_resource(patient, resource_type="Patient").ok
    assert only_error(validate_resource(patient, resource_type="Observation")) == (
        "invalid",
        "Patient",
    )


def test_bundle_entries_are_validated_as_resources(example: Example) -> None:
    bundle = example("Bundle", "bundle-transaction")
    assert validate_resource(bundle).ok
    bundle["entry"][0]["resource"]["gender"] = "x"
    assert only_error(validate_resource(bundle)) == (
        "code-invalid",
        "Bundle.entry[0].resource.gender",
    )


def test_all_problems_are_reported(patient: dict[str, Any]) -> None:
    patient["gender"] = "m"
    patient["birthDate"] = "1974-13-01"
    patient["name"][0]["nickname"] = "Jim"
    expressions = {i.expression[0] for i in validate_resource(patient).issues}
    assert expressions == {"Patient.gender", "Patient.birthDate", "Patient.name[0].nickname"}


def test_narrative_div_takes_no_extensions(patient: dict[str, Any]) -> None:
    patient["text"]["_div"] = {"extension": [{"url": "http://example.org/x", "valueCode": "y"}]}
    assert only_error(validate_resource(patient)) == ("structure", "Patient.text.div")


def test_script_in_narrative(patient: dict[str, Any]) -> None:
    patient["text"]["div"] = (
        '<div xmlns="http://www.w3.org/1999/xhtml">Jim<script>alert(1)</script></div>'
    )
    assert only_error(validate_resource(patient)) == ("invariant", "Patient.text.div")
