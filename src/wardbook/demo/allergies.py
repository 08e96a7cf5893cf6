"""AllergyIntolerance resources (R4 allergyintolerance.html).

About a third of patients have an explicit "no known allergy" record (SNOMED CT
716186003); most others have one or two allergies or intolerances with reactions; the rest
have nothing recorded yet, which a clinician must not read as "no allergies".
"""

from __future__ import annotations

from datetime import timedelta

from wardbook.demo import terminology as ts
from wardbook.demo.catalog import Allergen
from wardbook.demo.clock import fhir_datetime
from wardbook.demo.context import PatientContext
from wardbook.demo.data.allergens import NO_KNOWN_ALLERGY
from wardbook.demo.elements import Resource, concept

_SEVERITY_ORDER = {"mild": 0, "moderate": 1, "severe": 2}


def build_allergies(ctx: PatientContext) -> list[Resource]:
    """The patient's allergy records (possibly none)."""
    if ctx.story.no_known_allergies:
        return [_no_known_allergy(ctx)]
    return [_allergy(ctx, allergen) for allergen in ctx.story.allergies]


def _recorded(ctx: PatientContext) -> str:
    oldest = ctx.story.history_days(ctx.now, 20 * 365)
    days_ago = ctx.rng.uniform(min(30.0, oldest), oldest)
    return fhir_datetime((ctx.now - timedelta(days=days_ago)).replace(second=0))


def _clinical(code: str, display: str) -> Resource:
    return concept(ts.ALLERGY_CLINICAL, code, display)


def _verification(code: str, display: str) -> Resource:
    return concept(ts.ALLERGY_VERIFICATION, code, display)


def _no_known_allergy(ctx: PatientContext) -> Resource:
    return {
        "resourceType": "AllergyIntolerance",
        "id": ctx.ids.next(),
        "clinicalStatus": _clinical("active", "Active"),
        "verificationStatus": _verification("confirmed", "Confirmed"),
        "code": concept(ts.SNOMED, *NO_KNOWN_ALLERGY),
        "patient": ctx.patient_ref(),
        "recordedDate": _recorded(ctx),
        "recorder": ctx.staff_ref(ctx.gp),
    }


def _allergy(ctx: PatientContext, allergen: Allergen) -> Resource:
    rng = ctx.rng
    count = 1 if len(allergen.reactions) == 1 or rng.random() < 0.6 else 2
    reactions = rng.sample(allergen.reactions, count)
    severity = max((r.severity for r in reactions), key=_SEVERITY_ORDER.__getitem__)
    if allergen.kind == "intolerance":
        criticality = "low"
    elif severity == "severe":
        criticality = "high"
    else:
        criticality = "unable-to-assess" if rng.random() < 0.15 else "low"
    confirmed = rng.random() < 0.85
    return {
        "resourceType": "AllergyIntolerance",
        "id": ctx.ids.next(),
        "clinicalStatus": _clinical("active", "Active"),
        "verificationStatus": (
            _verification("confirmed", "Confirmed")
            if confirmed
            else _verification("unconfirmed", "Unconfirmed")
        ),
        "type": allergen.kind,
        "category": [allergen.category],
        "criticality": criticality,
        "code": concept(
            allergen.system,
            allergen.code,
            allergen.display,
            text=allergen.display[:1].upper() + allergen.display[1:],
        ),
        "patient": ctx.patient_ref(),
        "recordedDate": _recorded(ctx),
        "recorder": ctx.staff_ref(ctx.gp),
        "reaction": [
            {
                "manifestation": [concept(ts.SNOMED, r.snomed, r.display) for r in reactions],
                "severity": severity,
            }
        ],
    }
