"""User acceptance testing: a ward stay, in clinicians' words, in Chromium against a real server.

One ``wardbook serve`` with authentication on holds one admitted patient (loaded as a FHIR
Bundle with ``wardbook load``, as a patient administration system feed would) and four staff
made with ``wardbook user add``: a nurse and a doctor assigned to the ward, a receptionist and
an auditor. Each signs in through the sign-in pages with a password and a TOTP code computed
from the secret the CLI printed. Scenarios (features/*.feature) run in order in one xdist
group, sharing the server and each person's signed-in browser.

Every action goes through :class:`Person`, which counts the steps a task takes (clicks,
fields filled, keys pressed) and checks every page it lands on (axe WCAG 2.2 AA, 24 px
targets, reflow at 320 px, a Help link into the manual). At the end of a complete run the
results are written to docs/uat-report.md by :func:`pytest_sessionfinish`: the text holds
no times, so re-running changes the file only when behaviour changes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.acceptance import report
from tests.server.conftest import WARDBOOK, Server, free_port, migrate
from tests.web.conftest import browser  # noqa: F401  (the module's Chromium)
from tests.web.test_browser import AXE, AXE_TAGS, assert_reflows, assert_targets_large_enough
from wardbook.auth.roles import mfa_required
from wardbook.web.manual import MANUAL_PAGES

PASSWORD = "ward seven night shift 2026"
WARD_ID = "uat-ward-7"
WARD_NAME = "Ward 7 (Respiratory)"
PATIENT_ID = "uat-margaret-ellis"
ENCOUNTER_ID = "uat-admission"
PATIENT_NAME = "Margaret Ellis"
MRN = "MRN7004312"
BIRTH_DATE = "1948-03-14"

# username -> role; the nurse and doctor work on Ward 7 (every Location, which is Ward 7).
STAFF: dict[str, str] = {
    "nurse.adeyemi": "nurse",
    "dr.okafor": "physician",
    "rec.patel": "receptionist",
    "aud.lin": "auditor",
}
WARD_STAFF = frozenset({"nurse.adeyemi", "dr.okafor"})


# -- the ward: data and server ------------------------------------------------------------


def admission_bundle() -> dict[str, Any]:
    """Ward 7, Margaret Ellis and her admission Encounter (a PAS feed, as a batch Bundle)."""
    admitted = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT08:00:00Z")
    resources: list[dict[str, Any]] = [
        {
            "resourceType": "Location",
            "id": WARD_ID,
            "status": "active",
            "name": WARD_NAME,
            "physicalType": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
                        "code": "wa",
                        "display": "Ward",
                    }
                ]
            },
        },
        {
            "resourceType": "Patient",
            "id": PATIENT_ID,
            "identifier": [
                {"system": "https://wardbook.example.org/fhir/sid/mrn", "value": MRN},
            ],
            "name": [{"use": "official", "family": "Ellis", "given": ["Margaret"]}],
            "gender": "female",
            "birthDate": BIRTH_DATE,
        },
        {
            "resourceType": "Encounter",
            "id": ENCOUNTER_ID,
            "status": "in-progress",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "IMP",
                "display": "inpatient encounter",
            },
            "type": [{"text": "Emergency hospital admission"}],
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "period": {"start": admitted},
            "reasonCode": [{"text": "Community-acquired pneumonia"}],
            "location": [{"location": {"reference": f"Location/{WARD_ID}", "display": WARD_NAME}}],
        },
    ]
    return {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in resources
        ],
    }


def load_bundle(database: str, folder: Path, bundle: dict[str, Any], name: str) -> str:
    """``wardbook load`` of one Bundle; what it says it loaded."""
    path = folder / name
    path.write_text(json.dumps(bundle), encoding="utf-8")
    loaded = subprocess.run(
        [WARDBOOK, "load", str(path), "--database", database], check=True, capture_output=True
    )
    return loaded.stdout.decode()


def add_user(database: str, username: str, role: str) -> str | None:
    """``wardbook user add``; the TOTP secret from the printed otpauth URI (if any)."""
    wards = ["--ward", "all"] if username in WARD_STAFF else []
    added = subprocess.run(
        [
            *(WARDBOOK, "user", "add", username, "--role", role, *wards),
            *("--password-stdin", "--database", database),
        ],
        input=PASSWORD.encode(),
        check=True,
        capture_output=True,
    )
    uri = re.search(rb"otpauth://\S+", added.stdout)
    if uri is None:
        return None
    query = urllib.parse.urlsplit(uri.group().decode()).query
    return urllib.parse.parse_qs(query)["secret"][0]


def stub_manual(folder: Path) -> Path:
    """A stand-in for the built manual (``make docs``): one page per manual name."""
    site = folder / "site"
    pages = {"index.html": "Wardbook user manual"} | {
        f"manual/{name}/index.html": title for name, title in MANUAL_PAGES.items()
    }
    for relative, title in pages.items():
        target = site / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            f'<!doctype html><html lang="en"><title>{title}</title><main><h1>{title}</h1>'
            "</main></html>",
            encoding="utf-8",
        )
    return site


@dataclass
class Ward:
    """The running server and what the scenarios share."""

    server: Server
    folder: Path
    secrets: dict[str, str | None]
    contexts: dict[str, BrowserContext] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def ward(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Ward]:
    request.getfixturevalue("browser")  # closed after the people's contexts, not before
    folder = tmp_path_factory.mktemp("uat")
    database = f"sqlite:///{folder}/wardbook.db"
    migrate(database)
    admission = load_bundle(database, folder, admission_bundle(), "admission.json")
    secrets = {username: add_user(database, username, role) for username, role in STAFF.items()}
    server = Server(database, free_port(), no_auth=False)
    previous = os.environ.get("WARDBOOK_MANUAL_DIR")
    os.environ["WARDBOOK_MANUAL_DIR"] = str(stub_manual(folder))
    try:
        server.start()
    finally:
        if previous is None:
            os.environ.pop("WARDBOOK_MANUAL_DIR", None)
        else:
            os.environ["WARDBOOK_MANUAL_DIR"] = previous
    state = Ward(server, folder, secrets, facts={"admission": admission})
    try:
        yield state
    finally:
        for context in state.contexts.values():
            context.close()
        server.stop()


# -- people, their browsers and the usability measures -----------------------------------


class Person:
    """One member of staff at a browser: every action is counted toward the current task."""

    def __init__(self, username: str, role: str, page: Page, secret: str | None) -> None:
        self.username, self.role, self.page, self.secret = username, role, page, secret
        self.task: report.Task | None = None
        self.last_code: str | None = None

    # Counted actions (a task's steps).
    def click(self, target: Locator) -> None:
        target.click()
        self._count("clicks")

    def fill(self, target: Locator, value: str) -> None:
        target.fill(value)
        self._count("fills")

    def press(self, target: Locator, key: str) -> None:
        target.press(key)
        self._count("keys")

    def _count(self, kind: str) -> None:
        if self.task is not None:
            setattr(self.task, kind, getattr(self.task, kind) + 1)

    # Tasks.
    def start(self, name: str, budget: int) -> report.Task:
        self.task = report.Task(name=name, role=self.role, budget=budget)
        return self.task

    def finish(self, *, recovered: bool | None = None) -> report.Task:
        assert self.task is not None
        task, self.task = self.task, None
        task.recovered = recovered
        report.RESULTS.record_task(task)
        assert task.steps <= task.budget, f"{task.name}: {task.steps} steps > {task.budget}"
        return task

    # The checklist every page passes.
    def check_page(self, label: str) -> None:
        """axe (WCAG 2.x A/AA), 24 px targets, reflow, one h1, a Help link to the manual."""
        page = self.page
        results = AXE.run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
        assert results.violations_count == 0, f"{label}: {results.generate_report()}"
        assert_targets_large_enough(page, label)
        assert_reflows(page, label)
        expect(page.locator("h1")).to_have_count(1)
        help_link = page.locator(".wb-manual-link a")
        href = help_link.get_attribute("href") or ""
        match = re.fullmatch(r"/manual/manual/([a-z0-9-]+)/", href)
        assert match and match.group(1) in MANUAL_PAGES, f"{label}: Help link {href!r}"
        errors = page.locator(".nhsuk-error-summary")
        summary_links = errors.locator("a")
        linked = all(
            page.locator(link.get_attribute("href") or "#none").count() == 1
            for link in summary_links.all()
        )
        report.RESULTS.record_page(
            report.PageCheck(
                page=label,
                role=self.role,
                axe_violations=results.violations_count,
                help_target=MANUAL_PAGES[match.group(1)],
                error_summary_links_fields=(linked if errors.count() else None),
            )
        )

    # Signing in.
    def fresh_code(self) -> str:
        assert self.secret is not None
        totp = pyotp.TOTP(self.secret)
        code = totp.now()
        while code == self.last_code:  # a code is accepted once: wait for the next one
            self.page.wait_for_timeout(1000)
            code = totp.now()
        self.last_code = code
        return code

    def sign_in(self) -> None:
        page = self.page
        page.goto("/")
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        first_time = mfa_required({self.role})  # a second factor: set up on first sign-in
        self.start(
            "Sign in for the first time (set up the authenticator)" if first_time else "Sign in",
            budget=8 if first_time else 3,
        )
        self.fill(page.get_by_label("Username"), self.username)
        self.fill(page.get_by_label("Password"), PASSWORD)
        self.click(page.get_by_role("button", name="Sign in"))
        if first_time:
            expect(page.get_by_label("Authentication code")).to_be_visible()
            self.check_page("Set up your authenticator app")
            self.fill(page.get_by_label("Authentication code"), self.fresh_code())
            self.click(page.get_by_role("button", name="Continue"))
            expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
            self.click(page.get_by_role("link", name="Continue"))
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        self.finish()


def person(ward: Ward, chromium: Browser, username: str) -> Person:
    """The signed-in browser of ``username`` (signing in the first time)."""
    found = ward.people.get(username)
    if found is not None:
        return found
    context = chromium.new_context(
        base_url=ward.server.base, viewport={"width": 1280, "height": 900}
    )
    ward.contexts[username] = context
    someone = Person(username, STAFF[username], context.new_page(), ward.secrets[username])
    ward.people[username] = someone
    someone.sign_in()
    return someone


# -- the report --------------------------------------------------------------------------


def pytest_bdd_after_step(request: Any, feature: Any, scenario: Any, step: Any) -> None:
    report.RESULTS.step(feature.name, scenario.name, scenario.steps, step, "passed")


def pytest_bdd_step_error(request: Any, feature: Any, scenario: Any, step: Any) -> None:
    report.RESULTS.step(feature.name, scenario.name, scenario.steps, step, "failed")


def pytest_bdd_before_scenario(request: Any, feature: Any, scenario: Any) -> None:
    report.RESULTS.begin(feature.name, scenario.name, scenario.steps)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write docs/uat-report.md when every acceptance scenario ran in this process."""
    here = Path(__file__).parent
    expected = [i for i in session.items if Path(str(i.fspath)).is_relative_to(here)]
    if expected and report.RESULTS.complete(len(expected)):
        report.write(report.REPORT_PATH)
