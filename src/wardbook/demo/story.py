"""Plan one patient's clinical story before any FHIR is written.

A story is who the patient is (age, sex, body size), what long-term conditions and
allergies they have, and a timeline of hospital episodes: clinic visits, emergency
department attendances and admissions, at most one of them still going on at ``now``.
Everything here is plain data; the resource builders turn it into FHIR.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from wardbook.demo.catalog import AcuteProblem, AgeBand, Allergen, ChronicCondition
from wardbook.demo.data.allergens import ALLERGENS
from wardbook.demo.data.conditions import CHRONIC_CONDITIONS, OBESITY
from wardbook.demo.data.problems import ACUTE_PROBLEMS

_AGE_BAND_WEIGHTS = (0.10, 0.16, 0.28, 0.26, 0.20)
_CURRENT_ADMISSION_CHANCE = (0.12, 0.15, 0.25, 0.40, 0.50)
_PAST_ADMISSIONS_WEIGHTS = (
    (0.75, 0.20, 0.05),
    (0.70, 0.25, 0.05),
    (0.50, 0.35, 0.15),
    (0.35, 0.40, 0.25),
    (0.30, 0.40, 0.30),
)
_DETERIORATION_CHANCE = 0.3
_HISTORY_DAYS = 3 * 365


@dataclass(slots=True)
class Episode:
    """One hospital contact: an admission (IMP), an ED attendance (EMER) or a clinic (AMB)."""

    kind: str
    start: datetime
    end: datetime | None  # None while still in progress
    place: str  # ward / department key
    specialty: str
    severity: float  # 0 (well) to 1 (very unwell) at presentation
    problem: AcuteProblem | None = None
    condition: ChronicCondition | None = None  # what a clinic visit follows up
    deteriorating: bool = False  # gets worse until now instead of better
    admit_source: str | None = None  # admit-source code for admissions
    ed_visit: Episode | None = None  # the ED attendance that led to this admission
    admitted: bool = False  # for an ED attendance: whether it ended in admission
    encounter_id: str = ""  # filled in when the Encounter is written

    @property
    def in_progress(self) -> bool:
        return self.end is None


@dataclass(slots=True)
class ChronicProblem:
    """A long-term condition with its onset."""

    condition: ChronicCondition
    onset: datetime
    condition_id: str = ""  # filled in when the Condition is written


@dataclass(slots=True)
class PatientStory:
    """Everything decided about one patient before writing resources."""

    gender: str
    birth_date: date
    age: int
    height_cm: float
    weight_kg: float
    chronic: list[ChronicProblem] = field(default_factory=list)
    allergies: list[Allergen] = field(default_factory=list)
    no_known_allergies: bool = False
    episodes: list[Episode] = field(default_factory=list)

    @property
    def band(self) -> AgeBand:
        return AgeBand.of(self.age)

    def has(self, *keys: str) -> bool:
        """Whether any of these chronic conditions is on the problem list."""
        return any(c.condition.key in keys for c in self.chronic)

    def days_alive(self, now: datetime) -> int:
        """Whole days since birth, so history can be kept after it."""
        return (now.date() - self.birth_date).days

    def history_days(self, now: datetime, longest: float) -> float:
        """How far back an event may lie: ``longest`` days, but never before birth."""
        return max(min(longest, self.days_alive(now) - 1.0), 1.0)

    @property
    def bmi(self) -> float:
        return self.weight_kg / (self.height_cm / 100) ** 2


def plan_patient(rng: random.Random, now: datetime) -> PatientStory:
    """Decide one patient's demographics, conditions, allergies and episodes."""
    gender = "female" if rng.random() < 0.51 else "male"
    birth_date = _birth_date(rng, now)
    age = _age_on(birth_date, now.date())
    height, weight = _body_size(rng, age, gender)
    story = PatientStory(gender, birth_date, age, height, weight)
    _plan_chronic(rng, story, now)
    _plan_allergies(rng, story)
    _plan_episodes(rng, story, now)
    return story


def _birth_date(rng: random.Random, now: datetime) -> date:
    band = rng.choices(list(AgeBand), weights=_AGE_BAND_WEIGHTS)[0]
    if band is AgeBand.CHILD:
        age = rng.randint(0, 17)
    elif band is AgeBand.YOUNG:
        age = rng.randint(18, 39)
    elif band is AgeBand.MIDDLE:
        age = rng.randint(40, 64)
    elif band is AgeBand.OLD:
        age = rng.randint(65, 79)
    else:
        age = 80 + min(int(rng.expovariate(1 / 6)), 19)
    # At least two weeks old, so even a newborn has a little history before "now".
    return now.date() - timedelta(days=max(int((age + rng.random()) * 365.2425), 14))


