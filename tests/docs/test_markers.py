"""Every shell or python block in docs/ says whether it runs: the line above its fence."""

from __future__ import annotations

from pathlib import Path

from tests.docs.blocks import (
    ILLUSTRATIVE,
    MARKED_LANGUAGES,
    RUN,
    console_commands,
    doc_pages,
    parse_blocks,
)


def unmarked_blocks(pages: list[Path]) -> list[str]:
    """file:line of every shell/python block with neither mark above it."""
    return [
        block.where
        for page in pages
        for block in parse_blocks(page)
        if block.language in MARKED_LANGUAGES and block.mark is None
    ]


def test_every_shell_and_python_block_is_marked() -> None:
    unmarked = unmarked_blocks(doc_pages())
    assert not unmarked, (
        f"put `{RUN}` or `{ILLUSTRATIVE}` on the line just above each of these fences"
        f" (docs/contributing-docs.md): {unmarked}"
    )


def test_an_unmarked_block_is_reported(tmp_path: Path) -> None:
    page = tmp_path / "docs" / "page.md"
    page.parent.mkdir()
    page.write_text(
        "# Page\n\n<!-- run -->\n```bash\ntrue\n```\n\n```sh\nfalse\n```\n\n"
        "- item\n\n    <!-- illustrative -->\n    ```python\n    pass\n    ```\n"
        "\n    ```console\n    $ ls\n    ```\n\n```http\nGET /\n```\n"
    )
    blocks = parse_blocks(page)
    assert [(b.line, b.language, b.mark) for b in blocks] == [
        (4, "bash", RUN),
        (8, "sh", None),
        (15, "python", ILLUSTRATIVE),
        (19, "console", None),
        (23, "http", None),
    ]
    assert blocks[2].code == "pass"
    unmarked = unmarked_blocks([page])
    assert [where.rsplit(":", 1)[1] for where in unmarked] == ["8", "19"]


def test_console_blocks_run_only_their_prompted_commands() -> None:
    transcript = '$ curl -fsS \\\n    $FHIR/metadata\n{"resourceType": ...}\n$ echo done\ndone'
    assert console_commands(transcript) == "curl -fsS \\\n    $FHIR/metadata\necho done"
