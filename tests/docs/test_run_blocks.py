"""Every `<!-- run -->` block of the docs runs, page by page, against a live server.

One server per page (a copy of the demo database, auth off unless the page says
`<!-- docs-server: auth -->`). A page's blocks run in order in one bash session under
`set -euo pipefail`: shell variables and files carry from one block to the next; python
blocks run with the venv's python and see exported variables (`WARDBOOK_URL`, `FHIR`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
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
PAGE_DONE = "==> docs page done"


def run_blocks(path: Path) -> list[Block]:
    """The page's blocks marked to run."""
    return [block for block in parse_blocks(path) if block.mark == RUN]


def page_script(blocks: list[Block]) -> str:
    """One bash script running the blocks in order, announcing each on stderr.

    The strict options are set again before every block (a block's `set +e` does not leak
    into the next), and the script ends by announcing PAGE_DONE: a block that calls `exit 0`
    would otherwise skip the rest of the page and still pass.
    """
    parts = []
    for block in blocks:
        parts.append(f"set -euo pipefail\necho '{BLOCK_BANNER}{block.where}' >&2")
        if block.language == "python":
            parts.append(f"\"$WARDBOOK_PYTHON\" - <<'{PYTHON_END}'\n{block.code}\n{PYTHON_END}")
        elif block.language == "console":
            parts.append(console_commands(block.code))
        else:
            parts.append(block.code)
    parts.append(f"echo '{PAGE_DONE}' >&2")
    return "\n".join(parts) + "\n"


def run_page_script(script: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """Run a page script in its own process group; whatever it left running is killed.

    Output goes to files, not pipes: a background process a block left behind would hold a
    pipe open and make the wait last as long as it does.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            ["bash", "-c", script],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            text=True,
            start_new_session=True,
        )
        try:
            returncode = process.wait(timeout=PAGE_TIMEOUT_SECONDS)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        out.seek(0)
        err.seek(0)
        return returncode, out.read(), err.read()


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
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "WARDBOOK_URL": server.base,
        "FHIR": server.fhir,
        "WARDBOOK_DATABASE_URL": server.database,
        "WARDBOOK_PYTHON": sys.executable,
    }
    try:
        returncode, stdout, stderr = run_page_script(page_script(run_blocks(page)), work, env)
    finally:
        server.stop()
    output = stdout + stderr
    assert returncode == 0, f"{failed_block(stderr)} exited {returncode}:\n{output[-4000:]}"
    assert PAGE_DONE in stderr, f"{failed_block(stderr)} ended the page early:\n{output[-4000:]}"


def test_blocks_share_one_session_and_a_failure_names_its_block(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- run -->\n```bash\nexport GREETING=hello\nSECRET=kept\nset +e\n```\n\n"
        "<!-- run -->\n```python\nimport os\nassert os.environ['GREETING'] == 'hello'\n```\n\n"
        '<!-- run -->\n```console\n$ test "$SECRET" = kept\n```\n\n'
        "<!-- run -->\n```sh\nfalse | cat\necho not reached\n```\n"
    )
    env = {**os.environ, "WARDBOOK_PYTHON": sys.executable}
    returncode, stdout, stderr = run_page_script(page_script(run_blocks(page)), tmp_path, env)
    # pipefail, set again after the first block's `set +e`: `false | cat` fails the page
    assert returncode == 1, stderr
    assert failed_block(stderr) == f"{page}:20"
    assert "not reached" not in stdout


def test_a_page_that_exits_early_is_caught(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- run -->\n```bash\n(sleep 300 &)\nexit 0\n```\n\n<!-- run -->\n```bash\nfalse\n```\n"
    )
    env = {**os.environ, "WARDBOOK_PYTHON": sys.executable}
    returncode, _, stderr = run_page_script(page_script(run_blocks(page)), tmp_path, env)
    assert returncode == 0
    assert PAGE_DONE not in stderr  # the test of a real page fails on this
    assert failed_block(stderr) == f"{page}:2"
