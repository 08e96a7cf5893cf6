"""End-to-end journeys in Chromium against a real server with demo data.

Covers: find a patient (results as you type) -> open the chart -> record vital signs (errors
first) -> NEWS2 shown and the chart and table updated -> write a note -> find it in the
timeline. Every page, in every state we can put it in, is checked by axe for WCAG 2.0/2.1/2.2
A and AA violations (zero allowed), for reflow at 320 CSS px and for target sizes; the
keyboard-only journey uses no mouse at all. The user manual's screenshots are captured on the
way (tests/web/screenshots.py: build/screenshots/, or docs/screenshots/ for `make screenshots`).
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.server.conftest import Server
from tests.web.screenshots import capture

pytestmark = pytest.mark.xdist_group("browser")

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE = Axe()
# Controls that are never inline text links, so WCAG 2.5.8's spacing exception cannot apply.
TARGETS = "button, input:not([type=hidden]), select, textarea, nav a, .nhsuk-button"


@pytest.fixture
def page(browser: Browser, demo_server: Server) -> Iterator[Page]:
    context = browser.new_context(
        base_url=demo_server.base, viewport={"width": 1280, "height": 900}
    )
    errors: list[str] = []
    tab = context.new_page()
    tab.on("pageerror", lambda error: errors.append(str(error)))

    def console(message: ConsoleMessage) -> None:
        # Error pages and re-shown forms answer 4xx on purpose; the browser logs those.
        expected = re.match(r"Failed to load resource: .* status of 4(04|09|22)", message.text)
        if message.type == "error" and not expected:
            errors.append(message.text)

    tab.on("console", console)
    yield tab
    context.close()
    assert errors == [], f"browser errors: {errors}"


def assert_accessible(page: Page, state: str) -> None:
    """Zero axe violations for the WCAG 2.x A/AA tags, with a readable report if not."""
    results = AXE.run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
    assert results.violations_count == 0, f"{state}: {page.url}\n{results.generate_report()}"


def assert_reflows(page: Page, state: str) -> None:
    """WCAG 1.4.10: at 320 CSS px wide nothing scrolls sideways."""
    original = page.viewport_size
    page.set_viewport_size({"width": 320, "height": 800})
    page.wait_for_timeout(50)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"{state}: page is {width}px wide at 320px"
    assert original is not None
    page.set_viewport_size(original)


def assert_targets_large_enough(page: Page, state: str) -> None:
    """WCAG 2.5.8: buttons, fields and stand-alone links are at least 24 by 24 CSS px."""
    small = page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)]
          .filter(el => el.offsetParent !== null)
          .map(el => [el.outerHTML.slice(0, 80), el.getBoundingClientRect()])
          .filter(([, r]) => r.width < 24 || r.height < 24)
          .map(([html, r]) => `${html} ${r.width}x${r.height}`)""",
        TARGETS,
    )
    assert small == [], f"{state}: targets under 24px: {small}"


def check(page: Page, state: str) -> None:
    assert_accessible(page, state)
    assert_targets_large_enough(page, state)
    assert_reflows(page, state)


def screenshot(page: Page, name: str) -> None:
    """The user manual's images of this page (tests/web/screenshots.py says where)."""
    capture(page, name)


@pytest.fixture(scope="module")
def family_name(demo_server: Server) -> str:
    """The family name of a demo patient (asked of the FHIR API, not guessed)."""
    with urllib.request.urlopen(f"{demo_server.fhir}/Patient?_count=1") as response:
        bundle = json.load(response)
    return str(bundle["entry"][0]["resource"]["name"][0]["family"])


def first_patient(page: Page, family: str) -> tuple[str, str]:
    """A demo patient's name and chart URL, found through the search box."""
    page.goto("/")
    page.get_by_role("search").get_by_label("Find a patient").fill(family)
    link = page.locator("#search-results a").first
    expect(link).to_be_visible()
    name = link.inner_text()
    href = link.get_attribute("href")
    assert href is not None
    return name, href


VITALS = {
    "Respiratory rate": "26",
    "Oxygen saturation (SpO2)": "93",
    "Systolic blood pressure": "105",
    "Diastolic blood pressure": "62",
    "Heart rate": "95",
    "Temperature": "37.0",
}


