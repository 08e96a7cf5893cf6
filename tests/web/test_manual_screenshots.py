"""The user manual's pages and images: every screenshot it shows was captured by this run.

Runs after tests/web/test_browser.py and test_browser_auth.py (same xdist group, so the same
worker, in collection order): those journeys capture the screenshots through
tests/web/screenshots.py, which records each file name it wrote. Here the manual's image
references must be a subset of those names, and each must also exist in the committed
docs/screenshots/ that the documentation site serves.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
import yaml

from tests.web import screenshots

pytestmark = pytest.mark.xdist_group("browser")

MANUAL = screenshots.ROOT / "docs" / "manual"
# The in-app help links to /manual/<page>/ (issue 11): these file names are an interface.
PAGES = [
    "index.md",
    "find-a-patient.md",
    "read-the-chart.md",
    "record-vital-signs.md",
    "write-a-note.md",
    "allergies.md",
    "medications.md",
    "problems.md",
    "discharge.md",
    "break-the-glass.md",
    "sign-in.md",
    "help-and-feedback.md",
    "training-video.md",
]
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)|<img\b[^>]*\bsrc=\"([^\"]+)\"")


class _MkdocsLoader(yaml.SafeLoader):
    """Reads mkdocs.yml: ``!!python/name:`` tags (Material extensions) load as None."""


_MkdocsLoader.add_multi_constructor("tag:yaml.org,2002:python/", lambda *_: None)


def referenced_images() -> dict[str, set[str]]:
    """Screenshot file names each manual page shows, by page."""
    found: dict[str, set[str]] = {}
    for page in sorted(MANUAL.glob("*.md")):
        for match in IMAGE.finditer(page.read_text(encoding="utf-8")):
            target = (page.parent / (match.group(1) or match.group(2))).resolve()
            assert target.parent == screenshots.MANUAL_SCREENSHOTS, (
                f"{page.name}: {target} is not in docs/screenshots/"
            )
            found.setdefault(page.name, set()).add(target.name)
    return found


def png_width(path: Path) -> int:
    """The width in pixels from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width: int = struct.unpack(">I", head[16:20])[0]
    return width


def test_manual_has_every_page_in_the_nav() -> None:
    assert sorted(p.name for p in MANUAL.glob("*.md")) == sorted(PAGES)
    config = yaml.load(  # a SafeLoader that only ignores python tags
        (screenshots.ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_MkdocsLoader
    )
    listed: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, str):
            listed.append(node)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)

    walk(config["nav"])
    assert sorted(p for p in listed if p.startswith("manual/")) == sorted(
        f"manual/{page}" for page in PAGES
    )


def test_every_task_page_shows_desktop_and_320px_screenshots() -> None:
    images = referenced_images()
    for page in PAGES:
        if page in ("index.md", "training-video.md"):
            continue
        shown = images.get(page, set())
        assert any(name.endswith("-desktop.png") for name in shown), f"{page}: no screenshot"
        for name in shown:
            if name.endswith("-desktop.png"):
                twin = name.removesuffix("-desktop.png") + "-320px.png"
                assert twin in shown, f"{page} shows {name} but not {twin}"


def test_manual_screenshots_were_captured_by_this_run() -> None:
    if not screenshots.CAPTURED:
        pytest.fail(
            "No screenshot was captured in this run: run this module together with "
            "tests/web/test_browser.py and tests/web/test_browser_auth.py (make test does)",
            pytrace=False,
        )
    referenced = set().union(*referenced_images().values())
    assert referenced, "the manual shows no screenshots"
    missing = sorted(referenced - screenshots.CAPTURED)
    assert missing == [], f"the manual shows images no test captured: {missing}"
    folder = screenshots.screenshot_folder()
    for name in sorted(referenced):
        captured = folder / name
        committed = screenshots.MANUAL_SCREENSHOTS / name
        assert committed.is_file(), f"{name} is not committed: run make screenshots"
        expected = screenshots.NARROW_WIDTH if name.endswith("-320px.png") else 1280
        assert png_width(captured) == expected, f"{captured} is not {expected} px wide"
        assert png_width(committed) == expected, f"{committed} is not {expected} px wide"
