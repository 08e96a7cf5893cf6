"""FHIRPath Patch (R4 fhirpatch.html), including the official test cases.

The cases in ``SPEC_CASES`` are the R4 FHIRPath Patch test cases of the FHIR test suite
(github.com/FHIR/fhir-test-cases, ``r4/patch/fhir-path-tests.xml``, linked from
fhirpatch.html), written out in JSON. Their "Consecutive operations" case is left out: its
second operation targets ``Patient.contact[1]``, which does not exist, and its expected
output changes an extension no operation touches.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wardbook.errors import BadRequest, Unprocessable
from wardbook.fhir import jsonio
from wardbook.fhir.fhirpath_patch import apply_fhirpath_patch, parse_fhirpath_patch


def op(
    type_: str,
    path: str,
    *,
    name: str | None = None,
    value: dict[str, Any] | None = None,
    index: int | None = None,
    source: int | None = None,
    destination: int | None = None,
) -> dict[str, Any]:
    """One ``operation`` parameter; ``value`` holds the value part's value[x] or parts."""
    parts: list[dict[str, Any]] = [
        {"name": "type", "valueCode": type_},
        {"name": "path", "valueString": path},
    ]
    if name is not None:
        parts.append({"name": "name", "valueString": name})
    if value is not None:
        parts.append({"name": "value", **value})
    for part_name, number in (("index", index), ("source", source), ("destination", destination)):
        if number is not None:
            parts.append({"name": part_name, "valueInteger": number})
    return {"name": "operation", "part": parts}


def params(*operations: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"resourceType": "Parameters"}
    if operations:
        body["parameter"] = list(operations)
    return body


