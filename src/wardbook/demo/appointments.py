"""Upcoming outpatient Appointments (R4 appointment.html), booked after ``now``.

Each patient has one or two: a clinic for a long-term condition or a follow-up after an
admission. Both the patient and the clinician have accepted (status ``booked``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from wardbook.demo import terminology as ts
from wardbook.demo.clock import fhir_datetime
from wardbook.demo.context import PatientContext
from wardbook.demo.elements import Resource, concept, reference
from wardbook.demo.facility import SPECIALTIES
from wardbook.demo.story import clinic_for

_FOLLOW_UP = ("FOLLOWUP", "A follow up visit from a previous appointment")
_ROUTINE = ("ROUTINE", "Routine appointment - default if not valued")


def build_appointments(ctx: PatientContext) -> list[Resource]:
    """One or two booked appointments in the coming months."""
    rng, story = ctx.rng, ctx.story
    child = story.age < 16
    plans: list[tuple[str, str, str | None, tuple[str, str]]] = []
    admissions = [e for e in story.episodes if e.kind == "IMP" and e.problem is not None]
    if admissions:
        last = admissions[-1]
        if last.problem is None:
            raise RuntimeError("internal error: last.problem is missing")
        plans.append(
            (
                last.specialty,
                f"follow-up after admission with {last.problem.display.lower()}",
                ctx.acute_condition_ids.get(last.encounter_id),
                _FOLLOW_UP,
            )
        )
    for problem in rng.sample(story.chronic, len(story.chronic)):
        specialty = clinic_for(problem.condition, story.age)
        plans.append(
            (specialty, problem.condition.display.lower(), problem.condition_id, _FOLLOW_UP)
        )
    if not plans:
        plans.append(
            ("paediatrics" if child else "acute_medicine", "routine review", None, _ROUTINE)
        )
    resources = []
    booked: list[datetime] = []
    for specialty, reason, condition_id, kind in plans[: rng.randint(1, 2)]:
        start = _slot(ctx, booked)
        booked.append(start)
        resources.append(_appointment(ctx, specialty, reason, condition_id, kind, start))
    return resources


def _slot(ctx: PatientContext, taken: list[datetime]) -> datetime:
    """A weekday clinic slot between 09:00 and 16:30, at least two days from ``now``."""
    rng = ctx.rng
    while True:
        day = ctx.now + timedelta(days=rng.randint(2, 120))
        if day.weekday() >= 5:
            continue
        start = day.replace(
            hour=rng.randint(9, 16), minute=rng.choice((0, 15, 30, 45)), second=0, microsecond=0
        )
        if start.hour == 16 and start.minute > 30:
            continue
        if all(abs(start - other) > timedelta(days=1) for other in taken):
            return start


def _appointment(
    ctx: PatientContext,
    specialty: str,
    reason: str,
    condition_id: str | None,
    kind: tuple[str, str],
    start: datetime,
) -> Resource:
    rng = ctx.rng
    minutes = rng.choice((15, 20, 30))
    clinician = ctx.facility.consultant(specialty)
    specialty_code, specialty_display = SPECIALTIES[specialty]
    booked_days_ago = rng.randint(1, int(ctx.story.history_days(ctx.now, 60)))
    created = (ctx.now - timedelta(days=booked_days_ago)).replace(
        hour=rng.randint(9, 16), minute=rng.randrange(60), second=0, microsecond=0
    )
    appointment: Resource = {
        "resourceType": "Appointment",
        "id": ctx.ids.next(),
        "status": "booked",
        "serviceType": [{"text": f"{specialty_display} outpatient clinic"}],
        "specialty": [concept(ts.SNOMED, specialty_code, specialty_display)],
        "appointmentType": concept(ts.APPOINTMENT_TYPE, *kind),
        "description": f"{specialty_display} clinic: {reason}",
        "start": fhir_datetime(start),
        "end": fhir_datetime(start + timedelta(minutes=minutes)),
        "minutesDuration": minutes,
        "created": fhir_datetime(created),
        "patientInstruction": "Please bring a list of your current medicines. "
        "Arrive 10 minutes early and report to Outpatients reception.",
        "participant": [
            {"actor": ctx.patient_ref(), "required": "required", "status": "accepted"},
            {"actor": ctx.staff_ref(clinician), "required": "required", "status": "accepted"},
            {
                "actor": ctx.facility.location_ref("opd"),
                "required": "information-only",
                "status": "accepted",
            },
        ],
    }
    if condition_id:
        appointment["reasonReference"] = [reference("Condition", condition_id)]
    return appointment
