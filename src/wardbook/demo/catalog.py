"""Types of the curated clinical tables in ``wardbook.demo.data``.

Every code in the tables is a real code of its system (SNOMED CT, LOINC, RxNorm), with its
display text; the generator never makes codes up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class AgeBand(Enum):
    """Age bands used for prevalence tables."""

    CHILD = 0  # under 18
    YOUNG = 1  # 18-39
    MIDDLE = 2  # 40-64
    OLD = 3  # 65-79
    VERY_OLD = 4  # 80 and over

    @classmethod
    def of(cls, age: int) -> AgeBand:
        if age < 18:
            return cls.CHILD
        if age < 40:
            return cls.YOUNG
        if age < 65:
            return cls.MIDDLE
        if age < 80:
            return cls.OLD
        return cls.VERY_OLD


# Per-band weights or probabilities, indexed by AgeBand.value.
BandValues = tuple[float, float, float, float, float]


@dataclass(frozen=True, slots=True)
class Drug:
    """One RxNorm clinical drug with how it is usually taken."""

    key: str
    rxnorm: str
    display: str
    dose_text: str  # patient instruction, e.g. "Take one tablet once a day"
    per_day: int  # administrations per day (0 with as_needed: no fixed schedule)
    form: str = "tablet"  # tablet | capsule | inhaler | spray | injection | suspension
    as_needed: bool = False
    units_per_dose: int = 1  # tablets or capsules per dose
    route: tuple[str, str] = ("26643006", "Oral route")  # SNOMED route


@dataclass(frozen=True, slots=True)
class ChronicCondition:
    """A long-term problem-list condition and the drugs that usually treat it."""

    key: str
    snomed: str
    display: str
    prevalence: BandValues
    # Each inner tuple lists alternatives for one slot; "" among them means "often none".
    drugs: tuple[tuple[str, ...], ...] = ()
    clinic: str = "acute_medicine"  # specialty that follows it up
    sex: str | None = None  # only for this administrative gender
    requires: tuple[str, ...] = ()  # any of these chronic conditions must be present


@dataclass(frozen=True, slots=True)
class LabEffect:
    """How an acute problem pushes a lab test away from the patient's baseline."""

    test: str
    shift: float  # added to the baseline at full severity
    jitter: float = 0.0  # standard deviation of extra noise at full severity


@dataclass(frozen=True, slots=True)
class VitalEffect:
    """How an acute problem moves the vital signs at full severity (added to baseline)."""

    heart_rate: float = 0.0
    respiratory_rate: float = 0.0
    spo2: float = 0.0
    temperature: float = 0.0
    systolic: float = 0.0
    confusion: float = 0.0  # chance of new confusion at full severity


@dataclass(frozen=True, slots=True)
class AcuteProblem:
    """A reason to come to hospital: where it is looked after and how it shows."""

    key: str
    snomed: str
    display: str
    weights: BandValues  # relative chance by age band (0: never in that band)
    admit_chance: float  # chance that an ED attendance leads to admission
    ward: str  # ward key for admitted adults
    specialty: str
    complaint: str  # presenting complaint, for notes
    findings: str  # examination findings, for notes
    plan: str  # management plan, for notes
    stay_days: tuple[int, int] = (2, 6)
    vitals: VitalEffect = field(default_factory=VitalEffect)
    labs: tuple[LabEffect, ...] = ()
    drugs: tuple[tuple[str, ...], ...] = ()  # acute treatment, alternatives per slot
    requires: tuple[str, ...] = ()  # chronic condition keys; any one must be present
    elderly_ward: str | None = None  # ward key for patients aged 80 and over
    min_age: int = 0
    max_age: int = 120


@dataclass(frozen=True, slots=True)
class LabTest:
    """A LOINC-coded laboratory test with its UCUM unit and adult reference range."""

    key: str
    loinc: str
    display: str
    unit: str
    ucum: str
    low: float | None
    high: float | None
    baseline: tuple[float, float]  # mean and standard deviation in health
    decimals: int
    minimum: float
    maximum: float
    female_range: tuple[float, float] | None = None  # overrides low/high for women
    female_baseline: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class Reaction:
    """An allergic reaction's manifestation (SNOMED) and its usual severity."""

    snomed: str
    display: str
    severity: str  # mild | moderate | severe


@dataclass(frozen=True, slots=True)
class Allergen:
    """Something a patient can be allergic or intolerant to."""

    key: str
    system: str
    code: str
    display: str
    category: str  # food | medication | environment | biologic
    kind: str  # allergy | intolerance
    reactions: tuple[Reaction, ...]
    weight: float
    drug_keys: tuple[str, ...] = ()  # drugs this allergy rules out
