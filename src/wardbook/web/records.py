"""Reads the web app needs, through the same service layer as the FHIR API (never SQL).

Every read is a FHIR search (R4 search.html) run by :class:`ResourceService`, so the web
app sees exactly what the API would show the same principal, with the same permissions and
audit once those sit in the service layer.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo

import orjson

from wardbook.fhir import jsonio
from wardbook.search.parse import parse_search
from wardbook.search.query import MAX_COUNT
from wardbook.service.lastn import lastn
from wardbook.service.resources import ResourceService
from wardbook.web import chart
from wardbook.web.chart import Resource
from wardbook.web.formatting import fhir_instant_precise
from wardbook.web.localtime import local_date

# Enough for a long admission charted hourly; the chart reads at most this many.
MAX_OBSERVATIONS = 10_000
MAX_OTHER = 1_000
# The summary reads this many latest values of each vital sign: enough to hold the latest
# complete set even when a few partial sets (clinic BP and pulse) came after it.
LATEST_SETS = 4
# First the vital signs of this last stretch of time: a ward patient's latest set is there.
RECENT_VITALS = timedelta(days=1)

_DMY = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$")
_ISO = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")


async def search(
    service: ResourceService,
    resource_type: str,
    params: Sequence[tuple[str, str]],
    *,
    limit: int = MAX_OTHER,
) -> list[Resource]:
    """Every match of a FHIR search, following the pages up to ``limit`` resources."""
    query = parse_search(resource_type, list(params), strict=True)
    query = replace(query, count=min(MAX_COUNT, limit), total="none")
    found: list[Resource] = []
    while True:
        page = await service.search(query)
        # Stored bodies are valid JSON already; orjson alone is 10x faster than the
        # precision-keeping parser, and the pages only display these numbers.
        found.extend(orjson.loads(e.body) for e in page.entries if e.body is not None)
        if page.next_cursor is None or len(found) >= limit:
            return found[:limit]
        query = replace(query, cursor=page.next_cursor)


def patient_search_params(text: str) -> list[tuple[str, str]] | None:
    """What "Find a patient" searches for: a date of birth, an identifier or a name.

    "8/4/1957" and "1957-04-08" are dates of birth; a word with digits (MRN9624499,
    999 123 4567) is an identifier; anything else is one or more parts of a name, every
    part matching (R4 string search: case- and accent-insensitive prefix match).
    """
    text = text.strip()
    if not text:
        return None
    birth = parse_birth_date(text)
    if birth is not None:
        return [("birthdate", birth.isoformat())]
    compact = text.replace(" ", "")
    if any(ch.isdigit() for ch in compact) and compact.isalnum():
        return [("identifier", compact.upper() if compact[:1].isalpha() else compact)]
    words = [w for w in re.split(r"[\s,]+", text) if w]
    return [("name", w) for w in words[:4]]


def parse_birth_date(text: str) -> date | None:
    """A day in DD/MM/YYYY (UK order) or YYYY-MM-DD; None when not a valid date."""
    match = _DMY.match(text)
    try:
        if match:
            return date(int(match[3]), int(match[2]), int(match[1]))
        match = _ISO.match(text)
        if match:
            return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None
    return None


async def find_patients(service: ResourceService, text: str, limit: int = 20) -> list[Resource]:
    params = patient_search_params(text)
    if params is None:
        return []
    return await search(service, "Patient", params, limit=limit)


# Encounter statuses of a patient who is on the ward now (as the care check counts them).
ON_WARD = "arrived,triaged,in-progress,onleave"


async def ward_patients(
    service: ResourceService, wards: frozenset[str], limit: int = 100
) -> list[Resource]:
    """Patients with a current Encounter at one of ``wards`` (Location ids): my ward list."""
    if not wards:
        return []
    locations = ",".join(f"Location/{ward}" for ward in sorted(wards))
    encounters = await search(
        service, "Encounter", [("location", locations), ("status", ON_WARD)], limit=limit
    )
    ids = sorted(
        {pid for e in encounters if (pid := chart.reference_id(e.get("subject"), "Patient"))}
    )
    if not ids:
        return []
    return await search(service, "Patient", [("_id", ",".join(ids))], limit=limit)


@dataclass(frozen=True, slots=True)
class ChartData:
    """Everything the patient chart shows, already turned into view models."""

    patient: Resource
    banner: chart.Banner
    problems: list[chart.Problem]
    allergies: list[chart.Allergy]
    medications: list[chart.Medication]
    vitals: list[chart.VitalSet]  # oldest first
    results: list[chart.Result]  # newest first
    timeline: list[chart.TimelineEntry]  # newest first
    notes: list[chart.Note]
    appointments: list[chart.Appointment]  # upcoming, soonest first
    active_encounter: str | None

    @property
    def latest_vitals(self) -> chart.VitalSet | None:
        """The latest complete set (NEWS2 can be scored), else the latest set of any kind."""
        for vital in reversed(self.vitals):
            if vital.news2 is not None:
                return vital
        return self.vitals[-1] if self.vitals else None

    @property
    def latest_results(self) -> list[chart.Result]:
        """The newest result of each test."""
        seen: dict[str, chart.Result] = {}
        for item in self.results:
            seen.setdefault(item.name, item)
        return sorted(seen.values(), key=lambda r: r.name.lower())


def _newest_first(when: datetime | None) -> float:
    return -(when.timestamp() if when else 0.0)


async def load_patient(service: ResourceService, patient_id: str) -> Resource:
    stored = await service.read("Patient", patient_id)
    if stored.body is None:
        raise RuntimeError("internal error: stored.body is missing")
    body: Resource = jsonio.loads(stored.body)
    return body


async def load_allergies(service: ResourceService, patient_id: str) -> list[chart.Allergy]:
    found = await search(service, "AllergyIntolerance", [("patient", f"Patient/{patient_id}")])
    return [chart.allergy(a) for a in found]


async def latest_per_code(
    service: ResourceService, params: Sequence[tuple[str, str]], max_per_code: int
) -> list[Resource]:
    """Observation/$lastn: the latest ``max_per_code`` matches of each code, one query."""
    query = parse_search("Observation", list(params), strict=True)
    page = await lastn(service, query, max_per_code)
    return [orjson.loads(e.body) for e in page.entries if e.body is not None]


async def load_observations(
    service: ResourceService, patient_id: str, *, now: datetime | None
) -> list[Resource]:
    """Laboratory results and vital signs; with ``now``, only the latest ones.

    The summary needs the latest result of each test ($lastn, R4
    observation-operation-lastn.html) and the latest complete set of vital signs: it reads
    the last day's vital signs (``date=ge``, cheap on both backends), then the last few
    values of each vital sign ($lastn), and everything only when neither holds a complete set.
    """
    subject = ("subject", f"Patient/{patient_id}")
    if now is None:
        return await search(service, "Observation", [subject], limit=MAX_OBSERVATIONS)
    labs = await latest_per_code(service, [subject, ("category", "laboratory")], 1)
    vital_signs = [subject, ("category", "vital-signs")]
    since = (now - RECENT_VITALS).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    attempts: list[Callable[[], Awaitable[list[Resource]]]] = [
        lambda: search(service, "Observation", [*vital_signs, ("date", "ge" + since)]),
        lambda: latest_per_code(service, vital_signs, LATEST_SETS),
        lambda: search(service, "Observation", vital_signs, limit=MAX_OBSERVATIONS),
    ]
    vitals: list[Resource] = []
    for attempt in attempts:
        vitals = await attempt()
        sets: dict[str, chart.VitalSet] = {}
        for observation in vitals:
            chart.add_vital(sets, observation)
        if any(v.news2 is not None for v in sets.values()):
            break
    return labs + vitals


@dataclass(frozen=True, slots=True)
class VitalsPage:
    """One page of a patient's vital sign sets, newest first, and where older ones start."""

    sets: list[chart.VitalSet]  # newest first
    older: datetime | None  # the ``before`` of the next (older) page; None on the last page


