"""FHIR R4 resources the web app's forms create (pure builders, no I/O).

Vital signs follow the R4 vital signs profile (observation-vitalsigns.html): category
``vital-signs``, LOINC codes, UCUM units, one Observation per measurement and a blood
pressure panel (85354-9) with systolic/diastolic components; the consciousness level uses
LOINC 67775-7 with the SNOMED CT ACVPU findings, and "air or oxygen" is the inhaled oxygen
flow rate (3151-8, 0 L/min on air), the same coding as the demo data. Notes are
DocumentReferences with a plain-text attachment (documentreference.html).
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

from wardbook.auth.principal import Principal
from wardbook.web.formatting import fhir_instant_precise
from wardbook.web.forms import AllergyEntry, FeedbackEntry, NoteEntry, ProblemEntry, VitalsEntry

Resource = dict[str, Any]

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
VITALS_PROFILE = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
ACVPU_SNOMED = {
    "A": ("248234008", "Mentally alert"),
    "C": ("130987000", "Acute confusion"),
    "V": ("300202002", "Responds to voice"),
    "P": ("450847001", "Responds to pain"),
    "U": ("422768004", "Unresponsive"),
}
# R4 vital signs profiles per measurement (observation-vitalsigns.html#profiles).
_PROFILES = {
    "9279-1": "resprate",
    "59408-5": "oxygensat",
    "8867-4": "heartrate",
    "8310-5": "bodytemp",
    "85354-9": "bp",
}
FEEDBACK_CATEGORY = "https://wardbook.example.org/fhir/CodeSystem/feedback"


def fhir_instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    return str(uuid.uuid4())


def _concept(system: str, code: str, display: str, text: str | None = None) -> Resource:
    return {
        "coding": [{"system": system, "code": code, "display": display}],
        "text": text or display,
    }


def _quantity(value: float | int, unit: str, code: str) -> Resource:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def _performer(principal: Principal) -> list[Resource]:
    if principal.fhir_user:
        return [{"reference": principal.fhir_user}]
    return [{"display": principal.subject}]


def vital_sign_observations(
    entry: VitalsEntry,
    patient_id: str,
    taken: datetime,
    principal: Principal,
    encounter_id: str | None = None,
) -> list[Resource]:
    """The Observations of one NEWS2 set, sharing subject, encounter and time."""
    when = fhir_instant_precise(taken)

    def observation(code: Resource, loinc: str) -> Resource:
        resource: Resource = {
            "resourceType": "Observation",
            "id": new_id(),
            "meta": {
                "profile": [
                    VITALS_PROFILE,
                    *(
                        [f"http://hl7.org/fhir/StructureDefinition/{_PROFILES[loinc]}"]
                        if loinc in _PROFILES
                        else []
                    ),
                ]
            },
            "status": "final",
            "category": [_concept(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")],
            "code": code,
            "subject": {"reference": f"Patient/{patient_id}"},
            "effectiveDateTime": when,
            "performer": _performer(principal),
        }
        if encounter_id:
            resource["encounter"] = {"reference": f"Encounter/{encounter_id}"}
        return resource

    def quantity(loinc: str, display: str, value: float | int, unit: str, code: str) -> Resource:
        resource = observation(_concept(LOINC, loinc, display), loinc)
        resource["valueQuantity"] = _quantity(value, unit, code)
        return resource

    spo2 = observation(
        {
            "coding": [
                {
                    "system": LOINC,
                    "code": "59408-5",
                    "display": "Oxygen saturation in Arterial blood by Pulse oximetry",
                },
                {
                    "system": LOINC,
                    "code": "2708-6",
                    "display": "Oxygen saturation in Arterial blood",
                },
            ],
            "text": "Oxygen saturation (SpO2)",
        },
        "59408-5",
    )
    spo2["valueQuantity"] = _quantity(entry.spo2, "%", "%")
    flow = entry.oxygen_flow if entry.on_oxygen and entry.oxygen_flow is not None else 0
    if entry.on_oxygen:
        spo2["component"] = [
            {
                "code": _concept(LOINC, "3151-8", "Inhaled oxygen flow rate"),
                "valueQuantity": _quantity(flow, "L/min", "L/min"),
            }
        ]
    pressure = observation(
        _concept(LOINC, "85354-9", "Blood pressure panel with all children optional"), "85354-9"
    )
    pressure["component"] = [
        {
            "code": _concept(LOINC, "8480-6", "Systolic blood pressure"),
            "valueQuantity": _quantity(entry.systolic, "mmHg", "mm[Hg]"),
        },
        {
            "code": _concept(LOINC, "8462-4", "Diastolic blood pressure"),
            "valueQuantity": _quantity(entry.diastolic, "mmHg", "mm[Hg]"),
        },
    ]
    acvpu_code, acvpu_display = ACVPU_SNOMED[entry.consciousness]
    consciousness = observation(
        {
            "coding": [
                {"system": LOINC, "code": "67775-7", "display": "Level of responsiveness"},
                {
                    "system": SNOMED,
                    "code": "1104441000000107",
                    "display": "ACVPU (Alert Confusion Voice Pain Unresponsive) scale score",
                },
            ],
            "text": "Level of consciousness (ACVPU)",
        },
        "67775-7",
    )
    consciousness["valueCodeableConcept"] = _concept(SNOMED, acvpu_code, acvpu_display)
    return [
        quantity("9279-1", "Respiratory rate", entry.respiratory_rate, "breaths/minute", "/min"),
        spo2,
        quantity("3151-8", "Inhaled oxygen flow rate", flow, "L/min", "L/min"),
        pressure,
        quantity("8867-4", "Heart rate", entry.heart_rate, "beats/minute", "/min"),
        consciousness,
        quantity("8310-5", "Body temperature", entry.temperature, "°C", "Cel"),
    ]


def note_document(
    entry: NoteEntry,
    patient_id: str,
    written: datetime,
    principal: Principal,
    encounter_id: str | None = None,
) -> Resource:
    """A progress note (LOINC 11506-3) as a DocumentReference with the text attached."""
    author: Resource = (
        {"reference": principal.fhir_user, "display": principal.subject}
        if principal.fhir_user
        else {"display": principal.subject}
    )
    document: Resource = {
        "resourceType": "DocumentReference",
        "status": "current",
        "docStatus": "final",
        "type": _concept(LOINC, "11506-3", "Progress note"),
        "subject": {"reference": f"Patient/{patient_id}"},
        "date": fhir_instant(written),
        "author": [author],
        "description": entry.title,
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "language": "en-GB",
                    "data": base64.b64encode(entry.text.encode("utf-8")).decode("ascii"),
                    "title": entry.title,
                    "creation": fhir_instant(written),
                }
            }
        ],
    }
    if encounter_id:
        document["context"] = {"encounter": [{"reference": f"Encounter/{encounter_id}"}]}
    return document


def problem_condition(
    entry: ProblemEntry, patient_id: str, recorded: datetime, principal: Principal
) -> Resource:
    """An active, confirmed problem-list Condition (condition.html)."""
    condition: Resource = {
        "resourceType": "Condition",
        "clinicalStatus": _concept(
            "http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"
        ),
        "verificationStatus": _concept(
            "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed"
        ),
        "category": [
            _concept(
                "http://terminology.hl7.org/CodeSystem/condition-category",
                "problem-list-item",
                "Problem List Item",
            )
        ],
        "code": {"text": entry.name},
        "subject": {"reference": f"Patient/{patient_id}"},
        "recordedDate": fhir_instant(recorded),
        "recorder": _performer(principal)[0],
    }
    if entry.onset:
        condition["onsetDateTime"] = entry.onset
    return condition


def resolve_condition(condition: Resource, resolved: datetime) -> Resource:
    """The same Condition, resolved now (clinicalStatus resolved, abatementDateTime)."""
    updated = dict(condition)
    updated["clinicalStatus"] = _concept(
        "http://terminology.hl7.org/CodeSystem/condition-clinical", "resolved", "Resolved"
    )
    updated["abatementDateTime"] = fhir_instant(resolved)
    return updated


def allergy_intolerance(
    entry: AllergyEntry, patient_id: str, recorded: datetime, principal: Principal
) -> Resource:
    """An active, confirmed allergy with its reaction's severity (allergyintolerance.html)."""
    return {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": _concept(
            "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active"
        ),
        "verificationStatus": _concept(
            "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
            "confirmed",
            "Confirmed",
        ),
        "type": "allergy",
        "criticality": entry.criticality,
        "code": {"text": entry.substance},
        "patient": {"reference": f"Patient/{patient_id}"},
        "recordedDate": fhir_instant(recorded),
        "recorder": _performer(principal)[0],
        "reaction": [{"manifestation": [{"text": entry.reaction}], "severity": entry.severity}],
    }


def stop_medication(request: Resource) -> Resource:
    """The same MedicationRequest with status ``stopped`` (medicationrequest.html#status)."""
    updated = dict(request)
    updated["status"] = "stopped"
    return updated


def feedback_communication(entry: FeedbackEntry, sent: datetime, principal: Principal) -> Resource:
    """User feedback, stored as a Communication about the product (no patient subject)."""
    return {
        "resourceType": "Communication",
        "status": "completed",
        "category": [{"coding": [{"system": FEEDBACK_CATEGORY, "code": entry.kind}]}],
        "sent": fhir_instant(sent),
        "sender": _performer(principal)[0],
        "topic": {"text": entry.page or "Wardbook"},
        "payload": [{"contentString": entry.text}],
    }
