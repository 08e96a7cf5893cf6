"""In Chromium, checked by axe (zero WCAG 2.x A/AA violations), for reflow and target size:
the SMART clients admin pages (register with errors, the one-time secret, revoke) and the
paged vital signs page ("Older readings" and back)."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.server.conftest import Server
from tests.web.test_browser import check, page  # noqa: F401 - the page fixture
from wardbook.auth.principal import Principal
from wardbook.web import forms, writes
from wardbook.web.patients import VITALS_PAGE_SETS

pytestmark = pytest.mark.xdist_group("browser")


def test_admin_registers_and_revokes_a_smart_client(page: Page) -> None:  # noqa: F811
    page.goto("/admin")
    page.get_by_role("link", name="SMART clients").click()
    expect(page.get_by_role("heading", name="SMART clients")).to_be_visible()
    check(page, "SMART clients, none yet")

    page.get_by_role("link", name="Register a client").click()
    check(page, "register a client")
    page.get_by_role("button", name="Register client").click()
    expect(page.locator(".nhsuk-error-summary")).to_contain_text("Enter a client ID")
    check(page, "register a client, errors shown")

    page.get_by_label("Client ID").fill("growth-chart")
    page.get_by_role("group", name="Type of client").get_by_label(
        "Public (browser or mobile app, PKCE)"
    ).check()
    page.get_by_label("Redirect URIs").fill("https://growth.example/cb")
    page.get_by_role("button", name="Register client").click()
    expect(page.get_by_role("heading", name="Client growth-chart registered")).to_be_visible()
    check(page, "client registered")

    page.goto("/admin/clients/new")
    page.get_by_label("Client ID").fill("billing")
    page.get_by_role("group", name="Type of client").get_by_label(
        "Confidential (server-side app with a secret)"
    ).check()
    page.get_by_label("Redirect URIs").fill("https://billing.example/cb")
    page.get_by_role("button", name="Register client").click()
    secret = page.get_by_label("Client secret")
    expect(secret).to_be_visible()
    assert len(secret.input_value()) >= 40
    check(page, "confidential client registered, secret shown once")

    page.get_by_role("link", name="Back to SMART clients").click()
    expect(page.get_by_role("rowheader", name="growth-chart")).to_be_visible()
    check(page, "SMART clients, two listed")
    page.get_by_role("link", name="Revoke growth-chart").click()
    check(page, "revoke a client, confirmation")
    page.get_by_role("button", name="Revoke client").click()
    expect(page.get_by_role("status")).to_contain_text("Client growth-chart was revoked")
    expect(page.get_by_role("rowheader", name="growth-chart")).to_have_count(0)
    check(page, "SMART clients after revoking one")


def long_record(server: Server, sets: int) -> str:
    """A patient with ``sets`` weekly vital sign sets, written through the FHIR API."""
    nurse = Principal(kind="user", subject="nurse.test", roles=frozenset({"nurse"}))
    entries: list[dict[str, Any]] = [
        {
            "resource": {"resourceType": "Patient", "id": "pat-long", "name": [{"family": "Long"}]},
            "request": {"method": "PUT", "url": "Patient/pat-long"},
        }
    ]
    first = datetime(2020, 1, 6, 8, 0, tzinfo=UTC)
    for n in range(sets):
        entry, _ = forms.validate_vitals(
            {
                **{"respiratory_rate": "18", "spo2": "96", "supplemental_oxygen": "air"},
                **{"systolic": "118", "diastolic": "76", "heart_rate": str(70 + n % 20)},
                **{"consciousness": "A", "temperature": "36.9"},
            }
        )
        assert entry is not None
        observations = writes.vital_sign_observations(
            entry, "pat-long", first + timedelta(weeks=n), nurse
        )
        for index, observation in enumerate(observations):
            oid = f"long-{n}-{index}"
            entries.append(
                {
                    "resource": {**observation, "id": oid},
                    "request": {"method": "PUT", "url": f"Observation/{oid}"},
                }
            )
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    request = urllib.request.Request(
        server.fhir,
        data=json.dumps(bundle).encode(),
        headers={"Content-Type": "application/fhir+json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.status == 200
    return "/patients/pat-long"


def test_vital_signs_pages_are_accessible(page: Page, demo_server: Server) -> None:  # noqa: F811
    chart = long_record(demo_server, VITALS_PAGE_SETS + 5)
    page.goto(f"{chart}/vitals")
    rows = page.locator("#vitals-table tbody tr")
    expect(rows).to_have_count(VITALS_PAGE_SETS)
    check(page, "vital signs, first page of several")
    pages = page.get_by_role("navigation", name="Vital signs pages")
    pages.get_by_role("link", name="Older readings").click()
    expect(rows).to_have_count(5)
    expect(page.get_by_role("heading", name="Older observations")).to_be_visible()
    check(page, "vital signs, older readings")
    pages.get_by_role("link", name="Newest readings").click()
    expect(rows).to_have_count(VITALS_PAGE_SETS)
