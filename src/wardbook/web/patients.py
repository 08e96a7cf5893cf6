"""Find a patient, the patient chart, vital signs and notes (pages and form posts)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from wardbook.auth.principal import current_principal
from wardbook.errors import BadRequest, NotFound, WardbookError
from wardbook.fhir import jsonio
from wardbook.web import chart, forms, records, writes
from wardbook.web.context import WebContext
from wardbook.web.formatting import fhir_instant_precise, parse_fhir_datetime
from wardbook.web.localtime import local_date

RECENT_COOKIE = "wb_recent"
RECENT_LIMIT = 6
SEARCH_LIMIT = 20
TIMELINE_LIMIT = 25
# The vital signs page shows this many sets (charts and table), then "Older readings".
VITALS_PAGE_SETS = 50
MAX_FORM_BYTES = 64 * 1024


def now() -> datetime:
    return datetime.now(UTC)


async def read_form(request: Request) -> FormData:
    """The posted form, refused when larger than any of our forms can be."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        raise BadRequest("The form is too large to save")
    return await request.form(max_files=0, max_fields=50)


def plain_form(form: FormData) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str)}


# -- recent patients (per signed-in user, in a cookie holding ids only, never PHI) ---------


def recent_ids(request: Request) -> list[str]:
    raw = request.cookies.get(RECENT_COOKIE, "")
    owner, _, ids = raw.partition("|")
    if owner != current_principal().subject:
        return []
    return [i for i in ids.split(",") if i][:RECENT_LIMIT]


