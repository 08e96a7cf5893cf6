"""Clinical notes as DocumentReference resources with plain-text attachments.

Admissions get a clerking note (LOINC 34117-2), ward-round progress notes (11506-3), a
nursing escalation when the patient is deteriorating, and a discharge summary (18842-5)
once they leave; ED attendances a progress note; clinic visits a letter to the GP
(consult note, 11488-4). The text quotes the observations and results actually generated,
so a note never contradicts the chart (R4 documentreference.html).
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

from wardbook.demo import terminology as ts
from wardbook.demo.clock import fhir_datetime
from wardbook.demo.context import LabDraw, PatientContext, VitalSet
from wardbook.demo.data.labs import LAB_TESTS
from wardbook.demo.elements import Resource, concept, period
from wardbook.demo.encounters import attending
from wardbook.demo.facility import SPECIALTIES, StaffMember
from wardbook.demo.story import Episode

CLERKING = ("34117-2", "History and physical note")
PROGRESS = ("11506-3", "Progress note")
DISCHARGE = ("18842-5", "Discharge summary")
CONSULT = ("11488-4", "Consult note")

_LAB_LABELS = {
    "haemoglobin": "Hb",
    "wbc": "WCC",
    "platelets": "Plt",
    "sodium": "Na",
    "potassium": "K",
    "urea": "Urea N",
    "creatinine": "Creat",
    "glucose": "Glucose",
    "crp": "CRP",
    "hba1c": "HbA1c",
    "lactate": "Lactate",
}
_ACVPU_WORDS = {
    "A": "alert",
    "C": "newly confused",
    "V": "responds to voice",
    "P": "responds to pain",
    "U": "unresponsive",
}


def build_notes(ctx: PatientContext) -> list[Resource]:
    """The clinical notes for every episode, in time order."""
    notes: list[Resource] = []
    for episode in ctx.story.episodes:
        if episode.kind == "IMP":
            notes += _admission_notes(ctx, episode)
        elif episode.kind == "EMER" and not episode.admitted:
            notes.append(_ed_note(ctx, episode))
        elif episode.kind == "AMB":
            notes.append(_clinic_letter(ctx, episode))
    return notes


def _patient_line(ctx: PatientContext, when: datetime) -> str:
    story = ctx.story
    birth = story.birth_date
    age = when.year - birth.year - ((when.month, when.day) < (birth.month, birth.day))
    noun = {"female": "woman", "male": "man"}[story.gender]
    if age < 18:
        noun = {"female": "girl", "male": "boy"}[story.gender]
    age_text = f"{age}-year-old" if age >= 1 else "infant"
    return f"{ctx.name.text}, {age_text} {noun}"


def _vitals_text(v: VitalSet) -> str:
    oxygen = f"on {v.oxygen_flow} L/min oxygen" if v.on_oxygen else "on air"
    return (
        f"HR {v.heart_rate}, RR {v.respiratory_rate}, SpO2 {v.spo2}% {oxygen}, "
        f"T {v.temperature} °C, BP {v.systolic}/{v.diastolic}, {_ACVPU_WORDS[v.acvpu]}"
    )


def _labs_text(draw: LabDraw) -> str:
    return ", ".join(
        f"{_LAB_LABELS[key]} {value:.{LAB_TESTS[key].decimals}f}"
        for key, value in draw.values.items()
    )


def _latest(items: list[VitalSet], before: datetime) -> VitalSet | None:
    earlier = [v for v in items if v.taken <= before]
    return earlier[-1] if earlier else None


def _latest_draw(draws: list[LabDraw], before: datetime) -> LabDraw | None:
    earlier = [d for d in draws if d.taken <= before]
    return earlier[-1] if earlier else None


def _background(ctx: PatientContext) -> str:
    conditions = [p.condition.display for p in ctx.story.chronic]
    return "; ".join(conditions) if conditions else "nil of note"


def _allergy_text(ctx: PatientContext) -> str:
    if ctx.story.no_known_allergies:
        return "no known allergies"
    if not ctx.story.allergies:
        return "not yet recorded - please check with the patient"
    return "; ".join(a.display for a in ctx.story.allergies)


def _signature(member: StaffMember) -> str:
    return f"{member.display}, {member.title}"


def _document(
    ctx: PatientContext,
    episode: Episode,
    kind: tuple[str, str],
    title: str,
    when: datetime,
    author: StaffMember,
    text: str,
) -> Resource:
    when = min(when, ctx.now).replace(second=0, microsecond=0)
    data = text.encode("utf-8")
    specialty = SPECIALTIES[episode.specialty]
    start = fhir_datetime(episode.start)
    end = fhir_datetime(episode.end) if episode.end else None
    return {
        "resourceType": "DocumentReference",
        "id": ctx.ids.next(),
        "status": "current",
        "docStatus": "final",
        "type": concept(ts.LOINC, *kind),
        "subject": ctx.patient_ref(),
        "date": fhir_datetime(when),
        "author": [ctx.staff_ref(author)],
        "custodian": ctx.facility.organization_ref(),
        "description": title,
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain",
                    "language": "en-GB",
                    "data": base64.b64encode(data).decode("ascii"),
                    "size": len(data),
                    "title": title,
                    "creation": fhir_datetime(when),
                }
            }
        ],
        "context": {
            "encounter": [ctx.encounter_ref(episode)],
            "period": period(start, end),
            "practiceSetting": concept(ts.SNOMED, *specialty),
        },
    }


def _admission_notes(ctx: PatientContext, episode: Episode) -> list[Resource]:
    problem = episode.problem
    if problem is None:
        raise RuntimeError("internal error: problem is missing")
    doctor = attending(ctx, episode)
    ward = ctx.facility.ward(episode.place).name
    vitals = list(ctx.vitals.get(episode.encounter_id, []))
    draws = list(ctx.labs.get(episode.encounter_id, []))
    if episode.ed_visit is not None:
        vitals = ctx.vitals.get(episode.ed_visit.encounter_id, []) + vitals
        draws = ctx.labs.get(episode.ed_visit.encounter_id, []) + draws
    notes: list[Resource] = []

    clerked = episode.start + timedelta(minutes=ctx.rng.randint(60, 150))
    lines = [
        f"Admission clerking - {ward}",
        f"Patient: {_patient_line(ctx, episode.start)}",
        f"Presenting complaint: {problem.complaint}.",
        f"Past medical history: {_background(ctx)}.",
        "Regular medicines: " + ("; ".join(ctx.regular_medicines) or "none") + ".",
        f"Allergies: {_allergy_text(ctx)}.",
        f"Examination: {problem.findings}.",
    ]
    first = _latest(vitals, clerked)
    if first is not None:
        lines.append(f"Observations: {_vitals_text(first)}.")
    first_draw = _latest_draw(draws, clerked)
    if first_draw is not None:
        lines.append(f"Bloods: {_labs_text(first_draw)}.")
    lines += [f"Impression: {problem.display}.", f"Plan: {problem.plan}.", _signature(doctor)]
    notes.append(
        _document(
            ctx,
            episode,
            CLERKING,
            f"Admission clerking - {ward}",
            clerked,
            doctor,
            "\n".join(lines),
        )
    )

    round_time = _ward_round_time(ctx, episode, vitals)
    if round_time is not None:
        day = (round_time.date() - episode.start.date()).days + 1
        latest = _latest(vitals, round_time)
        worse = episode.deteriorating
        lines = [
            f"Ward round, day {day} - {ward}",
            f"Patient: {_patient_line(ctx, round_time)}, admitted with {problem.display.lower()}.",
            "Subjective: "
            + (
                "feels more breathless and unwell overnight."
                if worse
                else "feels better, eating and drinking, mobilising on the ward."
            ),
        ]
        if latest is not None:
            lines.append(f"Observations: {_vitals_text(latest)}.")
        draw = _latest_draw(draws, round_time)
        if draw is not None:
            lines.append(f"Latest bloods: {_labs_text(draw)}.")
        lines.append(
            "Plan: escalate care, repeat bloods and blood gas, review antibiotics, "
            "discuss ceiling of care."
            if worse
            else f"Plan: continue current management ({problem.plan}); "
            "aim for discharge when medically fit."
        )
        lines.append(_signature(doctor))
        notes.append(
            _document(
                ctx,
                episode,
                PROGRESS,
                f"Ward round, day {day}",
                round_time,
                doctor,
                "\n".join(lines),
            )
        )

    if episode.deteriorating and vitals:
        last = vitals[-1]
        nurse = ctx.facility.nurse(episode.place)
        lines = [
            f"Nursing note - {ward}",
            f"Observations at {last.taken:%H:%M}: {_vitals_text(last)}.",
            "Patient deteriorating compared with earlier observations. Escalated to the "
            "medical registrar, observations increased to hourly, sepsis screen started.",
            _signature(nurse),
        ]
        notes.append(
            _document(
                ctx,
                episode,
                PROGRESS,
                "Nursing escalation",
                last.taken + timedelta(minutes=10),
                nurse,
                "\n".join(lines),
            )
        )

    if episode.end is not None:
        started = ctx.started_medicines.get(episode.encounter_id, [])
        medicines = ", ".join([*ctx.regular_medicines, *started]) or "none"
        lines = [
            "Discharge summary",
            f"Patient: {_patient_line(ctx, episode.end)}",
            f"Admitted: {episode.start:%d %b %Y} to {ward}. Discharged: {episode.end:%d %b %Y}.",
            f"Diagnosis: {problem.display}.",
            f"Presentation: {problem.complaint}.",
            f"Management: {problem.plan}. Made a good recovery.",
            f"Medicines on discharge: {medicines}.",
            f"Allergies: {_allergy_text(ctx)}.",
            "Follow-up: GP review in one to two weeks; outpatient clinic appointment to follow.",
            _signature(doctor),
        ]
        notes.append(
            _document(
                ctx,
                episode,
                DISCHARGE,
                "Discharge summary",
                episode.end - timedelta(minutes=45),
                doctor,
                "\n".join(lines),
            )
        )
    return notes


def _ward_round_time(
    ctx: PatientContext, episode: Episode, vitals: list[VitalSet]
) -> datetime | None:
    """The ward round the progress note records, if one has happened yet.

    A finished stay's round follows its middle set of observations; a current stay's is
    this morning's (or yesterday's, before 10:00).
    """
    minute = ctx.rng.randint(0, 50)
    if episode.end is not None:
        ward_sets = [v for v in vitals if v.taken >= episode.start]
        if len(ward_sets) < 2:
            return None
        moment = ward_sets[len(ward_sets) // 2].taken + timedelta(hours=2, minutes=minute)
        return moment if moment < episode.end else None
    moment = ctx.now.replace(hour=10, minute=minute, second=0, microsecond=0)
    if moment > ctx.now:
        moment -= timedelta(days=1)
    if moment <= episode.start + timedelta(hours=6):
        return None
    return moment


def _ed_note(ctx: PatientContext, episode: Episode) -> Resource:
    problem = episode.problem
    if problem is None:
        raise RuntimeError("internal error: problem is missing")
    doctor = attending(ctx, episode)
    end = episode.end or ctx.now
    written = end - timedelta(minutes=20)
    lines = [
        "Emergency department notes",
        f"Patient: {_patient_line(ctx, episode.start)}",
        f"Presenting complaint: {problem.complaint}.",
        f"Background: {_background(ctx)}. Allergies: {_allergy_text(ctx)}.",
        f"Examination: {problem.findings}.",
    ]
    vitals = ctx.vitals.get(episode.encounter_id, [])
    if vitals:
        lines.append(f"Observations: {_vitals_text(vitals[0])}.")
    draws = ctx.labs.get(episode.encounter_id, [])
    if draws:
        lines.append(f"Bloods: {_labs_text(draws[0])}.")
    lines += [
        f"Diagnosis: {problem.display}.",
        f"Plan: {problem.plan}. Discharged home with safety-netting advice.",
        _signature(doctor),
    ]
    return _document(
        ctx, episode, PROGRESS, "Emergency department notes", written, doctor, "\n".join(lines)
    )


def _clinic_letter(ctx: PatientContext, episode: Episode) -> Resource:
    doctor = attending(ctx, episode)
    specialty = SPECIALTIES[episode.specialty][1]
    condition = episode.condition.display if episode.condition else "general review"
    end = episode.end or ctx.now
    lines = [
        f"{specialty} clinic letter",
        f"Dear {ctx.gp.display},",
        f"Re: {_patient_line(ctx, episode.start)}",
        f"I reviewed your patient in clinic today regarding {condition.lower()}.",
    ]
    vitals = ctx.vitals.get(episode.encounter_id, [])
    if vitals:
        v = vitals[0]
        lines.append(f"Today: BP {v.systolic}/{v.diastolic}, HR {v.heart_rate}.")
    draws = ctx.labs.get(episode.encounter_id, [])
    if draws:
        lines.append(f"Results: {_labs_text(draws[0])}.")
    lines += [
        "Plan: continue current medicines; I will see them again in six months.",
        "Yours sincerely,",
        _signature(doctor),
    ]
    return _document(
        ctx,
        episode,
        CONSULT,
        f"{specialty} clinic letter",
        end + timedelta(hours=3),
        doctor,
        "\n".join(lines),
    )
