"""The registry API over the generated R4 definitions."""

from __future__ import annotations

import pytest

from wardbook.fhir import registry


def test_resource_types_are_the_concrete_r4_resources() -> None:
    types = registry.resource_types()
    assert len(types) == 146
    assert {"Patient", "Observation", "Bundle", "Parameters", "Binary"} <= types
    assert "Resource" not in types
    assert "DomainResource" not in types
    assert "HumanName" not in types
    assert registry.is_resource_type("Encounter")
    assert not registry.is_resource_type("patient")


def test_type_definition_knows_datatypes_and_primitives() -> None:
    human_name = registry.type_definition("HumanName")
    assert human_name.kind == "complex-type"
    assert [e.name for e in human_name.children()][:3] == ["id", "extension", "use"]
    date = registry.type_definition("date")
    assert date.kind == "primitive-type"
    assert date.regex is not None and date.regex.startswith("([0-9]")
    assert "decimal" in registry.primitive_types()
    with pytest.raises(KeyError):
        registry.type_definition("NoSuchType")


def test_element_follows_datatypes_choices_and_content_references() -> None:
    given = registry.element("Patient.name.given")
    assert given is not None and given.path == "HumanName.given" and given.is_array
    value = registry.element("Observation.valueQuantity")
    assert value is not None and value.choice and value.name == "value"
    assert "Quantity" in value.type_codes
    nested = registry.element("Questionnaire.item.item.linkId")
    assert nested is not None and nested.min == 1
    assert registry.element("Patient.nope") is None
    assert registry.element("Nope.id") is None


def test_element_records_cardinality_bindings_and_flags() -> None:
    status = registry.element("Observation.status")
    assert status is not None
    assert (status.min, status.max, status.modifier, status.summary) == (1, 1, True, True)
    assert status.binding_strength == "required"
    assert status.binding_value_set == "http://hl7.org/fhir/ValueSet/observation-status"
    codes = registry.value_set_codes(status.binding_value_set)
    assert codes is not None
    assert ("http://hl7.org/fhir/observation-status", "final") in codes


def test_reference_targets_come_from_target_profiles() -> None:
    subject = registry.element("Observation.subject")
    assert subject is not None
    assert set(subject.types[0].targets) == {"Patient", "Group", "Device", "Location"}


def test_resource_id_is_typed_id() -> None:
    el = registry.element("Patient.id")
    assert el is not None and el.type_codes == ("id",)


def test_content_reference_children() -> None:
    names = [e.name for e in registry.children("Questionnaire", "Questionnaire.item.item")]
    assert "linkId" in names and "item" in names


def test_unexpandable_value_sets_are_marked() -> None:
    assert registry.value_set_codes("http://hl7.org/fhir/ValueSet/mimetypes") is None
    assert not registry.value_set_expandable("http://hl7.org/fhir/ValueSet/currencies")
    assert registry.value_set_expandable("http://hl7.org/fhir/ValueSet/administrative-gender")


def test_search_parameters_include_resource_wide_ones() -> None:
    params = registry.search_parameters("Patient")
    for code in ("_id", "_lastUpdated", "_tag", "_profile", "_security", "_source", "_text"):
        assert code in params, code
    assert params["_id"].url == "http://hl7.org/fhir/SearchParameter/Resource-id"
    assert params["birthdate"].type == "date"
    assert params["general-practitioner"].targets == (
        "Organization",
        "Practitioner",
        "PractitionerRole",
    )
    assert "mothersMaidenName" not in params
    assert "mothersMaidenName" in registry.search_parameters("Patient", include_experimental=True)


def test_bundle_is_no_domain_resource_so_has_no_text_param() -> None:
    params = registry.search_parameters("Bundle")
    assert "_id" in params and "_text" not in params


def test_shared_parameter_applies_to_each_base() -> None:
    obs = registry.search_parameters("Observation")["code"]
    cond = registry.search_parameters("Condition")["code"]
    assert obs is cond
    assert obs.expression_for("Observation") == "Observation.code"
    assert cond.expression_for("Condition") == "Condition.code"
    med = registry.search_parameters("MedicationRequest")["code"]
    assert (
        med.expression_for("MedicationRequest")
        == "(MedicationRequest.medication as CodeableConcept)"
    )


def test_composite_parameters_list_their_components() -> None:
    param = registry.search_parameters("Observation")["code-value-quantity"]
    assert param.type == "composite"
    assert param.components == (
        ("http://hl7.org/fhir/SearchParameter/clinical-code", "code"),
        ("http://hl7.org/fhir/SearchParameter/Observation-value-quantity", "value.as(Quantity)"),
    )


def test_search_parameter_by_url() -> None:
    param = registry.search_parameter_by_url(
        "http://hl7.org/fhir/SearchParameter/individual-gender|4.0.1"
    )
    assert param is not None and param.code == "gender" and param.type == "token"
    assert len(registry.all_search_parameters()) == 1400


def test_unknown_resource_type_has_no_parameters() -> None:
    with pytest.raises(KeyError):
        registry.search_parameters("Nope")


def test_split_union_respects_parentheses_and_strings() -> None:
    expr = "a.where(b = 'x|y') | (c as Quantity) | d.where(e | f)"
    assert registry.split_union(expr) == ["a.where(b = 'x|y')", "(c as Quantity)", "d.where(e | f)"]


def test_compartments() -> None:
    assert registry.compartments() == {
        "Patient",
        "Encounter",
        "RelatedPerson",
        "Practitioner",
        "Device",
    }
    assert registry.compartment_params("Patient", "Observation") == ("subject", "performer")
    assert registry.compartment_params("Patient", "Binary") == ()
    assert "Observation" in registry.compartment_resource_types("Patient")
    with pytest.raises(KeyError):
        registry.compartment_params("Nope", "Observation")


def test_json_properties_expand_choices() -> None:
    props = registry.json_properties("Observation")
    assert props["valueQuantity"] is props["valueString"]
    assert props["valueQuantity"].path == "Observation.value[x]"
    assert "value[x]" not in props and "value" not in props
    assert set(registry.json_properties("Patient", "Patient.contact")) >= {"name", "telecom"}


def test_summary_elements() -> None:
    summary = registry.summary_elements("Patient")
    assert {"id", "meta", "name", "gender", "birthDate", "deceasedBoolean"} <= summary
    assert "photo" not in summary and "contact" not in summary


def test_simple_quantity_is_a_quantity_profile() -> None:
    simple = registry.type_definition("SimpleQuantity")
    assert simple.profile_of == "Quantity"
    comparator = simple.element("Quantity.comparator")
    assert comparator is not None and comparator.max == 0
    assert {e.name for e in simple.children()} >= {"value", "unit", "system", "code"}
