"""What the patient chart shows, read from FHIR R4 resources (pure: no I/O).

The banner follows the NHS patient banner guidance (ISB 1505 / Common User Interface):
family name in capitals, given name, date of birth with age, sex, NHS number and MRN, and
the allergy status, which distinguishes "no known allergies" (a recorded negation,
SNOMED 716186003) from "not recorded" (nothing asked yet). Vital signs follow the R4
vital signs profile (observation-vitalsigns.html): LOINC-coded, UCUM units; a NEWS2 set is
the observations sharing one ``effectiveDateTime``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from wardbook.web import news2
from wardbook.web.formatting import age_on, parse_fhir_date, parse_fhir_datetime

Resource = dict[str, Any]

MRN_SYSTEM = "https://wardbook.example.org/fhir/sid/mrn"
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
NO_KNOWN_ALLERGY = "716186003"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"

# LOINC code -> (short label, unit shown). Blood pressure is a panel with two components.
VITAL_CODES: dict[str, tuple[str, str]] = {
    "9279-1": ("Respiratory rate", "breaths/min"),
    "59408-5": ("Oxygen saturation (SpO2)", "%"),
    "2708-6": ("Oxygen saturation (SpO2)", "%"),
    "3151-8": ("Inhaled oxygen flow rate", "L/min"),
    "8480-6": ("Systolic blood pressure", "mmHg"),
    "8462-4": ("Diastolic blood pressure", "mmHg"),
    "8867-4": ("Heart rate", "beats/min"),
    "8310-5": ("Temperature", "°C"),
    "67775-7": ("Level of consciousness", ""),
}
ACVPU_BY_SNOMED: dict[str, news2.Acvpu] = {
    "248234008": "A",
    "130987000": "C",
    "300202002": "V",
    "450847001": "P",
    "422768004": "U",
}
_FLAGS = {
    "H": "High",
    "HH": "Critically high",
    "L": "Low",
    "LL": "Critically low",
    "A": "Abnormal",
    "AA": "Critically abnormal",
}


def codes(concept: Any) -> list[tuple[str | None, str | None]]:
    """(system, code) pairs of a CodeableConcept."""
    if not isinstance(concept, dict):
        return []
    return [(c.get("system"), c.get("code")) for c in concept.get("coding", []) or []]


def concept_text(concept: Any, default: str = "") -> str:
    """What a person calls a CodeableConcept: its text, else its first display or code."""
    if not isinstance(concept, dict):
        return default
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding", []) or []:
        if coding.get("display"):
            return str(coding["display"])
    for coding in concept.get("coding", []) or []:
        if coding.get("code"):
            return str(coding["code"])
    return default


def status_code(concept: Any) -> str | None:
    """The code of a status CodeableConcept such as Condition.clinicalStatus."""
    for _system, code in codes(concept):
        if code:
            return code
    return None


def reference_id(reference: Any, resource_type: str) -> str | None:
    """The id in a literal ``Type/id`` reference, if it points at ``resource_type``."""
    if not isinstance(reference, dict):
        return None
    text = reference.get("reference")
    if not isinstance(text, str):
        return None
    kind, _, rid = text.rpartition("/")
    return rid if kind.endswith(resource_type) and rid else None


# -- the patient banner -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Banner:
    """The patient banner (NHS patient banner guidance)."""

    id: str
    name: str  # "AKHTAR, Susan (Mrs)"
    display_name: str  # "Susan Akhtar"
    birth_date: date | None
    age: str
    sex: str
    nhs_number: str | None
    mrn: str | None
    allergy_status: str
    has_allergies: bool


def display_name(patient: Resource) -> str:
    """Given then family name, as in a list of search results."""
    name = _official_name(patient)
    given = " ".join(name.get("given", []) or [])
    family = name.get("family", "")
    text = f"{given} {family}".strip()
    return text or name.get("text", "") or "Name not recorded"


def banner_name(patient: Resource) -> str:
    """FAMILY, Given (Title): the banner's form of a name."""
    name = _official_name(patient)
    family = str(name.get("family", "")).upper()
    given = " ".join(name.get("given", []) or [])
    prefix = " ".join(name.get("prefix", []) or [])
    text = ", ".join(p for p in (family, given) if p)
    if prefix:
        text += f" ({prefix})"
    return text or name.get("text", "") or "Name not recorded"


