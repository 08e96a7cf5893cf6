"""Official R4 examples that break the specification's own rules.

Each value names the broken element as a backquoted FHIRPath (without indexes); the
validator must report an issue at that element for the example, and no other official
example may fail. Checked against the R4 (4.0.1) definitions by hand.
"""

from __future__ import annotations

_NO_BASE = "`SearchParameter.base` is required (1..*) but this extension search parameter has none"

_EMPTY_NARRATIVE = (
    "`{}.text.div` holds only whitespace, breaking txt-2 (the narrative SHALL have some "
    "non-whitespace content)"
)

KNOWN_INVALID_EXAMPLES: dict[tuple[str, str], str] = {
    ("ActivityDefinition", "blood-tubes-supply"): _EMPTY_NARRATIVE.format("ActivityDefinition"),
    ("ActivityDefinition", "heart-valve-replacement"): _EMPTY_NARRATIVE.format(
        "ActivityDefinition"
    ),
    ("EventDefinition", "example"): _EMPTY_NARRATIVE.format("EventDefinition"),
    ("Questionnaire", "zika-virus-exposure-assessment"): _EMPTY_NARRATIVE.format("Questionnaire"),
    ("Questionnaire", "qs1"): (
        "`Questionnaire.item.item.linkId` is required (1..1) but the generated display items "
        "have none"
    ),
    ("SearchParameter", "codesystem-extensions-CodeSystem-author"): _NO_BASE,
    ("SearchParameter", "codesystem-extensions-CodeSystem-effective"): _NO_BASE,
    ("SearchParameter", "codesystem-extensions-CodeSystem-end"): _NO_BASE,
    ("SearchParameter", "codesystem-extensions-CodeSystem-keyword"): _NO_BASE,
    ("SearchParameter", "codesystem-extensions-CodeSystem-workflow"): _NO_BASE,
    ("SearchParameter", "valueset-extensions-ValueSet-author"): _NO_BASE,
    ("SearchParameter", "valueset-extensions-ValueSet-effective"): _NO_BASE,
    ("SearchParameter", "valueset-extensions-ValueSet-end"): _NO_BASE,
    ("SearchParameter", "valueset-extensions-ValueSet-keyword"): _NO_BASE,
    ("SearchParameter", "valueset-extensions-ValueSet-workflow"): _NO_BASE,
    ("SearchParameter", "questionnaireresponse-extensions-QuestionnaireResponse-item-subject"): (
        "`SearchParameter.id` is 67 characters long, beyond the 64 an id allows"
    ),
    ("ImplementationGuide", "fhir"): (
        "`ImplementationGuide.name` and status are required (1..1) but missing, and a manifest "
        "reference uses an id longer than 64 characters"
    ),
    ("DeviceMetric", "example"): (
        "`DeviceMetric.parent.reference` points to a DeviceDefinition, but only Device is allowed"
    ),
    ("DeviceUseStatement", "example"): (
        "`DeviceUseStatement.reasonReference.reference` points to a Procedure, which is not an "
        "allowed target"
    ),
    ("MedicationRequest", "medrx0301"): (
        "`MedicationRequest.dispenseRequest.performer.reference` points to a Practitioner, but "
        "only Organization is allowed"
    ),
    ("Observation", "clinical-gender"): (
        "`Observation.performer.reference` points to an Encounter, which is not an allowed "
        "performer"
    ),
}
