"""Care relationships and break-the-glass, on every storage backend."""

from __future__ import annotations

from typing import Any

import pytest

from wardbook.auth import break_glass, care
from wardbook.auth.care import may_access_patient
from wardbook.auth.principal import LOCAL_DEVELOPER, Principal
from wardbook.errors import BadRequest, Forbidden
from wardbook.service.resources import ResourceService
from wardbook.storage.base import Repository

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    care.clear_cache()


async def put(service: ResourceService, resource: dict[str, Any]) -> None:
    await service.update(resource["resourceType"], resource["id"], resource)


async def seed(service: ResourceService) -> None:
    for pid in ("p1", "p2", "p3", "p4"):
        await put(service, {"resourceType": "Patient", "id": pid})
    for prac in ("drA", "drB"):
        await put(service, {"resourceType": "Practitioner", "id": prac})
    await put(service, {"resourceType": "Location", "id": "ward7", "name": "Ward 7"})
    await put(
        service,
        {
            "resourceType": "CareTeam",
            "id": "ct1",
            "subject": {"reference": "Patient/p1"},
            "participant": [{"member": {"reference": "Practitioner/drA"}}],
        },
    )
    await put(
        service,
        {
            "resourceType": "Encounter",
            "id": "e2",
            "status": "finished",
            "class": {"code": "AMB"},
            "subject": {"reference": "Patient/p2"},
            "participant": [{"individual": {"reference": "Practitioner/drA"}}],
        },
    )
    await put(
        service,
        {
            "resourceType": "Encounter",
            "id": "e3",
            "status": "in-progress",
            "class": {"code": "IMP"},
            "subject": {"reference": "Patient/p3"},
            "location": [{"location": {"reference": "Location/ward7"}}],
        },
    )


def doctor(**kw: Any) -> Principal:
    return Principal(
        kind="user",
        subject="alice",
        roles=frozenset({"physician"}),
        fhir_user="Practitioner/drA",
        **kw,
    )


async def test_care_team_encounter_and_ward(repository: Repository) -> None:
    service = ResourceService(repository)
    await seed(service)
    alice = doctor()
    assert await may_access_patient(alice, "p1", service)  # CareTeam participant
    assert await may_access_patient(alice, "p2", service)  # Encounter participant
    assert not await may_access_patient(alice, "p3", service)  # not her ward
    assert not await may_access_patient(alice, "p4", service)
    on_ward = doctor(wards=frozenset({"ward7"}))
    assert await may_access_patient(on_ward, "p3", service)
    bob = Principal(
        kind="user", subject="bob", roles=frozenset({"nurse"}), fhir_user="Practitioner/drB"
    )
    assert not await may_access_patient(bob, "p1", service)


async def test_roles_without_care_restriction_pass(repository: Repository) -> None:
    service = ResourceService(repository)
    await seed(service)
    clerk = Principal(kind="user", subject="rita", roles=frozenset({"receptionist"}))
    assert await may_access_patient(clerk, "p4", service)
    assert await may_access_patient(LOCAL_DEVELOPER, "p4", service)


async def test_break_the_glass_opens_for_a_limited_time(repository: Repository) -> None:
    service = ResourceService(repository)
    await seed(service)
    alice = doctor()
    assert not await may_access_patient(alice, "p4", service)
    grant = await break_glass.open_record(
        repository, alice, "p4", "Patient collapsed in corridor", minutes=30
    )
    assert grant.expires_at - grant.granted_at == 30 * 60_000_000
    assert await may_access_patient(alice, "p4", service)
    assert await break_glass.active_grants(repository, "alice") == {"p4"}
    # Persisted: a later instant inside the window still sees it; after it, not.
    later = grant.granted_at + 29 * 60_000_000
    assert await break_glass.has_active_grant(repository, "alice", "p4", now=later)
    expired = grant.granted_at + 31 * 60_000_000
    assert not await break_glass.has_active_grant(repository, "alice", "p4", now=expired)
    assert await break_glass.active_grants(repository, "alice", now=expired) == frozenset()
    # Another user does not inherit it.
    other = Principal(kind="user", subject="carol", roles=frozenset({"physician"}))
    assert not await may_access_patient(other, "p4", service)


async def test_break_the_glass_needs_a_reason_and_a_user(repository: Repository) -> None:
    with pytest.raises(BadRequest):
        await break_glass.open_record(repository, doctor(), "p4", "  because ", minutes=5)
    client = Principal(kind="client", subject="app")
    with pytest.raises(Forbidden):
        await break_glass.open_record(repository, client, "p4", "a long enough reason", minutes=5)


async def test_principal_grants_are_honoured_without_a_lookup(repository: Repository) -> None:
    service = ResourceService(repository)
    alice = doctor(break_glass_patients=frozenset({"p9"}))
    assert await may_access_patient(alice, "p9", service)
