"""Care relationships: which patients a clinician may open.

Roles whose ``care_relationship_required`` is set (physician, nurse; see
:mod:`wardbook.auth.roles`) see a patient's record only when one of these holds:

- the user's practitioner (``Principal.fhir_user``) is a participant of a CareTeam of the
  patient (R4 careteam.html, search ``CareTeam?patient=&participant=``);
- the practitioner took part in one of the patient's Encounters (R4 encounter.html,
  ``Encounter?patient=&participant=``);
- the patient is currently on a ward the user is assigned to (``Principal.wards``): an
  Encounter in progress at that Location (``Encounter?patient=&location=&status=``);
- the user broke the glass for this patient and the grant has not expired
  (:mod:`wardbook.auth.break_glass`).

The searches go to the repository directly, never through the (authorized, audited)
service, so checking access never recurses into another access check.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import replace
from typing import Protocol

from wardbook.auth import break_glass
from wardbook.auth.principal import Principal
from wardbook.auth.roles import needs_care_relationship
from wardbook.errors import Forbidden
from wardbook.fhir import jsonio
from wardbook.search.parse import parse_search
from wardbook.storage.base import Repository

# Encounter states in which the patient is on the ward (R4 valueset-encounter-status).
ON_WARD_STATUSES = "arrived,triaged,in-progress,onleave"
_POSITIVE_TTL_US = 60_000_000  # a found relationship is trusted for a minute
_CACHE_SIZE = 4096


class HasRepository(Protocol):
    """The service (or anything) holding the repository to search."""

    @property
    def repository(self) -> Repository: ...


class _RelationshipCache:
    """Recently confirmed (subject, patient) pairs; only positives are cached."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[int, str, str], int] = OrderedDict()

    def hit(self, key: tuple[int, str, str], now: int) -> bool:
        expires = self._entries.get(key)
        if expires is None:
            return False
        if expires <= now:
            del self._entries[key]
            return False
        self._entries.move_to_end(key)
        return True

    def add(self, key: tuple[int, str, str], now: int) -> None:
        self._entries[key] = now + _POSITIVE_TTL_US
        self._entries.move_to_end(key)
        while len(self._entries) > _CACHE_SIZE:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


_cache = _RelationshipCache()


def clear_cache() -> None:
    """Forget confirmed relationships (tests; after a CareTeam is ended)."""
    _cache.clear()


async def _any(repository: Repository, resource_type: str, params: list[tuple[str, str]]) -> bool:
    query = parse_search(resource_type, [*params, ("_count", "1"), ("_total", "none")], strict=True)
    page = await repository.search(query)
    return bool(page.entries)


async def has_care_relationship(
    principal: Principal, patient_id: str, repository: Repository
) -> bool:
    """True when a CareTeam, an Encounter or an assigned ward links the user to the patient."""
    patient = f"Patient/{patient_id}"
    practitioner = principal.fhir_user
    if practitioner and practitioner.startswith(("Practitioner/", "PractitionerRole/")):
        if await _any(
            repository, "CareTeam", [("patient", patient), ("participant", practitioner)]
        ):
            return True
        if await _any(
            repository, "Encounter", [("patient", patient), ("participant", practitioner)]
        ):
            return True
    if principal.wards:
        wards = ",".join(f"Location/{ward}" for ward in sorted(principal.wards))
        if await _any(
            repository,
            "Encounter",
            [("patient", patient), ("location", wards), ("status", ON_WARD_STATUSES)],
        ):
            return True
    return False


# A care reach larger than this is refused rather than compiled into one huge IN list.
MAX_PATIENTS_IN_CARE = 5000
_PAGE = 1000


async def _referenced_patients(
    repository: Repository, resource_type: str, params: list[tuple[str, str]], element: str
) -> set[str]:
    """The patient ids in ``element`` (``subject``) of every current match of the search."""
    found: set[str] = set()
    query = parse_search(
        resource_type, [*params, ("_count", str(_PAGE)), ("_total", "none")], strict=True
    )
    while True:
        page = await repository.search(query)
        for stored in page.entries:
            body = jsonio.loads(stored.body) if stored.body is not None else None
            reference = body.get(element) if isinstance(body, dict) else None
            target = reference.get("reference") if isinstance(reference, dict) else None
            if isinstance(target, str) and target.startswith("Patient/"):
                found.add(target.removeprefix("Patient/"))
        if page.next_cursor is None or len(found) > MAX_PATIENTS_IN_CARE:
            return found
        query = replace(query, cursor=page.next_cursor)


async def patients_in_care(principal: Principal, repository: Repository) -> frozenset[str]:
    """Every patient ``principal`` may open now: by CareTeam, Encounter, ward or glass.

    The same relationships as :func:`has_care_relationship` and :func:`may_access_patient`,
    listed instead of tested, so that a search can be constrained to them in SQL (exact
    totals: a count never includes a patient outside the clinician's care).
    """
    found: set[str] = set(principal.break_glass_patients)
    practitioner = principal.fhir_user
    if practitioner and practitioner.startswith(("Practitioner/", "PractitionerRole/")):
        found |= await _referenced_patients(
            repository, "CareTeam", [("participant", practitioner)], "subject"
        )
        found |= await _referenced_patients(
            repository, "Encounter", [("participant", practitioner)], "subject"
        )
    if principal.wards:
        wards = ",".join(f"Location/{ward}" for ward in sorted(principal.wards))
        found |= await _referenced_patients(
            repository,
            "Encounter",
            [("location", wards), ("status", ON_WARD_STATUSES)],
            "subject",
        )
    found |= await break_glass.active_grants(repository, principal.subject)
    if len(found) > MAX_PATIENTS_IN_CARE:
        raise Forbidden(
            f"{principal.subject} has more than {MAX_PATIENTS_IN_CARE} patients in care;"
            " narrow the search to one patient"
        )
    return frozenset(found)


async def may_access_patient(principal: Principal, patient_id: str, service: HasRepository) -> bool:
    """May ``principal`` open the record of ``patient_id``? (care relationship or glass)

    Principals whose roles do not require a care relationship (receptionist, auditor,
    admin, clients, the local developer) always pass this check: what they may see at all
    is decided by their role grants and scopes.
    """
    if not needs_care_relationship(principal):
        return True
    if patient_id in principal.break_glass_patients:
        return True
    repository = service.repository
    now = time.time_ns() // 1000
    key = (id(repository), principal.subject, patient_id)
    if _cache.hit(key, now):
        return True
    if await has_care_relationship(principal, patient_id, repository):
        _cache.add(key, now)
        return True
    # Grants are short-lived and revocable, so they are not cached.
    return await break_glass.has_active_grant(repository, principal.subject, patient_id, now=now)
