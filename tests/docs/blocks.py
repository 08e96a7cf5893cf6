"""Fenced code blocks of the documentation and their `<!-- run -->` / `<!-- illustrative -->` marks.

The convention (docs/contributing-docs.md): every fenced block whose language is one of
``MARKED_LANGUAGES`` has, on the line just above its opening fence, either ``<!-- run -->``
(tests/docs/test_run_blocks.py executes it against a live server) or ``<!-- illustrative -->``
(shown, never executed). A page may add ``<!-- docs-server: auth -->`` anywhere to have its
run blocks executed against a server with authentication on instead of ``--no-auth``
(the mark alone on its line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "console"})
MARKED_LANGUAGES = SHELL_LANGUAGES | {"python"}
RUN = "<!-- run -->"
ILLUSTRATIVE = "<!-- illustrative -->"
AUTH_SERVER = "<!-- docs-server: auth -->"

# An opening fence: indentation (lists, admonitions), 3+ backticks or tildes, an info string.
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, the mark above it and its code."""

    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    mark: str | None  # RUN, ILLUSTRATIVE or None
    code: str

    @property
    def where(self) -> str:
        """`docs/page.md:12`, for messages."""
        shown = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{shown}:{self.line}"


def _language(info: str) -> str:
    """`bash`, `{ .bash .copy }` or `python title="x.py"` -> the language, lower case."""
    info = info.strip().lstrip("{").strip()
    word = info.split()[0] if info else ""
    return word.lstrip(".").lower()


def _dedent(lines: list[str], indent: str) -> str:
    """Remove the fence's own indentation from the block's lines."""
    return "\n".join(line[len(indent) :] if line.startswith(indent) else line for line in lines)


def parse_blocks(path: Path) -> list[Block]:
    """Every fenced block of a markdown file, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, indent = opening["fence"], opening["indent"]
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = i + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        above = lines[i - 1].strip() if i > 0 else ""
        mark = above if above in (RUN, ILLUSTRATIVE) else None
        blocks.append(
            Block(
                path, i + 1, _language(opening["info"]), mark, _dedent(lines[i + 1 : end], indent)
            )
        )
        i = end + 1
    return blocks


def doc_pages() -> list[Path]:
    """Every markdown page under docs/, sorted."""
    return sorted(DOCS.rglob("*.md"))


def needs_auth(path: Path) -> bool:
    """Whether the page asks for a server with authentication on (the mark on a line of its own)."""
    return any(
        line.strip() == AUTH_SERVER for line in path.read_text(encoding="utf-8").splitlines()
    )


def console_commands(code: str) -> str:
    """The commands of a console transcript: `$ ` lines and their `\\` continuations."""
    commands: list[str] = []
    continued = False
    for line in code.splitlines():
        if continued:
            commands.append(line)
        elif line.startswith("$ "):
            commands.append(line[2:])
        else:
            continue
        continued = line.rstrip().endswith("\\")
    return "\n".join(commands)