def fill_vitals(page: Page) -> None:
    """The set of VITALS, on 2 L/min of oxygen and alert: NEWS2 9."""
    for label, value in VITALS.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("group", name="Supplemental oxygen").get_by_label("Oxygen", exact=True).check()
    page.get_by_label("Oxygen flow rate (if on oxygen)").fill("2")
    page.get_by_role("group", name="Level of consciousness").get_by_label("Alert").check()


def test_clinician_journey_find_chart_vitals_news2_note(page: Page, family_name: str) -> None:
    # Find a patient: the empty page, then results as you type (htmx, no page load).
    page.goto("/")
    expect(page).to_have_title("Find a patient \N{EN DASH} Wardbook")
    check(page, "find a patient, empty")
    screenshot(page, "find-a-patient")
    search = page.get_by_role("search").get_by_label("Find a patient")
    search.press_sequentially("zzqx", delay=20)
    expect(page.locator("#search-results")).to_contain_text("0 patients found")
    check(page, "find a patient, no results")
    search.fill("")
    search.press_sequentially(family_name[:4], delay=20)
    results = page.locator("#search-results").get_by_role("link")
    expect(results.first).to_be_visible()
    assert page.url.rstrip("/").endswith(str(page.url.split("/")[2]))  # still the same page
    expect(page.locator("#search-status")).to_contain_text("found")
    check(page, "find a patient, results")
    screenshot(page, "find-a-patient-results")
    name = results.first.inner_text()

    # Open the chart from the result link named with the patient's name.
    page.get_by_role("link", name=name, exact=True).first.click()
    banner = page.get_by_role("region", name="Patient banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("MRN")
    expect(banner).to_contain_text("Born")
    expect(banner).to_contain_text(re.compile("allerg", re.IGNORECASE))
    check(page, "chart summary")
    screenshot(page, "patient-summary")
    chart_url = page.url

    # Vital signs: submit nothing first; the error summary links to the first field.
    page.get_by_role("link", name="Record vital signs").click()
    expect(page.get_by_role("heading", name="Record vital signs")).to_be_visible()
    check(page, "vitals form, empty")
    screenshot(page, "record-vital-signs")
    page.get_by_label("Respiratory rate").fill("26")
    page.get_by_label("Temperature").fill("98.6")
    page.get_by_role("button", name="Save").click()
    summary = page.locator(".nhsuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(page.get_by_label("Respiratory rate")).to_have_value("26")
    expect(page.get_by_label("Temperature")).to_have_value("98.6")
    expect(page.get_by_label("Temperature")).to_have_attribute("aria-invalid", "true")
    check(page, "vitals form, errors shown")
    screenshot(page, "record-vital-signs-errors")
    summary.get_by_role("link", name=re.compile("Enter the oxygen saturation")).click()
    expect(page.get_by_label("Oxygen saturation (SpO2)")).to_be_focused()

    fill_vitals(page)
    page.get_by_role("button", name="Save").click()

    # NEWS2: RR 26 (3) + SpO2 93 (2) + oxygen (2) + SBP 105 (1) + HR 95 (1) = 9, high.
    expect(page.get_by_text("NEWS2 score 9: high clinical risk").first).to_be_visible()
    rows = page.locator("#vitals-table tbody tr")
    expect(rows.first).to_contain_text("105/62")
    expect(rows.first.locator("td").first).to_contain_text("9")
    expect(page.locator(".wb-chart__plot canvas").first).to_be_visible()
    drawn = page.evaluate(
        "JSON.parse(document.getElementById('vitals-data').textContent).news2.slice(-1)[0]"
    )
    assert drawn == 9  # the chart's data now ends with the set just recorded
    check(page, "vital signs with charts")
    screenshot(page, "vital-signs")

    # Write a note; it appears in the chart's timeline and opens from there.
    page.goto(chart_url)
    page.get_by_role("link", name="Write a note").click()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".nhsuk-error-summary")).to_contain_text("Enter a title")
    check(page, "note form, errors shown")
    page.get_by_label("Title").fill("Escalated: NEWS2 9")
    page.get_by_label("Note", exact=True).fill("Reviewed by the registrar.\nSepsis screen started.")
    screenshot(page, "write-a-note")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Note saved")
    timeline = page.get_by_role("region", name="Timeline")
    expect(timeline.get_by_role("link", name="Escalated: NEWS2 9")).to_be_visible()
    check(page, "chart after a note")
    timeline.get_by_role("link", name="Escalated: NEWS2 9").click()
    expect(page.get_by_text("Sepsis screen started.")).to_be_visible()
    check(page, "note")
    screenshot(page, "note")