def _official_name(patient: Resource) -> dict[str, Any]:
    names = [n for n in patient.get("name", []) or [] if isinstance(n, dict)]
    for use in ("official", "usual", None):
        for name in names:
            if use is None or name.get("use") == use:
                return name
    return {}


def identifier(patient: Resource, system: str) -> str | None:
    for ident in patient.get("identifier", []) or []:
        if ident.get("system") == system and ident.get("value"):
            return str(ident["value"])
    return None


def sex_label(gender: str | None) -> str:
    return {"male": "Male", "female": "Female", "other": "Other", "unknown": "Unknown"}.get(
        gender or "", "Not recorded"
    )


def allergy_status(allergies: Iterable[Allergy]) -> tuple[str, bool]:
    """The banner's allergy line and whether it names real allergies."""
    items = [a for a in allergies if a.active]
    real = [a for a in items if not a.no_known_allergy]
    if real:
        return "Allergies: " + ", ".join(a.substance for a in real), True
    if items:
        return "No known allergies", False
    return "Allergies not recorded", False


def banner(patient: Resource, allergies: Iterable[Allergy], today: date) -> Banner:
    birth = parse_fhir_date(patient.get("birthDate"))
    status, has = allergy_status(allergies)
    return Banner(
        id=str(patient.get("id", "")),
        name=banner_name(patient),
        display_name=display_name(patient),
        birth_date=birth,
        age=age_on(birth, today) if birth else "",
        sex=sex_label(patient.get("gender")),
        nhs_number=identifier(patient, NHS_NUMBER_SYSTEM),
        mrn=identifier(patient, MRN_SYSTEM),
        allergy_status=status,
        has_allergies=has,
    )


# -- summary sections ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    id: str
    name: str
    status: str
    onset: str | None
    recorded: str | None

    @property
    def active(self) -> bool:
        return self.status in ("active", "recurrence", "relapse")


def problem(condition: Resource) -> Problem:
    return Problem(
        id=str(condition.get("id", "")),
        name=concept_text(condition.get("code"), "Unnamed problem"),
        status=status_code(condition.get("clinicalStatus")) or "unknown",
        onset=condition.get("onsetDateTime") or (condition.get("onsetPeriod") or {}).get("start"),
        recorded=condition.get("recordedDate"),
    )


@dataclass(frozen=True, slots=True)
class Allergy:
    id: str
    substance: str
    criticality: str | None
    severity: str | None
    reaction: str | None
    active: bool
    no_known_allergy: bool
    recorded: str | None


def allergy(resource: Resource) -> Allergy:
    reactions = resource.get("reaction", []) or []
    first = reactions[0] if reactions else {}
    manifestations = [concept_text(m) for m in first.get("manifestation", []) or []]
    status = status_code(resource.get("clinicalStatus"))
    return Allergy(
        id=str(resource.get("id", "")),
        substance=concept_text(resource.get("code"), "Unnamed substance"),
        criticality=resource.get("criticality"),
        severity=first.get("severity"),
        reaction=", ".join(m for m in manifestations if m) or None,
        active=status in (None, "active"),
        no_known_allergy=(SNOMED, NO_KNOWN_ALLERGY) in codes(resource.get("code")),
        recorded=resource.get("recordedDate"),
    )


@dataclass(frozen=True, slots=True)
class Medication:
    id: str
    name: str
    dosage: str
    status: str
    authored: str | None

    @property
    def current(self) -> bool:
        return self.status in ("active", "on-hold", "draft")


def _contained_medication(request: Resource, reference: Any) -> str:
    """The name of the Medication a ``#id`` reference points to inside ``request``.

    Prescribing systems often send a compounded or free-text medicine as a contained
    Medication (R4 references.html#contained) rather than a code on the request itself.
    """
    target = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(target, str) or not target.startswith("#"):
        return ""
    for item in request.get("contained") or []:
        if (
            isinstance(item, dict)
            and item.get("resourceType") == "Medication"
            and item.get("id") == target[1:]
        ):
            return concept_text(item.get("code"))
    return ""


