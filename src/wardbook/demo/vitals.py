"""Vital-sign Observations (R4 observation-vitalsigns.html) in NEWS2-ready sets.

Each set a nurse records holds heart rate, respiratory rate, SpO2 (with inhaled oxygen
flow and concentration as components when on oxygen, as US Core pulse oximetry does),
temperature, a blood pressure panel, ACVPU consciousness and the inhaled oxygen flow
rate (LOINC 3151-8, 0 L/min on room air) so "air or oxygen" is explicit. Values follow
the patient's own baseline, moved by the episode's problem in proportion to how ill the
patient is at that moment (see ``course.severity_at``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from wardbook.demo import terminology as ts
from wardbook.demo.catalog import VitalEffect
from wardbook.demo.clock import fhir_datetime
from wardbook.demo.context import PatientContext, VitalSet
from wardbook.demo.course import severity_at
from wardbook.demo.elements import Resource, coding, concept, ucum_quantity
from wardbook.demo.story import Episode

# What sepsis-like deterioration adds on top of the problem's own effect.
DETERIORATION = VitalEffect(12, 5, -3, 0.4, -15, 0.3)


def vital_signs_category() -> Resource:
    """The ``vital-signs`` observation category (a fresh object each time)."""
    return concept(ts.OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")


# ACVPU letter -> SNOMED CT finding (HL7 UK CareConnect-ACVPU value set).
ACVPU_CODES: dict[str, tuple[str, str]] = {
    "A": ("248234008", "Mentally alert"),
    "C": ("130987000", "Acute confusion"),
    "V": ("300202002", "Responds to voice"),
    "P": ("450847001", "Responds to pain"),
    "U": ("422768004", "Unresponsive"),
}


@dataclass(frozen=True, slots=True)
class _Baseline:
    heart_rate: float
    respiratory_rate: float
    spo2: float
    temperature: float
    systolic: float
    diastolic: float


def _baseline(ctx: PatientContext) -> _Baseline:
    rng, story = ctx.rng, ctx.story
    age = story.age
    if age < 1:
        hr, rr, sbp = 135.0, 40.0, 80.0
    elif age < 6:
        hr, rr, sbp = 110.0, 26.0, 95.0
    elif age < 13:
        hr, rr, sbp = 90.0, 20.0, 105.0
    elif age < 18:
        hr, rr, sbp = 78.0, 16.0, 115.0
    else:
        hr, rr = 74.0, 15.0
        sbp = 122 + 0.3 * (age - 40) + (10 if story.has("hypertension") else 0)
    spo2 = 93.0 if story.has("copd") else 97.5
    systolic = rng.gauss(sbp, 9)
    return _Baseline(
        heart_rate=rng.gauss(hr, 7),
        respiratory_rate=rng.gauss(rr, 1.2),
        spo2=rng.gauss(spo2, 0.8),
        temperature=rng.gauss(36.7, 0.2),
        systolic=systolic,
        diastolic=0.45 * systolic + rng.gauss(22, 5),
    )


def _times(rng: random.Random, episode: Episode, now: datetime) -> list[datetime]:
    """When observations were recorded during an episode (never after ``now``)."""
    start = episode.start
    if episode.kind == "AMB":
        return [start + timedelta(minutes=5)]
    if episode.kind == "EMER":
        end = episode.end or now
        times = [start + timedelta(minutes=rng.randint(5, 20))]
        if not episode.admitted and (end - start) > timedelta(hours=3):
            times.append(start + (end - start) * rng.uniform(0.55, 0.8))
        return times
    if episode.end is not None:
        span = episode.end - start
        count = min(2 + span.days // 2, 4)
        return [
            start + timedelta(minutes=30) + (span - timedelta(hours=3)) * i / max(count - 1, 1)
            for i in range(count)
        ]
    # Current admission: observations every 6-8 hours, hourly-ish once deteriorating;
    # the first set and the last two days are kept.
    times = [start + timedelta(minutes=rng.randint(15, 40))]
    moment = times[0]
    while True:
        frequent = episode.deteriorating and now - moment < timedelta(hours=24)
        moment += timedelta(hours=rng.uniform(1.5, 3) if frequent else rng.uniform(6, 8))
        if moment > now - timedelta(minutes=10):
            break
        times.append(moment)
    recent = [t for t in times[1:] if now - t < timedelta(hours=48)]
    return [times[0], *recent]


def _on_oxygen(rng: random.Random, raw_spo2: float, copd: bool) -> tuple[int, float]:
    """Oxygen flow (L/min) a nurse would give for this saturation, and the SpO2 on it."""
    target = 88.0 if copd else 94.0
    deficit = target - raw_spo2
    if deficit <= 2:
        return 0, raw_spo2
    if copd:
        flow = 1 if deficit <= 4 else 2 if deficit <= 8 else 4
    else:
        flow = 2 if deficit <= 4 else 4 if deficit <= 7 else 6 if deficit <= 10 else 15
    gain = min(deficit + rng.uniform(-2.5, 2.0), 1.2 * flow + 3)
    return flow, raw_spo2 + gain


def _fio2(flow: int) -> int:
    """An estimate of inspired oxygen concentration (%) for a flow rate."""
    return 85 if flow >= 15 else min(21 + round(4 * flow), 60)


def _combined(a: VitalEffect, b: VitalEffect) -> VitalEffect:
    return VitalEffect(
        a.heart_rate + b.heart_rate,
        a.respiratory_rate + b.respiratory_rate,
        a.spo2 + b.spo2,
        a.temperature + b.temperature,
        a.systolic + b.systolic,
        min(a.confusion + b.confusion, 1.0),
    )


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _measure(
    ctx: PatientContext, base: _Baseline, effect: VitalEffect, severity: float, taken: datetime
) -> VitalSet:
    rng = ctx.rng
    s = severity
    copd = ctx.story.has("copd")
    raw_spo2 = base.spo2 + effect.spo2 * s + rng.gauss(0, 0.8)
    flow, spo2 = _on_oxygen(rng, raw_spo2, copd)
    systolic = base.systolic + effect.systolic * s + rng.gauss(0, 6)
    diastolic = base.diastolic + 0.5 * effect.systolic * s + rng.gauss(0, 4)
    confusion = effect.confusion * s * (1.5 if ctx.story.age >= 75 else 1.0)
    acvpu = "A"
    if rng.random() < min(confusion, 0.95):
        acvpu = "C"
        if s > 1.2 and rng.random() < 0.35:
            acvpu = "V" if rng.random() < 0.8 else "P"
    return VitalSet(
        taken=taken.replace(second=0, microsecond=0),
        heart_rate=round(_clip(base.heart_rate + effect.heart_rate * s + rng.gauss(0, 4), 35, 190)),
        respiratory_rate=round(
            _clip(base.respiratory_rate + effect.respiratory_rate * s + rng.gauss(0, 1), 6, 60)
        ),
        spo2=round(_clip(spo2, 72, 100)),
        temperature=round(
            _clip(base.temperature + effect.temperature * s + rng.gauss(0, 0.15), 34.5, 41.2), 1
        ),
        systolic=round(_clip(systolic, 65, 225)),
        diastolic=round(_clip(min(diastolic, systolic - 20), 35, 125)),
        acvpu=acvpu,
        oxygen_flow=flow,
    )


def build_vital_signs(ctx: PatientContext) -> list[Resource]:
    """Vital-sign sets for every episode, plus body measurements on admission and in clinic."""
    base = _baseline(ctx)
    resources: list[Resource] = []
    for episode in ctx.story.episodes:
        effect = episode.problem.vitals if episode.problem else VitalEffect()
        if episode.deteriorating:
            effect = _combined(effect, DETERIORATION)
        sets = [
            _measure(ctx, base, effect, severity_at(episode, t, ctx.now), t)
            for t in _times(ctx.rng, episode, ctx.now)
        ]
        ctx.vitals[episode.encounter_id] = sets
        nurse = ctx.facility.nurse(episode.place)
        for index, vital_set in enumerate(sets):
            performer = ctx.staff_ref(nurse)
            encounter = ctx.encounter_ref(episode)
            if episode.kind == "AMB":
                resources += _clinic_observations(ctx, vital_set, performer, encounter)
            else:
                resources += _news2_observations(ctx, vital_set, performer, encounter)
            if index == 0 and episode.kind in ("IMP", "AMB"):
                resources += _body_measurements(ctx, vital_set.taken, performer, encounter)
    return resources


def _observation(
    ctx: PatientContext,
    taken: datetime,
    code: Resource,
    performer: Resource,
    encounter: Resource,
) -> Resource:
    return {
        "resourceType": "Observation",
        "id": ctx.ids.next(),
        "status": "final",
        "category": [vital_signs_category()],
        "code": code,
        "subject": ctx.patient_ref(),
        "encounter": dict(encounter),  # references are flat: a shallow copy is a copy
        "effectiveDateTime": fhir_datetime(taken),
        "performer": [dict(performer)],
    }


def _loinc(code: str, display: str) -> Resource:
    return concept(ts.LOINC, code, display)


def _quantity_obs(
    ctx: PatientContext,
    taken: datetime,
    code: Resource,
    value: Resource,
    performer: Resource,
    encounter: Resource,
) -> Resource:
    observation = _observation(ctx, taken, code, performer, encounter)
    observation["valueQuantity"] = value
    return observation


def heart_rate(value: int) -> Resource:
    """A heart rate quantity in beats per minute."""
    return ucum_quantity(value, "beats/minute", "/min")


def blood_pressure_components(systolic: int, diastolic: int) -> list[Resource]:
    """The systolic and diastolic components of a blood pressure panel."""
    return [
        {
            "code": _loinc("8480-6", "Systolic blood pressure"),
            "valueQuantity": ucum_quantity(systolic, "mmHg", "mm[Hg]"),
        },
        {
            "code": _loinc("8462-4", "Diastolic blood pressure"),
            "valueQuantity": ucum_quantity(diastolic, "mmHg", "mm[Hg]"),
        },
    ]


def _blood_pressure(
    ctx: PatientContext, v: VitalSet, performer: Resource, encounter: Resource
) -> Resource:
    observation = _observation(
        ctx,
        v.taken,
        _loinc("85354-9", "Blood pressure panel with all children optional"),
        performer,
        encounter,
    )
    observation["component"] = blood_pressure_components(v.systolic, v.diastolic)
    return observation


def _spo2(ctx: PatientContext, v: VitalSet, performer: Resource, encounter: Resource) -> Resource:
    code = {
        "coding": [
            coding(ts.LOINC, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
            coding(ts.LOINC, "2708-6", "Oxygen saturation in Arterial blood"),
        ],
        "text": "Oxygen saturation (SpO2)",
    }
    observation = _quantity_obs(
        ctx, v.taken, code, ucum_quantity(v.spo2, "%", "%"), performer, encounter
    )
    if v.on_oxygen:
        observation["component"] = [
            {
                "code": _loinc("3151-8", "Inhaled oxygen flow rate"),
                "valueQuantity": ucum_quantity(v.oxygen_flow, "L/min", "L/min"),
            },
            {
                "code": _loinc("3150-0", "Inhaled oxygen concentration"),
                "valueQuantity": ucum_quantity(_fio2(v.oxygen_flow), "%", "%"),
            },
        ]
    return observation


def _news2_observations(
    ctx: PatientContext, v: VitalSet, performer: Resource, encounter: Resource
) -> list[Resource]:
    acvpu_code, acvpu_display = ACVPU_CODES[v.acvpu]
    consciousness = _observation(
        ctx,
        v.taken,
        {
            "coding": [
                coding(ts.LOINC, "67775-7", "Level of responsiveness"),
                coding(
                    ts.SNOMED,
                    "1104441000000107",
                    "ACVPU (Alert Confusion Voice Pain Unresponsive) scale score",
                ),
            ],
            "text": "Level of consciousness (ACVPU)",
        },
        performer,
        encounter,
    )
    consciousness["valueCodeableConcept"] = concept(ts.SNOMED, acvpu_code, acvpu_display)
    return [
        _quantity_obs(
            ctx,
            v.taken,
            _loinc("9279-1", "Respiratory rate"),
            ucum_quantity(v.respiratory_rate, "breaths/minute", "/min"),
            performer,
            encounter,
        ),
        _spo2(ctx, v, performer, encounter),
        _quantity_obs(
            ctx,
            v.taken,
            _loinc("3151-8", "Inhaled oxygen flow rate"),
            ucum_quantity(v.oxygen_flow, "L/min", "L/min"),
            performer,
            encounter,
        ),
        _blood_pressure(ctx, v, performer, encounter),
        _quantity_obs(
            ctx,
            v.taken,
            _loinc("8867-4", "Heart rate"),
            heart_rate(v.heart_rate),
            performer,
            encounter,
        ),
        consciousness,
        _quantity_obs(
            ctx,
            v.taken,
            _loinc("8310-5", "Body temperature"),
            ucum_quantity(v.temperature, "°C", "Cel"),
            performer,
            encounter,
        ),
    ]


def _clinic_observations(
    ctx: PatientContext, v: VitalSet, performer: Resource, encounter: Resource
) -> list[Resource]:
    return [
        _blood_pressure(ctx, v, performer, encounter),
        _quantity_obs(
            ctx,
            v.taken,
            _loinc("8867-4", "Heart rate"),
            heart_rate(v.heart_rate),
            performer,
            encounter,
        ),
    ]


def _body_measurements(
    ctx: PatientContext, taken: datetime, performer: Resource, encounter: Resource
) -> list[Resource]:
    story = ctx.story
    height = story.height_cm
    weight = round(story.weight_kg * ctx.rng.uniform(0.97, 1.03), 1)
    bmi = round(weight / (height / 100) ** 2, 1)
    return [
        _quantity_obs(
            ctx,
            taken,
            _loinc("29463-7", "Body weight"),
            ucum_quantity(weight, "kg", "kg"),
            performer,
            encounter,
        ),
        _quantity_obs(
            ctx,
            taken,
            _loinc("8302-2", "Body height"),
            ucum_quantity(height, "cm", "cm"),
            performer,
            encounter,
        ),
        _quantity_obs(
            ctx,
            taken,
            _loinc("39156-5", "Body mass index (BMI) [Ratio]"),
            ucum_quantity(bmi, "kg/m2", "kg/m2"),
            performer,
            encounter,
        ),
    ]
