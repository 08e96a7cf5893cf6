"""Break the glass: open a record outside your care relationships, with a reason.

The grant is the auth module's (:mod:`wardbook.auth.break_glass`): stored, time-limited, checked by
:func:`wardbook.auth.care.may_access_patient`. The web app asks for the reason, opens the
record and writes the AuditEvent that auditors review (a security alert with purpose of
event BTG, see :mod:`wardbook.audit.events`).
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from wardbook.audit.middleware import client_ip
from wardbook.audit.records import AuditRecord, skip_request_audit
from wardbook.auth import break_glass
from wardbook.auth.principal import current_principal
from wardbook.errors import BadRequest
from wardbook.web.context import WebContext, break_glass_page
from wardbook.web.forms import FormErrors, text_of
from wardbook.web.patients import plain_form, read_form


class BreakGlassPages:
    """POST /patients/{id}/break-glass."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    async def open(self, request: Request) -> Response:
        patient_id = request.path_params["patient_id"]
        values = plain_form(await read_form(request))
        reason = text_of(values, "reason")
        principal = current_principal()
        errors = FormErrors()
        if len(" ".join(reason.split())) < break_glass.MIN_REASON_LENGTH:
            errors.add(
                "reason",
                "Enter the reason you need this record "
                f"(at least {break_glass.MIN_REASON_LENGTH} characters)",
            )
        elif len(reason) > break_glass.MAX_REASON_LENGTH:
            errors.add(
                "reason", f"Reason must be {break_glass.MAX_REASON_LENGTH} characters or fewer"
            )
        if errors:
            return break_glass_page(self.ctx, request, patient_id, values=values, errors=errors)
        await self.ctx.service.read("Patient", patient_id)  # 404 for a patient who is not there
        try:
            await break_glass.open_record(
                self.ctx.service.repository,
                principal,
                patient_id,
                reason,
                minutes=self.ctx.break_glass_minutes,
            )
        except BadRequest as error:
            errors.add("reason", error.message)
            return break_glass_page(self.ctx, request, patient_id, values=values, errors=errors)
        writer = getattr(request.app.state, "audit_writer", None)
        if writer is not None:
            await writer.write_now(
                AuditRecord(
                    kind="break-glass",
                    recorded=time.time_ns() // 1000,
                    principal=principal,
                    source_ip=client_ip(request.scope),
                    method=request.method,
                    path=request.url.path,
                    status=303,
                    patients={patient_id},
                    reason=" ".join(reason.split()),
                )
            )
            skip_request_audit()
        target = text_of(values, "next")
        if not target.startswith(f"/patients/{patient_id}"):
            target = f"/patients/{patient_id}"
        return RedirectResponse(target, status_code=303)
