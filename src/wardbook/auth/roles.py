"""Roles and their permissions, as data: which role may do what to which kind of resource.

Permissions are a table (:data:`ROLE_GRANTS`), not ``if`` statements in routes: each role
holds grants of actions on *resource groups*, and every resource type belongs to exactly one
group (:func:`resource_group`). The service layer's ``authorize`` (wardbook.auth, SMART
part) asks :func:`user_may` for user principals, so the API and the web app enforce the
same table. Care relationships (which *patients* a clinician may open) are a second,
separate check: :mod:`wardbook.auth.care`.

Actions follow the FHIR interactions (R4 http.html): ``read`` (also vread, history),
``search``, ``create``, ``update`` (also patch), ``delete``, ``export`` ($export,
$everything of many patients). Unknown actions are refused.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from wardbook.auth.principal import Principal
from wardbook.fhir.registry import compartment_resource_types, resource_types

ACTIONS = frozenset({"read", "search", "create", "update", "delete", "export"})

# Interaction names that mean one of ACTIONS for permission purposes.
ACTION_ALIASES: Mapping[str, str] = {
    "vread": "read",
    "history": "read",
    "history-instance": "read",
    "history-type": "read",
    "patch": "update",
    "search-type": "search",
    "search-system": "search",
}

ROLES = ("physician", "nurse", "receptionist", "auditor", "admin")

# Resource groups. Types not listed fall into "clinical" when they are in the Patient
# compartment (R4 compartmentdefinition-patient.html) and "reference" otherwise.
DEMOGRAPHICS = frozenset({"Patient", "RelatedPerson", "Person"})
SCHEDULING = frozenset(
    {"Appointment", "AppointmentResponse", "Schedule", "Slot", "Encounter", "EpisodeOfCare"}
)
FINANCIAL = frozenset(
    {
        "Account",
        "Coverage",
        "CoverageEligibilityRequest",
        "CoverageEligibilityResponse",
        "Claim",
        "ClaimResponse",
        "ExplanationOfBenefit",
        "Invoice",
        "ChargeItem",
        "PaymentNotice",
        "PaymentReconciliation",
        "EnrollmentRequest",
        "EnrollmentResponse",
    }
)
ADMINISTRATIVE = frozenset(
    {
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "OrganizationAffiliation",
        "Location",
        "HealthcareService",
        "Endpoint",
        "CareTeam",
        "Group",
        "Device",
    }
)
AUDIT = frozenset({"AuditEvent"})
PROVENANCE = frozenset({"Provenance"})

GROUPS = (
    "demographics",
    "scheduling",
    "financial",
    "administrative",
    "audit",
    "provenance",
    "clinical",
    "reference",
)

_READ = frozenset({"read", "search"})
_WRITE = frozenset({"read", "search", "create", "update"})
_ALL = frozenset({"read", "search", "create", "update", "delete"})


@dataclass(frozen=True, slots=True)
class Role:
    """A role: its grants per resource group, and whether patient access needs a care link."""

    name: str
    grants: Mapping[str, frozenset[str]]
    care_relationship_required: bool = False
    description: str = ""


ROLE_GRANTS: Mapping[str, Role] = {
    "physician": Role(
        "physician",
        {
            "clinical": _WRITE | {"export"},
            "demographics": _WRITE,
            "scheduling": _WRITE,
            "provenance": _READ,
            "administrative": _READ,
            "reference": _READ,
        },
        care_relationship_required=True,
        description="Reads and records clinical data of the patients in their care",
    ),
    "nurse": Role(
        "nurse",
        {
            "clinical": _WRITE,
            "demographics": _READ | {"update"},
            "scheduling": _WRITE,
            "provenance": _READ,
            "administrative": _READ,
            "reference": _READ,
        },
        care_relationship_required=True,
        description="Reads and records observations and notes for the patients in their care",
    ),
    "receptionist": Role(
        "receptionist",
        {
            "demographics": _WRITE,
            "scheduling": _WRITE,
            "financial": _WRITE,
            "administrative": _READ,
            "reference": _READ,
        },
        description="Registers patients and books appointments; no clinical data",
    ),
    "auditor": Role(
        "auditor",
        {
            "audit": _READ,
            "provenance": _READ,
            "demographics": _READ,
            "administrative": _READ,
            "reference": _READ,
        },
        description="Reviews the audit trail; no clinical data",
    ),
    "admin": Role(
        "admin",
        {
            "administrative": _ALL,
            "reference": _ALL | {"export"},
            "audit": _READ,
        },
        description="Manages users, staff, wards and reference data; no clinical data",
    ),
}


@functools.cache
def _clinical_types() -> frozenset[str]:
    return compartment_resource_types("Patient")


@functools.cache
def clinical_types() -> frozenset[str]:
    """The resource types of the "clinical" group: what a care relationship guards."""
    return frozenset(t for t in _clinical_types() if resource_group(t) == "clinical")


def resource_group(resource_type: str) -> str:
    """The permission group a resource type belongs to (one of :data:`GROUPS`)."""
    for name, members in (
        ("demographics", DEMOGRAPHICS),
        ("scheduling", SCHEDULING),
        ("financial", FINANCIAL),
        ("administrative", ADMINISTRATIVE),
        ("audit", AUDIT),
        ("provenance", PROVENANCE),
    ):
        if resource_type in members:
            return name
    return "clinical" if resource_type in _clinical_types() else "reference"


def normalize_action(action: str) -> str:
    """``vread`` -> ``read``, ``patch`` -> ``update``; other names unchanged."""
    return ACTION_ALIASES.get(action, action)


def role_may(role: str, action: str, resource_type: str) -> bool:
    """True when ``role`` grants ``action`` on ``resource_type``."""
    spec = ROLE_GRANTS.get(role)
    if spec is None:
        return False
    granted = spec.grants.get(resource_group(resource_type), frozenset())
    return normalize_action(action) in granted


def user_may(principal: Principal, action: str, resource_type: str) -> bool:
    """May this principal's *roles* do ``action`` on resources of ``resource_type``?

    The local developer (``--no-auth``) may do everything. Clients and system principals
    without roles are governed by their scopes alone (checked by the SMART layer), so this
    returns True for them; a client acting for a user carries the user's roles and is
    checked like the user. Unknown resource types and actions are refused.
    """
    if principal.unrestricted:
        return True
    if normalize_action(action) not in ACTIONS:
        return False
    if resource_type not in resource_types():
        return False
    if not principal.roles:
        return principal.kind in ("client", "system")
    return any(role_may(role, action, resource_type) for role in principal.roles)


def needs_care_relationship(principal: Principal) -> bool:
    """True when every role of the principal limits clinical access to its own patients.

    A user with one unrestricted clinical role and one restricted one is still restricted:
    the care check applies whenever a role that reads clinical data requires it.
    """
    if principal.unrestricted:
        return False
    return any(
        ROLE_GRANTS[role].care_relationship_required
        for role in principal.roles
        if role in ROLE_GRANTS
    )


def known_role(name: str) -> bool:
    return name in ROLE_GRANTS


# TOTP is mandatory for these (clinical and admin roles, and the auditor, whose audit trail
# names patients): HIPAA 2024 NPRM 164.312(d), ASVS 5.0 V6.
MFA_ROLES = frozenset({"physician", "nurse", "admin", "auditor"})


def mfa_required(roles: frozenset[str] | set[str]) -> bool:
    """True when any of ``roles`` must sign in with a second factor."""
    return bool(set(roles) & MFA_ROLES)
