"""The API guide shows each interaction twice (curl and Python, both executed); the quick start
and the release notes agree with README and the package version."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import wardbook
from tests.docs.blocks import DOCS, ROOT, RUN, SHELL_LANGUAGES, parse_blocks

GUIDE_PAGES = ["api/read-write.md", "api/search.md", "api/operations.md"]
INTERACTIONS = {
    "api/read-write.md": [
        "create",
        "read",
        "update",
        "vread and history",
        "conditional create",
        "conditional update",
        "patch",
        "delete",
    ],
    "api/search.md": [
        "Parameters, modifiers and prefixes",
        "Chaining and `_has`",
        "`_include`, `_revinclude` and `_sort`",
        "Paging, counting and summaries",
    ],
    "api/operations.md": [
        "transaction",
        "batch",
        "$everything",
        "$validate",
        "$export (Bulk Data)",
        "$lastn",
    ],
}


def sections(path: Path) -> dict[str, tuple[int, int]]:
    """`## heading` -> (first line, last line) of its section."""
    lines = path.read_text(encoding="utf-8").splitlines()
    starts = [(i + 1, line[3:].strip()) for i, line in enumerate(lines) if line.startswith("## ")]
    bounds = [*(start for start, _ in starts[1:]), len(lines) + 1]
    return {title: (start, end - 1) for (start, title), end in zip(starts, bounds, strict=True)}


@pytest.mark.parametrize("page", GUIDE_PAGES)
def test_every_interaction_has_a_curl_and_a_python_example_that_run(page: str) -> None:
    path = DOCS / page
    found = sections(path)
    assert list(found) == INTERACTIONS[page]
    blocks = [b for b in parse_blocks(path) if b.mark == RUN]
    for title, (first, last) in found.items():
        inside = [b for b in blocks if first <= b.line <= last]
        curl = [b for b in inside if b.language in SHELL_LANGUAGES and "curl -fsS" in b.code]
        python = [b for b in inside if b.language == "python"]
        assert curl, f"{page} '{title}': no run block with `curl -fsS`"
        assert python, f"{page} '{title}': no run block in Python"


def test_quick_start_shows_the_readme_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```sh\n(.*?)```", readme, re.DOTALL)
    assert first_block is not None
    quick_start = parse_blocks(DOCS / "quick-start.md")[0]
    assert quick_start.code.strip() == first_block.group(1).strip()


def test_release_notes_start_with_the_current_version() -> None:
    notes = (DOCS / "release-notes.md").read_text(encoding="utf-8")
    first = re.search(r"^## (\S+)", notes, re.MULTILINE)
    assert first is not None
    assert first.group(1) == wardbook.__version__
