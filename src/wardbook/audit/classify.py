"""Which FHIR interaction a request is, and which patient it names, from method and URL.

Pure and cheap: the audit middleware calls it for every request after the response.
R4 http.html names the interactions; R4 compartmentdefinition-patient.html says which
search parameters point at the patient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from wardbook.fhir.registry import is_resource_type

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_PATIENT_PARAMS = ("patient", "subject", "beneficiary", "patient:Patient", "subject:Patient")
_WEB_PATIENT = re.compile(r"^/patients?/([A-Za-z0-9\-.]{1,64})(?:/|$)")


@dataclass(slots=True)
class FhirRequest:
    """The interaction code, the resource addressed and the patients named in the URL."""

    interaction: str
    resource_type: str | None = None
    resource_id: str | None = None
    version: str | None = None
    patients: set[str] = field(default_factory=set)


def _patient_value(value: str) -> str | None:
    value = value.strip()
    if value.startswith("Patient/"):
        value = value[len("Patient/") :]
    elif "/" in value:
        return None
    return value if _ID.match(value) else None


def classify_fhir(method: str, path: str, query: str) -> FhirRequest:
    """Classify a request below ``/fhir`` (``path`` without the ``/fhir`` prefix)."""
    parts = [unquote(p) for p in path.strip("/").split("/") if p]
    if not parts:
        code = "search-system" if method == "GET" else "transaction"
        return FhirRequest(code)
    head = parts[0]
    if head == "metadata":
        return FhirRequest("capabilities")
    if head == "_history":
        return FhirRequest("history-system")
    if head.startswith("$") or not is_resource_type(head):
        return FhirRequest("operation")
    request = FhirRequest("operation", resource_type=head)
    if len(parts) == 1:
        request.interaction = {
            "GET": "search-type",
            "POST": "create",
            "PUT": "update",
            "DELETE": "delete",
            "PATCH": "patch",
        }.get(method, "operation")
    elif parts[1] == "_search":
        request.interaction = "search-type"
    elif parts[1] == "_history":
        request.interaction = "history-type"
    elif parts[1].startswith("$"):
        request.interaction = "operation"
    else:
        request.resource_id = parts[1]
        rest = parts[2:]
        if not rest:
            request.interaction = {
                "GET": "read",
                "HEAD": "read",
                "PUT": "update",
                "DELETE": "delete",
                "PATCH": "patch",
            }.get(method, "operation")
        elif rest[0] == "_history":
            request.interaction = "vread" if len(rest) > 1 else "history-instance"
            if len(rest) > 1:
                request.version = rest[1]
        elif rest[0].startswith("$"):
            request.interaction = "operation"
        else:
            request.interaction = "search-compartment"
        if head == "Patient" and _ID.match(parts[1]):
            request.patients.add(parts[1])
    if query and request.interaction in (
        "search-type",
        "search-compartment",
        "delete",
        "operation",
    ):
        for name, value in parse_qsl(query, keep_blank_values=False):
            if name in _PATIENT_PARAMS or (head == "Patient" and name == "_id"):
                for item in value.split(","):
                    pid = _patient_value(item)
                    if pid:
                        request.patients.add(pid)
    return request


def web_patient(path: str) -> str | None:
    """The patient of a web page like ``/patients/123`` (pages also call note_patient)."""
    match = _WEB_PATIENT.match(path)
    return match.group(1) if match else None