def medication(request: Resource) -> Medication:
    name = concept_text(request.get("medicationCodeableConcept"))
    reference = request.get("medicationReference")
    if not name:
        name = _contained_medication(request, reference)
    if not name:
        name = (reference or {}).get("display") or "Unnamed medicine"
    dosage = "; ".join(
        str(d.get("text")) for d in request.get("dosageInstruction", []) or [] if d.get("text")
    )
    return Medication(
        id=str(request.get("id", "")),
        name=name,
        dosage=dosage,
        status=str(request.get("status", "unknown")),
        authored=request.get("authoredOn"),
    )


@dataclass(frozen=True, slots=True)
class Result:
    """One laboratory result with its unit, reference range and abnormal flag."""

    id: str
    name: str
    value: str
    unit: str
    when: datetime | None
    low: float | None
    high: float | None
    range_text: str
    flag: str | None  # "High", "Low", ...


def _quantity(value: Any) -> tuple[float | None, str]:
    if not isinstance(value, dict) or not isinstance(value.get("value"), int | float):
        return None, ""
    return float(value["value"]), str(value.get("unit") or value.get("code") or "")


def result(observation: Resource) -> Result:
    number, unit = _quantity(observation.get("valueQuantity"))
    if number is not None:
        value = f"{number:g}"
    elif observation.get("valueString"):
        value = str(observation["valueString"])
    else:
        value = concept_text(observation.get("valueCodeableConcept"))
    ranges = observation.get("referenceRange", []) or []
    low = high = None
    range_text = ""
    if ranges:
        low, _ = _quantity(ranges[0].get("low"))
        high, _ = _quantity(ranges[0].get("high"))
        if low is not None and high is not None:
            range_text = f"{low:g} to {high:g}"
        elif low is not None:
            range_text = f"{low:g} or more"
        elif high is not None:
            range_text = f"{high:g} or less"
        else:
            range_text = str(ranges[0].get("text", ""))
    flag = None
    for _system, code in codes((observation.get("interpretation") or [{}])[0]):
        flag = _FLAGS.get(code or "")
    if flag is None and number is not None:
        if low is not None and number < low:
            flag = "Low"
        elif high is not None and number > high:
            flag = "High"
    return Result(
        id=str(observation.get("id", "")),
        name=concept_text(observation.get("code"), "Unnamed test"),
        value=value,
        unit=unit,
        when=parse_fhir_datetime(observation.get("effectiveDateTime") or observation.get("issued")),
        low=low,
        high=high,
        range_text=range_text,
        flag=flag,
    )


# -- vital signs ---------------------------------------------------------------------------


@dataclass(slots=True)
class VitalSet:
    """The vital signs recorded at one moment; NEWS2 when the set is complete."""

    when: datetime
    respiratory_rate: float | None = None
    spo2: float | None = None
    oxygen_flow: float | None = None
    systolic: float | None = None
    diastolic: float | None = None
    heart_rate: float | None = None
    consciousness: news2.Acvpu | None = None
    temperature: float | None = None
    ids: list[str] = field(default_factory=list)

    @property
    def on_oxygen(self) -> bool | None:
        return None if self.oxygen_flow is None else self.oxygen_flow > 0

    @property
    def consciousness_label(self) -> str:
        return news2.ACVPU_LABELS.get(self.consciousness or "", "")

    @property
    def news2(self) -> news2.News2 | None:
        rr, spo2, sbp, hr = self.respiratory_rate, self.spo2, self.systolic, self.heart_rate
        acvpu, temp, oxygen = self.consciousness, self.temperature, self.on_oxygen
        if rr is None or spo2 is None or sbp is None or hr is None or temp is None:
            return None
        if acvpu is None or oxygen is None:
            return None
        return news2.score(news2.VitalSigns(rr, spo2, oxygen, sbp, hr, acvpu, temp))


def _loinc_codes(concept: Any) -> list[str]:
    return [code for system, code in codes(concept) if system == LOINC and code]


