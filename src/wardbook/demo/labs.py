"""Laboratory Observations (category ``laboratory``) with reference ranges.

Every result carries its adult reference range and an interpretation (v3
ObservationInterpretation H, L or N) worked out from the rounded value against that
range, so the flag always agrees with the number shown. Children under 16 get no
blood tests here, because these adult ranges would not apply to them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from wardbook.demo import terminology as ts
from wardbook.demo.catalog import LabTest
from wardbook.demo.clock import fhir_datetime
from wardbook.demo.context import LabDraw, PatientContext
from wardbook.demo.course import severity_at
from wardbook.demo.data.labs import CHRONIC_LAB_SHIFTS, LAB_TESTS, ROUTINE_PANEL
from wardbook.demo.elements import Resource, concept, ucum_quantity
from wardbook.demo.story import Episode

_INTERPRETATIONS = {"H": "High", "L": "Low", "N": "Normal"}


def reference_range(test: LabTest, gender: str) -> tuple[float | None, float | None]:
    """The (low, high) reference limits of ``test`` for a patient of ``gender``."""
    if gender == "female" and test.female_range is not None:
        return test.female_range
    return test.low, test.high


def interpret(value: float, low: float | None, high: float | None) -> str:
    """H above the range, L below it, N within it (limits count as within)."""
    if high is not None and value > high:
        return "H"
    if low is not None and value < low:
        return "L"
    return "N"


def _baselines(ctx: PatientContext) -> dict[str, float]:
    rng, story = ctx.rng, ctx.story
    values: dict[str, float] = {}
    for key, test in LAB_TESTS.items():
        mean, sd = test.baseline
        if story.gender == "female" and test.female_baseline is not None:
            mean, sd = test.female_baseline
        values[key] = rng.gauss(mean, sd * 0.6)
    for problem in story.chronic:
        for key, shift in CHRONIC_LAB_SHIFTS.get(problem.condition.key, ()):
            values[key] += shift * rng.uniform(0.7, 1.3)
    return values


def _draw_times(ctx: PatientContext, episode: Episode) -> list[datetime]:
    rng, now = ctx.rng, ctx.now
    start = episode.start
    if episode.kind == "EMER":
        return [start + timedelta(minutes=rng.randint(25, 60))]
    if episode.kind == "AMB":
        return [start + timedelta(minutes=rng.randint(25, 40))]
    # Admissions: admission bloods unless already taken in ED, then morning bloods.
    times = [] if episode.ed_visit is not None else [start + timedelta(minutes=rng.randint(40, 90))]
    end = episode.end or now - timedelta(hours=2)
    morning = (start + timedelta(days=1)).replace(hour=7, minute=rng.randint(0, 45))
    while morning < end and len(times) < (3 if episode.in_progress else 1):
        times.append(morning)
        morning = (morning + timedelta(days=rng.choice((1, 2)))).replace(minute=rng.randint(0, 45))
    return times


def _panel(ctx: PatientContext, episode: Episode, first: bool) -> tuple[str, ...]:
    story = ctx.story
    if episode.kind == "AMB":
        panel: tuple[str, ...] = ()
        if story.has("type2_diabetes"):
            panel += ("hba1c", "glucose")
        if story.has("ckd3", "heart_failure"):
            panel += ("sodium", "potassium", "urea", "creatinine")
        return panel
    panel = ROUTINE_PANEL
    problem = episode.problem
    if problem is not None and any(e.test == "lactate" for e in problem.labs):
        panel += ("lactate",)
    if first and story.has("type2_diabetes") and episode.kind == "IMP":
        panel += ("hba1c",)
    return panel


def _wants_bloods(ctx: PatientContext, episode: Episode) -> bool:
    if ctx.story.age < 16:
        return False
    if episode.kind == "IMP":
        return True
    if episode.kind == "AMB":
        return bool(_panel(ctx, episode, True))
    problem = episode.problem
    return episode.admitted or bool(problem and problem.labs) or ctx.story.age >= 65


def build_labs(ctx: PatientContext) -> list[Resource]:
    """Blood results for every episode that would have had bloods taken."""
    baseline = _baselines(ctx)
    resources: list[Resource] = []
    for episode in ctx.story.episodes:
        if not _wants_bloods(ctx, episode):
            continue
        draws: list[LabDraw] = []
        for number, taken in enumerate(_draw_times(ctx, episode)):
            severity = severity_at(episode, taken, ctx.now)
            values = {
                key: _value(ctx, LAB_TESTS[key], baseline[key], episode, severity)
                for key in _panel(ctx, episode, number == 0)
            }
            draws.append(LabDraw(taken.replace(second=0, microsecond=0), values))
        ctx.labs[episode.encounter_id] = draws
        for draw in draws:
            resources += [
                _result(ctx, episode, LAB_TESTS[key], value, draw.taken)
                for key, value in draw.values.items()
            ]
    return resources


def _value(
    ctx: PatientContext, test: LabTest, baseline: float, episode: Episode, severity: float
) -> float:
    value = baseline + ctx.rng.gauss(0, test.baseline[1] * 0.3)
    if episode.problem is not None:
        for effect in episode.problem.labs:
            if effect.test == test.key:
                value += effect.shift * severity + ctx.rng.gauss(0, effect.jitter * severity)
    value = min(max(value, test.minimum), test.maximum)
    return round(value, test.decimals) if test.decimals else float(round(value))


def _result(
    ctx: PatientContext, episode: Episode, test: LabTest, value: float, taken: datetime
) -> Resource:
    low, high = reference_range(test, ctx.story.gender)
    flag = interpret(value, low, high)
    issued = min(taken + timedelta(minutes=ctx.rng.randint(40, 150)), ctx.now)
    number: float | int = value if test.decimals else int(value)
    reference: Resource = {}
    if low is not None:
        reference["low"] = ucum_quantity(_plain(low), test.unit, test.ucum)
    if high is not None:
        reference["high"] = ucum_quantity(_plain(high), test.unit, test.ucum)
    return {
        "resourceType": "Observation",
        "id": ctx.ids.next(),
        "status": "final",
        "category": [concept(ts.OBSERVATION_CATEGORY, "laboratory", "Laboratory")],
        "code": concept(ts.LOINC, test.loinc, test.display),
        "subject": ctx.patient_ref(),
        "encounter": ctx.encounter_ref(episode),
        "effectiveDateTime": fhir_datetime(taken),
        "issued": fhir_datetime(issued),
        "performer": [ctx.facility.organization_ref()],
        "valueQuantity": ucum_quantity(number, test.unit, test.ucum),
        "interpretation": [concept(ts.OBSERVATION_INTERPRETATION, flag, _INTERPRETATIONS[flag])],
        "referenceRange": [reference],
    }


def _plain(limit: float) -> float | int:
    """Whole-number limits as integers, so 135 is written "135" rather than "135.0"."""
    return int(limit) if float(limit).is_integer() else limit