async def load_vitals_page(
    service: ResourceService, patient_id: str, *, before: datetime | None, sets: int
) -> VitalsPage:
    """The newest ``sets`` vital sign sets taken before ``before`` (keyset paging on time).

    One bounded search, newest first (``_sort=-date``, R4 search.html#sort): however many
    years of observations a patient has, a page reads at most ``sets`` sets' worth.
    """
    params = [
        ("subject", f"Patient/{patient_id}"),
        ("category", "vital-signs"),
        ("_sort", "-date"),
    ]
    if before is not None:
        params.append(("date", "lt" + fhir_instant_precise(before)))
    # A set is at most 8 observations; one more than a full page tells whether more exist.
    limit = sets * 8 + 1
    found = await search(service, "Observation", params, limit=limit)
    grouped: dict[str, chart.VitalSet] = {}
    for observation in found:
        if observation.get("status") not in ("entered-in-error", "cancelled"):
            chart.add_vital(grouped, observation)
    newest_first = sorted(grouped.values(), key=lambda v: v.when, reverse=True)
    more = len(found) >= limit
    if more and len(newest_first) <= sets:
        # The oldest set may be cut off by the limit: it starts the next page instead.
        newest_first = newest_first[:-1] if len(newest_first) > 1 else newest_first
    elif len(newest_first) > sets:
        newest_first, more = newest_first[:sets], True
    older = newest_first[-1].when if more and newest_first else None
    return VitalsPage(newest_first, older)


