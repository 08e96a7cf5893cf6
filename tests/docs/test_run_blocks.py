"""Every `<!-- run -->` block of the docs runs, page by page, against a live server.

One server per page (a copy of the demo database, auth off unless the page says
`<!-- docs-server: auth -->`). A page's blocks run in order in one bash session under
`set -euo pipefail`: shell variables and files carry from one block to the next; python
blocks run with the venv's python and see exported variables (`WARDBOOK_URL`, `FHIR`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.blocks import (
    ROOT,
    RUN,
    SHELL_LANGUAGES,
    Block,
    console_commands,
    doc_pages,
    needs_auth,
    parse_blocks,
)
from tests.docs.conftest import start_page_server

PAGE_TIMEOUT_SECONDS = 600
BLOCK_BANNER = "==> docs block "
PYTHON_END = "__WARDBOOK_DOCS_PYTHON_END__"


def run_blocks(path: Path) -> list[Block]:
    """The page's blocks marked to run."""
    return [block for block in parse_blocks(path) if block.mark == RUN]


def page_script(blocks: list[Block]) -> str:
    """One bash script running the blocks in order, announcing each on stderr."""
    parts = ["set -euo pipefail"]
    for block in blocks:
        parts.append(f"echo '{BLOCK_BANNER}{block.where}' >&2")
        if block.language == "python":
            parts.append(f"\"$WARDBOOK_PYTHON\" - <<'{PYTHON_END}'\n{block.code}\n{PYTHON_END}")
        elif block.language == "console":
            parts.append(console_commands(block.code))
        else:
            parts.append(block.code)
    return "\n".join(parts) + "\n"


def failed_block(output: str) -> str:
    """The last block announced before the script stopped."""
    banners = [line for line in output.splitlines() if line.startswith(BLOCK_BANNER)]
    return banners[-1][len(BLOCK_BANNER) :] if banners else "(before the first block)"


PAGES = [path for path in doc_pages() if run_blocks(path)]


def test_run_blocks_are_only_shell_or_python() -> None:
    wrong = [
        block.where
        for path in doc_pages()
        for block in run_blocks(path)
        if block.language not in SHELL_LANGUAGES | {"python"}
    ]
    assert not wrong, f"`{RUN}` on a block that is neither shell nor python: {wrong}"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_page_run_blocks_succeed(page: Path, demo_database: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    server = start_page_server(demo_database, tmp_path, no_auth=not needs_auth(page))
    script = work.parent / "page.sh"
    script.write_text(page_script(run_blocks(page)))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "WARDBOOK_URL": server.base,
        "FHIR": server.fhir,
        "WARDBOOK_DATABASE_URL": server.database,
        "WARDBOOK_PYTHON": sys.executable,
    }
    try:
        result = subprocess.run(
            ["bash", str(script)],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PAGE_TIMEOUT_SECONDS,
        )
    finally:
        server.stop()
    output = result.stdout + result.stderr
    assert result.returncode == 0, (
        f"{failed_block(result.stderr)} exited {result.returncode}:\n{output[-4000:]}"
    )


def test_blocks_share_one_session_and_a_failure_names_its_block(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- run -->\n```bash\nexport GREETING=hello\nSECRET=kept\n```\n\n"
        "<!-- run -->\n```python\nimport os\nassert os.environ['GREETING'] == 'hello'\n```\n\n"
        '<!-- run -->\n```console\n$ test "$SECRET" = kept\n```\n\n'
        "<!-- run -->\n```sh\nfalse | cat\necho not reached\n```\n"
    )
    result = subprocess.run(
        ["bash", "-c", page_script(run_blocks(page))],
        env={**os.environ, "WARDBOOK_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr  # pipefail: `false | cat` fails the page
    assert failed_block(result.stderr) == f"{page}:19"
    assert "not reached" not in result.stdout
