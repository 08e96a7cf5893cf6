"""AuditEvent and Provenance resources from audit records (pure; no I/O).

Shapes follow the IHE Basic Audit Log Patterns (BALP) 1.1 for R4
(https://profiles.ihe.net/ITI/BALP/): RESTful create/read/update/delete/query, user
authentication (login, logout, failure), and security alerts for break-the-glass and
password changes. Each event names who (``agent``: the user or client, with the network
address), what (``entity``: the patient and the resource or query), when (``recorded``) and
the outcome (R4 auditevent.html; outcome 0 success, 4 minor failure such as a refused request, 8
serious failure). Break-the-glass events carry the tag ``review`` so auditors can list
them with ``AuditEvent?_tag=urn:wardbook:audit|review``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

import orjson

from wardbook.audit.records import AuditRecord
from wardbook.fhir.meta import format_instant
from wardbook.fhir.registry import compartment_params

DCM = "http://dicom.nema.org/resources/ontology/DCM"
EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
INTERACTION = "http://hl7.org/fhir/restful-interaction"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
AGENT_TYPE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
WARDBOOK_TAGS = "urn:wardbook:audit"
WARDBOOK_EVENT_TYPE = "urn:wardbook:audit-event-type"
OBSERVER = "Wardbook"

_ACTIONS = {
    "read": "R",
    "vread": "R",
    "history-instance": "R",
    "history-type": "R",
    "history-system": "R",
    "search-type": "E",
    "search-system": "E",
    "search-compartment": "E",
    "capabilities": "R",
    "create": "C",
    "update": "U",
    "patch": "U",
    "delete": "D",
    "operation": "E",
    "transaction": "E",
    "batch": "E",
}
_WRITE_ACTIVITY = {"create": "CREATE", "update": "UPDATE", "patch": "UPDATE", "delete": "DELETE"}


def outcome_code(status: int) -> str:
    """R4 audit-event-outcome: 0 success, 4 minor failure (4xx), 8 serious failure (5xx)."""
    if status < 400:
        return "0"
    return "4" if status < 500 else "8"


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _agents(record: AuditRecord) -> list[dict[str, Any]]:
    principal = record.principal
    network = {"network": {"address": record.source_ip, "type": "2"}} if record.source_ip else {}
    if principal.kind == "local" and record.user_name is None:
        return [
            {
                "type": {"coding": [_coding(AGENT_TYPE, "humanuser", "human user")]},
                "who": {"display": "local developer (authentication disabled)"},
                "requestor": True,
                **network,
            }
        ]
    agents: list[dict[str, Any]] = []
    name = record.user_name or principal.subject
    if principal.kind in ("user", "local") or record.user_name is not None:
        who: dict[str, Any] = {"identifier": {"system": "urn:wardbook:user", "value": name}}
        if principal.fhir_user:
            who["reference"] = principal.fhir_user
        user_agent: dict[str, Any] = {
            "type": {"coding": [_coding(AGENT_TYPE, "humanuser", "human user")]},
            "who": who,
            "altId": name,
            "requestor": True,
            **network,
        }
        if principal.roles:
            user_agent["role"] = [
                {"coding": [_coding("urn:wardbook:role", role)]} for role in sorted(principal.roles)
            ]
        agents.append(user_agent)
    if principal.client_id or principal.kind in ("client", "system"):
        client = principal.client_id or principal.subject
        agents.append(
            {
                "type": {"coding": [_coding(AGENT_TYPE, "dataprocessor", "data processor")]},
                "who": {"identifier": {"system": "urn:wardbook:client", "value": client}},
                "altId": client,
                "requestor": not agents,
                **({} if agents else network),
            }
        )
    return agents


def _patient_entities(patients: Iterable[str]) -> list[dict[str, Any]]:
    return [
        {
            "what": {"reference": f"Patient/{pid}"},
            "type": _coding(ENTITY_TYPE, "1", "Person"),
            "role": _coding(OBJECT_ROLE, "1", "Patient"),
        }
        for pid in sorted(patients)
    ]


def _type_and_subtype(record: AuditRecord) -> tuple[dict[str, str], list[dict[str, str]], str]:
    kind = record.kind
    if kind in ("login", "login-failed", "mfa-failed"):
        return _coding(DCM, "110114", "User Authentication"), [_coding(DCM, "110122", "Login")], "E"
    if kind == "logout":
        return (
            _coding(DCM, "110114", "User Authentication"),
            [_coding(DCM, "110123", "Logout")],
            "E",
        )
    if kind == "break-glass":
        return _coding(DCM, "110113", "Security Alert"), [_coding(ACT_REASON, "BTG")], "E"
    if kind == "password-change":
        # DICOM PS3.16 CID 403: a user's own security attributes (the password) changed.
        return (
            _coding(DCM, "110113", "Security Alert"),
            [_coding(DCM, "110137", "User Security Attributes Changed")],
            "U",
        )
    if kind == "web":
        action = "R" if record.method in ("GET", "HEAD") else "E"
        return _coding(WARDBOOK_EVENT_TYPE, "web-page", "Web page view"), [], action
    interaction = record.interaction or "operation"
    subtype = [_coding(INTERACTION, interaction)] if interaction in _ACTIONS else []
    return _coding(EVENT_TYPE, "rest", "RESTful Operation"), subtype, _ACTIONS.get(interaction, "E")


def audit_event(record: AuditRecord, event_id: str) -> dict[str, Any]:
    """The AuditEvent resource for ``record`` (without meta; the writer stamps it)."""
    event_type, subtype, action = _type_and_subtype(record)
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": event_id,
        "type": event_type,
    }
    if subtype:
        event["subtype"] = subtype
    event["action"] = action
    event["recorded"] = format_instant(record.recorded)
    event["outcome"] = outcome_code(record.status)
    if record.kind in ("login-failed", "mfa-failed", "denied"):
        event["outcome"] = "4"
    description = record.reason if record.kind != "break-glass" else None
    if description is None and record.status >= 400:
        description = f"HTTP {record.status}"
    if description:
        event["outcomeDesc"] = description
    if record.kind == "break-glass":
        event["purposeOfEvent"] = [
            {"coding": [_coding(ACT_REASON, "BTG", "break the glass")], "text": record.reason}
        ]
    event["agent"] = _agents(record) or [{"who": {"display": "anonymous"}, "requestor": True}]
    event["source"] = {
        "observer": {"display": OBSERVER},
        "type": [_coding(SOURCE_TYPE, "4", "Application Server")],
    }
    entities = _patient_entities(record.patients)
    if record.resource_type and record.resource_id and record.resource_type != "Patient":
        reference = f"{record.resource_type}/{record.resource_id}"
        if record.version:
            reference += f"/_history/{record.version}"
        entities.append(
            {
                "what": {"reference": reference},
                "type": _coding(ENTITY_TYPE, "2", "System Object"),
                "role": _coding(OBJECT_ROLE, "4", "Domain Resource"),
            }
        )
    if record.kind == "rest" and action == "E" and record.method in ("GET", "POST"):
        query = f"{record.path}?{record.query}" if record.query else record.path
        entities.append(
            {
                "type": _coding(ENTITY_TYPE, "2", "System Object"),
                "role": _coding(OBJECT_ROLE, "24", "Query"),
                "query": base64.b64encode(query.encode()).decode(),
            }
        )
    elif record.kind in ("web", "rest") and record.path:
        entities.append(
            {
                "type": _coding(ENTITY_TYPE, "2", "System Object"),
                "name": f"{record.method} {record.path}",
            }
        )
    if entities:
        event["entity"] = entities
    if record.kind == "break-glass":
        event["meta"] = {"tag": [_coding(WARDBOOK_TAGS, "review", "flagged for review")]}
    return event


def provenance(record: AuditRecord, provenance_id: str) -> dict[str, Any] | None:
    """R4 provenance.html for a successful write: target version, who, when, activity."""
    activity = _WRITE_ACTIVITY.get(record.interaction or "")
    if activity is None or record.status >= 300 or not record.resource_type:
        return None
    if not record.resource_id or (not record.version and activity != "DELETE"):
        return None
    target = f"{record.resource_type}/{record.resource_id}"
    if record.version:
        target += f"/_history/{record.version}"
    principal = record.principal
    who: dict[str, Any]
    if principal.fhir_user:
        who = {"reference": principal.fhir_user}
    elif principal.kind == "local":
        who = {"display": "local developer (authentication disabled)"}
    else:
        who = {
            "identifier": {
                "system": "urn:wardbook:client"
                if principal.kind != "user"
                else "urn:wardbook:user",
                "value": principal.client_id or principal.subject,
            },
            "display": principal.subject,
        }
    return {
        "resourceType": "Provenance",
        "id": provenance_id,
        "target": [
            {"reference": f"{record.resource_type}/{record.resource_id}/_history/{record.version}"}
        ],
        "recorded": format_instant(record.recorded),
        "activity": {"coding": [_coding(DATA_OPERATION, activity)]},
        "agent": [{"who": who}],
    }


def patients_in(resource_type: str, body: bytes) -> set[str]:
    """The patients a stored resource belongs to (Patient compartment, R4 compartments)."""
    if resource_type == "Patient":
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return set()
        pid = data.get("id") if isinstance(data, dict) else None
        return {pid} if isinstance(pid, str) else set()
    params = compartment_params("Patient", resource_type)
    if not params:
        return set()
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return set()
    if not isinstance(data, dict):
        return set()
    found: set[str] = set()
    for param in params:
        value = data.get(param.replace("-", ""))
        if value is None and param == "subject":
            value = data.get("subject")
        for item in value if isinstance(value, list) else [value]:
            ref = _reference_of(item)
            if ref and ref.startswith("Patient/"):
                found.add(ref[len("Patient/") :].split("/", 1)[0])
    return found


def _reference_of(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    ref = item.get("reference")
    if isinstance(ref, str):
        return ref
    for key in ("individual", "member", "actor", "who", "party"):
        inner = item.get(key)
        if isinstance(inner, dict) and isinstance(inner.get("reference"), str):
            return str(inner["reference"])
    return None
