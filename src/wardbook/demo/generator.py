"""Deterministic generation of whole patient records (the ``wardbook demo`` data).

Patient *n* of seed *s* depends only on (*s*, *n*, now): asking for more patients adds
records without changing the earlier ones, and the same arguments always give
byte-identical output.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import datetime

from wardbook.demo.allergies import build_allergies
from wardbook.demo.appointments import build_appointments
from wardbook.demo.clock import anchor
from wardbook.demo.conditions import build_conditions
from wardbook.demo.context import PatientContext
from wardbook.demo.elements import Resource
from wardbook.demo.encounters import build_encounters
from wardbook.demo.facility import Facility, build_facility
from wardbook.demo.ids import IdFactory, seeded_random
from wardbook.demo.labs import build_labs
from wardbook.demo.medications import build_medication_requests
from wardbook.demo.nhs_number import random_nhs_number
from wardbook.demo.notes import build_notes
from wardbook.demo.patient import build_patient
from wardbook.demo.people import random_name
from wardbook.demo.story import plan_patient
from wardbook.demo.vitals import build_vital_signs


def shared_resources(seed: int) -> list[Resource]:
    """The hospital, GP practices, wards, practitioners and their roles, in dependency order."""
    return build_facility(seed).resources


def generate(patients: int, seed: int, *, now: datetime | None = None) -> Iterator[list[Resource]]:
    """Per patient, the list of that patient's resources in dependency order.

    Patient first, then Encounters, Conditions, AllergyIntolerances, MedicationRequests,
    Observations (vital signs, then laboratory), DocumentReferences and Appointments. The
    resources refer to each other and to ``shared_resources(seed)`` by ``Type/id``.
    ``now`` (default 2026-11-01T09:00:00Z) anchors the timeline: history lies before it,
    appointments after it.
    """
    if patients < 0:
        raise ValueError(f"patients must be zero or more, got {patients}")
    moment = anchor(now)
    facility = build_facility(seed)
    identifiers = _IdentifierPool()
    for index in range(patients):
        yield _patient_record(seed, index, moment, facility, identifiers)


class _IdentifierPool:
    """MRNs and NHS numbers handed out once each within a run."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def mrn(self, rng: random.Random) -> str:
        return self._fresh(lambda: f"MRN{rng.randrange(10**7):07d}")

    def nhs_number(self, rng: random.Random) -> str:
        return self._fresh(lambda: random_nhs_number(rng))

    def _fresh(self, draw: Callable[[], str]) -> str:
        value = draw()
        while value in self._used:
            value = draw()
        self._used.add(value)
        return value


def _patient_record(
    seed: int, index: int, now: datetime, facility: Facility, identifiers: _IdentifierPool
) -> list[Resource]:
    rng = seeded_random(seed, f"patient/{index}")
    ids = IdFactory(seed, f"patient/{index}")
    story = plan_patient(rng, now)
    ctx = PatientContext(
        rng=rng,
        ids=ids,
        now=now,
        facility=facility,
        story=story,
        patient_id=ids.key("patient"),
        name=random_name(rng, story.gender),
        gp=rng.choice(facility.gps()),
    )
    patient = build_patient(ctx, identifiers.mrn(rng), identifiers.nhs_number(rng))
    encounters = build_encounters(ctx)
    conditions = build_conditions(ctx)
    allergies = build_allergies(ctx)
    medications = build_medication_requests(ctx)
    vitals = build_vital_signs(ctx)
    labs = build_labs(ctx)
    notes = build_notes(ctx)
    appointments = build_appointments(ctx)
    return [
        patient,
        *encounters,
        *conditions,
        *allergies,
        *medications,
        *vitals,
        *labs,
        *notes,
        *appointments,
    ]
