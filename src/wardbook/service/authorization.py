"""The one authorization policy: scopes ∩ role ∩ patient context.

Every use case in the service layer calls :func:`authorize` (or, for searches,
:func:`restrict_search` and :func:`visible`), so the FHIR API, the web app and jobs share
one decision and no route can skip it.

- **Scopes** (SMART App Launch 2.0, scopes-and-launch-context.html) apply to principals
  that came with an access token (``client_id`` set): some granted scope must allow the
  action (c/r/u/d/s) on the type, and when it carries a query (``?category=laboratory``)
  the resource must match it.
- **Role**: for user principals, ``wardbook.auth.roles.user_may`` (roles as data).
- **Patient context**: a ``patient/`` scope only reaches the compartment of the token's
  patient (R4 compartmentdefinition-patient). Searches are constrained in SQL to that
  compartment (exact totals and paging); any resource assembled into a page (matches
  and includes) is checked again with :func:`visible` before it leaves the service.

The local developer (``serve --no-auth`` without a token) may do everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from wardbook.auth.care import HasRepository, may_access_patient, patients_in_care
from wardbook.auth.principal import Principal
from wardbook.auth.roles import (
    clinical_types,
    needs_care_relationship,
    resource_group,
    user_may,
)
from wardbook.auth.scopes import ResourceScope, ScopeSet
from wardbook.errors import BadRequest, Forbidden
from wardbook.fhir import jsonio
from wardbook.search.compartment import in_compartment, member_params
from wardbook.search.extract import extract_index
from wardbook.search.index import IndexRows
from wardbook.search.matcher import matches
from wardbook.search.parse import parse_search
from wardbook.search.query import Criterion, Reach, SearchQuery, Term
from wardbook.storage.base import StoredResource

ACTIONS = ("create", "read", "update", "delete", "search")


@lru_cache(maxsize=512)
def scope_set(scopes: tuple[str, ...]) -> ScopeSet:
    """Parsed scopes, cached: a token's scopes are parsed once per process, not per request."""
    return ScopeSet.parse(scopes)


@lru_cache(maxsize=512)
def _scope_query(resource_type: str, query: tuple[tuple[str, str], ...]) -> SearchQuery:
    return parse_search(resource_type, list(query), strict=True)


def _token_bound(principal: Principal) -> bool:
    """Whether scopes govern this principal: it came with an access token (an app, a
    backend client, a job acting for one). A web session has neither client nor scopes."""
    return principal.client_id is not None or bool(principal.scopes)


def _role_allows(principal: Principal, action: str, resource_type: str) -> bool:
    return user_may(principal, action, resource_type)


def _denied(principal: Principal, action: str, resource_type: str, why: str) -> Forbidden:
    who = principal.client_id or principal.subject
    return Forbidden(f"{who} may not {action} {resource_type}: {why}")


def _body(resource: StoredResource | dict[str, Any]) -> dict[str, Any] | None:
    if isinstance(resource, dict):
        return resource
    if resource.body is None:
        return None
    parsed = jsonio.loads(resource.body)
    return parsed if isinstance(parsed, dict) else None


def _scope_admits(
    scope: ResourceScope,
    principal: Principal,
    resource_type: str,
    body: dict[str, Any] | None,
    rows: IndexRows | None,
) -> bool:
    """Whether one matching scope admits this resource (None: a type-level check)."""
    if scope.context == "patient" and principal.patient is None:
        return False  # a patient scope without a patient in context reaches nobody
    if body is None:
        return True
    if scope.context == "patient":
        if principal.patient is None:
            raise RuntimeError("internal error: principal.patient is missing")
        if not in_compartment(body, "Patient", principal.patient, rows=rows):
            return False
    if scope.query:
        try:
            wanted = _scope_query(resource_type, scope.query)
        except BadRequest:
            return False  # a scope query Wardbook cannot evaluate grants nothing
        return matches(body, wanted, rows=rows)
    return True


