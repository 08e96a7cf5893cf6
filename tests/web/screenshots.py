"""Screenshots for the clinician user manual (docs/manual/), captured by the browser tests.

Every capture writes two images, ``NAME-desktop.png`` (1280 CSS px wide) and
``NAME-320px.png`` (320 CSS px wide, the WCAG 1.4.10 reflow width), and records both names
in :data:`CAPTURED`, so ``tests/web/test_manual_screenshots.py`` can prove that every image
the manual shows was produced by this run.

``make screenshots`` (``WARDBOOK_SCREENSHOTS=1``) writes the committed copies in
docs/screenshots/; every other run (``make test``) writes to build/screenshots/ so a test
run never dirties the work tree.
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
MANUAL_SCREENSHOTS = ROOT / "docs" / "screenshots"
BUILD_SCREENSHOTS = ROOT / "build" / "screenshots"
DESKTOP_WIDTH = 1280
NARROW_WIDTH = 320

# File names written by this process (pytest-xdist runs every browser test on one worker).
CAPTURED: set[str] = set()


def screenshot_folder() -> Path:
    """docs/screenshots for ``make screenshots``, build/screenshots otherwise."""
    if os.environ.get("WARDBOOK_SCREENSHOTS") == "1":
        return MANUAL_SCREENSHOTS
    return BUILD_SCREENSHOTS


def capture(page: Page, name: str) -> None:
    """Full-page screenshots of the page as it is now, at desktop width and at 320 px."""
    folder = screenshot_folder()
    folder.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    assert original is not None
    if original["width"] != DESKTOP_WIDTH:
        page.set_viewport_size({"width": DESKTOP_WIDTH, "height": original["height"]})
    desktop = f"{name}-desktop.png"
    page.screenshot(path=str(folder / desktop), full_page=True)
    page.set_viewport_size({"width": NARROW_WIDTH, "height": 800})
    # The charts redraw on resize: a full-page capture measured before they have shrunk
    # comes out wider than 320 px (the page reflows; test_browser's checks prove that).
    page.wait_for_function(
        "width => document.documentElement.scrollWidth <= width", arg=NARROW_WIDTH
    )
    narrow = f"{name}-320px.png"
    page.screenshot(path=str(folder / narrow), full_page=True)
    page.set_viewport_size(original)
    CAPTURED.update((desktop, narrow))
