"""The role table: what each role may do to which kind of resource."""

from __future__ import annotations

import pytest

from wardbook.auth.principal import LOCAL_DEVELOPER, Principal
from wardbook.auth.roles import (
    ROLE_GRANTS,
    ROLES,
    mfa_required,
    needs_care_relationship,
    resource_group,
    user_may,
)


def user(*roles: str) -> Principal:
    return Principal(kind="user", subject="u", roles=frozenset(roles))


@pytest.mark.parametrize(
    ("resource_type", "group"),
    [
        ("Patient", "demographics"),
        ("Observation", "clinical"),
        ("Condition", "clinical"),
        ("DocumentReference", "clinical"),
        ("Appointment", "scheduling"),
        ("Encounter", "scheduling"),
        ("AuditEvent", "audit"),
        ("Provenance", "provenance"),
        ("Practitioner", "administrative"),
        ("Location", "administrative"),
        ("ValueSet", "reference"),
        ("Medication", "reference"),
        ("Claim", "financial"),
    ],
)
def test_every_type_has_one_group(resource_type: str, group: str) -> None:
    assert resource_group(resource_type) == group


def test_roles_are_the_five_named() -> None:
    assert (
        set(ROLES)
        == set(ROLE_GRANTS)
        == {
            "physician",
            "nurse",
            "receptionist",
            "auditor",
            "admin",
        }
    )


@pytest.mark.parametrize(
    ("roles", "action", "resource_type", "allowed"),
    [
        (("physician",), "read", "Observation", True),
        (("physician",), "create", "Condition", True),
        (("physician",), "patch", "Observation", True),
        (("physician",), "vread", "Observation", True),
        (("physician",), "delete", "Observation", False),
        (("physician",), "read", "AuditEvent", False),
        (("nurse",), "create", "Observation", True),
        (("nurse",), "create", "Patient", False),
        (("nurse",), "update", "Patient", True),
        (("receptionist",), "create", "Patient", True),
        (("receptionist",), "create", "Appointment", True),
        (("receptionist",), "read", "Observation", False),
        (("receptionist",), "search", "Condition", False),
        (("auditor",), "search", "AuditEvent", True),
        (("auditor",), "read", "Observation", False),
        (("auditor",), "create", "AuditEvent", False),
        (("admin",), "delete", "Location", True),
        (("admin",), "read", "Observation", False),
        (("admin",), "update", "AuditEvent", False),
        (("receptionist", "auditor"), "search", "AuditEvent", True),
        (("physician",), "fly", "Observation", False),
        (("physician",), "read", "NotAType", False),
        (("wizard",), "read", "Patient", False),
        ((), "read", "Patient", False),
    ],
)
def test_user_may(roles: tuple[str, ...], action: str, resource_type: str, allowed: bool) -> None:
    assert user_may(user(*roles), action, resource_type) is allowed


def test_nobody_may_write_the_audit_trail() -> None:
    for role in ROLES:
        for action in ("create", "update", "delete"):
            assert not user_may(user(role), action, "AuditEvent")


def test_local_developer_may_do_everything() -> None:
    assert user_may(LOCAL_DEVELOPER, "delete", "AuditEvent")


def test_clients_without_roles_are_left_to_their_scopes() -> None:
    client = Principal(kind="client", subject="app", client_id="app")
    assert user_may(client, "read", "Observation")
    assert not user_may(client, "read", "NotAType")


def test_care_relationship_and_mfa_requirements() -> None:
    assert needs_care_relationship(user("physician"))
    assert needs_care_relationship(user("nurse", "receptionist"))
    assert not needs_care_relationship(user("receptionist"))
    assert not needs_care_relationship(LOCAL_DEVELOPER)
    assert mfa_required(frozenset({"nurse"}))
    assert mfa_required(frozenset({"admin"}))
    assert not mfa_required(frozenset({"receptionist"}))
