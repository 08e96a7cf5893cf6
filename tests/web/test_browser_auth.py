"""Signing in with MFA and breaking the glass, in Chromium against a server with auth on.

A nurse account is made with `wardbook user add` (the TOTP secret read from the printed
otpauth URI); the nurse enrols the authenticator, signs out, signs in again with the
password and a fresh code, opens a patient outside their care (every demo patient is) and
breaks the glass. axe checks each page and state.
"""

from __future__ import annotations

import re
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.server.conftest import WARDBOOK
from tests.web.conftest import DEMO_PATIENTS, DEMO_SEED, demo_database
from tests.web.test_browser import assert_accessible, check, screenshot
from wardbook.demo import generate
from wardbook.ops.server_process import ServerProcess

pytestmark = pytest.mark.xdist_group("browser")

PASSWORD = "correct horse battery staple 42"


@dataclass
class AuthServer(ServerProcess):
    """The shared server harness with authentication on, and the demo user's TOTP secret."""

    no_auth: bool = False
    secret: str = ""


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    folder: Path = tmp_path_factory.mktemp("web-auth")
    database = demo_database(folder)
    added = subprocess.run(
        [
            *(WARDBOOK, "user", "add", "nurse.kim", "--role", "nurse"),
            *("--password-stdin", "--database", database),
        ],
        input=PASSWORD.encode(),
        check=True,
        capture_output=True,
    )
    uri = re.search(rb"otpauth://\S+", added.stdout)
    assert uri is not None, added.stdout
    secret = urllib.parse.parse_qs(urllib.parse.urlsplit(uri.group().decode()).query)["secret"][0]
    server = AuthServer(database, log=folder / "server.log", secret=secret)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(browser: Browser, auth_server: AuthServer) -> Iterator[Page]:
    context = browser.new_context(
        base_url=auth_server.base, viewport={"width": 1280, "height": 900}
    )
    yield context.new_page()
    context.close()


def fresh_code(secret: str, not_this: str | None = None) -> str:
    """A current TOTP code, waiting for the next step if ``not_this`` was just used."""
    totp = pyotp.TOTP(secret)
    code = totp.now()
    while code == not_this:
        time.sleep(1)
        code = totp.now()
    return code


def test_sign_in_with_mfa_then_break_the_glass(page: Page, auth_server: AuthServer) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=/$"))
    check(page, "sign in")
    screenshot(page, "sign-in")
    page.get_by_label("Username").fill("nurse.kim")
    page.get_by_label("Password").fill("wrong password entirely")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("There is a problem")
    assert_accessible(page, "sign in, error shown")
    screenshot(page, "sign-in-error")

    page.get_by_label("Username").fill("nurse.kim")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Set up your authenticator app")).to_be_visible()
    assert_accessible(page, "enrol authenticator")
    screenshot(page, "set-up-authenticator")
    first = fresh_code(auth_server.secret)
    page.get_by_label("Authentication code").fill(first)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    assert_accessible(page, "recovery codes")
    screenshot(page, "recovery-codes")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out")).to_be_visible()

    # Sign in again: password, then the authentication code (MFA).
    page.goto("/")
    page.get_by_label("Username").fill("nurse.kim")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label("Authentication code")).to_be_visible()
    check(page, "MFA")
    screenshot(page, "authentication-code")
    page.get_by_label("Authentication code").fill(fresh_code(auth_server.secret, first))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Find a patient", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    # The session's idle timeout (15 minutes) is announced 2 minutes ahead and can be extended.
    page.clock.install()
    page.goto("/")
    warning = page.get_by_role("alertdialog", name="You will be signed out soon")
    expect(warning).to_be_hidden()
    page.clock.fast_forward(13 * 60 * 1000 + 1000)
    expect(warning).to_be_visible()
    expect(page.get_by_role("heading", name="You will be signed out soon")).to_be_focused()
    check(page, "session timeout warning open")
    screenshot(page, "session-timeout")
    page.get_by_role("button", name="Stay signed in").click()
    expect(warning).to_be_hidden()

    # Every demo patient is outside this nurse's care: the glass must be broken.
    family = next(iter(generate(DEMO_PATIENTS, seed=DEMO_SEED)))[0]["name"][0]["family"]
    page.get_by_role("search").get_by_label("Find a patient").fill(family)
    page.locator("#search-results a").first.click()
    expect(page.get_by_role("heading", name="You are not caring for this patient")).to_be_visible()
    expect(page.get_by_role("region", name="Patient banner")).to_have_count(0)
    check(page, "break the glass")
    screenshot(page, "break-the-glass")
    page.get_by_role("button", name="Break the glass").click()
    expect(page.locator(".nhsuk-error-summary")).to_contain_text("Enter the reason")
    expect(page.get_by_label("Reason")).to_have_attribute("aria-invalid", "true")
    check(page, "break the glass, error shown")
    screenshot(page, "break-the-glass-error")
    page.get_by_label("Reason").fill("Called to a cardiac arrest on Ward 5")
    page.get_by_role("button", name="Break the glass").click()
    expect(page.get_by_role("region", name="Patient banner")).to_be_visible()
    expect(page.get_by_role("heading", name="Patient summary")).to_be_visible()
    check(page, "chart after breaking the glass")
