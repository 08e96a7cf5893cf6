"""Recording in the chart: add and resolve problems, add allergies, stop medicines.

Each change is a FHIR create or a new version of the resource through the service layer,
so the history keeps what was there before (R4 http.html#update).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from wardbook.auth.principal import current_principal
from wardbook.errors import NotFound
from wardbook.fhir import jsonio
from wardbook.web import chart, forms, writes
from wardbook.web.context import WebContext
from wardbook.web.localtime import to_local
from wardbook.web.patients import PatientPages, now, plain_form, read_form


class RecordPages:
    """Handlers that change the patient's record."""

    def __init__(self, ctx: WebContext, patients: PatientPages) -> None:
        self.ctx = ctx
        self.service = ctx.service
        self.patients = patients

    async def _owned(self, resource_type: str, resource_id: str, patient_id: str) -> dict[str, Any]:
        """The resource, if it belongs to this patient (else 404: never another's record)."""
        stored = await self.service.read(resource_type, resource_id)
        if stored.body is None:
            raise RuntimeError("internal error: stored.body is missing")
        body: dict[str, Any] = jsonio.loads(stored.body)
        owner = (
            body.get("patient") if resource_type == "AllergyIntolerance" else body.get("subject")
        )
        if chart.reference_id(owner, "Patient") != patient_id:
            raise NotFound(f"This {resource_type} does not belong to this patient")
        return body

    async def problem_form(self, request: Request) -> Response:
        patient_id = request.path_params["patient_id"]
        banner = await self.patients._banner(patient_id)
        values: dict[str, str] = {}
        errors = forms.FormErrors()
        if request.method == "POST":
            values = plain_form(await read_form(request))
            # "Today" is the hospital's date: after midnight BST it is already tomorrow in UTC+1.
            today = to_local(now(), self.ctx.renderer.zone).date()
            entry, errors = forms.validate_problem(values, today)
            if entry is not None:
                condition = writes.problem_condition(entry, patient_id, now(), current_principal())
                await self.service.create("Condition", condition)
                return RedirectResponse(f"/patients/{patient_id}?done=problem", status_code=303)
        return self.ctx.renderer.page(
            request,
            "patients/problem_new.html",
            {"banner": banner, "values": values, "errors": errors},
            status=422 if errors else 200,
        )

    async def resolve_problem(self, request: Request) -> Response:
        patient_id = request.path_params["patient_id"]
        condition_id = request.path_params["condition_id"]
        await self._owned("Condition", condition_id, patient_id)
        resolved_at = now()
        await self.service.patch(
            "Condition", condition_id, lambda body: writes.resolve_condition(body, resolved_at)
        )
        return RedirectResponse(f"/patients/{patient_id}?done=resolved", status_code=303)

    async def allergy_form(self, request: Request) -> Response:
        patient_id = request.path_params["patient_id"]
        banner = await self.patients._banner(patient_id)
        values: dict[str, str] = {}
        errors = forms.FormErrors()
        if request.method == "POST":
            values = plain_form(await read_form(request))
            entry, errors = forms.validate_allergy(values)
            if entry is not None:
                allergy = writes.allergy_intolerance(entry, patient_id, now(), current_principal())
                await self.service.create("AllergyIntolerance", allergy)
                return RedirectResponse(f"/patients/{patient_id}?done=allergy", status_code=303)
        return self.ctx.renderer.page(
            request,
            "patients/allergy_new.html",
            {
                "banner": banner,
                "values": values,
                "errors": errors,
                "severities": list(forms.SEVERITIES.items()),
                "criticalities": list(forms.CRITICALITIES.items()),
            },
            status=422 if errors else 200,
        )

    async def stop_medication(self, request: Request) -> Response:
        patient_id = request.path_params["patient_id"]
        request_id = request.path_params["medication_id"]
        body = await self._owned("MedicationRequest", request_id, patient_id)
        if request.method == "POST":
            await self.service.patch("MedicationRequest", request_id, writes.stop_medication)
            return RedirectResponse(f"/patients/{patient_id}?done=stopped", status_code=303)
        banner = await self.patients._banner(patient_id)
        return self.ctx.renderer.page(
            request,
            "patients/medication_stop.html",
            {"banner": banner, "medication": chart.medication(body)},
        )
