"""Encounter resources for a patient's episodes (R4 encounter.html).

Classes come from v3-ActCode (IMP, EMER, AMB); an admission via the emergency department
is two encounters, the ED attendance then the inpatient stay with admitSource ``emd``.
"""

from __future__ import annotations

from wardbook.demo import terminology as ts
from wardbook.demo.clock import fhir_datetime
from wardbook.demo.context import PatientContext
from wardbook.demo.elements import Resource, coding, concept, period
from wardbook.demo.facility import SPECIALTIES, StaffMember
from wardbook.demo.story import Episode

_CLASS = {
    "IMP": ("IMP", "inpatient encounter"),
    "EMER": ("EMER", "emergency"),
    "AMB": ("AMB", "ambulatory"),
}
_DISCHARGE = (
    ("home", "Home", 0.82),
    ("rehab", "Rehabilitation", 0.08),
    ("long", "Long-term care", 0.06),
    ("other-hcf", "Other healthcare facility", 0.04),
)


def attending(ctx: PatientContext, episode: Episode) -> StaffMember:
    """The doctor responsible for an episode."""
    if episode.kind == "EMER":
        doctors = ctx.facility.members(profession="doctor", specialty="emergency")
        return doctors[int(episode.start.timestamp()) // 3600 % len(doctors)]
    return ctx.facility.consultant(episode.specialty)


def build_encounters(ctx: PatientContext) -> list[Resource]:
    """One Encounter per episode, in time order; gives each episode its encounter id."""
    resources = []
    for episode in ctx.story.episodes:
        episode.encounter_id = ctx.ids.next()
        resources.append(_encounter(ctx, episode))
    return resources


def _encounter(ctx: PatientContext, episode: Episode) -> Resource:
    start = fhir_datetime(episode.start)
    end = fhir_datetime(episode.end) if episode.end else None
    doctor = attending(ctx, episode)
    specialty_code, specialty_display = SPECIALTIES[episode.specialty]
    encounter: Resource = {
        "resourceType": "Encounter",
        "id": episode.encounter_id,
        "status": "in-progress" if episode.in_progress else "finished",
        "class": coding(ts.ACT_CODE, *_CLASS[episode.kind]),
        "type": [concept(ts.SNOMED, *_type(episode))],
        "serviceType": concept(ts.SNOMED, specialty_code, specialty_display),
        "priority": concept(
            ts.ACT_PRIORITY,
            *(("R", "routine") if episode.kind == "AMB" else ("EM", "emergency")),
        ),
        "subject": ctx.patient_ref(),
        "participant": [
            {
                "type": [concept(ts.PARTICIPATION_TYPE, "ATND", "attender")],
                "period": period(start, end),
                "individual": ctx.staff_ref(doctor),
            }
        ],
        "period": period(start, end),
    }
    reason = _reason(episode)
    if reason is not None:
        encounter["reasonCode"] = [concept(ts.SNOMED, *reason)]
    if episode.kind == "IMP":
        encounter["hospitalization"] = _hospitalization(ctx, episode)
    encounter["location"] = [
        {
            "location": ctx.facility.location_ref(episode.place),
            "status": "active" if episode.in_progress else "completed",
            "period": period(start, end),
        }
    ]
    encounter["serviceProvider"] = ctx.facility.organization_ref()
    return encounter


def _type(episode: Episode) -> tuple[str, str]:
    if episode.kind == "IMP":
        if episode.admit_source == "emd":
            return "183452005", "Emergency hospital admission"
        return "32485007", "Hospital admission"
    if episode.kind == "EMER":
        return "4525004", "Emergency department patient visit"
    return "185389009", "Follow-up visit"


def _reason(episode: Episode) -> tuple[str, str] | None:
    if episode.problem is not None:
        return episode.problem.snomed, episode.problem.display
    if episode.condition is not None:
        return episode.condition.snomed, episode.condition.display
    return None


def _hospitalization(ctx: PatientContext, episode: Episode) -> Resource:
    if episode.admit_source == "emd":
        source = ("emd", "From accident/emergency department")
    else:
        source = ("gp", "General Practitioner referral")
    hospitalization: Resource = {"admitSource": concept(ts.ADMIT_SOURCE, *source)}
    if not episode.in_progress:
        weights = [w for *_, w in _DISCHARGE]
        if ctx.story.age < 75:
            weights = [0.95, 0.05, 0.0, 0.0]
        code, display, _ = ctx.rng.choices(_DISCHARGE, weights=weights)[0]
        hospitalization["dischargeDisposition"] = concept(ts.DISCHARGE_DISPOSITION, code, display)
    return hospitalization
