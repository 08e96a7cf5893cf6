"""The Patient resource (R4 patient.html): identifiers, name, contact details, GP."""

from __future__ import annotations

import random

from wardbook.demo import terminology as ts
from wardbook.demo.catalog import AgeBand
from wardbook.demo.clock import fhir_date
from wardbook.demo.context import PatientContext
from wardbook.demo.elements import Resource, coding, concept
from wardbook.demo.people import email, landline, mobile, random_address, random_name

_MARITAL = (
    ("M", "Married", 0.5),
    ("S", "Never Married", 0.25),
    ("W", "Widowed", 0.15),
    ("D", "Divorced", 0.1),
)
_LANGUAGES = (
    ("en-GB", "English (United Kingdom)", 0.86),
    ("pl", "Polish", 0.03),
    ("pa", "Panjabi", 0.03),
    ("ur", "Urdu", 0.03),
    ("bn", "Bengali", 0.02),
    ("ro", "Romanian", 0.02),
    ("zh", "Chinese", 0.01),
)


def build_patient(ctx: PatientContext, mrn: str, nhs_number: str) -> Resource:
    """The Patient resource for the context's story."""
    rng, story = ctx.rng, ctx.story
    address, phone_prefix = random_address(rng)
    name: Resource = {
        "use": "official",
        "family": ctx.name.family,
        "given": list(ctx.name.given),
    }
    prefix = _title(rng, story.gender, story.age)
    if prefix:
        name["prefix"] = [prefix]
    telecom: list[Resource] = [
        {"system": "phone", "value": landline(rng, phone_prefix), "use": "home"}
    ]
    if story.age >= 14:
        telecom.insert(0, {"system": "phone", "value": mobile(rng), "use": "mobile", "rank": 1})
    if 16 <= story.age < 85 and rng.random() < 0.6:
        telecom.append(
            {"system": "email", "value": email(ctx.name, "example.net", rng), "use": "home"}
        )
    patient: Resource = {
        "resourceType": "Patient",
        "id": ctx.patient_id,
        "identifier": [
            {
                "use": "usual",
                "type": {
                    "coding": [coding(ts.IDENTIFIER_TYPE, "MR", "Medical record number")],
                    "text": "MRN",
                },
                "system": ts.MRN_SYSTEM,
                "value": mrn,
            },
            {"use": "official", "system": ts.NHS_NUMBER_SYSTEM, "value": nhs_number},
        ],
        "active": True,
        "name": [name],
        "telecom": telecom,
        "gender": story.gender,
        "birthDate": fhir_date(story.birth_date),
        "address": [address],
    }
    if story.age >= 18 and rng.random() < 0.7:
        code, display, _ = rng.choices(_MARITAL, weights=[w for *_, w in _MARITAL])[0]
        if code == "W" and story.age < 50:
            code, display = "M", "Married"
        patient["maritalStatus"] = concept(ts.MARITAL_STATUS, code, display)
    language, language_name, _ = rng.choices(_LANGUAGES, weights=[w for *_, w in _LANGUAGES])[0]
    patient["communication"] = [
        {"language": concept(ts.BCP47, language, language_name), "preferred": True}
    ]
    patient["contact"] = [_next_of_kin(ctx, phone_prefix)]
    patient["generalPractitioner"] = [ctx.staff_ref(ctx.gp)]
    patient["managingOrganization"] = ctx.facility.organization_ref()
    return patient


def _title(rng: random.Random, gender: str, age: int) -> str | None:
    if age < 16:
        return None
    if gender == "male":
        return "Mr"
    return rng.choice(("Mrs", "Ms", "Miss")) if age < 70 else rng.choice(("Mrs", "Mrs", "Ms"))


def _next_of_kin(ctx: PatientContext, phone_prefix: str) -> Resource:
    """A next of kin: a parent for children, otherwise a partner or grown-up child."""
    rng, story = ctx.rng, ctx.story
    kin_gender = rng.choice(("female", "male"))
    kin_name = random_name(rng, kin_gender)
    if rng.random() < 0.6:
        kin_name = type(kin_name)(kin_name.given, ctx.name.family)
    relation = (
        "Parent"
        if story.band is AgeBand.CHILD
        else rng.choice(("Spouse", "Child", "Sibling", "Friend"))
    )
    return {
        "relationship": [
            {"coding": [coding(ts.CONTACT_RELATIONSHIP, "N", "Next-of-Kin")], "text": relation}
        ],
        "name": {"use": "usual", "family": kin_name.family, "given": list(kin_name.given)},
        "telecom": [{"system": "phone", "value": mobile(rng), "use": "mobile"}],
        "gender": kin_gender,
    }
