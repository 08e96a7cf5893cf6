"""The forced password change after an admin reset, in Chromium, by keyboard alone.

A receptionist account is made with `wardbook user add` and its password reset with
`wardbook user reset-password` (which sets must_change_password). After signing in, every
page leads to "Change your password"; a mismatch shows the error summary, whose link moves
focus to the field; the change then frees the account. axe checks each state; the user
manual's screenshots of the page are captured here.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.server.conftest import WARDBOOK
from tests.web.conftest import demo_database
from tests.web.test_browser import assert_accessible, check, screenshot
from wardbook.ops.server_process import ServerProcess

pytestmark = pytest.mark.xdist_group("browser")

FIRST = "correct horse battery staple 42"
TEMPORARY = "temporary handed over by phone"
NEW = "violet kettle under the stairs"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with authentication on; a receptionist whose password an admin reset."""
    folder: Path = tmp_path_factory.mktemp("web-password")
    database = demo_database(folder)
    for argv, secret in (
        (("user", "add", "rita", "--role", "receptionist"), FIRST),
        (("user", "reset-password", "rita"), TEMPORARY),
    ):
        subprocess.run(
            [WARDBOOK, *argv, "--password-stdin", "--database", database],
            input=secret.encode(),
            check=True,
            capture_output=True,
        )
    server = ServerProcess(database, no_auth=False, log=folder / "server.log")
    server.start()
    try:
        yield server.base
    finally:
        server.stop()


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def type_into(page: Page, label: str, text: str) -> None:
    """Tab until the field labelled ``label`` has focus, then type (no mouse)."""
    field = page.get_by_label(label, exact=True)
    for _ in range(40):
        if field.evaluate("el => el === document.activeElement"):
            break
        page.keyboard.press("Tab")
    else:
        pytest.fail(f"{label} cannot be reached with the Tab key")
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def test_forced_password_change_by_keyboard(page: Page) -> None:
    page.goto("/")
    type_into(page, "Username", "rita")
    type_into(page, "Password", TEMPORARY)
    page.keyboard.press("Enter")

    heading = page.get_by_role("heading", name="Change your password")
    expect(heading).to_be_visible()
    expect(page).to_have_url("/account/password?next=/")
    expect(page.get_by_text("An administrator has reset your password")).to_be_visible()
    check(page, "forced password change")
    screenshot(page, "change-your-password")
    page.goto("/help")  # every other page leads back, and on to it after the change
    expect(heading).to_be_visible()
    expect(page).to_have_url("/account/password?next=/help")

    type_into(page, "Current password", TEMPORARY)
    type_into(page, "New password", NEW)
    type_into(page, "Confirm new password", NEW + " again")
    page.keyboard.press("Enter")
    summary = page.locator(".nhsuk-error-summary")
    expect(summary).to_contain_text("The new passwords do not match")
    expect(page.get_by_label("Confirm new password")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Current password")).to_have_value("")  # never echoed
    assert_accessible(page, "password change, error shown")
    screenshot(page, "change-your-password-error")
    summary.get_by_role("link", name="The new passwords do not match: type it again").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Confirm new password")).to_be_focused()

    type_into(page, "Current password", TEMPORARY)
    type_into(page, "New password", NEW)
    type_into(page, "Confirm new password", NEW)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
    check(page, "password changed")
    page.get_by_role("link", name="Continue").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url("/help")
    expect(page.get_by_role("heading", name="Keyboard shortcuts")).to_be_visible()
    page.get_by_role("link", name="Change password").focus()
    page.keyboard.press("Enter")
    expect(heading).to_be_visible()
    expect(page.get_by_text("An administrator has reset your password")).to_have_count(0)
    expect(page.get_by_role("navigation", name="Menu")).to_be_visible()
    check(page, "change password from the header")
