"""Discharge: end the patient's current stay (GET confirms, POST writes), for roles that may.

A discharge is a new version of the current Encounter (R4 encounter.html): ``status``
``finished`` (valueset-encounter-status: "the Encounter has ended"), ``period.end`` now, and
each still-active ``location`` ``completed`` with its own ``period.end``. The patient then
leaves "Patients on my ward", which lists Encounters in the ward statuses
(:data:`wardbook.web.records.ON_WARD`).

The write goes through :class:`ResourceService` (the role table decides: whoever may update
Encounters, see :mod:`wardbook.auth.roles`), with the version the user confirmed as
``If-Match`` (R4 http.html#concurrency): if anyone changed the stay after the page was
shown, nothing is written and the user is told to reload.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from wardbook.auth.principal import current_principal
from wardbook.auth.roles import user_may
from wardbook.errors import BadRequest, Forbidden, NotFound, WardbookError
from wardbook.fhir import jsonio
from wardbook.web import chart, records
from wardbook.web.access import role_banner
from wardbook.web.context import WebContext
from wardbook.web.formatting import parse_fhir_datetime
from wardbook.web.patients import now, plain_form, read_form
from wardbook.web.writes import fhir_instant

Resource = dict[str, Any]
ON_WARD_STATUSES = frozenset(records.ON_WARD.split(","))
CHANGED = (
    "Someone else changed this stay after you opened this page, so the patient was not"
    " discharged. Reload the page to see the latest details, then discharge again if"
    " that is still right"
)


@dataclass(frozen=True, slots=True)
class Stay:
    """The current Encounter as the confirmation page shows it."""

    id: str
    version: int
    kind: str
    ward: str
    admitted: datetime | None


def current_places(encounter: Resource) -> list[Resource]:
    """The Encounter's locations the patient is (or is about to be) in."""
    return [
        place
        for place in encounter.get("location", []) or []
        if place.get("status") in (None, "active", "planned", "reserved")
    ]


def stay_of(encounter: Resource, version: int, names: dict[str, str] | None = None) -> Stay:
    """The confirmation page's view of one Encounter version; ``names`` gives the stored
    Location names by id, for references that carry no display text."""
    places = [
        str(
            (place.get("location") or {}).get("display")
            or (names or {}).get(chart.reference_id(place.get("location"), "Location") or "")
            or ""
        )
        for place in current_places(encounter)
    ]
    kind = chart.concept_text((encounter.get("type") or [{}])[0]) or str(
        (encounter.get("class") or {}).get("display", "Stay")
    )
    return Stay(
        id=str(encounter["id"]),
        version=version,
        kind=kind,
        ward=", ".join(p for p in places if p) or "Not recorded",
        admitted=parse_fhir_datetime((encounter.get("period") or {}).get("start")),
    )


def discharged(encounter: Resource, patient_id: str, when: datetime) -> Resource:
    """The same Encounter, finished at ``when`` (refused if it is not this patient's stay)."""
    if chart.reference_id(encounter.get("subject"), "Patient") != patient_id:
        raise NotFound("This stay does not belong to this patient")
    if encounter.get("status") not in ON_WARD_STATUSES:
        raise BadRequest("This stay has already ended")
    end = fhir_instant(when)
    updated = dict(encounter)
    updated["status"] = "finished"
    updated["period"] = {**(encounter.get("period") or {}), "end": end}
    places = []
    for place in encounter.get("location", []) or []:
        if place.get("status") in (None, "active"):
            place = {
                **place,
                "status": "completed",
                "period": {**(place.get("period") or {}), "end": end},
            }
        places.append(place)
    if places:
        updated["location"] = places
    return updated


def is_inpatient(encounter: Resource) -> bool:
    return (encounter.get("class") or {}).get("code") == "IMP"


class DischargePages:
    """GET/POST /patients/{id}/discharge."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.service = ctx.service

    async def current_stay(self, patient_id: str) -> Stay | None:
        """The stay that puts the patient on a ward now: in-patient first, then the latest."""
        found = await records.search(
            self.service,
            "Encounter",
            [("subject", f"Patient/{patient_id}"), ("status", records.ON_WARD)],
        )
        if not found:
            return None
        found.sort(
            key=lambda e: (
                is_inpatient(e),
                str((e.get("period") or {}).get("start", "")),
            ),
            reverse=True,
        )
        stored = await self.service.read("Encounter", str(found[0]["id"]))
        if stored.body is None:
            raise RuntimeError("internal error: stored.body is missing")
        encounter = jsonio.loads(stored.body)
        return stay_of(encounter, stored.version, await self._location_names(encounter))

    async def _location_names(self, encounter: Resource) -> dict[str, str]:
        """Names of the stored Locations the stay refers to without a display text."""
        names: dict[str, str] = {}
        for place in current_places(encounter):
            ref = place.get("location") or {}
            location_id = chart.reference_id(ref, "Location")
            if ref.get("display") or location_id is None or location_id in names:
                continue
            try:
                location = await self.service.read("Location", location_id)
            except WardbookError:
                continue  # gone or not readable: the page says "Not recorded"
            if location.body is not None:
                name = jsonio.loads(location.body).get("name")
                if isinstance(name, str) and name:
                    names[location_id] = name
        return names

    async def page(self, request: Request) -> Response:
        """The confirmation page; a confirmed post finishes the stay."""
        if not user_may(current_principal(), "update", "Encounter"):
            raise Forbidden("Your role cannot discharge patients")
        patient_id = request.path_params["patient_id"]
        banner = await role_banner(self.service, patient_id, self.ctx.renderer.zone)
        changed = False
        if request.method == "POST":
            form = plain_form(await read_form(request))
            encounter_id = form.get("encounter", "")
            version = form.get("version", "")
            if not encounter_id or not version.isdigit():
                raise BadRequest("The discharge form is incomplete: reload the page")
            when = now()
            try:
                await self.service.patch(
                    "Encounter",
                    encounter_id,
                    lambda body: discharged(body, patient_id, when),
                    if_match=int(version),
                )
            except WardbookError as error:
                if error.status != 412:
                    raise
                changed = True
            else:
                return RedirectResponse("/?discharged=1", status_code=303)
        stay = None if changed else await self.current_stay(patient_id)
        if stay is None and not changed:
            raise NotFound(f"{banner.display_name} has no current stay to discharge")
        return self.ctx.renderer.page(
            request,
            "patients/discharge.html",
            {"banner": banner, "stay": stay, "changed": CHANGED if changed else None},
            status=409 if changed else 200,
        )
