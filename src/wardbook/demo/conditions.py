"""Condition resources: the problem list and encounter diagnoses (R4 condition.html).

Long-term conditions are ``problem-list-item``s recorded by the GP. Each admission or
ED attendance adds an ``encounter-diagnosis`` linked to its encounter, resolved (with
``abatementDateTime``, con-4) once the episode is over. A diagnosis that is itself a
long-term condition the patient already has (an exacerbation of heart failure, say) points
back at the problem-list entry instead of duplicating it.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from wardbook.demo import terminology as ts
from wardbook.demo.clock import fhir_datetime
from wardbook.demo.context import PatientContext
from wardbook.demo.data.conditions import CHRONIC_CONDITIONS
from wardbook.demo.elements import Resource, concept
from wardbook.demo.encounters import attending
from wardbook.demo.story import ChronicProblem, Episode

_LONG_TERM_CODES = {c.snomed for c in CHRONIC_CONDITIONS}
_SEVERITY = (
    (0.75, "24484000", "Severe"),
    (0.45, "6736007", "Moderate"),
    (0.0, "255604002", "Mild"),
)


def build_conditions(ctx: PatientContext) -> list[Resource]:
    """Problem-list conditions, then one diagnosis per acute episode."""
    resources = [_problem_list_item(ctx, problem) for problem in ctx.story.chronic]
    by_code = {p.condition.snomed: p.condition_id for p in ctx.story.chronic}
    for episode in ctx.story.episodes:
        if episode.problem is None or episode.kind == "AMB":
            continue
        if episode.kind == "EMER" and episode.admitted:
            continue  # the admission carries the diagnosis
        existing = by_code.get(episode.problem.snomed)
        if existing:
            ctx.acute_condition_ids[episode.encounter_id] = existing
            continue
        resource = _encounter_diagnosis(ctx, episode)
        ctx.acute_condition_ids[episode.encounter_id] = resource["id"]
        if episode.problem.snomed in _LONG_TERM_CODES:
            by_code[episode.problem.snomed] = resource["id"]
        resources.append(resource)
    return resources


def _status(code: str, display: str) -> Resource:
    return concept(ts.CONDITION_CLINICAL, code, display)


def _verification(code: str, display: str) -> Resource:
    return concept(ts.CONDITION_VERIFICATION, code, display)


def _problem_list_item(ctx: PatientContext, problem: ChronicProblem) -> Resource:
    problem.condition_id = ctx.ids.next()
    condition = problem.condition
    recorded = problem.onset + timedelta(days=ctx.rng.randint(0, 30), hours=ctx.rng.randint(1, 8))
    recorded = min(recorded, ctx.now)
    status = _status("active", "Active")
    if condition.key == "depression" and ctx.rng.random() < 0.3:
        status = _status("remission", "Remission")
    return {
        "resourceType": "Condition",
        "id": problem.condition_id,
        "clinicalStatus": status,
        "verificationStatus": _verification("confirmed", "Confirmed"),
        "category": [concept(ts.CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
        "code": concept(ts.SNOMED, condition.snomed, condition.display),
        "subject": ctx.patient_ref(),
        "onsetDateTime": fhir_datetime(problem.onset),
        "recordedDate": fhir_datetime(recorded),
        "recorder": ctx.staff_ref(ctx.gp),
        "asserter": ctx.staff_ref(ctx.gp),
    }


def _encounter_diagnosis(ctx: PatientContext, episode: Episode) -> Resource:
    problem = episode.problem
    if problem is None:
        raise RuntimeError("internal error: problem is missing")
    born = datetime.combine(ctx.story.birth_date, time(), tzinfo=UTC)
    onset = max(episode.start - timedelta(hours=ctx.rng.randint(2, 72)), born)
    doctor = attending(ctx, episode)
    long_term = problem.snomed in _LONG_TERM_CODES
    if episode.end is None:
        status = _status("active", "Active")
        provisional = ctx.rng.random() < 0.2
        verification = (
            _verification("provisional", "Provisional")
            if provisional
            else _verification("confirmed", "Confirmed")
        )
    else:
        status = _status("active", "Active") if long_term else _status("resolved", "Resolved")
        verification = _verification("confirmed", "Confirmed")
    severity = next(s for s in _SEVERITY if episode.severity >= s[0])
    condition: Resource = {
        "resourceType": "Condition",
        "id": ctx.ids.next(),
        "clinicalStatus": status,
        "verificationStatus": verification,
        "category": [concept(ts.CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")],
        "severity": concept(ts.SNOMED, severity[1], severity[2]),
        "code": concept(ts.SNOMED, problem.snomed, problem.display),
        "subject": ctx.patient_ref(),
        "encounter": ctx.encounter_ref(episode),
        "onsetDateTime": fhir_datetime(onset),
    }
    if episode.end is not None and not long_term:
        condition["abatementDateTime"] = fhir_datetime(episode.end)
    condition["recordedDate"] = fhir_datetime(episode.start + timedelta(minutes=50))
    condition["recorder"] = ctx.staff_ref(doctor)
    condition["asserter"] = ctx.staff_ref(doctor)
    return condition
