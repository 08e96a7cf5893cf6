"""The administrator guide's commands, run as written against a scratch database.

Each page of docs/admin/ marks the command blocks this test covers with the line
``<!-- tested: tests/cli/test_admin_guide.py -->`` above their ``<!-- illustrative -->``
mark (the docs harness does not run them: they change accounts and clients). The page's
covered blocks run in order in one bash session, with ``WARDBOOK_DATABASE_URL`` naming a new,
migrated SQLite database; a ``text`` block right after a command block is the output the
guide shows, and must be what the commands printed (stdout and stderr, in order), where
``<...>`` stands for a value that differs each run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.blocks import DOCS, ILLUSTRATIVE, SHELL_LANGUAGES, Block, parse_blocks

TESTED = "<!-- tested: tests/cli/test_admin_guide.py -->"
BANNER = "@@admin-guide-block@@"
VENV_BIN = Path(sys.executable).parent


def covered_blocks(path: Path) -> list[tuple[Block, Block | None]]:
    """(command block, the text block showing its output or None), in page order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = parse_blocks(path)
    covered = []
    for index, block in enumerate(blocks):
        if block.mark != ILLUSTRATIVE or block.language not in SHELL_LANGUAGES:
            continue
        if block.line < 3 or lines[block.line - 3].strip() != TESTED:
            continue
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        shown = following if following is not None and following.language == "text" else None
        covered.append((block, shown))
    return covered


PAGES = sorted(p for p in (DOCS / "admin").glob("*.md") if covered_blocks(p))


def expected_pattern(text: str) -> re.Pattern[str]:
    """The shown output as a whole-text pattern; ``<...>`` matches anything on one line."""
    parts = [re.escape(part) for part in text.strip("\n").split("<...>")]
    return re.compile("[^\n]*".join(parts))


def run_page(path: Path, tmp_path: Path) -> list[str]:
    """Run the page's covered blocks in one bash session; each block's combined output."""
    url = f"sqlite:///{tmp_path}/admin-guide.db"
    env = {
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "WARDBOOK_DATABASE_URL": url,
        "PYTHONUNBUFFERED": "1",  # stdout and stderr interleave as on a terminal
        "LANG": "C.UTF-8",
    }
    subprocess.run(["wardbook", "migrate"], env=env, check=True, capture_output=True)
    script = ["set -euo pipefail"]
    for block, _ in covered_blocks(path):
        script += [f"echo '{BANNER}'", block.code]
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    return result.stdout.split(BANNER + "\n")[1:]


@pytest.mark.parametrize("path", PAGES, ids=[p.name for p in PAGES])
def test_the_guide_commands_run_and_print_what_the_guide_shows(path: Path, tmp_path: Path) -> None:
    outputs = run_page(path, tmp_path)
    blocks = covered_blocks(path)
    assert len(outputs) == len(blocks)
    for (block, shown), output in zip(blocks, outputs, strict=True):
        if shown is None:
            continue
        pattern = expected_pattern(shown.code)
        assert pattern.fullmatch(output.strip("\n")), (
            f"{block.where}: the guide shows\n{shown.code}\nbut the commands printed\n{output}"
        )


def test_the_admin_guide_has_tested_pages() -> None:
    """A renamed marker must not make this test silently cover nothing."""
    assert {p.name for p in PAGES} >= {"users.md", "smart-clients.md"}
