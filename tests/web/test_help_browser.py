"""The help pages in Chromium: axe (WCAG 2.2 AA), target sizes and reflow for each state.

A server whose manual folder does not exist shows the "not built" page at /manual/; the
help centre is checked with every answer, with search results and with none found, and the
search is used with the keyboard only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.server.conftest import Server, free_port
from tests.web.conftest import demo_database
from tests.web.test_browser import check

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture(scope="module")
def help_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("help")
    server = Server(demo_database(folder), free_port())
    previous = os.environ.get("WARDBOOK_MANUAL_DIR")
    os.environ["WARDBOOK_MANUAL_DIR"] = str(folder / "not-built")
    try:
        server.start()
    finally:
        if previous is None:
            os.environ.pop("WARDBOOK_MANUAL_DIR", None)
        else:
            os.environ["WARDBOOK_MANUAL_DIR"] = previous
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(browser: Browser, help_server: Server) -> Iterator[Page]:
    context = browser.new_context(
        base_url=help_server.base, viewport={"width": 1280, "height": 900}
    )
    yield context.new_page()
    context.close()


def test_help_centre_search_and_the_unbuilt_manual_are_accessible(page: Page) -> None:
    page.goto("/help")
    check(page, "help centre")
    search = page.get_by_label("Search help")
    search.focus()
    page.keyboard.type("book follow-up")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="1 answer found for “book follow-up”")).to_be_visible()
    expect(page.get_by_text("How do I book a follow-up appointment?")).to_be_visible()
    check(page, "help centre, one answer found")
    search = page.get_by_label("Search help")
    search.fill("zebra")
    search.press("Enter")
    expect(page.get_by_role("heading", name="0 answers found for “zebra”")).to_be_visible()
    check(page, "help centre, nothing found")
    page.get_by_role("link", name="Help: Help and feedback in the user manual").click()
    expect(page.get_by_role("heading", name="The user manual is not available yet")).to_be_visible()
    check(page, "manual not built")
    page.get_by_role("main").get_by_role("link", name="help centre").click()
    expect(page.get_by_role("heading", name="Help centre", exact=True)).to_be_visible()