def patient(**elements: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", **elements}


def identifiers(*values: str) -> list[dict[str, Any]]:
    return [{"system": "http://example.org", "value": v} for v in values]


def ident(value: str) -> dict[str, Any]:
    return {"valueIdentifier": {"system": "http://example.org", "value": value}}


# --- the official test cases ------------------------------------------------------------------

CONTACT = {"name": {"text": "a name"}, "gender": "male"}

SPEC_CASES = [
    pytest.param(
        patient(birthDate="1920-01-01"),
        params(),
        patient(birthDate="1920-01-01"),
        id="No Difference",
    ),
    pytest.param(
        patient(birthDate="1920-01-01"),
        params(op("replace", "Patient.birthDate", value={"valueDate": "1930-01-01"})),
        patient(birthDate="1930-01-01"),
        id="Replace Primitive",
    ),
    pytest.param(
        patient(birthDate="1920-01-01"),
        params(op("delete", "Patient.birthDate")),
        patient(),
        id="Delete Primitive",
    ),
    pytest.param(
        patient(),
        params(op("add", "Patient", name="birthDate", value={"valueDate": "1930-01-01"})),
        patient(birthDate="1930-01-01"),
        id="Add Primitive",
    ),
    pytest.param(
        patient(contact=[CONTACT]),
        params(op("replace", "Patient.contact[0].gender", value={"valueCode": "female"})),
        patient(contact=[{"name": {"text": "a name"}, "gender": "female"}]),
        id="Replace Nested Primitive #1",
    ),
    pytest.param(
        patient(contact=[CONTACT]),
        params(op("replace", "Patient.contact[0].name.text", value={"valueString": "the name"})),
        patient(contact=[{"name": {"text": "the name"}, "gender": "male"}]),
        id="Replace Nested Primitive #2",
    ),
    pytest.param(
        patient(contact=[CONTACT]),
        params(op("delete", "Patient.contact[0].gender")),
        patient(contact=[{"name": {"text": "a name"}}]),
        id="Delete Nested Primitive #1",
    ),
    pytest.param(
        patient(contact=[CONTACT]),
        params(op("delete", "Patient.contact[0].name.text")),
        patient(contact=[{"gender": "male"}]),
        id="Delete Nested Primitive #2",
    ),
    pytest.param(
        patient(contact=[{"name": {"text": "a name"}}]),
        params(op("add", "Patient.contact[0]", name="gender", value={"valueCode": "male"})),
        patient(contact=[CONTACT]),
        id="Add Nested Primitive",
    ),
    pytest.param(
        patient(),
        params(
            op(
                "add",
                "Patient",
                name="maritalStatus",
                value={"valueCodeableConcept": {"text": "married"}},
            )
        ),
        patient(maritalStatus={"text": "married"}),
        id="Add Complex",
    ),
    pytest.param(
        patient(maritalStatus={"id": "1", "text": "married"}),
        params(
            op(
                "replace",
                "Patient.maritalStatus",
                value={"valueCodeableConcept": {"id": "2", "text": "not married"}},
            )
        ),
        patient(maritalStatus={"id": "2", "text": "not married"}),
        id="Replace Complex",
    ),
    pytest.param(
        patient(maritalStatus={"text": "married"}),
        params(op("delete", "Patient.maritalStatus")),
        patient(),
        id="Delete Complex",
    ),
    pytest.param(
        patient(),
        params(
            op(
                "add",
                "Patient",
                name="contact",
                value={"part": [{"name": "name", "valueHumanName": {"text": "a name"}}]},
            )
        ),
        patient(contact=[{"name": {"text": "a name"}}]),
        id="Add Anonymous Type",
    ),
    pytest.param(
        patient(contact=[{"name": {"text": "a name"}}]),
        params(op("delete", "Patient.contact[0]")),
        patient(),
        id="Delete Anonymous Type",
    ),
    pytest.param(
        patient(identifier=identifiers("value 1", "value 2")),
        params(),
        patient(identifier=identifiers("value 1", "value 2")),
        id="List unchanged",
    ),
    pytest.param(
        patient(
            identifier=[
                {"id": "a", "system": "http://example.org", "value": "value 1"},
                {"id": "b", "system": "http://example.org", "value": "value 2"},
            ]
        ),
        params(
            op("replace", "Patient.identifier[0].value", value={"valueString": "value 2"}),
            op("replace", "Patient.identifier[1].value", value={"valueString": "value 1"}),
        ),
        patient(
            identifier=[
                {"id": "a", "system": "http://example.org", "value": "value 2"},
                {"id": "b", "system": "http://example.org", "value": "value 1"},
            ]
        ),
        id="List unchanged, contents changed",
    ),
    pytest.param(
        patient(identifier=identifiers("value 1", "value 2")),
        params(op("insert", "Patient.identifier", index=2, value=ident("value 3"))),
        patient(identifier=identifiers("value 1", "value 2", "value 3")),
        id="Add to list",
    ),
    pytest.param(
        patient(identifier=identifiers("value 1", "value 2")),
        params(op("insert", "Patient.identifier", index=1, value=ident("value 3"))),
        patient(identifier=identifiers("value 1", "value 3", "value 2")),
        id="Insert in list #1",
    ),
    pytest.param(
        patient(identifier=identifiers("value 1", "value 2")),
        params(op("insert", "Patient.identifier", index=0, value=ident("value 3"))),
        patient(identifier=identifiers("value 3", "value 1", "value 2")),
        id="Insert in list #2",
    ),
    pytest.param(
        patient(identifier=identifiers("value 1", "value 2", "value 3")),
        params(op("delete", "Patient.identifier[0]")),
        patient(identifier=identifiers("value 2", "value 3")),
        id="Delete from List #1",
    ),
    pytest.param(
        patient(identifier=identifiers("value 1", "value 2", "value 3")),
        params(op("delete", "Patient.identifier[1]")),
        patient(identifier=identifiers("value 1", "value 3")),
        id="Delete from List #2",
    ),
    pytest.param(
        patient(identifier=identifiers("value 1", "value 2", "value 3")),
        params(op("delete", "Patient.identifier[2]")),
        patient(identifier=identifiers("value 1", "value 2")),
        id="Delete from List #3",
    ),
    pytest.param(
        patient(identifier=identifiers("value 1", "value 2", "value 3", "value 4")),
        params(op("move", "Patient.identifier", source=3, destination=1)),
        patient(identifier=identifiers("value 1", "value 4", "value 2", "value 3")),
        id="Reorder List #1",
    ),
    pytest.param(
        patient(identifier=identifiers("value 1", "value 2", "value 3", "value 4")),
        params(op("move", "Patient.identifier", source=3, destination=0)),
        patient(identifier=identifiers("value 4", "value 1", "value 2", "value 3")),
        id="Reorder List #2",
    ),
    pytest.param(
        patient(identifier=identifiers("value 1", "value 2", "value 3", "value 4")),
        params(op("move", "Patient.identifier", source=3, destination=2)),
        patient(identifier=identifiers("value 1", "value 2", "value 4", "value 3")),
        id="Reorder List #3",
    ),
    pytest.param(
        patient(identifier=identifiers("value 1", "value 2", "value 3", "value 4")),
        params(op("move", "Patient.identifier", source=0, destination=3)),
        patient(identifier=identifiers("value 2", "value 3", "value 4", "value 1")),
        id="Reorder List #4",
    ),
    pytest.param(
        patient(identifier=identifiers("value 1", "value 2", "value 3", "value 4")),
        params(
            op("move", "Patient.identifier", source=1, destination=0),
            op("move", "Patient.identifier", source=2, destination=1),
        ),
        patient(identifier=identifiers("value 2", "value 3", "value 1", "value 4")),
        id="Reorder List #5",
    ),
    pytest.param(
        patient(identifier=identifiers("value 1", "value 2", "value 3", "value 4")),
        params(
            op("move", "Patient.identifier", source=3, destination=0),
            op("move", "Patient.identifier", source=3, destination=1),
            op("move", "Patient.identifier", source=3, destination=2),
        ),
        patient(identifier=identifiers("value 4", "value 3", "value 2", "value 1")),
        id="Reorder List #6",
    ),
    pytest.param(
        patient(),
        params(op("add", "Patient", name="identifier", value=ident("value 3"))),
        patient(identifier=identifiers("value 3")),
        id="Operation on missing element #2",
    ),
]


@pytest.mark.parametrize(("resource", "parameters", "expected"), SPEC_CASES)
def test_official_fhirpath_patch_cases(
    resource: dict[str, Any], parameters: dict[str, Any], expected: dict[str, Any]
) -> None:
    before = copy.deepcopy(resource)
    assert apply_fhirpath_patch(resource, parameters) == expected
    assert resource == before


def test_official_case_operation_on_missing_element() -> None:
    resource = patient(identifier=[{"use": "official", "value": "123"}])
    path = "Patient.identifier.where(use = 'official').period"
    parameters = params(op("add", path, name="end", value={"valueDate": "2021-12-01"}))
    with pytest.raises(Unprocessable) as caught:
        apply_fhirpath_patch(resource, parameters)
    assert caught.value.status == 422
    assert caught.value.message == (
        f"operation 0 (add {path}): the path matches no element; add needs exactly one"
    )


def test_official_case_full_resource(example: Any) -> None:
    resource = example("Patient", "example")
    div = resource["text"]["div"].replace("<b>Chalmers</b>", "<b>Chalmers1</b>")
    assert div != resource["text"]["div"]
    parameters = params(
        op("replace", "Patient.text.div", value={"valueString": div}),
        op("replace", "Patient.name[0].family", value={"valueString": "Chalmers1"}),
    )
    patched = apply_fhirpath_patch(resource, parameters)
    expected = copy.deepcopy(resource)
    expected["text"]["div"] = div
    expected["name"][0]["family"] = "Chalmers1"
    assert patched == expected


def test_the_spec_page_examples_add_a_birth_date_and_an_anonymous_contact() -> None:
    parameters = params(
        op("add", "Patient", name="birthDate", value={"valueDate": "1930-01-01"}),
        op(
            "add",
            "Patient",
            name="contact",
            value={"part": [{"name": "name", "valueHumanName": {"text": "a name"}}]},
        ),
    )
    assert apply_fhirpath_patch(patient(), parameters) == patient(
        birthDate="1930-01-01", contact=[{"name": {"text": "a name"}}]
    )


# --- real resources ---------------------------------------------------------------------------


def test_patches_the_official_example_patient(example: Any) -> None:
    resource = example("Patient", "example")
    original = copy.deepcopy(resource)
    parameters = params(
        op("replace", "Patient.name.where(use = 'official').family", value={"valueString": "X"}),
        op("add", "Patient.name.where(use = 'usual')", name="given", value={"valueString": "J"}),
        op("delete", "Patient.telecom.where(use = 'old')"),
        op("move", "Patient.telecom", source=2, destination=0),
        op("replace", "Patient.deceased", value={"valueDateTime": "2020-01-01"}),
        op("add", "Patient", name="photo", value={"valueAttachment": {"title": "face"}}),
        op("delete", "Patient.birthDate.extension"),
    )
    patched = apply_fhirpath_patch(resource, parameters)
    assert resource == original
    assert patched["name"][0]["family"] == "X"
    assert patched["name"][1]["given"] == ["Jim", "J"]
    assert [t.get("use") for t in patched["telecom"]] == ["mobile", "home", "work"]
    assert "deceasedBoolean" not in patched
    assert patched["deceasedDateTime"] == "2020-01-01"
    assert patched["photo"] == [{"title": "face"}]
    assert patched["birthDate"] == "1974-12-25"
    assert "_birthDate" not in patched


def test_patches_observation_components_and_choice_values(example: Any) -> None:
    observation = example("Observation", "blood-pressure")
    systolic = "Observation.component.where(code.coding.code contains '8480-6')"
    parameters = params(
        op("replace", f"{systolic}.value.value", value={"valueDecimal": 120}),
        op(
            "add",
            "Observation",
            name="component",
            value={
                "part": [
                    {"name": "code", "valueCodeableConcept": {"text": "Mean arterial pressure"}},
                    {"name": "value", "valueQuantity": {"value": 93, "unit": "mmHg"}},
                    {"name": "interpretation", "valueCodeableConcept": {"text": "Normal"}},
                ]
            },
        ),
        op("replace", "Observation.effective", value={"valueDateTime": "2012-09-17T10:00:00Z"}),
    )
    patched = apply_fhirpath_patch(observation, parameters)
    assert patched["component"][0]["valueQuantity"]["value"] == 120
    assert patched["component"][-1] == {
        "code": {"text": "Mean arterial pressure"},
        "valueQuantity": {"value": 93, "unit": "mmHg"},
        "interpretation": [{"text": "Normal"}],
    }
    assert patched["effectiveDateTime"] == "2012-09-17T10:00:00Z"


def test_replacing_a_choice_value_changes_its_json_name(example: Any) -> None:
    observation = example("Observation", "example")
    patched = apply_fhirpath_patch(
        observation, params(op("replace", "Observation.value", value={"valueString": "heavy"}))
    )
    assert "valueQuantity" not in patched
    assert patched["valueString"] == "heavy"


@pytest.mark.parametrize("name", ["value", "valueCodeableConcept"])
def test_adding_a_choice_by_either_name(name: str) -> None:
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    parameters = params(
        op("add", "Observation", name=name, value={"valueCodeableConcept": {"text": "positive"}})
    )
    patched = apply_fhirpath_patch(observation, parameters)
    assert patched["valueCodeableConcept"] == {"text": "positive"}


def test_a_choice_holds_the_declared_type_the_value_is() -> None:
    observation = {"resourceType": "Observation", "valueString": "x"}
    patched = apply_fhirpath_patch(
        observation,
        params(
            op("replace", "Observation.value", value={"valueAge": {"value": 3, "unit": "a"}}),
            op("add", "Observation", name="effectiveDateTime", value={"valueString": "2020"}),
        ),
    )
    assert patched == {
        "resourceType": "Observation",
        "valueQuantity": {"value": 3, "unit": "a"},
        "effectiveDateTime": "2020",
    }
    with pytest.raises(Unprocessable) as caught:
        apply_fhirpath_patch(
            observation,
            params(op("add", "Observation", name="effective", value={"valueString": "2020"})),
        )
    assert caught.value.message == (
        "operation 0 (add Observation): a string value does not fit Observation.effective[x] "
        "(dateTime | Period | Timing | instant)"
    )


def test_decimals_keep_their_text() -> None:
    parameters = jsonio.loads(
        b'{"resourceType":"Parameters","parameter":[{"name":"operation","part":['
        b'{"name":"type","valueCode":"replace"},'
        b'{"name":"path","valueString":"Observation.value.value"},'
        b'{"name":"value","valueDecimal":72.50}]}]}'
    )
    observation = {"resourceType": "Observation", "valueQuantity": {"value": 70, "unit": "kg"}}
    patched = apply_fhirpath_patch(observation, parameters)
    assert jsonio.dumps(patched["valueQuantity"]) == b'{"value":72.50,"unit":"kg"}'


def test_primitive_extensions_move_with_their_values() -> None:
    resource = patient(
        name=[{"given": ["A", "B"], "_given": [None, {"id": "b"}]}],
        birthDate="2000-01-01",
    )
    birth_time = {
        "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
        "valueDateTime": "2000-01-01T08:00:00Z",
    }
    parameters = params(
        op(
            "add",
            "Patient.birthDate",
            name="extension",
            value={
                "part": [
                    {"name": "url", "valueUri": birth_time["url"]},
                    {"name": "value", "valueDateTime": birth_time["valueDateTime"]},
                ]
            },
        ),
        op("insert", "Patient.name[0].given", index=0, value={"valueString": "Z"}),
        op("move", "Patient.name[0].given", source=2, destination=0),
        op("delete", "Patient.name[0].given[1]"),
    )
    patched = apply_fhirpath_patch(resource, parameters)
    assert patched["_birthDate"] == {"extension": [birth_time]}
    assert patched["name"][0]["given"] == ["B", "A"]
    assert patched["name"][0]["_given"] == [{"id": "b"}, None]
    without = apply_fhirpath_patch(
        patched,
        params(
            op("delete", "Patient.birthDate.extension[0]"),
            op("delete", "Patient.name[0].given[0]"),
        ),
    )
    assert without == patient(name=[{"given": ["A"]}], birthDate="2000-01-01")


def test_a_value_with_its_own_extension() -> None:
    ext = {"extension": [{"url": "http://example.org/why", "valueString": "estimated"}]}
    parameters = params(
        op("add", "Patient", name="birthDate", value={"valueDate": "1950", "_valueDate": ext})
    )
    assert apply_fhirpath_patch(patient(), parameters) == patient(birthDate="1950", _birthDate=ext)


def test_contained_resources_are_added_and_patched() -> None:
    organization = {"resourceType": "Organization", "id": "org", "name": "Acme"}
    parameters = params(
        op("add", "Patient", name="contained", value={"resource": organization}),
        op(
            "replace",
            "Patient.contained.where(id = 'org').ofType(Organization).name",
            value={"valueString": "Acme Health"},
        ),
        op(
            "add",
            "Patient",
            name="managingOrganization",
            value={"valueReference": {"reference": "#org"}},
        ),
    )
    patched = apply_fhirpath_patch(patient(), parameters)
    assert patched["contained"] == [{**organization, "name": "Acme Health"}]
    assert patched["managingOrganization"] == {"reference": "#org"}


def test_delete_of_nothing_changes_nothing() -> None:
    resource = patient(gender="male")
    assert apply_fhirpath_patch(resource, params(op("delete", "Patient.birthDate"))) == resource


def test_patches_are_atomic() -> None:
    resource = patient(gender="male", name=[{"family": "A"}, {"family": "B"}])
    before = copy.deepcopy(resource)
    parameters = params(
        op("replace", "Patient.gender", value={"valueCode": "female"}),
        op("delete", "Patient.name[0]"),
        op("replace", "Patient.name.family", value={"valueString": "C"}),
        op("replace", "Patient.birthDate", value={"valueDate": "2000"}),
    )
    with pytest.raises(Unprocessable) as caught:
        apply_fhirpath_patch(resource, parameters)
    assert caught.value.message == (
        "operation 3 (replace Patient.birthDate): the path matches no element; "
        "replace needs exactly one"
    )
    assert resource == before


# --- errors -----------------------------------------------------------------------------------

THREE_NAMES = patient(
    name=[{"family": "A", "use": "official"}, {"family": "B"}, {"family": "C"}],
    birthDate="2000-01-01",
)

UNPROCESSABLE = [
    pytest.param(
        op("replace", "Patient.name.family", value={"valueString": "Z"}),
        "operation 0 (replace Patient.name.family): the path matches 3 elements; "
        "replace needs exactly one",
        id="replace matching several",
    ),
    pytest.param(
        op("delete", "Patient.name"),
        "operation 0 (delete Patient.name): the path matches 3 elements; delete needs one",
        id="delete matching several",
    ),
    pytest.param(
        op("add", "Patient", name="birthDate", value={"valueDate": "1999"}),
        "operation 0 (add Patient): Patient.birthDate already exists and does not repeat; "
        "use replace",
        id="add an existing single element",
    ),
    pytest.param(
        op("add", "Patient", name="nickname", value={"valueString": "Zed"}),
        "operation 0 (add Patient): Patient has no element 'nickname'",
        id="add an unknown element",
    ),
    pytest.param(
        op("replace", "Patient.birthDate", value={"valueBoolean": True}),
        "operation 0 (replace Patient.birthDate): a boolean value does not fit "
        "Patient.birthDate (date)",
        id="wrong primitive type",
    ),
    pytest.param(
        op("add", "Patient", name="maritalStatus", value={"valueCoding": {"code": "M"}}),
        "operation 0 (add Patient): a Coding value does not fit Patient.maritalStatus "
        "(CodeableConcept)",
        id="wrong complex type",
    ),
    pytest.param(
        op("add", "Patient", name="contact", value={"valueHumanName": {"text": "x"}}),
        "operation 0 (add Patient): Patient.contact has no named type; give its content as parts",
        id="typed value for an anonymous element",
    ),
    pytest.param(
        op("insert", "Patient.name", index=4, value={"valueHumanName": {"text": "D"}}),
        "operation 0 (insert Patient.name): index 4 is past the end of the list (3)",
        id="insert past the end",
    ),
    pytest.param(
        op("insert", "Patient.birthDate", index=0, value={"valueDate": "2001"}),
        "operation 0 (insert Patient.birthDate): Patient.birthDate is not a list",
        id="insert into a single element",
    ),
    pytest.param(
        op("insert", "Patient.name.where(use = 'official')", index=0, value={"valueHumanName": {}}),
        "operation 0 (insert Patient.name.where(use = 'official')): the path selects 1 of the "
        "list's 3 items, not all",
        id="insert into part of a list",
    ),
    pytest.param(
        op("insert", "Patient.identifier", index=0, value=ident("1")),
        "operation 0 (insert Patient.identifier): the path matches no element "
        "(use add to start a list)",
        id="insert into a missing list",
    ),
    pytest.param(
        op("move", "Patient.name.family", source=1, destination=0),
        "operation 0 (move Patient.name.family): Patient.name[0].family is not a list",
        id="move in a non-list",
    ),
    pytest.param(
        op("move", "Patient.name", source=3, destination=0),
        "operation 0 (move Patient.name): source 3 is out of the list's range (0-2)",
        id="move from past the end",
    ),
    pytest.param(
        op("delete", "Patient"),
        "operation 0 (delete Patient): the resource itself cannot be deleted by a patch",
        id="delete the resource",
    ),
    pytest.param(
        op("replace", "Observation.status", value={"valueCode": "final"}),
        "operation 0 (replace Observation.status): 'Observation.status' starts with "
        "Observation, but the resource is a Patient",
        id="path for another resource type",
    ),
    pytest.param(
        op("add", "Patient.birthDate", name="value", value={"valueDate": "2000"}),
        "operation 0 (add Patient.birthDate): a primitive (Patient.birthDate) only takes id "
        "or extension",
        id="add a child to a primitive",
    ),
    pytest.param(
        op("replace", "Patient.name.where(family > 1)", value={"valueHumanName": {}}),
        "operation 0 (replace Patient.name.where(family > 1)): 'Patient.name.where(family > 1)':"
        " the where() criteria cannot be evaluated on Patient.name[0]",
        id="criteria that cannot be evaluated",
    ),
]


@pytest.mark.parametrize(("operation", "message"), UNPROCESSABLE)
def test_patches_that_cannot_apply_are_unprocessable(
    operation: dict[str, Any], message: str
) -> None:
    before = copy.deepcopy(THREE_NAMES)
    with pytest.raises(Unprocessable) as caught:
        apply_fhirpath_patch(THREE_NAMES, params(operation))
    assert caught.value.status == 422
    assert caught.value.message.startswith(message)
    assert caught.value.outcome()["issue"][0]["code"] == "processing"
    assert before == THREE_NAMES


def test_move_needs_the_items_of_one_list() -> None:
    resource = patient(name=[{"given": ["A", "B"]}, {"given": ["C"]}])
    with pytest.raises(Unprocessable) as caught:
        apply_fhirpath_patch(
            resource, params(op("move", "Patient.name.given", source=0, destination=1))
        )
    assert caught.value.message == (
        "operation 0 (move Patient.name.given): the path must select the items of one list"
    )


def operation_with(*parts: dict[str, Any]) -> dict[str, Any]:
    return params({"name": "operation", "part": list(parts)})


TYPE_REPLACE = {"name": "type", "valueCode": "replace"}
PATH_GENDER = {"name": "path", "valueString": "Patient.gender"}

MALFORMED = [
    pytest.param(
        {"resourceType": "Bundle"},
        "a FHIRPath Patch must be a Parameters resource (R4 fhirpatch.html)",
        id="not Parameters",
    ),
    pytest.param(
        {"resourceType": "Parameters", "parameter": {"name": "operation"}},
        "Parameters.parameter must be an array",
        id="parameter not an array",
    ),
    pytest.param(
        params({"name": "op", "part": []}),
        "parameter 0: a FHIRPath Patch parameter is named 'operation', not 'op'",
        id="parameter not named operation",
    ),
    pytest.param(
        params({"name": "operation"}),
        "operation 0: an operation needs its parts (type, path, ...)",
        id="no parts",
    ),
    pytest.param(
        operation_with({"name": "type", "valueCode": "upsert"}, PATH_GENDER),
        "operation 0: unknown type 'upsert' (expected one of add, insert, delete, replace, move)",
        id="bad type",
    ),
    pytest.param(
        operation_with(PATH_GENDER),
        "operation 0: the part 'type' is missing",
        id="missing type",
    ),
    pytest.param(
        operation_with(TYPE_REPLACE, {"name": "value", "valueCode": "male"}),
        "operation 0: the part 'path' is missing",
        id="missing path",
    ),
    pytest.param(
        operation_with(TYPE_REPLACE, {"name": "path", "valueInteger": 1}),
        "operation 0: the part 'path' needs valueString",
        id="path not a string",
    ),
    pytest.param(
        operation_with(TYPE_REPLACE, PATH_GENDER),
        "operation 0 (replace Patient.gender): the part 'value' is missing",
        id="missing value",
    ),
    pytest.param(
        operation_with(TYPE_REPLACE, PATH_GENDER, {"name": "valeu", "valueCode": "male"}),
        "operation 0: unknown part 'valeu' (expected destination, index, name, path, source, "
        "type, value)",
        id="unknown part",
    ),
    pytest.param(
        operation_with(TYPE_REPLACE, PATH_GENDER, PATH_GENDER),
        "operation 0: the part 'path' is given twice",
        id="duplicate part",
    ),
    pytest.param(
        operation_with(
            TYPE_REPLACE, PATH_GENDER, {"name": "value", "valueCode": "male", "valueString": "m"}
        ),
        "operation 0 (replace Patient.gender): value needs exactly one of value[x], resource "
        "or part (found 2)",
        id="two values",
    ),
    pytest.param(
        operation_with(TYPE_REPLACE, PATH_GENDER, {"name": "value", "valueFoo": "x"}),
        "operation 0 (replace Patient.gender): valueFoo is not a FHIR R4 value[x] type",
        id="unknown value type",
    ),
    pytest.param(
        operation_with(TYPE_REPLACE, PATH_GENDER, {"name": "value", "valueBoolean": "yes"}),
        "operation 0 (replace Patient.gender): valueBoolean must be a JSON boolean",
        id="value of the wrong JSON kind",
    ),
    pytest.param(
        params(op("add", "Patient", value={"valueCode": "male"})),
        "operation 0 (add Patient): the part 'name' is missing",
        id="add without name",
    ),
    pytest.param(
        params(op("insert", "Patient.name", value={"valueHumanName": {}})),
        "operation 0 (insert Patient.name): the part 'index' is missing",
        id="insert without index",
    ),
    pytest.param(
        params(op("move", "Patient.name", source=-1, destination=0)),
        "operation 0 (move Patient.name): the part 'source' must not be negative",
        id="negative source",
    ),
    pytest.param(
        params(op("add", "Patient", name="contact", value={"part": [{"valueString": "x"}]})),
        "operation 0 (add Patient): every part inside value needs a name",
        id="nested part without a name",
    ),
    pytest.param(
        params(op("replace", "Patient.name.count()", value={"valueString": "x"})),
        "operation 0 (replace Patient.name.count()): 'Patient.name.count()': the function "
        "count() is not supported in a patch path",
        id="unsupported function",
    ),
    pytest.param(
        params(op("delete", "Patient.managingOrganization.resolve().name")),
        "operation 0 (delete Patient.managingOrganization.resolve().name): "
        "'Patient.managingOrganization.resolve().name': the function resolve() is not supported",
        id="resolve",
    ),
    pytest.param(
        params(op("delete", "Patient.name | Patient.telecom")),
        "operation 0 (delete Patient.name | Patient.telecom): 'Patient.name | Patient.telecom': "
        "the operator '|' is not supported in a patch path",
        id="union",
    ),
    pytest.param(
        params(op("delete", "Patient.name[")),
        "operation 0 (delete Patient.name[): 'Patient.name[' is not a valid FHIRPath expression",
        id="syntax error",
    ),
]


@pytest.mark.parametrize(("parameters", "message"), MALFORMED)
def test_malformed_patches_are_bad_requests(parameters: Any, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        apply_fhirpath_patch(THREE_NAMES, parameters)
    assert caught.value.status == 400
    assert caught.value.message.startswith(message)
    assert caught.value.outcome()["issue"][0]["code"] == "invalid"


def test_parse_reports_the_checked_operations() -> None:
    operations = parse_fhirpath_patch(
        params(
            op("add", "Patient", name="active", value={"valueBoolean": True}),
            op("move", "Patient.name", source=1, destination=0),
        )
    )
    assert [(o.type, o.path, o.name) for o in operations] == [
        ("add", "Patient", "active"),
        ("move", "Patient.name", None),
    ]
    assert operations[0].value is not None and operations[0].value.json is True
    assert (operations[1].source, operations[1].destination) == (1, 0)
    assert operations[1].label == "operation 1 (move Patient.name)"


# --- properties -------------------------------------------------------------------------------

PATHS = [
    "Patient",
    "Patient.name",
    "Patient.name[0]",
    "Patient.name.given",
    "Patient.name.where(use = 'official')",
    "Patient.birthDate",
    "Patient.birthDate.extension",
    "Patient.contact",
    "Patient.deceased",
    "Patient.identifier.first()",
    "Observation.value",
    "name.last().family",
    "Patient.name[",
    "Patient.name.where(given > 1)",
]
VALUE_PARTS = [
    {"valueString": "x"},
    {"valueCode": "female"},
    {"valueDate": "2001"},
    {"valueBoolean": True},
    {"valueInteger": 3},
    {"valueHumanName": {"family": "Q"}},
    {"valueIdentifier": {"value": "9"}},
    {"part": [{"name": "name", "valueHumanName": {"text": "n"}}]},
    {"part": [{"name": "gender", "valueCode": "male"}, {"name": "nope", "valueString": "?"}]},
    {"resource": {"resourceType": "Organization"}},
]
part_names = st.sampled_from(["type", "path", "name", "value", "index", "source", "destination"])
random_parts = st.lists(
    st.fixed_dictionaries(
        {"name": st.one_of(part_names, st.text(max_size=3))},
        optional={
            "valueCode": st.one_of(
                st.sampled_from(["add", "insert", "delete", "replace", "move"]), st.text(max_size=3)
            ),
            "valueString": st.one_of(
                st.sampled_from([*PATHS, "given", "birthDate", "contact"]), st.text(max_size=8)
            ),
            "valueInteger": st.integers(min_value=-2, max_value=5),
            "part": st.just([{"name": "x"}]),
        },
    ),
    max_size=6,
)
operations = st.one_of(
    st.builds(
        op,
        st.sampled_from(["add", "insert", "delete", "replace", "move"]),
        st.sampled_from(PATHS),
        name=st.one_of(st.none(), st.sampled_from(["given", "birthDate", "contact", "extension"])),
        value=st.one_of(st.none(), st.sampled_from(VALUE_PARTS)),
        index=st.one_of(st.none(), st.integers(min_value=-1, max_value=4)),
        source=st.one_of(st.none(), st.integers(min_value=0, max_value=3)),
        destination=st.one_of(st.none(), st.integers(min_value=0, max_value=3)),
    ),
    random_parts.map(lambda parts: {"name": "operation", "part": parts}),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(operations, max_size=4))
def test_any_parameters_either_apply_or_fail_cleanly(ops: list[dict[str, Any]]) -> None:
    before = copy.deepcopy(THREE_NAMES)
    try:
        result = apply_fhirpath_patch(THREE_NAMES, params(*ops))
    except (BadRequest, Unprocessable):
        pass
    else:
        assert result["resourceType"] == "Patient"
    assert before == THREE_NAMES