async def load_chart(
    service: ResourceService,
    patient_id: str,
    now: datetime | None = None,
    *,
    recent_vitals: bool = False,
    zone: tzinfo = UTC,
) -> ChartData:
    """Read the whole chart: the patient and the resources that refer to them.

    With ``recent_vitals`` only the latest values of each vital sign and test are read
    (the summary page); otherwise all of them (the vital signs page).
    """
    now = now or datetime.now(UTC)
    patient = await load_patient(service, patient_id)
    subject = [("subject", f"Patient/{patient_id}")]
    (
        observations,
        conditions,
        allergies,
        requests,
        encounters,
        documents,
        appointments,
    ) = await asyncio.gather(
        load_observations(service, patient_id, now=now if recent_vitals else None),
        search(service, "Condition", subject),
        search(service, "AllergyIntolerance", [("patient", f"Patient/{patient_id}")]),
        search(service, "MedicationRequest", subject),
        search(service, "Encounter", subject),
        search(service, "DocumentReference", subject),
        search(service, "Appointment", [("patient", f"Patient/{patient_id}")]),
    )
    sets: dict[str, chart.VitalSet] = {}
    results: list[chart.Result] = []
    for observation in observations:
        if observation.get("status") in ("entered-in-error", "cancelled"):
            continue
        if chart.is_category(observation, "vital-signs"):
            chart.add_vital(sets, observation)
        elif chart.is_category(observation, "laboratory"):
            results.append(chart.result(observation))
    results.sort(key=lambda r: _newest_first(r.when))
    allergy_items = [chart.allergy(a) for a in allergies]
    notes = [chart.note(d) for d in documents if d.get("status") != "entered-in-error"]
    notes.sort(key=lambda n: _newest_first(n.when))
    timeline = [chart.encounter_entry(e) for e in encounters]
    timeline += [chart.note_entry(patient_id, n) for n in notes]
    timeline.sort(key=lambda t: _newest_first(t.when))
    upcoming = [
        a
        for a in (chart.appointment(r) for r in appointments)
        if a.start is not None and a.start >= now and a.status not in ("cancelled", "noshow")
    ]
    upcoming.sort(key=lambda a: a.start or now)
    active = [e for e in encounters if e.get("status") == "in-progress"]
    return ChartData(
        patient=patient,
        banner=chart.banner(patient, allergy_items, local_date(now, zone)),
        problems=sorted(
            (chart.problem(c) for c in conditions), key=lambda p: (not p.active, p.name.lower())
        ),
        allergies=[a for a in allergy_items if a.active],
        medications=sorted(
            (chart.medication(m) for m in requests),
            key=lambda m: (not m.current, m.name.lower()),
        ),
        vitals=sorted(sets.values(), key=lambda v: v.when),
        results=results,
        timeline=timeline,
        notes=notes,
        appointments=upcoming,
        active_encounter=str(active[0]["id"]) if active else None,
    )
