"""Break-the-glass: a user opens a record outside their care relationships.

The user states a reason; the grant lasts a limited time (``Settings.break_glass_minutes``)
and is stored in the ``break_glass`` table, so it survives restarts and is visible to every
worker process. Each grant is audited as an AuditEvent flagged for review (see
:func:`wardbook.audit.events.break_glass_event`) by the caller that opens it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from wardbook.auth.principal import Principal
from wardbook.errors import BadRequest, Forbidden
from wardbook.storage.base import Repository

MIN_REASON_LENGTH = 10
MAX_REASON_LENGTH = 1000


@dataclass(frozen=True, slots=True)
class BreakGlassGrant:
    """One opened record: who, which patient, why, and until when (epoch µs)."""

    grant_id: str
    subject: str
    patient_id: str
    reason: str
    granted_at: int
    expires_at: int


def _now() -> int:
    return time.time_ns() // 1000


async def open_record(
    repository: Repository,
    principal: Principal,
    patient_id: str,
    reason: str,
    *,
    minutes: int,
    now: int | None = None,
) -> BreakGlassGrant:
    """Grant ``principal`` access to ``patient_id`` for ``minutes``; the reason is required."""
    if principal.kind != "user":
        raise Forbidden("Only a signed-in user can break the glass")
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON_LENGTH:
        raise BadRequest(
            f"State the reason for opening this record (at least {MIN_REASON_LENGTH} characters)"
        )
    if len(reason) > MAX_REASON_LENGTH:
        raise BadRequest(f"The reason may be at most {MAX_REASON_LENGTH} characters")
    granted = _now() if now is None else now
    grant = BreakGlassGrant(
        grant_id=str(uuid.uuid4()),
        subject=principal.subject,
        patient_id=patient_id,
        reason=reason,
        granted_at=granted,
        expires_at=granted + minutes * 60_000_000,
    )
    await repository.execute(
        "INSERT INTO break_glass (grant_id, subject, patient_id, reason, granted_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            grant.grant_id,
            grant.subject,
            grant.patient_id,
            grant.reason,
            grant.granted_at,
            grant.expires_at,
        ),
    )
    return grant


async def active_grants(
    repository: Repository, subject: str, *, now: int | None = None
) -> frozenset[str]:
    """The patient ids ``subject`` holds an unexpired break-the-glass grant for."""
    rows = await repository.query(
        "SELECT DISTINCT patient_id FROM break_glass WHERE subject = ? AND expires_at > ?",
        (subject, _now() if now is None else now),
    )
    return frozenset(str(row[0]) for row in rows)


async def has_active_grant(
    repository: Repository, subject: str, patient_id: str, *, now: int | None = None
) -> bool:
    """True while ``subject`` holds an unexpired grant for ``patient_id``."""
    rows = await repository.query(
        "SELECT 1 FROM break_glass WHERE subject = ? AND patient_id = ? AND expires_at > ? LIMIT 1",
        (subject, patient_id, _now() if now is None else now),
    )
    return bool(rows)