def _age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _body_size(rng: random.Random, age: int, gender: str) -> tuple[float, float]:
    """Height (cm) and weight (kg): growth approximations for children, BMI for adults."""
    male = gender == "male"
    if age < 1:
        months = rng.uniform(0.5, 12)
        height = 50 + 2.2 * months
        weight = 3.5 + 0.6 * months
    elif age <= 12:
        height = 75 + 6.1 * age
        weight = 2 * (age + 4) if age <= 10 else 3 * age + 7
    elif age < 18:
        adult = 176 if male else 163
        height = min(adult, 150 + (6 if male else 3) * (age - 12))
        weight = 19 * (height / 100) ** 2 + 2 * (age - 12)
    else:
        height = rng.gauss(176 if male else 163, 7 if male else 6.5)
        bmi = min(max(rng.gauss(27.5, 5.0), 17.0), 48.0)
        if age >= 80:
            bmi = max(17.0, bmi - 2.5)
        return round(height, 1), round(bmi * (height / 100) ** 2, 1)
    height *= rng.uniform(0.95, 1.05)
    weight *= rng.uniform(0.88, 1.12)
    return round(height, 1), round(weight, 1)


def _plan_chronic(rng: random.Random, story: PatientStory, now: datetime) -> None:
    band = story.band.value
    earliest_onset_age = 2 if story.band is AgeBand.CHILD else 18
    years_available = story.age - earliest_onset_age
    if years_available < 1:
        return
    for condition in CHRONIC_CONDITIONS:
        if condition.sex and condition.sex != story.gender:
            continue
        if condition.requires and not story.has(*condition.requires):
            continue
        if rng.random() < condition.prevalence[band]:
            years_ago = rng.uniform(0.3, min(years_available, 25))
            onset = now - timedelta(days=years_ago * 365.2425)
            story.chronic.append(ChronicProblem(condition, onset.replace(second=0)))
    if story.age >= 18 and story.bmi >= 30:
        years_ago = rng.uniform(0.5, min(years_available, 15))
        onset = now - timedelta(days=years_ago * 365.2425)
        story.chronic.append(ChronicProblem(OBESITY, onset.replace(second=0)))


def _plan_allergies(rng: random.Random, story: PatientStory) -> None:
    draw = rng.random()
    if draw < 0.34:
        story.no_known_allergies = True
        return
    if draw > 0.80:
        return  # allergies not yet recorded
    count = 1 if rng.random() < 0.75 else 2
    child = story.band is AgeBand.CHILD
    weights = [a.weight * (2.0 if child and a.category == "food" else 1.0) for a in ALLERGENS]
    while len(story.allergies) < count:
        allergen = rng.choices(ALLERGENS, weights=weights)[0]
        if allergen not in story.allergies:
            story.allergies.append(allergen)


def _eligible(problem: AcuteProblem, story: PatientStory) -> bool:
    return (
        problem.min_age <= story.age <= problem.max_age
        and problem.weights[story.band.value] > 0
        and (not problem.requires or story.has(*problem.requires))
    )


def _pick_problem(rng: random.Random, story: PatientStory, *, admitted: bool) -> AcuteProblem:
    candidates = [p for p in ACUTE_PROBLEMS if _eligible(p, story)]
    if admitted:
        candidates = [p for p in candidates if p.admit_chance >= 0.2]
        weights = [p.weights[story.band.value] * p.admit_chance for p in candidates]
    else:
        # Problems that nearly always need admission are not sent home from ED.
        candidates = [p for p in candidates if p.admit_chance < 0.7]
        weights = [p.weights[story.band.value] * (1.0 - p.admit_chance) for p in candidates]
    return rng.choices(candidates, weights=weights)[0]


def _ward_for(problem: AcuteProblem, story: PatientStory) -> tuple[str, str]:
    if story.age < 16:
        return "ward1", "paediatrics"
    if story.age >= 80 and problem.elderly_ward:
        return problem.elderly_ward, "elderly_care"
    return problem.ward, problem.specialty


