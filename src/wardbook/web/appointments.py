"""A patient's appointments and "Book an appointment" (GET/POST), for every role that may.

Reads and writes go through :class:`ResourceService` as FHIR Appointments, so the role table
decides who may book (receptionists, nurses and physicians: the scheduling group) and every
booking is audited like any other write.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from wardbook.auth.principal import current_principal
from wardbook.auth.roles import user_may
from wardbook.errors import Forbidden
from wardbook.web import chart, forms, records
from wardbook.web.access import role_banner
from wardbook.web.appointment_form import (
    DURATIONS,
    appointment_resource,
    validate_appointment,
)
from wardbook.web.context import WebContext
from wardbook.web.patients import plain_form, read_form


def now() -> datetime:
    return datetime.now(UTC)


class AppointmentPages:
    """GET /patients/{id}/appointments and GET/POST /patients/{id}/appointments/new."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.service = ctx.service

    async def list(self, request: Request) -> Response:
        """Upcoming appointments soonest first, then past ones newest first."""
        if not user_may(current_principal(), "search", "Appointment"):
            raise Forbidden("Your role cannot see appointments")
        patient_id = request.path_params["patient_id"]
        banner = await role_banner(self.service, patient_id, self.ctx.renderer.zone)
        found = await records.search(
            self.service, "Appointment", [("patient", f"Patient/{patient_id}")]
        )
        items = [chart.appointment(a) for a in found]
        moment = now()
        upcoming = sorted(
            (a for a in items if a.start is not None and a.start >= moment),
            key=lambda a: a.start or moment,
        )
        past = sorted(
            (a for a in items if a.start is None or a.start < moment),
            key=lambda a: -(a.start.timestamp() if a.start else 0.0),
        )
        return self.ctx.renderer.page(
            request,
            "appointments/list.html",
            {
                "banner": banner,
                "upcoming": upcoming,
                "past": past,
                "booked": request.query_params.get("booked") == "1",
                "first_of_two": request.query_params.get("first") == "1",
                "may_book": user_may(current_principal(), "create", "Appointment"),
            },
        )

    async def book(self, request: Request) -> Response:
        """The booking form; a valid post creates a booked Appointment."""
        if not user_may(current_principal(), "create", "Appointment"):
            raise Forbidden("Your role cannot book appointments")
        patient_id = request.path_params["patient_id"]
        banner = await role_banner(self.service, patient_id, self.ctx.renderer.zone)
        values: dict[str, str] = {"minutes": "30"}
        errors = forms.FormErrors()
        if request.method == "POST":
            values = plain_form(await read_form(request))
            entry, errors = validate_appointment(values, now(), self.ctx.renderer.zone)
            if entry is not None:
                resource = appointment_resource(
                    entry, patient_id, banner.display_name, now(), current_principal()
                )
                await self.service.create("Appointment", resource)
                # ?first=1: the page says which of a twice-occurring autumn time was booked.
                first = "&first=1" if entry.ambiguous else ""
                return RedirectResponse(
                    f"/patients/{patient_id}/appointments?booked=1{first}", status_code=303
                )
        return self.ctx.renderer.page(
            request,
            "appointments/new.html",
            {"banner": banner, "values": values, "errors": errors, "durations": DURATIONS},
            status=422 if errors else 200,
        )
