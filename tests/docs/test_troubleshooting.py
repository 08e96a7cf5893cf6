"""Every message quoted in docs/troubleshooting.md is one the code really emits.

A quoted message is a code span in a table's **Message** column; `…` stands for a part that
varies (an id, a value), so each piece between them must occur, in order, in one source file
under src/wardbook.
"""

from __future__ import annotations

import re

from tests.docs.blocks import DOCS, ROOT

PAGE = DOCS / "troubleshooting.md"
SOURCES = {
    path: path.read_text(encoding="utf-8") for path in (ROOT / "src" / "wardbook").rglob("*.py")
}
CELL_SPLIT = re.compile(r"(?<!\\)\|")
CODE_SPAN = re.compile(r"`([^`]+)`")


def quoted_messages(markdown: str) -> list[str]:
    """The code spans of every table's Message column."""
    messages: list[str] = []
    column: int | None = None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            column = None
            continue
        cells = [cell.strip() for cell in CELL_SPLIT.split(line)[1:-1]]
        if column is None:
            column = cells.index("Message") if "Message" in cells else -1
        elif column >= 0 and not set(line) <= set("|-: "):
            messages += CODE_SPAN.findall(cells[column])
    return messages


def occurs_in(message: str, text: str) -> bool:
    """Whether the pieces of ``message`` between `…` occur in ``text`` in order."""
    at = 0
    for piece in (p for p in message.split("…") if p):
        found = text.find(piece, at)
        if found < 0:
            return False
        at = found + len(piece)
    return True


def test_every_quoted_message_occurs_in_the_source() -> None:
    messages = quoted_messages(PAGE.read_text(encoding="utf-8"))
    assert len(messages) >= 40, messages
    missing = [m for m in messages if not any(occurs_in(m, text) for text in SOURCES.values())]
    assert not missing, f"quoted in troubleshooting.md but not in src/wardbook: {missing}"


def test_a_made_up_message_is_caught() -> None:
    table = "| Symptom | Message | Cause |\n|---|---|---|\n| x | `The server is sad: …` | y |\n"
    assert quoted_messages(table) == ["The server is sad: …"]
    assert not any(occurs_in("The server is sad: …", text) for text in SOURCES.values())
    assert occurs_in("If-Match expects version … but …", "f'If-Match expects version {v} but '")
    assert not occurs_in("but … If-Match", "If-Match expects version {v} but")
