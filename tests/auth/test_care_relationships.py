"""Tokens acting for a clinician: scopes ∩ role ∩ care relationship (or break-the-glass).

A nurse's SMART token with ``user/*.rs`` reaches only the patients in the nurse's care
(here a CareTeam); another patient's clinical record answers 403 until the nurse breaks
the glass (demographics stay searchable, so that the patient can be found at all).
"""

from __future__ import annotations

import httpx
import pytest

from tests.auth.conftest import Records, TokenFactory, add_nurse_caring_for_alice, bearer, ids
from wardbook.auth import break_glass
from wardbook.auth.users import UserStore
from wardbook.storage.base import Repository

pytestmark = pytest.mark.anyio


@pytest.fixture
async def nurse(repository: Repository, records: Records) -> str:
    return await add_nurse_caring_for_alice(repository)


async def test_nurse_token_sees_only_patients_in_care(
    api: httpx.AsyncClient, nurse: str, make_token: TokenFactory
) -> None:
    h = bearer(await make_token("user/*.rs", user=nurse))
    assert (await api.get("/Patient/alice", headers=h)).status_code == 200
    assert (await api.get("/Observation/lab-alice", headers=h)).status_code == 200
    denied = await api.get("/Observation/lab-bob", headers=h)
    assert denied.status_code == 403
    assert "break-the-glass" in denied.json()["issue"][0]["diagnostics"]
    bundle = (await api.get("/Observation", headers=h)).json()
    assert ids(bundle) == ["Observation/lab-alice", "Observation/vital-alice"]
    # The role still applies: a nurse may not delete clinical records at all.
    assert (await api.delete("/Observation/lab-alice", headers=h)).status_code == 403


async def test_break_the_glass_opens_the_record(
    api: httpx.AsyncClient, repository: Repository, nurse: str, make_token: TokenFactory
) -> None:
    h = bearer(await make_token("user/*.rs", user=nurse))
    # Demographics stay findable (to break the glass at all); the clinical record does not.
    assert (await api.get("/Patient/bob", headers=h)).status_code == 200
    assert (await api.get("/Observation/lab-bob", headers=h)).status_code == 403
    user = await UserStore(repository).require(nurse)
    await break_glass.open_record(
        repository,
        user.principal(),
        "bob",
        "Deteriorating on ward round, covering colleague",
        minutes=30,
    )
    assert (await api.get("/Observation/lab-bob", headers=h)).status_code == 200