PAGES: list[tuple[str, str]] = [
    ("{patient}/vitals", "vital signs"),
    ("{patient}/notes", "notes"),
    ("{patient}/problems/new", "add a problem"),
    ("{patient}/allergies/new", "add an allergy"),
    ("{patient}/audit", "audit"),
    ("/help", "help centre"),
    ("/help/feedback", "feedback form"),
    ("/help/accessibility", "accessibility statement"),
    ("/admin/feedback", "feedback list"),
    ("/admin", "administration"),
    ("/admin/users", "users"),
    ("/admin/roles", "roles"),
    ("/patients/no-such-patient", "not found"),
]


def test_every_page_and_state_is_accessible(page: Page, family_name: str) -> None:
    _name, patient = first_patient(page, family_name)
    for template, state in PAGES:
        page.goto(template.format(patient=patient))
        check(page, state)

    # The manual's picture of a complete set, on a fresh form (not saved).
    page.goto(f"{patient}/vitals/new")
    fill_vitals(page)
    expect(page.locator(".nhsuk-error-summary")).to_have_count(0)
    screenshot(page, "record-vital-signs-filled")

    # Errors shown, then the contextual help and FAQ opened.
    page.goto(f"{patient}/allergies/new")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".nhsuk-error-summary")).to_be_visible()
    check(page, "add an allergy, errors shown")
    screenshot(page, "add-an-allergy-errors")
    page.goto(f"{patient}/allergies/new")
    page.get_by_label("Substance").fill("Latex")
    page.get_by_label("Reaction").fill("Hives")
    page.get_by_role("group", name="Severity of the reaction").get_by_label("Moderate").check()
    page.get_by_role("group", name="Risk of a future reaction").get_by_label("High risk").check()
    screenshot(page, "add-an-allergy")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Allergy added")
    expect(page.get_by_role("region", name="Patient banner")).to_contain_text("Latex")
    page.goto(f"{patient}/problems/new")
    page.get_by_label("Date of onset (optional)").fill("31/2/2020")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".nhsuk-error-summary")).to_contain_text("Enter the problem")
    check(page, "add a problem, errors shown")
    screenshot(page, "add-a-problem-errors")
    page.get_by_text("Help with recording problems, allergies and medicines").click()
    check(page, "contextual help open")
    page.goto(f"{patient}/problems/new")
    page.get_by_label("Problem", exact=True).fill("Community-acquired pneumonia")
    page.get_by_label("Date of onset (optional)").fill("3/11/2025")
    screenshot(page, "add-a-problem")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Problem added")
    page.get_by_role("button", name="Resolve Community-acquired pneumonia").click()
    expect(page.get_by_role("status")).to_contain_text("Problem resolved")
    expect(page.get_by_role("region", name="Patient banner")).to_be_visible()
    page.goto("/help")
    for summary in page.locator("summary").all():
        summary.click()
    check(page, "help centre, every answer open")
    screenshot(page, "help-centre")
    page.goto("/help/feedback")
    page.get_by_role("button", name="Send feedback").click()
    check(page, "feedback, errors shown")
    screenshot(page, "give-feedback-errors")
    page.get_by_role("group", name="What is your feedback about?").get_by_label(
        "An idea or suggestion"
    ).check()
    page.get_by_label("Your feedback").fill("A ward list would help.")
    screenshot(page, "give-feedback")
    page.get_by_role("button", name="Send feedback").click()
    expect(page.get_by_role("heading", name="Thank you for your feedback")).to_be_visible()
    check(page, "feedback sent")
    screenshot(page, "feedback-sent")
    page.goto("/admin/feedback")
    expect(page.get_by_role("cell", name="A ward list would help.")).to_be_visible()
    check(page, "feedback list with an item")

    # Stop a medicine: the confirmation page, then the summary with the message.
    page.goto(patient)
    stop = page.get_by_role("link", name=re.compile("^Stop "))
    if stop.count():
        stop.first.click()
        check(page, "stop a medicine, confirmation")
        screenshot(page, "stop-a-medicine")
        page.get_by_role("button", name="Stop medicine").click()
        expect(page.get_by_role("status")).to_contain_text("Medicine stopped")
        check(page, "summary after stopping a medicine")

    # The header menu at a narrow width, opened.
    page.set_viewport_size({"width": 320, "height": 800})
    page.goto("/help")
    toggle = page.locator("#toggle-menu")
    if toggle.is_visible():
        toggle.click()
    assert_accessible(page, "narrow header, menu open")