def authorize(
    principal: Principal,
    action: str,
    resource_type: str,
    resource: StoredResource | dict[str, Any] | None = None,
) -> None:
    """Raise Forbidden (403) unless ``principal`` may ``action`` this resource (or type)."""
    if principal.unrestricted:
        return
    if not _role_allows(principal, action, resource_type):
        raise _denied(principal, action, resource_type, "not permitted for this role")
    if not _token_bound(principal):
        return  # a web session: no token, so no scopes to narrow the role
    candidates = scope_set(principal.scopes).matching(action, resource_type)
    if not candidates:
        raise _denied(principal, action, resource_type, "no granted scope allows it")
    restricted = [s for s in candidates if s.context == "patient" or s.query]
    if len(restricted) < len(candidates):
        return  # an unrestricted user/ or system/ scope allows it
    body = None if resource is None else _body(resource)
    rows = None
    if body is not None:
        rows = extract_index(body)
    if not any(_scope_admits(s, principal, resource_type, body, rows) for s in candidates):
        raise _denied(principal, action, resource_type, "outside the token's patient or scope")


def visible(principal: Principal, resource: StoredResource) -> bool:
    """Whether a resource may appear in a result the principal reads (search, include)."""
    if principal.unrestricted:
        return True
    if resource.body is None and _token_bound(principal):
        return False  # a deletion marker says nothing a restricted reader may learn
    try:
        authorize(principal, "read", resource.resource_type, resource)
    except Forbidden:
        return False
    return True


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """How to run a search for a principal: the constrained query, and whether the
    page must still be filtered resource by resource (rare: mixed granular scopes)."""

    query: SearchQuery
    post_filter: bool


def restrict_search(principal: Principal, query: SearchQuery) -> SearchPlan:
    """Constrain ``query`` to what the principal may search; Forbidden if nothing."""
    if principal.unrestricted:
        return SearchPlan(query, False)
    types = [query.resource_type] if query.resource_type is not None else list(query.types)
    if not types:
        return _restrict_system_search(principal, query)
    compartment: tuple[str, str] | None = None
    patient_limited: set[str] = set()  # types this principal reaches only in its patient
    post_filter = False
    criteria = list(query.criteria)
    for resource_type in types:
        if not _role_allows(principal, "search", resource_type):
            raise _denied(principal, "search", resource_type, "not permitted for this role")
        if not _token_bound(principal):
            continue
        candidates = scope_set(principal.scopes).matching("search", resource_type)
        if not candidates:
            raise _denied(principal, "search", resource_type, "no granted scope allows it")
        if any(s.context != "patient" and not s.query for s in candidates):
            continue
        patient_scopes = [s for s in candidates if s.context == "patient"]
        other = [s for s in candidates if s.context != "patient"]
        if patient_scopes and not other:
            if principal.patient is None:
                raise _denied(principal, "search", resource_type, "no patient in context")
            compartment = ("Patient", principal.patient)
            patient_limited.add(resource_type)
            scoped = patient_scopes
        elif other and not patient_scopes:
            scoped = other
        else:
            post_filter = True
            continue
        if len(types) > 1:
            post_filter = post_filter or any(s.query for s in scoped)
            continue
        extra = _merged_criteria(resource_type, scoped)
        if extra is None:
            post_filter = True
        else:
            criteria += extra
    limits = query.limits
    if compartment is not None and len(types) > 1:
        # System search over several types: the patient's compartment limits exactly the
        # types reached only through patient scopes (in SQL: exact totals); the others stay
        # free, and mixed scopes are still filtered resource by resource.
        limits = (*limits, Reach("Patient", (compartment[1],), frozenset(patient_limited)))
        compartment = None
    return SearchPlan(
        replace(query, criteria=criteria, compartment=compartment, limits=limits), post_filter
    )


def _restrict_system_search(principal: Principal, query: SearchQuery) -> SearchPlan:
    """``GET [base]?...`` without ``_type``: every type the principal may search."""
    if not _token_bound(principal):
        return SearchPlan(query, False)
    scopes = scope_set(principal.scopes)
    searchable = [s for s in scopes.resource if "s" in s.letters]
    if not searchable:
        raise _denied(principal, "search", "resources", "no granted scope allows it")
    if any(s.resource_type == "*" and s.context != "patient" and not s.query for s in searchable):
        return SearchPlan(query, False)
    if all(s.context == "patient" for s in searchable) and principal.patient is not None:
        narrowed = replace(query, compartment=("Patient", principal.patient))
        if all(s.resource_type != "*" for s in searchable):
            # Only the types the scopes name: a count never includes a type one may not see.
            narrowed = replace(narrowed, types=sorted({s.resource_type for s in searchable}))
        return SearchPlan(narrowed, True)
    return SearchPlan(query, True)


