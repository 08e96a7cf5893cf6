"""Fixtures for authorization tests: an app WITH authentication, two patients' records,
and helpers that register clients and issue tokens the way ``wardbook token`` does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from wardbook.app import build_app
from wardbook.auth.care import clear_cache
from wardbook.auth.cli_tokens import issue_admin_token
from wardbook.auth.clients import register_client
from wardbook.auth.users import UserStore
from wardbook.config import Settings
from wardbook.service.resources import ResourceService
from wardbook.storage.base import Repository
from wardbook.storage.oauth_store import OAuthStore

BASE = "http://testserver/fhir"
TokenFactory = Callable[..., Awaitable[str]]


def observation(oid: str, patient: str, category: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": category,
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{patient}"},
        "encounter": {"reference": f"Encounter/enc-{patient}"},
    }


@dataclass
class Records:
    """Alice (the token's patient) and Bob (someone else), each with records."""

    alice: str = "alice"
    bob: str = "bob"


async def load_records(repository: Repository) -> Records:
    service = ResourceService(repository)
    resources: list[Any] = [
        {"resourceType": "Organization", "id": "ward", "name": "Ward 7"},
    ]
    for pid, family in (("alice", "Alvarez"), ("bob", "Brown")):
        resources += [
            {
                "resourceType": "Patient",
                "id": pid,
                "name": [{"family": family, "given": [pid.title()]}],
                "birthDate": "1970-01-01",
                "managingOrganization": {"reference": "Organization/ward"},
            },
            {
                "resourceType": "Encounter",
                "id": f"enc-{pid}",
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "IMP",
                },
                "subject": {"reference": f"Patient/{pid}"},
            },
            observation(f"lab-{pid}", pid, "laboratory", "2345-7"),
            observation(f"vital-{pid}", pid, "vital-signs", "8867-4"),
        ]
    results = await service.put_many(resources)
    assert all(not isinstance(r, Exception) for r in results), results
    return Records()


@pytest.fixture
def auth_settings() -> Settings:
    return Settings(env="test", no_auth=False)


@pytest.fixture
async def records(repository: Repository) -> Records:
    return await load_records(repository)


@pytest.fixture
async def make_token(repository: Repository, auth_settings: Settings) -> TokenFactory:
    """``await make_token("patient/*.rs", patient="alice")`` -> a signed access token."""
    store = OAuthStore(repository)
    registered: set[str] = set()

    async def make(
        scope: str,
        *,
        patient: str | None = None,
        user: str | None = None,
        client_id: str = "test-app",
        expires_in: int = 600,
    ) -> str:
        if client_id not in registered:
            if await store.get_client(client_id) is None:
                await register_client(
                    store,
                    client_id=client_id,
                    client_type="public",
                    redirect_uris=["http://127.0.0.1/callback"],
                    scope=None,
                    jwks=None,
                    jwks_uri=None,
                )
            registered.add(client_id)
        return await issue_admin_token(
            repository,
            auth_settings,
            client_id=client_id,
            scope=scope,
            patient=patient,
            user=user,
            expires_in=expires_in,
        )

    return make


@pytest.fixture
async def api(repository: Repository, auth_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app with authentication on (no --no-auth)."""
    app = build_app(auth_settings, repository)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


@pytest.fixture
async def dev_api(repository: Repository) -> AsyncIterator[httpx.AsyncClient]:
    """The app as ``serve --no-auth`` builds it (the local developer without a token)."""
    app = build_app(Settings(env="test", no_auth=True), repository)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ids(bundle: dict[str, Any]) -> list[str]:
    return sorted(
        f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle.get("entry", [])
    )


async def add_nurse_caring_for_alice(repository: Repository) -> str:
    """User "nina", a nurse whose only care relationship is a CareTeam for Patient/alice."""
    clear_cache()
    await UserStore(repository).add("nina", ["nurse"], None, fhir_user="Practitioner/pr-nina")
    results = await ResourceService(repository).put_many(
        [
            {"resourceType": "Practitioner", "id": "pr-nina", "name": [{"family": "Nash"}]},
            {
                "resourceType": "CareTeam",
                "id": "team-alice",
                "status": "active",
                "subject": {"reference": "Patient/alice"},
                "participant": [{"member": {"reference": "Practitioner/pr-nina"}}],
            },
        ]
    )
    assert all(not isinstance(r, Exception) for r in results)
    return "nina"
