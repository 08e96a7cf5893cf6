"""What the signed-in user's roles let the web app show: links and banners per role.

The service layer enforces permissions (:mod:`wardbook.auth.roles`); this module only keeps
the pages from offering what would be refused. A receptionist (no clinical data) opening a
patient lands on their appointments, an auditor on the access log, a clinician on the chart.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, tzinfo

from wardbook.auth.principal import Principal, current_principal
from wardbook.auth.roles import user_may
from wardbook.service.resources import ResourceService
from wardbook.web import chart, records
from wardbook.web.localtime import local_date

ALLERGIES_HIDDEN = "Allergies are not shown to your role"


def may(action: str, resource_type: str) -> bool:
    """May the current user's roles do ``action`` on ``resource_type`` (template helper)?"""
    return user_may(current_principal(), action, resource_type)


def reads_clinical(principal: Principal) -> bool:
    """Clinical roles read the chart; receptionists and auditors do not."""
    return user_may(principal, "search", "Observation")


def is_auditor(principal: Principal) -> bool:
    return principal.unrestricted or bool({"admin", "auditor"} & principal.roles)


def patient_home(patient_id: str) -> str:
    """Where opening a patient takes the current user: the page their role may see."""
    principal = current_principal()
    if reads_clinical(principal):
        return f"/patients/{patient_id}"
    if user_may(principal, "search", "Appointment"):
        return f"/patients/{patient_id}/appointments"
    if is_auditor(principal):
        return f"/patients/{patient_id}/audit"
    return f"/patients/{patient_id}"


async def role_banner(
    service: ResourceService, patient_id: str, zone: tzinfo = UTC
) -> chart.Banner:
    """The patient banner (age on the hospital's date), allergies only for roles that may."""
    patient = await records.load_patient(service, patient_id)
    today = local_date(datetime.now(UTC), zone)
    if user_may(current_principal(), "search", "AllergyIntolerance"):
        allergies = await records.load_allergies(service, patient_id)
        return chart.banner(patient, allergies, today)
    return replace(
        chart.banner(patient, [], today), allergy_status=ALLERGIES_HIDDEN, has_allergies=False
    )
