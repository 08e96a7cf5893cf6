"""MedicationRequest resources (R4 medicationrequest.html) coded with RxNorm.

Long-term drugs follow the problem list and are prescribed in the community by the GP;
hospital episodes add short courses (completed once the episode is over) and, after a
heart attack or stroke, long-term drugs started on discharge. Nothing is prescribed that
the patient's recorded allergies rule out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from wardbook.demo import terminology as ts
from wardbook.demo.catalog import Drug
from wardbook.demo.clock import fhir_datetime
from wardbook.demo.context import PatientContext
from wardbook.demo.data.medications import DRUGS
from wardbook.demo.elements import Resource, concept, reference
from wardbook.demo.encounters import attending
from wardbook.demo.facility import StaffMember
from wardbook.demo.story import Episode

# Drugs a hospital starts that the patient keeps taking after discharge.
_CONTINUED_AFTER_DISCHARGE = {"aspirin", "clopidogrel", "atorvastatin", "digoxin"}
_ACE_INHIBITOR_FAMILY = "lisinopril"
_FORMS = {"tablet": ("TAB", "Tablet", "tablet"), "capsule": ("CAP", "Capsule", "capsule")}


@dataclass(frozen=True, slots=True)
class _Order:
    drug: Drug
    authored: datetime
    requester: StaffMember
    reason_id: str
    status: str
    category: tuple[str, str]
    long_term: bool
    episode: Episode | None = None
    status_reason: str | None = None


def _family(drug_key: str) -> str:
    return drug_key.split("_")[0]


def build_medication_requests(ctx: PatientContext) -> list[Resource]:
    """Community prescriptions for long-term conditions, then hospital orders."""
    blocked = {key for allergen in ctx.story.allergies for key in allergen.drug_keys}
    families: set[str] = set()
    orders: list[_Order] = []
    aki_now = any(
        e.in_progress and e.problem is not None and e.problem.key == "aki"
        for e in ctx.story.episodes
    )
    for problem in ctx.story.chronic:
        for slot in problem.condition.drugs:
            drug = _pick(ctx, slot, blocked, families)
            if drug is None:
                continue
            families.add(_family(drug.key))
            authored = _community_date(ctx, problem.onset)
            status, why = "active", None
            if aki_now and _family(drug.key) == _ACE_INHIBITOR_FAMILY:
                status, why = "on-hold", "Withheld during acute kidney injury"
            orders.append(
                _Order(
                    drug,
                    authored,
                    ctx.gp,
                    problem.condition_id,
                    status,
                    ("community", "Community"),
                    True,
                    status_reason=why,
                )
            )
            if ctx.rng.random() < 0.12:
                previous = _switched_from(ctx, slot, drug, blocked)
                if previous is not None:
                    earlier = problem.onset + (authored - problem.onset) / 3
                    orders.append(
                        _Order(
                            previous,
                            earlier,
                            ctx.gp,
                            problem.condition_id,
                            "stopped",
                            ("community", "Community"),
                            True,
                            status_reason=f"Switched to {drug.display}",
                        )
                    )
    for episode in ctx.story.episodes:
        if episode.problem is None or (episode.kind == "EMER" and episode.admitted):
            continue
        reason_id = ctx.acute_condition_ids.get(episode.encounter_id, "")
        for slot in episode.problem.drugs:
            drug = _pick(ctx, slot, blocked, families)
            if drug is None:
                continue
            families.add(_family(drug.key))
            orders.append(_hospital_order(ctx, episode, drug, reason_id))
    orders.sort(key=lambda o: o.authored)
    for order in orders:
        if order.episode is not None and order.long_term:
            key = order.episode.encounter_id
            ctx.started_medicines.setdefault(key, []).append(order.drug.display)
    ctx.regular_medicines = [
        o.drug.display
        for o in orders
        if o.category[0] == "community" and o.status in ("active", "on-hold")
    ]
    return [_resource(ctx, order) for order in orders]


def _pick(
    ctx: PatientContext, slot: tuple[str, ...], blocked: set[str], families: set[str]
) -> Drug | None:
    choice = ctx.rng.choice(slot)
    if not choice:
        return None
    options = [choice, *[k for k in slot if k and k != choice]]
    for key in options:
        if key not in blocked and _family(key) not in families:
            return DRUGS[key]
    return None


def _switched_from(
    ctx: PatientContext, slot: tuple[str, ...], current: Drug, blocked: set[str]
) -> Drug | None:
    others = [k for k in slot if k and k != current.key and k not in blocked]
    others = [k for k in others if _family(k) != _family(current.key)]
    return DRUGS[ctx.rng.choice(others)] if others else None


def _community_date(ctx: PatientContext, onset: datetime) -> datetime:
    """The latest repeat prescription: within the last year for established conditions."""
    earliest = max(onset + timedelta(days=3), ctx.now - timedelta(days=365))
    span = (ctx.now - timedelta(days=2) - earliest).total_seconds()
    moment = earliest + timedelta(seconds=ctx.rng.uniform(0, max(span, 0)))
    return moment.replace(hour=ctx.rng.randint(8, 17), minute=ctx.rng.randrange(60), second=0)


def _hospital_order(ctx: PatientContext, episode: Episode, drug: Drug, reason_id: str) -> _Order:
    authored = episode.start + timedelta(minutes=ctx.rng.randint(45, 180))
    if episode.end is not None:
        authored = min(authored, episode.end - timedelta(minutes=5))
    authored = min(authored, ctx.now - timedelta(minutes=5))
    long_term = drug.key in _CONTINUED_AFTER_DISCHARGE
    status = "active" if episode.in_progress or long_term else "completed"
    category = ("inpatient", "Inpatient") if episode.kind == "IMP" else ("discharge", "Discharge")
    return _Order(
        drug,
        authored,
        attending(ctx, episode),
        reason_id,
        status,
        category,
        long_term,
        episode=episode,
    )


def _dosage(drug: Drug) -> Resource:
    dosage: Resource = {"sequence": 1, "text": drug.dose_text}
    if drug.per_day:
        repeat: Resource = {
            "frequency": 1 if drug.as_needed else drug.per_day,
            "period": 1,
            "periodUnit": "d",
        }
        if drug.as_needed and drug.per_day > 1:
            repeat["frequencyMax"] = drug.per_day
        dosage["timing"] = {"repeat": repeat}
    if drug.as_needed:
        dosage["asNeededBoolean"] = True
    dosage["route"] = concept(ts.SNOMED, *drug.route)
    form = _FORMS.get(drug.form)
    if form is not None:
        code, _, unit = form
        dosage["doseAndRate"] = [
            {
                "doseQuantity": {
                    "value": drug.units_per_dose,
                    "unit": unit if drug.units_per_dose == 1 else f"{unit}s",
                    "system": ts.DRUG_FORM,
                    "code": code,
                }
            }
        ]
    return dosage


def _resource(ctx: PatientContext, order: _Order) -> Resource:
    drug = order.drug
    request: Resource = {
        "resourceType": "MedicationRequest",
        "id": ctx.ids.next(),
        "status": order.status,
    }
    if order.status_reason:
        request["statusReason"] = {"text": order.status_reason}
    request |= {
        "intent": "order",
        "category": [
            concept(
                ts.MEDICATION_CATEGORY,
                *order.category,
            )
        ],
        "medicationCodeableConcept": concept(ts.RXNORM, drug.rxnorm, drug.display),
        "subject": ctx.patient_ref(),
    }
    if order.episode is not None:
        request["encounter"] = ctx.encounter_ref(order.episode)
    request["authoredOn"] = fhir_datetime(order.authored)
    request["requester"] = ctx.staff_ref(order.requester)
    if order.reason_id:
        request["reasonReference"] = [reference("Condition", order.reason_id)]
    request["courseOfTherapyType"] = (
        concept(ts.MEDICATION_COURSE, "continuous", "Continuous long term therapy")
        if order.long_term
        else concept(ts.MEDICATION_COURSE, "acute", "Short course (acute) therapy")
    )
    request["dosageInstruction"] = [_dosage(drug)]
    return request
