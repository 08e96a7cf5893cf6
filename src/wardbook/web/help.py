"""Help centre (searchable), feedback (stored, listed for admins, exported as CSV), the
user manual's "not built" page and the patient access audit view."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from wardbook.auth.principal import Principal, current_principal
from wardbook.errors import Forbidden
from wardbook.web import chart, forms, records, writes
from wardbook.web.access import role_banner
from wardbook.web.context import WebContext
from wardbook.web.formatting import date_time
from wardbook.web.manual import MANUAL_PAGES, manual_url
from wardbook.web.patients import now, plain_form, read_form

FAQ: list[tuple[str, str]] = [
    (
        "How do I find a patient?",
        "Type part of their name, their date of birth (day/month/year) or their MRN or NHS "
        "number into Find a patient. Results appear as you type; select the patient's name.",
    ),
    (
        "How is the NEWS2 score worked out?",
        "Wardbook adds up the Royal College of Physicians' NEWS2 (2017) scores for respiratory "
        "rate, oxygen saturation (scale 1), air or oxygen, systolic blood pressure, heart rate, "
        "level of consciousness and temperature. 0 to 4 is low risk, 3 in any single "
        "parameter is low\N{EN DASH}medium, 5 or 6 medium and 7 or more high risk.",
    ),
    (
        "I made a mistake in a note. Can I change it?",
        "Not yet in Wardbook. Write a new note that corrects it; both stay in the record.",
    ),
    (
        "Why do I have to sign in again?",
        "Sessions end after a period without activity to protect patients' records on shared "
        "computers. You are warned before that happens.",
    ),
    (
        "Who can see what I look at?",
        "Every record you open is logged. Auditors review access, and opening a record "
        "outside your care relationships needs a reason (break the glass).",
    ),
    (
        "What do I do when Wardbook says to escalate?",
        "A NEWS2 score of 5 or more, or 3 in any single parameter (a red score), shows a "
        "warning at the top of the summary and vital signs pages with the response the Royal "
        "College of Physicians recommends: an urgent ward-based response, an urgent response "
        "or an emergency response. Follow your hospital's escalation policy and call the "
        "team it names.",
    ),
    (
        "How do I book a follow-up appointment?",
        "Open the patient, select Appointments, then Book an appointment. Say what it is "
        "for, enter the date (day/month/year) and the time (24-hour clock), choose the "
        "length and select Book appointment. Receptionists, nurses and doctors can book.",
    ),
    (
        "How do I record vital signs?",
        "On the patient's summary select Record vital signs, fill in every observation and "
        "select Save. Wardbook works out the NEWS2 score. If a value is missing or out of "
        "range, the list at the top of the page links to each field to correct.",
    ),
    (
        "Where is the user manual?",
        "Every page has a Help link to the part of the user manual that explains it. The "
        "manual also has a short training video.",
    ),
    (
        "I cannot open a patient's record. Why?",
        "Doctors and nurses see the patients on their wards and those they care for. In an "
        "emergency you can break the glass: give a reason and the record opens for a limited "
        "time. Receptionists see appointments and auditors the access log, not the chart.",
    ),
]

MAX_QUERY = 200
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class HelpEntry:
    """One question and answer of the help centre."""

    question: str
    answer: str


def search_help(query: str, entries: list[tuple[str, str]] = FAQ) -> list[HelpEntry]:
    """The entries whose question or answer holds every word of ``query`` (any case).

    A word matches the start of a word in the entry, so "escal" finds "escalate" and
    "appointment" finds "appointments". An empty query matches everything.
    """
    words = _WORD.findall(query.lower())[:20]
    found = []
    for question, answer in entries:
        text_words = _WORD.findall(f"{question} {answer}".lower())
        if all(any(t.startswith(w) for t in text_words) for w in words):
            found.append(HelpEntry(question, answer))
    return found


def is_admin(principal: Principal) -> bool:
    return principal.unrestricted or "admin" in principal.roles


def is_auditor(principal: Principal) -> bool:
    return principal.unrestricted or bool({"admin", "auditor"} & principal.roles)


class HelpPages:
    """Help centre, feedback, the admin feedback list and the patient access audit."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.service = ctx.service

    async def centre(self, request: Request) -> Response:
        """GET /help?q=: every entry, or those matching the search (works without script)."""
        query = request.query_params.get("q", "").strip()[:MAX_QUERY]
        entries = search_help(query)
        guides = [
            {"href": manual_url(name), "title": title} for name, title in MANUAL_PAGES.items()
        ]
        return self.ctx.renderer.page(
            request,
            "help/index.html",
            {"faq": entries, "query": query, "total": len(FAQ), "guides": guides},
        )

    def manual_missing(self, request: Request, built: bool) -> Response:
        """/manual/ when the site is not built (how to build it) or has no such page."""
        return self.ctx.renderer.page(
            request, "help/manual_missing.html", {"built": built}, status=404
        )

    async def accessibility(self, request: Request) -> Response:
        return self.ctx.renderer.page(request, "help/accessibility.html")

    async def feedback(self, request: Request) -> Response:
        values = {"page": request.query_params.get("page", "")[:300]}
        errors = forms.FormErrors()
        if request.method == "POST":
            values = plain_form(await read_form(request))
            entry, errors = forms.validate_feedback(values)
            if entry is not None:
                message = writes.feedback_communication(entry, now(), current_principal())
                await self.service.create("Communication", message)
                return RedirectResponse("/help/feedback/sent", status_code=303)
        return self.ctx.renderer.page(
            request,
            "help/feedback.html",
            {"values": values, "errors": errors, "kinds": list(forms.FEEDBACK_KINDS.items())},
            status=422 if errors else 200,
        )

    async def feedback_sent(self, request: Request) -> Response:
        return self.ctx.renderer.page(request, "help/feedback_sent.html")

    async def _feedback_rows(self) -> list[dict[str, str]]:
        found = await records.search(
            self.service,
            "Communication",
            [("category", f"{writes.FEEDBACK_CATEGORY}|")],
            limit=5000,
        )
        rows = [feedback_row(c, self.ctx.renderer.zone) for c in found]
        rows.sort(key=lambda r: r["sent"], reverse=True)
        return rows

    async def feedback_list(self, request: Request) -> Response:
        if not is_admin(current_principal()):
            raise Forbidden("Only administrators can read feedback")
        rows = await self._feedback_rows()
        return self.ctx.renderer.page(request, "admin/feedback.html", {"rows": rows})

    async def feedback_csv(self, request: Request) -> Response:
        if not is_admin(current_principal()):
            raise Forbidden("Only administrators can export feedback")
        rows = await self._feedback_rows()
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=["sent", "kind", "page", "from", "feedback"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: csv_safe(v) for k, v in row.items() if k in writer.fieldnames})
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": 'attachment; filename="wardbook-feedback.csv"',
                "Cache-Control": "no-store",
            },
        )

    async def audit(self, request: Request) -> Response:
        """Who looked at this patient: the AuditEvents that name the patient."""
        if not is_auditor(current_principal()):
            raise Forbidden("Only auditors can see who looked at a record")
        patient_id = request.path_params["patient_id"]
        # Auditors read no clinical data: the banner shows allergies only to those who may.
        banner = await role_banner(self.service, patient_id, self.ctx.renderer.zone)
        events = await records.search(
            self.service, "AuditEvent", [("entity", f"Patient/{patient_id}")], limit=1000
        )
        rows = [audit_row(e, self.ctx.renderer.zone) for e in events]
        rows.sort(key=lambda r: r["recorded"], reverse=True)
        return self.ctx.renderer.page(
            request,
            "patients/audit.html",
            {
                "banner": banner,
                "rows": rows,
                "glass": [r for r in rows if r["break_glass"]],
            },
        )


