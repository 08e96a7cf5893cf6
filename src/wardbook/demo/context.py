"""What every resource builder needs while writing one patient's record."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

from wardbook.demo.elements import Resource, reference
from wardbook.demo.facility import Facility, StaffMember
from wardbook.demo.ids import IdFactory
from wardbook.demo.people import PersonName
from wardbook.demo.story import Episode, PatientStory


@dataclass(frozen=True, slots=True)
class VitalSet:
    """One round of observations, as a nurse records them for NEWS2."""

    taken: datetime
    heart_rate: int
    respiratory_rate: int
    spo2: int
    temperature: float
    systolic: int
    diastolic: int
    acvpu: str  # A, C, V, P or U
    oxygen_flow: int  # litres per minute; 0 on room air

    @property
    def on_oxygen(self) -> bool:
        return self.oxygen_flow > 0


@dataclass(frozen=True, slots=True)
class LabDraw:
    """One set of bloods: when it was taken and the value of each test."""

    taken: datetime
    values: dict[str, float]


@dataclass(slots=True)
class PatientContext:
    """The patient being written, the shared world, and what has been written so far."""

    rng: random.Random
    ids: IdFactory
    now: datetime
    facility: Facility
    story: PatientStory
    patient_id: str
    name: PersonName
    gp: StaffMember
    vitals: dict[str, list[VitalSet]] = field(default_factory=dict)  # by encounter id
    labs: dict[str, list[LabDraw]] = field(default_factory=dict)  # by encounter id
    acute_condition_ids: dict[str, str] = field(default_factory=dict)  # by encounter id
    regular_medicines: list[str] = field(default_factory=list)  # names, for notes
    started_medicines: dict[str, list[str]] = field(default_factory=dict)  # kept on discharge

    def patient_ref(self) -> Resource:
        """A reference to this patient, with their name as display."""
        return reference("Patient", self.patient_id, self.name.text)

    def encounter_ref(self, episode: Episode) -> Resource:
        """A reference to the Encounter written for ``episode``."""
        return reference("Encounter", episode.encounter_id)

    def staff_ref(self, member: StaffMember) -> Resource:
        """A reference to a practitioner."""
        return reference("Practitioner", member.id, member.display)
