"""What one audited occurrence is, captured cheaply on the request path.

An :class:`AuditRecord` holds plain values (no FHIR JSON is built on the request path);
the buffered writer turns records into AuditEvent resources off the hot path. Code deeper
in the request (the service, the web pages) adds what only it knows -- which patient a
page was about -- with :func:`note_patient` on the request's :class:`AuditSlot`.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Literal

from wardbook.auth.principal import Principal

AuditKind = Literal[
    "rest",
    "web",
    "login",
    "login-failed",
    "logout",
    "break-glass",
    "denied",
    "mfa-failed",
    "password-change",
]


@dataclass(slots=True)
class AuditRecord:
    """One audited event: who, what, when, from where, outcome."""

    kind: AuditKind
    recorded: int  # epoch microseconds
    principal: Principal
    source_ip: str | None
    method: str = ""
    path: str = ""
    query: str = ""
    status: int = 200
    interaction: str | None = None  # FHIR restful-interaction code, e.g. "read"
    resource_type: str | None = None
    resource_id: str | None = None
    version: str | None = None
    patients: set[str] = field(default_factory=set)
    body: bytes | None = None  # the response resource, to find its patient at flush time
    reason: str | None = None  # break-the-glass reason, failure description
    user_name: str | None = None  # a sign-in attempt's user name (no principal yet)
    request_id: str | None = None
    # The AuditEvent's id when chosen before the writer builds it (the audit process: a
    # record sent again after the process died is recognised as already committed).
    event_id: str | None = None


@dataclass(slots=True)
class AuditSlot:
    """Per-request notes from inner code to the audit middleware."""

    patients: set[str] = field(default_factory=set)
    skip: bool = False  # the inner code audited this request itself (e.g. sign-in)


_slot: ContextVar[AuditSlot | None] = ContextVar("wardbook_audit_slot", default=None)


def current_slot() -> AuditSlot | None:
    return _slot.get()


def bind_slot(slot: AuditSlot) -> Token[AuditSlot | None]:
    return _slot.set(slot)


def reset_slot(token: Token[AuditSlot | None]) -> None:
    _slot.reset(token)


def note_patient(patient_id: str) -> None:
    """Record that the current request concerned ``patient_id`` (web pages, operations)."""
    slot = _slot.get()
    if slot is not None:
        slot.patients.add(patient_id)


def skip_request_audit() -> None:
    """The current request wrote its own, more specific AuditEvent (sign-in, sign-out)."""
    slot = _slot.get()
    if slot is not None:
        slot.skip = True