def fhir_json(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> Any:
    """A FHIR API call to the test server (no auth), as a second user's system would."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/fhir+json"}
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def test_discharge_confirmation_conflict_and_done_are_accessible(
    page: Page, family_name: str, demo_server: Server
) -> None:
    _name, patient = first_patient(page, family_name)
    patient_id = patient.rsplit("/", 1)[1]
    ward = fhir_json(f"{demo_server.fhir}/Location?_count=1")["entry"][0]["resource"]
    admitted = fhir_json(
        f"{demo_server.fhir}/Encounter",
        "POST",
        {
            "resourceType": "Encounter",
            "status": "in-progress",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "IMP",
                "display": "inpatient encounter",
            },
            "type": [{"text": "Emergency hospital admission"}],
            "subject": {"reference": f"Patient/{patient_id}"},
            "period": {"start": "2026-11-20T10:15:00Z"},
            "location": [
                {
                    "location": {"reference": f"Location/{ward['id']}", "display": ward["name"]},
                    "status": "active",
                }
            ],
        },
    )
    page.goto(patient)
    page.get_by_role("link", name="Discharge", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Discharge")
    # Admitted at 10:15 UTC on a November day: 10:15 GMT on the hospital's clock.
    expect(page.locator(".nhsuk-summary-list")).to_contain_text("20 Nov 2026, 10:15 (GMT)")
    expect(page.locator(".nhsuk-summary-list")).to_contain_text(ward["name"])
    check(page, "discharge, confirmation")
    screenshot(page, "discharge")
    # Someone else changes the stay before the nurse confirms: a readable conflict.
    url = f"{demo_server.fhir}/Encounter/{admitted['id']}"
    current = fhir_json(url)
    current["priority"] = {"text": "Urgent"}
    fhir_json(url, "PUT", current)
    page.get_by_role("button", name="Discharge patient").click()
    expect(page.locator(".nhsuk-error-summary")).to_contain_text("Someone else changed")
    check(page, "discharge, someone else changed the stay")
    screenshot(page, "discharge-changed")
    page.get_by_role("link", name="Reload").click()
    page.get_by_role("button", name="Discharge patient").click()
    expect(page.get_by_role("status").first).to_contain_text("Patient discharged")
    check(page, "find a patient after a discharge")
    assert fhir_json(url)["status"] == "finished"


def test_keyboard_only_find_and_record(page: Page, family_name: str) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    # Tab to the search field and type; Tab again reaches the results.
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "q":
            break
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type(family_name, delay=30)
    first = page.locator("#search-results a").first
    expect(first).to_be_visible()
    name = first.inner_text()
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == name:
            break
    page.keyboard.press("Enter")
    expect(page.get_by_role("region", name="Patient banner")).to_contain_text("MRN")

    # Reach "Write a note" by keyboard and save a note without touching the mouse.
    focused = tab_to(page, "Write a note")
    assert focused
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Write a note")).to_be_visible()
    assert tab_to(page, "Title", attr="label")
    page.keyboard.type("Keyboard note")
    page.keyboard.press("Tab")
    page.keyboard.type("Typed without a mouse.")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Save"
    page.keyboard.press("Enter")
    expect(
        page.get_by_role("region", name="Timeline").get_by_role("link", name="Keyboard note")
    ).to_be_visible()
    # Focus is always visible: the focused element draws an outline or box shadow.
    page.keyboard.press("Tab")
    style: dict[str, Any] = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return {outline: s.outlineStyle, shadow: s.boxShadow, bg: s.backgroundColor}; })()"
    )
    assert style["outline"] != "none" or style["shadow"] != "none", style


def tab_to(page: Page, text: str, attr: str = "text", limit: int = 60) -> bool:
    """Press Tab until the focused element has this text (or label); False if never."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if attr == "label":
            current = page.evaluate(
                "document.activeElement.labels && document.activeElement.labels[0]"
                " ? document.activeElement.labels[0].textContent.trim() : ''"
            )
        else:
            current = page.evaluate("document.activeElement.textContent.trim()")
        if current == text:
            return True
    return False