_VITAL_LOINC = frozenset(
    ("85354-9", "9279-1", "59408-5", "2708-6", "3151-8", "8867-4", "8310-5", "67775-7")
)


def add_vital(sets: dict[str, VitalSet], observation: Resource) -> bool:
    """File one vital-sign Observation into the set for its time; False if not a vital sign."""
    loinc = _loinc_codes(observation.get("code"))
    when = parse_fhir_datetime(observation.get("effectiveDateTime"))
    if when is None or not _VITAL_LOINC.intersection(loinc):
        return False
    key = when.isoformat()
    vital = sets.get(key)
    if vital is None:
        vital = sets[key] = VitalSet(when)
    number, _unit = _quantity(observation.get("valueQuantity"))
    if "85354-9" in loinc:
        for component in observation.get("component", []) or []:
            part = _loinc_codes(component.get("code"))
            value, _ = _quantity(component.get("valueQuantity"))
            if "8480-6" in part:
                vital.systolic = value
            elif "8462-4" in part:
                vital.diastolic = value
    elif "9279-1" in loinc:
        vital.respiratory_rate = number
    elif "59408-5" in loinc or "2708-6" in loinc:
        vital.spo2 = number
    elif "3151-8" in loinc:
        vital.oxygen_flow = number
    elif "8867-4" in loinc:
        vital.heart_rate = number
    elif "8310-5" in loinc:
        vital.temperature = number
    else:
        for system, snomed in codes(observation.get("valueCodeableConcept")):
            if system == SNOMED and snomed in ACVPU_BY_SNOMED:
                vital.consciousness = ACVPU_BY_SNOMED[snomed]
    vital.ids.append(str(observation.get("id", "")))
    return True


def is_category(resource: Resource, category: str) -> bool:
    return any(
        code == category for c in resource.get("category", []) or [] for _s, code in codes(c)
    )


# -- timeline -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """An encounter or a note, in the order they happened."""

    when: datetime | None
    kind: str  # "encounter" | "note"
    title: str
    detail: str
    href: str | None = None


def encounter_entry(encounter: Resource) -> TimelineEntry:
    period = encounter.get("period") or {}
    kind = concept_text((encounter.get("type") or [{}])[0]) or (encounter.get("class") or {}).get(
        "display", "Encounter"
    )
    service = concept_text(encounter.get("serviceType"))
    status = str(encounter.get("status", ""))
    detail = ", ".join(p for p in (service, status.replace("-", " ")) if p)
    return TimelineEntry(parse_fhir_datetime(period.get("start")), "encounter", kind, detail)


@dataclass(frozen=True, slots=True)
class Note:
    id: str
    title: str
    kind: str
    when: datetime | None
    author: str
    text: str


def note(document: Resource) -> Note:
    text = ""
    for content in document.get("content", []) or []:
        attachment = content.get("attachment") or {}
        data = attachment.get("data")
        if data and str(attachment.get("contentType", "text/plain")).startswith("text/"):
            try:
                text = base64.b64decode(data).decode("utf-8", errors="replace")
            except (binascii.Error, ValueError):
                text = ""
            break
    authors = [a.get("display", "") for a in document.get("author", []) or []]
    kind = concept_text(document.get("type"), "Note")
    return Note(
        id=str(document.get("id", "")),
        title=str(document.get("description") or kind),
        kind=kind,
        when=parse_fhir_datetime(document.get("date")),
        author=", ".join(a for a in authors if a),
        text=text,
    )


def note_entry(patient_id: str, item: Note) -> TimelineEntry:
    return TimelineEntry(
        item.when,
        "note",
        item.title,
        ", ".join(p for p in (item.kind, item.author) if p),
        f"/patients/{patient_id}/notes/{item.id}",
    )


@dataclass(frozen=True, slots=True)
class Appointment:
    id: str
    start: datetime | None
    description: str
    status: str


def appointment(resource: Resource) -> Appointment:
    description = str(resource.get("description") or "") or concept_text(
        (resource.get("serviceType") or [{}])[0], "Appointment"
    )
    return Appointment(
        id=str(resource.get("id", "")),
        start=parse_fhir_datetime(resource.get("start")),
        description=description,
        status=str(resource.get("status", "")),
    )
