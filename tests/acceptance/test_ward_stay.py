"""Steps of features/ward_stay.feature: what each person does, through the pages only."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect
from pytest_bdd import given, parsers, scenarios, then, when

from tests.acceptance.conftest import (
    BIRTH_DATE,
    MRN,
    PATIENT_ID,
    PATIENT_NAME,
    WARD_NAME,
    Person,
    Ward,
    person,
)

pytestmark = pytest.mark.xdist_group("browser")

scenarios("features/ward_stay.feature")

NURSE, DOCTOR, RECEPTIONIST, AUDITOR = "nurse.adeyemi", "dr.okafor", "rec.patel", "aud.lin"
SUMMARY = f"/patients/{PATIENT_ID}"
OBSERVATIONS = re.compile(
    r"RR (?P<rr>\d+), SpO2 (?P<spo2>\d+) on (?:air|oxygen at (?P<flow>[\d.]+) L/min), "
    r"BP (?P<sys>\d+)/(?P<dia>\d+), pulse (?P<hr>\d+), "
    r"(?P<avpu>alert|new confusion|voice|pain|unresponsive), (?P<temp>[\d.]+)°C"
)
ACVPU = {
    "alert": "Alert",
    "new confusion": "New confusion",
    "voice": "Voice",
    "pain": "Pain",
    "unresponsive": "Unresponsive",
}
# Step budgets: the most steps (clicks, fields, keys) each task may take.
RECORD_VITALS_BUDGET = 12
RECOVER_VITALS_BUDGET = 15
WRITE_NOTE_BUDGET = 4
BOOK_BUDGET = 6
BOOK_RECOVER_BUDGET = 9
FIND_BUDGET = 3
HELP_BUDGET = 4
DISCHARGE_BUDGET = 2  # Discharge, then Discharge patient on the confirmation page


def staff(ward: Ward, browser: Browser, username: str) -> Person:
    return person(ward, browser, username)


def fill_observations(someone: Person, text: str) -> None:
    """Fill the vital signs form from a handover line, e.g. "RR 16, SpO2 97 on air, ..."."""
    match = OBSERVATIONS.fullmatch(text)
    assert match, f"not an observations line: {text}"
    page = someone.page
    someone.fill(page.get_by_label("Respiratory rate"), match["rr"])
    someone.fill(page.get_by_label("Oxygen saturation (SpO2)"), match["spo2"])
    if match["flow"]:
        someone.click(page.get_by_label("Oxygen", exact=True))
        someone.fill(page.get_by_label("Oxygen flow rate (if on oxygen)"), match["flow"])
    else:
        someone.click(page.get_by_label("Air", exact=True))
    someone.fill(page.get_by_label("Systolic blood pressure"), match["sys"])
    someone.fill(page.get_by_label("Diastolic blood pressure"), match["dia"])
    someone.fill(page.get_by_label("Heart rate"), match["hr"])
    someone.click(page.get_by_label(ACVPU[match["avpu"]], exact=True))
    someone.fill(page.get_by_label("Temperature"), match["temp"])


def open_from_ward_list(someone: Person) -> None:
    page = someone.page
    page.goto("/")
    ward_list = page.locator("h2:has-text('Patients on my ward') + ul")
    someone.click(ward_list.get_by_role("link", name=PATIENT_NAME))
    expect(page.get_by_role("heading", name="Patient summary")).to_be_visible()


# -- the nurse ---------------------------------------------------------------------------


@given("Margaret Ellis has been admitted to Ward 7")
def admitted(ward: Ward) -> None:
    # The ward, the patient and her in-progress Encounter there, as the PAS feed sent them.
    assert "Loaded 3 resource(s), 0 unchanged, 0 rejected" in ward.facts["admission"]


@when("nurse Adeyemi signs in with her password and authenticator app")
def nurse_signs_in(ward: Ward, browser: Browser) -> None:
    nurse = staff(ward, browser, NURSE)
    assert nurse.secret is not None  # the nurse's role needs a second factor


@then("Margaret Ellis is on her ward list")
def on_ward_list(ward: Ward, browser: Browser) -> None:
    page = staff(ward, browser, NURSE).page
    page.goto("/")
    expect(page.get_by_role("heading", name="Patients on my ward")).to_be_visible()
    expect(page.get_by_role("link", name=PATIENT_NAME)).to_have_count(1)
    staff(ward, browser, NURSE).check_page("Find a patient, with the ward list")


@when("she opens Margaret Ellis's record from the ward list")
def open_record(ward: Ward, browser: Browser) -> None:
    # Whoever signed in last in this scenario: the nurse, or the doctor.
    someone = ward.people[ward.facts.get("current", NURSE)]
    someone.start("Open a patient from the ward list", budget=FIND_BUDGET)
    open_from_ward_list(someone)
    someone.finish()
    someone.check_page("Patient summary")


@then(parsers.parse('the patient banner shows "{name}", her date of birth and her hospital number'))
def banner_shows(ward: Ward, browser: Browser, name: str) -> None:
    banner = staff(ward, browser, NURSE).page.get_by_role("region", name="Patient banner")
    expect(banner).to_contain_text(name)
    expect(banner).to_contain_text(BIRTH_DATE[:4])
    expect(banner).to_contain_text(MRN)


@given("nurse Adeyemi has Margaret Ellis's record open")
def nurse_record_open(ward: Ward, browser: Browser) -> None:
    nurse = staff(ward, browser, NURSE)
    ward.facts["current"] = NURSE
    nurse.page.goto(SUMMARY)
    expect(nurse.page.get_by_role("heading", name="Patient summary")).to_be_visible()


@when(parsers.parse('she records the {round} observations "{observations}"'))
def record_observations(ward: Ward, browser: Browser, round: str, observations: str) -> None:
    nurse = staff(ward, browser, NURSE)
    page = nurse.page
    if page.url.endswith("/vitals?saved=1") or "/vitals" in page.url:
        page.goto(SUMMARY)
    mistake = "BP 1280/" in observations
    nurse.start(
        f"Record the {round} vital signs" + (" (with a mistake)" if mistake else ""),
        budget=RECOVER_VITALS_BUDGET if mistake else RECORD_VITALS_BUDGET,
    )
    nurse.click(page.get_by_role("link", name="Record vital signs"))
    expect(page.get_by_role("heading", name="Record vital signs")).to_be_visible()
    if ward.facts.get("vitals form checked") is None:
        nurse.check_page("Record vital signs")
        ward.facts["vitals form checked"] = True
    fill_observations(nurse, observations)
    nurse.click(page.get_by_role("button", name="Save"))
    ward.facts["mistake"] = mistake
    if not mistake:
        nurse.finish()


@then(parsers.parse('the form is shown again with an error summary naming "{field}"'))
def error_summary(ward: Ward, browser: Browser, field: str) -> None:
    someone = ward.people[ward.facts["current"]]
    summary = someone.page.get_by_role("alert")
    expect(summary).to_contain_text("There is a problem")
    expect(summary.get_by_role("link")).to_have_count(1)
    expect(summary.get_by_role("link")).to_contain_text(field)
    someone.check_page(someone.page.locator("h1").inner_text() + ", with an error")


@then("the other values she typed are kept")
def values_kept(ward: Ward, browser: Browser) -> None:
    page = staff(ward, browser, NURSE).page
    expect(page.get_by_label("Respiratory rate")).to_have_value("16")
    expect(page.get_by_label("Temperature")).to_have_value("36.9")
    expect(page.get_by_label("Systolic blood pressure")).to_have_attribute("aria-invalid", "true")


@when(parsers.parse('she follows the error to the field, corrects it to "{value}" and saves'))
def correct_vitals(ward: Ward, browser: Browser, value: str) -> None:
    nurse = staff(ward, browser, NURSE)
    page = nurse.page
    nurse.click(page.get_by_role("alert").get_by_role("link"))
    expect(page.get_by_label("Systolic blood pressure")).to_be_focused()
    nurse.fill(page.get_by_label("Systolic blood pressure"), value)
    nurse.click(page.get_by_role("button", name="Save"))
    expect(page.get_by_role("heading", name="Vital signs", exact=True)).to_be_visible()
    nurse.finish(recovered=True)


@then(parsers.parse('the observations are saved with "{news2}"'))
def saved_with(ward: Ward, browser: Browser, news2: str) -> None:
    nurse = staff(ward, browser, NURSE)
    saved = nurse.page.get_by_role("status").filter(has_text="Vital signs saved")
    expect(saved).to_contain_text(news2)
    nurse.check_page(f"Vital signs, saved ({news2.split(':')[1].strip()})")


@then("she is not prompted to escalate")
def no_escalation(ward: Ward, browser: Browser) -> None:
    expect(staff(ward, browser, NURSE).page.get_by_role("alert")).to_have_count(0)


@then(parsers.parse('she is prompted to escalate for an "{response}"'))
def escalation(ward: Ward, browser: Browser, response: str) -> None:
    page = staff(ward, browser, NURSE).page
    alert = page.get_by_role("alert")
    expect(alert).to_have_count(1)
    expect(alert).to_contain_text(re.compile(re.escape(response), re.IGNORECASE))
    expect(alert).to_contain_text("Escalate now")


@then(parsers.parse("the vital signs page lists {count:d} sets of observations"))
def vitals_listed(ward: Ward, browser: Browser, count: int) -> None:
    page = staff(ward, browser, NURSE).page
    expect(page.locator("#vitals-table tbody tr")).to_have_count(count)


# -- the doctor --------------------------------------------------------------------------


@given("doctor Okafor has signed in with her password and authenticator app")
def doctor_signs_in(ward: Ward, browser: Browser) -> None:
    staff(ward, browser, DOCTOR)
    ward.facts["current"] = DOCTOR


@then(parsers.parse('the summary warns "{warning}"'))
def summary_warns(ward: Ward, browser: Browser, warning: str) -> None:
    page = ward.people[ward.facts["current"]].page
    expect(page.get_by_role("alert")).to_contain_text(warning)
    expect(page.get_by_role("heading", name=warning)).to_be_visible()


@when(parsers.parse('she writes a note titled "{title}" saying "{text}"'))
def write_note(ward: Ward, browser: Browser, title: str, text: str) -> None:
    doctor = staff(ward, browser, DOCTOR)
    page = doctor.page
    doctor.start("Write a note", budget=WRITE_NOTE_BUDGET)
    doctor.click(page.get_by_role("link", name="Write a note"))
    expect(page.get_by_role("heading", name="Write a note")).to_be_visible()
    doctor.check_page("Write a note")
    doctor.fill(page.get_by_label("Title"), title)
    doctor.fill(page.get_by_label("Note", exact=True), text)
    doctor.click(page.get_by_role("button", name="Save"))
    expect(page.get_by_role("status")).to_contain_text("Note saved")
    doctor.finish()


@then(parsers.parse('the note "{title}" is in the timeline'))
def note_in_timeline(ward: Ward, browser: Browser, title: str) -> None:
    page = staff(ward, browser, DOCTOR).page
    timeline = page.get_by_role("region", name="Timeline")
    expect(timeline.get_by_role("link", name=title)).to_be_visible()


# -- the receptionist --------------------------------------------------------------------


@given("receptionist Patel has signed in with her password")
def receptionist_signs_in(ward: Ward, browser: Browser) -> None:
    staff(ward, browser, RECEPTIONIST)
    ward.facts["current"] = RECEPTIONIST


def find_patient(someone: Person, text: str) -> None:
    page = someone.page
    page.goto("/")
    someone.fill(page.get_by_label("Find a patient"), text)
    someone.press(page.get_by_label("Find a patient"), "Enter")
    expect(page.get_by_role("heading", name="1 patient found")).to_be_visible()
    someone.click(page.get_by_role("link", name=PATIENT_NAME))


@when("she finds Margaret Ellis by her hospital number")
def find_by_mrn(ward: Ward, browser: Browser) -> None:
    receptionist = staff(ward, browser, RECEPTIONIST)
    receptionist.start("Find a patient by hospital number", budget=FIND_BUDGET)
    find_patient(receptionist, MRN)
    receptionist.finish()


@then("she sees Margaret Ellis's appointments, not her clinical record")
def sees_appointments(ward: Ward, browser: Browser) -> None:
    receptionist = staff(ward, browser, RECEPTIONIST)
    page = receptionist.page
    expect(page.get_by_role("heading", name="Appointments", exact=True)).to_be_visible()
    expect(page.get_by_role("region", name="Patient banner")).to_contain_text(
        "Allergies are not shown to your role"
    )
    patient_nav = page.get_by_role("navigation", name="Patient record")
    expect(patient_nav.get_by_role("link", name="Vital signs")).to_have_count(0)
    receptionist.check_page("Appointments")


@when(
    parsers.parse(
        'she books "{reason}" {weeks:d} weeks from today at "{clock}" but types the date as "{bad}"'
    )
)
def book_with_mistake(
    ward: Ward, browser: Browser, reason: str, weeks: int, clock: str, bad: str
) -> None:
    receptionist = staff(ward, browser, RECEPTIONIST)
    page = receptionist.page
    day = (datetime.now(UTC) + timedelta(weeks=weeks)).date()
    ward.facts["appointment"] = (reason, day, clock)
    receptionist.start("Book a follow-up appointment (with a mistake)", budget=BOOK_RECOVER_BUDGET)
    receptionist.click(page.get_by_role("link", name="Book an appointment"))
    expect(page.get_by_role("heading", name="Book an appointment")).to_be_visible()
    receptionist.check_page("Book an appointment")
    receptionist.fill(page.get_by_label("What the appointment is for"), reason)
    receptionist.fill(page.get_by_label("Date", exact=True), f"{bad}/{day.year + 1}")
    receptionist.fill(page.get_by_label("Time", exact=True), clock)
    receptionist.click(page.get_by_role("button", name="Book appointment"))


@when("she follows the error to the date, corrects it and books the appointment")
def correct_booking(ward: Ward, browser: Browser) -> None:
    receptionist = staff(ward, browser, RECEPTIONIST)
    page = receptionist.page
    reason, day, _clock = ward.facts["appointment"]
    expect(page.get_by_label("What the appointment is for")).to_have_value(reason)
    receptionist.click(page.get_by_role("alert").get_by_role("link"))
    expect(page.get_by_label("Date", exact=True)).to_be_focused()
    receptionist.fill(page.get_by_label("Date", exact=True), f"{day.day}/{day.month}/{day.year}")
    receptionist.click(page.get_by_role("button", name="Book appointment"))
    expect(page.get_by_role("status")).to_contain_text("Appointment booked")
    receptionist.finish(recovered=True)


@then(parsers.parse('"{reason}" is listed as an upcoming appointment'))
def listed_upcoming(ward: Ward, browser: Browser, reason: str) -> None:
    receptionist = staff(ward, browser, RECEPTIONIST)
    page = receptionist.page
    _reason, day, clock = ward.facts["appointment"]
    upcoming = page.locator("h2:has-text('Upcoming') + ul")
    expect(upcoming).to_contain_text(reason)
    expect(upcoming).to_contain_text(f"{day.day} ")
    expect(upcoming).to_contain_text(clock)
    receptionist.check_page("Appointments, after booking")


@then("the doctor sees it under upcoming appointments on the summary")
def doctor_sees_appointment(ward: Ward, browser: Browser) -> None:
    page = staff(ward, browser, DOCTOR).page
    reason, _day, _clock = ward.facts["appointment"]
    page.goto(SUMMARY)
    section = page.get_by_role("region", name="Upcoming appointments")
    expect(section).to_contain_text(reason)


# -- the auditor -------------------------------------------------------------------------


@given("auditor Lin has signed in with her password and authenticator app")
def auditor_signs_in(ward: Ward, browser: Browser) -> None:
    staff(ward, browser, AUDITOR)
    ward.facts["current"] = AUDITOR


@when("she finds Margaret Ellis by name")
def find_by_name(ward: Ward, browser: Browser) -> None:
    auditor = staff(ward, browser, AUDITOR)
    auditor.start("Find a patient's access log by name", budget=FIND_BUDGET)
    find_patient(auditor, PATIENT_NAME)
    auditor.finish()


@then("she sees who looked at the record, not the clinical record")
def sees_access_log(ward: Ward, browser: Browser) -> None:
    auditor = staff(ward, browser, AUDITOR)
    page = auditor.page
    expect(page.get_by_role("heading", name="Who looked at this record")).to_be_visible()
    expect(page.get_by_role("region", name="Patient banner")).to_contain_text(
        "Allergies are not shown to your role"
    )
    auditor.check_page("Who looked at this record")


@then(parsers.parse('the access log names "{first}", "{second}" and "{third}"'))
def log_names(ward: Ward, browser: Browser, first: str, second: str, third: str) -> None:
    page = staff(ward, browser, AUDITOR).page
    log = page.get_by_role("region", name="All access")
    for username in (first, second, third):
        expect(log.get_by_role("cell", name=username, exact=True).first).to_be_visible()


@then("no break-the-glass access needs review")
def no_glass(ward: Ward, browser: Browser) -> None:
    page = staff(ward, browser, AUDITOR).page
    expect(page.get_by_text("Nobody has broken the glass to open this record.")).to_be_visible()


# -- help --------------------------------------------------------------------------------


@when(parsers.parse('she searches the help centre for "{words}"'))
def search_help(ward: Ward, browser: Browser, words: str) -> None:
    nurse = staff(ward, browser, NURSE)
    page = nurse.page
    nurse.start("Find help on escalation in the help centre", budget=HELP_BUDGET)
    nurse.click(page.get_by_role("navigation", name="Menu").get_by_role("link", name="Help"))
    nurse.fill(page.get_by_label("Search help"), words)
    nurse.press(page.get_by_label("Search help"), "Enter")
    expect(page.get_by_role("heading", name=re.compile(r"answers? found for"))).to_be_visible()
    nurse.finish()
    nurse.check_page("Help centre, search results")


@then(parsers.parse('she finds the answer "{question}"'))
def finds_answer(ward: Ward, browser: Browser, question: str) -> None:
    page = staff(ward, browser, NURSE).page
    expect(page.get_by_text(question)).to_be_visible()
    expect(page.get_by_text("emergency response", exact=False).first).to_be_visible()


@when("she selects Help on the vital signs page")
def help_on_vitals(ward: Ward, browser: Browser) -> None:
    nurse = staff(ward, browser, NURSE)
    page = nurse.page
    page.goto(SUMMARY + "/vitals")
    nurse.start("Open the manual page for vital signs", budget=1)
    nurse.click(page.get_by_role("link", name="Help: Record vital signs in the user manual"))
    nurse.finish()


@then(parsers.parse('the user manual opens at "{title}"'))
def manual_opens(ward: Ward, browser: Browser, title: str) -> None:
    page = staff(ward, browser, NURSE).page
    expect(page).to_have_url(re.compile(r"/manual/manual/record-vital-signs/$"))
    expect(page.get_by_role("heading", name=title)).to_be_visible()


# -- discharge ---------------------------------------------------------------------------


def ward_list(page: Page) -> list[str]:
    page.goto("/")
    heading = page.get_by_role("heading", name="Patients on my ward")
    if heading.count() == 0:
        return []
    return page.locator("h2:has-text('Patients on my ward') + ul a").all_inner_texts()


@given("Margaret Ellis is on nurse Adeyemi's ward list")
def still_on_ward(ward: Ward, browser: Browser) -> None:
    assert PATIENT_NAME in ward_list(staff(ward, browser, NURSE).page)


@when("nurse Adeyemi discharges her from her record")
def discharge(ward: Ward, browser: Browser) -> None:
    nurse = staff(ward, browser, NURSE)
    page = nurse.page
    page.goto(SUMMARY)
    nurse.start("Discharge a patient", budget=DISCHARGE_BUDGET)
    nurse.click(page.get_by_role("link", name="Discharge", exact=True))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Discharge {PATIENT_NAME}?")
    stay = page.locator(".nhsuk-summary-list")
    expect(stay).to_contain_text("Emergency hospital admission")
    expect(stay).to_contain_text(WARD_NAME)
    nurse.check_page("Discharge, confirmation")
    nurse.click(page.get_by_role("button", name="Discharge patient"))
    nurse.finish()


@then("she is told the patient was discharged")
def told_discharged(ward: Ward, browser: Browser) -> None:
    page = staff(ward, browser, NURSE).page
    expect(page.get_by_role("status").first).to_contain_text("Patient discharged")


@then("Margaret Ellis is no longer on nurse Adeyemi's ward list")
def off_ward(ward: Ward, browser: Browser) -> None:
    nurse = staff(ward, browser, NURSE)
    assert PATIENT_NAME not in ward_list(nurse.page)
    nurse.check_page("Find a patient, after discharge")