def _merged_criteria(resource_type: str, scopes: Sequence[ResourceScope]) -> list[Term] | None:
    """The scope queries as search criteria: [] when a scope has none; None when they
    cannot be expressed as one AND of criteria (then the page is filtered instead)."""
    if any(not s.query for s in scopes):
        return []
    try:
        parsed = [_scope_query(resource_type, s.query) for s in scopes]
    except BadRequest:
        return None
    if len(parsed) == 1:
        return list(parsed[0].criteria)
    keys = {tuple(c.key() for c in p.criteria) for p in parsed}
    if len(keys) != 1 or len(next(iter(keys))) != 1:
        return None
    firsts = [p.criteria[0] for p in parsed]
    plain = [c for c in firsts if isinstance(c, Criterion)]
    if len(plain) != len(firsts):
        return None  # chains and _has cannot be ORed into one term: filter the page
    values = tuple(v for c in plain for v in c.values)
    raw = tuple(r for c in plain for r in c.raw)
    return [replace(plain[0], values=values, raw=raw)]


def patients_of(resource: dict[str, Any]) -> list[str]:
    """The patients whose compartment holds ``resource`` (R4 CompartmentDefinition patient)."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return []
    found: list[str] = []
    if resource_type == "Patient" and isinstance(resource.get("id"), str):
        found.append(resource["id"])
    params = member_params("Patient", resource_type)
    if params:
        for row in extract_index(resource).reference:
            if row.param in params and row.target_type == "Patient" and row.target_id:
                found.append(row.target_id)
    return list(dict.fromkeys(found))


async def require_care(
    principal: Principal, resource: StoredResource | dict[str, Any], service: HasRepository
) -> None:
    """Forbidden unless a care relationship (or break-the-glass) opens the resource's patient.

    Only for principals whose role needs one (``wardbook.auth.roles``; physicians and
    nurses), and only for clinical resources (the role table's "clinical" group): the
    patient's demographics stay searchable so that a clinician can find a patient and
    break the glass. Resources in no patient's compartment pass.
    """
    if not needs_care_relationship(principal):
        return
    body = _body(resource)
    if body is None or resource_group(str(body.get("resourceType"))) != "clinical":
        return  # demographics stay findable: a clinician must find a patient to break the glass
    patients = patients_of(body)
    if not patients:
        return
    for patient in patients:
        if await may_access_patient(principal, patient, service):
            return
    raise Forbidden(
        f"Patient/{patients[0]} is not in {principal.subject}'s care: open the record with"
        " break-the-glass (a stated reason, for a limited time) to see it"
    )


async def care_limits(
    principal: Principal, query: SearchQuery, service: HasRepository
) -> SearchQuery:
    """``query`` limited, in SQL, to the patients in the principal's care (clinical types).

    For roles that need a care relationship (wardbook.auth.roles): clinical resources --
    matches, and what chains and ``_has`` look at -- only in the compartments of the
    patients in care or opened by break-the-glass, so totals, ``_summary=count`` and
    ``_has`` never reveal another patient's record. Demographics stay searchable.
    """
    if not needs_care_relationship(principal):
        return query
    owners = await patients_in_care(principal, service.repository)
    limit = Reach("Patient", tuple(sorted(owners)), clinical_types())
    return replace(query, limits=(*query.limits, limit))


async def in_care(
    principal: Principal, entries: list[StoredResource], service: HasRepository
) -> list[StoredResource]:
    """The entries whose patient is in the principal's care (all, for unrestricted roles)."""
    if not needs_care_relationship(principal):
        return entries
    kept = []
    for entry in entries:
        try:
            await require_care(principal, entry, service)
        except Forbidden:
            continue
        kept.append(entry)
    return kept


def filter_entries(principal: Principal, entries: list[StoredResource]) -> list[StoredResource]:
    """The entries the principal may see (every resource of an assembled page)."""
    if principal.unrestricted:
        return entries
    return [e for e in entries if visible(principal, e)]