def remember_patient(request: Request, response: Response, patient_id: str) -> None:
    ids = [patient_id, *(i for i in recent_ids(request) if i != patient_id)][:RECENT_LIMIT]
    response.set_cookie(
        RECENT_COOKIE,
        f"{current_principal().subject}|{','.join(ids)}",
        max_age=12 * 3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


class PatientPages:
    """Handlers for the patient-facing pages; one instance per application."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.service = ctx.service

    # -- find a patient ------------------------------------------------------------------

    async def _results(self, query: str) -> list[chart.Banner]:
        if len(query) > 200:
            raise BadRequest("Search for a shorter name or identifier")
        patients = await records.find_patients(self.service, query, limit=SEARCH_LIMIT)
        today = local_date(now(), self.ctx.renderer.zone)
        found = [chart.banner(p, [], today) for p in patients]
        return sorted(found, key=lambda b: b.name)

    async def find(self, request: Request) -> Response:
        query = request.query_params.get("q", "").strip()
        results = await self._results(query) if query else []
        recent: list[chart.Banner] = []
        today = local_date(now(), self.ctx.renderer.zone)
        for patient_id in recent_ids(request):
            try:
                patient = await records.load_patient(self.service, patient_id)
            except WardbookError:
                continue
            recent.append(chart.banner(patient, [], today))
        ward = [
            chart.banner(p, [], today)
            for p in await records.ward_patients(self.service, current_principal().wards)
        ]
        return self.ctx.renderer.page(
            request,
            "patients/find.html",
            {
                "query": query,
                "results": results,
                "recent": recent,
                "ward": sorted(ward, key=lambda b: b.name),
                "limit": SEARCH_LIMIT,
                "discharged": request.query_params.get("discharged") == "1",
            },
        )

    async def search_fragment(self, request: Request) -> Response:
        """Results as you type (htmx swaps this fragment into the page)."""
        query = request.query_params.get("q", "").strip()
        results = await self._results(query) if query else []
        return self.ctx.renderer.page(
            request,
            "patients/_results.html",
            {"query": query, "results": results, "limit": SEARCH_LIMIT},
        )

    # -- the chart -----------------------------------------------------------------------

    async def summary(self, request: Request) -> Response:
        patient_id = request.path_params["patient_id"]
        data = await records.load_chart(
            self.service, patient_id, recent_vitals=True, zone=self.ctx.renderer.zone
        )
        messages = {
            "note": "Note saved",
            "problem": "Problem added",
            "resolved": "Problem resolved",
            "allergy": "Allergy added",
            "stopped": "Medicine stopped",
        }
        response = self.ctx.renderer.page(
            request,
            "patients/chart.html",
            {
                "data": data,
                "timeline_limit": TIMELINE_LIMIT,
                "message": messages.get(request.query_params.get("done", "")),
            },
        )
        remember_patient(request, response, patient_id)
        return response

    async def vitals(self, request: Request) -> Response:
        """Vital signs, newest first, ``VITALS_PAGE_SETS`` sets a page (keyset on time)."""
        patient_id = request.path_params["patient_id"]
        before = _before_param(request.query_params.get("before"))
        banner, page = await asyncio.gather(
            self._banner(patient_id),
            records.load_vitals_page(
                self.service, patient_id, before=before, sets=VITALS_PAGE_SETS
            ),
        )
        latest = None
        if before is None:
            complete = [v for v in page.sets if v.news2 is not None]
            latest = complete[0] if complete else (page.sets[0] if page.sets else None)
        shown = list(reversed(page.sets))  # the charts run oldest to newest
        return self.ctx.renderer.page(
            request,
            "patients/vitals.html",
            {
                "banner": banner,
                "latest": latest,
                "rows": page.sets,
                "older": _iso(page.older) if page.older else None,
                "paged": before is not None,
                "saved": request.query_params.get("saved") == "1",
                "earlier": request.query_params.get("earlier") == "1",
                "first_of_two": request.query_params.get("first") == "1",
                "chart_sets": len(shown),
                "chart_data": {**chart_series(shown), "zone": str(self.ctx.renderer.zone)},
                "charts": CHARTS,
            },
        )

    async def _banner(self, patient_id: str) -> chart.Banner:
        patient = await records.load_patient(self.service, patient_id)
        allergies = await records.load_allergies(self.service, patient_id)
        return chart.banner(patient, allergies, local_date(now(), self.ctx.renderer.zone))

    async def vitals_form(self, request: Request) -> Response:
        patient_id = request.path_params["patient_id"]
        banner = await self._banner(patient_id)
        values: dict[str, str] = {}
        errors = forms.FormErrors()
        if request.method == "POST":
            values = plain_form(await read_form(request))
            entry, errors = forms.validate_vitals(values)
            taken = forms.validate_taken(values, now(), self.ctx.renderer.zone, errors)
            if entry is not None and not errors:
                encounter = await active_encounter(self.ctx, patient_id)
                observations = writes.vital_sign_observations(
                    entry, patient_id, taken.moment, current_principal(), encounter
                )
                outcome = await self.service.put_many(observations)
                failed = [r for r in outcome if isinstance(r, WardbookError)]
                if failed:
                    raise failed[0]
                # A back-timed set may not be the latest: the page then says so instead of
                # showing the latest set's NEWS2 as if it were this one's.
                extra = ("&earlier=1" if taken.entered else "") + (
                    "&first=1" if taken.ambiguous else ""
                )
                return RedirectResponse(
                    f"/patients/{patient_id}/vitals?saved=1{extra}", status_code=303
                )
        return self.ctx.renderer.page(
            request,
            "patients/vitals_new.html",
            {"banner": banner, "values": values, "errors": errors},
            status=422 if errors else 200,
        )

    # -- notes ---------------------------------------------------------------------------

    async def notes(self, request: Request) -> Response:
        patient_id = request.path_params["patient_id"]
        data = await records.load_chart(self.service, patient_id, zone=self.ctx.renderer.zone)
        return self.ctx.renderer.page(request, "patients/notes.html", {"data": data})

    async def note(self, request: Request) -> Response:
        patient_id = request.path_params["patient_id"]
        stored = await self.service.read("DocumentReference", request.path_params["note_id"])
        if stored.body is None:
            raise RuntimeError("internal error: stored.body is missing")
        document: dict[str, Any] = jsonio.loads(stored.body)
        if chart.reference_id(document.get("subject"), "Patient") != patient_id:
            raise NotFound("This note does not belong to this patient")
        banner = await self._banner(patient_id)
        return self.ctx.renderer.page(
            request, "patients/note.html", {"banner": banner, "note": chart.note(document)}
        )

    async def note_form(self, request: Request) -> Response:
        patient_id = request.path_params["patient_id"]
        banner = await self._banner(patient_id)
        values: dict[str, str] = {}
        errors = forms.FormErrors()
        if request.method == "POST":
            values = plain_form(await read_form(request))
            entry, errors = forms.validate_note(values)
            if entry is not None:
                encounter = await active_encounter(self.ctx, patient_id)
                document = writes.note_document(
                    entry, patient_id, now(), current_principal(), encounter
                )
                await self.service.create("DocumentReference", document)
                return RedirectResponse(f"/patients/{patient_id}?done=note", status_code=303)
        return self.ctx.renderer.page(
            request,
            "patients/note_new.html",
            {"banner": banner, "values": values, "errors": errors},
            status=422 if errors else 200,
        )


async def active_encounter(ctx: WebContext, patient_id: str) -> str | None:
    """The patient's in-progress encounter, which new entries belong to."""
    found = await records.search(
        ctx.service,
        "Encounter",
        [("subject", f"Patient/{patient_id}"), ("status", "in-progress")],
        limit=1,
    )
    return str(found[0]["id"]) if found else None


CHARTS: list[dict[str, str]] = [
    {"id": "news2", "title": "NEWS2 score"},
    {"id": "pulse-bp", "title": "Heart rate (beats/min) and blood pressure (mmHg)"},
    {"id": "resp", "title": "Respiratory rate (breaths/min) and oxygen saturation (%)"},
    {"id": "temp", "title": "Temperature (°C)"},
]


def _before_param(text: str | None) -> datetime | None:
    """The ``before`` of an "Older readings" link; 400 for anything else."""
    if text is None:
        return None
    when = parse_fhir_datetime(text) if len(text) <= 40 else None
    if when is None:
        raise BadRequest("The link to older readings is not valid: go back to the newest ones")
    return when


def _iso(when: datetime) -> str:
    return fhir_instant_precise(when)


def chart_series(sets: list[chart.VitalSet]) -> dict[str, list[float | None]]:
    """Columns for uPlot: epoch seconds and one list per measurement."""
    scores = [s.news2 for s in sets]
    return {
        "time": [s.when.timestamp() for s in sets],
        "news2": [float(n.total) if n else None for n in scores],
        "heart_rate": [s.heart_rate for s in sets],
        "systolic": [s.systolic for s in sets],
        "diastolic": [s.diastolic for s in sets],
        "respiratory_rate": [s.respiratory_rate for s in sets],
        "spo2": [s.spo2 for s in sets],
        "temperature": [s.temperature for s in sets],
    }