def feedback_row(message: dict[str, Any], zone: tzinfo = UTC) -> dict[str, str]:
    kind = ""
    for category in message.get("category", []) or []:
        for _system, code in chart.codes(category):
            kind = forms.FEEDBACK_KINDS.get(code or "", code or "")
    payload = message.get("payload") or [{}]
    sender = message.get("sender") or {}
    return {
        "id": str(message.get("id", "")),
        "sent": str(message.get("sent", "")),
        "sent_text": date_time(message.get("sent"), zone),
        "kind": kind,
        "page": str((message.get("topic") or {}).get("text", "")),
        "from": str(sender.get("display") or sender.get("reference") or ""),
        "feedback": str(payload[0].get("contentString", "")),
    }


def csv_safe(value: str) -> str:
    """Neutralise spreadsheet formulas in exported text (OWASP CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def coding_text(coding: Any) -> str:
    """AuditEvent.type and .subtype are Codings, not CodeableConcepts."""
    if not isinstance(coding, dict):
        return ""
    return str(coding.get("display") or coding.get("code") or "")


def audit_row(event: dict[str, Any], zone: tzinfo = UTC) -> dict[str, str]:
    agents = event.get("agent", []) or []
    who = ", ".join(
        str(
            (a.get("who") or {}).get("display")
            or (a.get("who") or {}).get("reference")
            or (a.get("who") or {}).get("identifier", {}).get("value", "")
        )
        for a in agents
    )
    purposes = [p for a in agents for p in a.get("purposeOfUse", []) or []]
    purposes += event.get("purposeOfEvent", []) or []
    purpose = "; ".join(dict.fromkeys(chart.concept_text(p) for p in purposes if p))
    break_glass = any(code == "BTG" for p in purposes for _system, code in chart.codes(p))
    return {
        "recorded": str(event.get("recorded", "")),
        "recorded_text": date_time(event.get("recorded"), zone),
        "who": who or "Unknown",
        "action": {"C": "Create", "R": "Read", "U": "Update", "D": "Delete", "E": "Execute"}.get(
            str(event.get("action", "")), str(event.get("action", ""))
        ),
        "what": coding_text(event.get("type"))
        + (f" ({coding_text(event['subtype'][0])})" if event.get("subtype") else ""),
        "outcome": "Success" if event.get("outcome") in (None, "0") else "Failed",
        "purpose": purpose,
        "break_glass": "yes" if break_glass else "",
    }