def _plan_episodes(rng: random.Random, story: PatientStory, now: datetime) -> None:
    current: list[Episode] = []
    horizon = now  # past blocks must end before this
    band = story.band.value
    if rng.random() < _CURRENT_ADMISSION_CHANCE[band]:
        current = _admission(rng, story, now, current=True)
        horizon = current[0].start - timedelta(days=1)
    past: list[list[Episode]] = []
    for _ in range(rng.choices((0, 1, 2), weights=_PAST_ADMISSIONS_WEIGHTS[band])[0]):
        past.append(_admission(rng, story, now, current=False))
    for _ in range(rng.choices((0, 1, 2), weights=(0.5, 0.35, 0.15))[0]):
        past.append([_ed_attendance(rng, story, now)])
    clinic_visits = rng.randint(1, min(3, len(story.chronic) + 1)) if story.chronic else 0
    if not story.chronic and rng.random() < 0.3:
        clinic_visits = 1
    for _ in range(clinic_visits):
        past.append([_clinic(rng, story, now)])
    # Keep the past blocks that end before the horizon without overlapping, oldest first.
    kept: list[list[Episode]] = []
    for block in sorted(past, key=lambda b: b[0].start):
        end = block[-1].end
        if end is None:
            raise RuntimeError(
                "internal error: a past episode without an end (only the current one is open)"
            )
        if end > horizon:
            continue
        if kept and block[0].start < _block_end(kept[-1]) + timedelta(days=2):
            continue
        kept.append(block)
    if not kept and not current:
        # Everyone on the hospital's system has been seen at least once.
        visit = _clinic(rng, story, now) if story.chronic else _ed_attendance(rng, story, now)
        kept.append([visit])
    story.episodes = [episode for block in kept for episode in block] + current


def _block_end(block: list[Episode]) -> datetime:
    end = block[-1].end
    if end is None:
        raise RuntimeError("internal error: end is missing")
    return end


def _at_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _arrival_time(rng: random.Random, day: datetime) -> datetime:
    """A time of day weighted towards daytime, as ED arrivals are."""
    hour = int(rng.triangular(0, 24, 14)) % 24
    return day.replace(hour=hour, minute=rng.randrange(60), second=0, microsecond=0)


def _admission(
    rng: random.Random, story: PatientStory, now: datetime, *, current: bool
) -> list[Episode]:
    problem = _pick_problem(rng, story, admitted=True)
    ward, specialty = _ward_for(problem, story)
    severity = rng.uniform(0.45, 1.0)
    if current:
        start = _at_minute(now - timedelta(hours=rng.uniform(3, 24 * 6)))
        end = None
    else:
        oldest = story.history_days(now, _HISTORY_DAYS)
        day = now - timedelta(days=rng.uniform(min(30.0, oldest), oldest))
        start = _arrival_time(rng, day)
        stay = timedelta(days=rng.randint(*problem.stay_days), hours=rng.uniform(-6, 6))
        end = _at_minute(start + max(stay, timedelta(hours=20)))
    admission = Episode(
        "IMP",
        start,
        end,
        ward,
        specialty,
        severity,
        problem=problem,
        deteriorating=current and rng.random() < _DETERIORATION_CHANCE,
    )
    if rng.random() < 0.85:
        ed_start = _at_minute(start - timedelta(hours=rng.uniform(2, 6)))
        ed = Episode("EMER", ed_start, start, "ed", "emergency", severity, problem=problem)
        ed.admitted = True
        admission.ed_visit = ed
        admission.admit_source = "emd"
        return [ed, admission]
    admission.admit_source = "gp"
    return [admission]


def _ed_attendance(rng: random.Random, story: PatientStory, now: datetime) -> Episode:
    problem = _pick_problem(rng, story, admitted=False)
    oldest = story.history_days(now, _HISTORY_DAYS)
    start = _arrival_time(rng, now - timedelta(days=rng.uniform(min(7.0, oldest), oldest)))
    end = _at_minute(start + timedelta(hours=rng.uniform(1.5, 7)))
    severity = rng.uniform(0.2, 0.55)
    return Episode("EMER", start, end, "ed", "emergency", severity, problem=problem)


def _clinic(rng: random.Random, story: PatientStory, now: datetime) -> Episode:
    oldest = story.history_days(now, 2 * 365)
    day = now - timedelta(days=rng.uniform(min(14.0, oldest), oldest))
    start = day.replace(
        hour=rng.randint(9, 15), minute=rng.choice((0, 15, 30, 45)), second=0, microsecond=0
    )
    while start.weekday() >= 5:  # clinics run Monday to Friday
        start += timedelta(days=1)
    end = start + timedelta(minutes=rng.choice((20, 30, 40)))
    condition = rng.choice(story.chronic).condition if story.chronic else None
    specialty = clinic_for(condition, story.age)
    return Episode("AMB", start, end, "opd", specialty, 0.0, condition=condition)


def clinic_for(condition: ChronicCondition | None, age: int) -> str:
    """The specialty whose clinic follows a condition up, for a patient of this age."""
    if age < 16:
        return "paediatrics"
    if condition is None or (condition.clinic == "elderly_care" and age < 65):
        return "acute_medicine"
    return condition.clinic
