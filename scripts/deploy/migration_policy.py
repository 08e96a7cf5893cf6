#!/usr/bin/env python3
"""Expand/contract check for schema migrations (docs/operations/migrations.md).

A rolling deploy runs the previous release against the new schema, so a migration may only
*expand*: add tables, nullable columns or columns with a default, indexes, constraints that
existing rows and the old code satisfy. Statements that break the previous release's queries
(drop or rename a table or column, change a type, add NOT NULL to an existing column, add a
NOT NULL column without a default, truncate, drop a view, function or trigger) are *contract*
steps: allowed only in a file that declares them with a line

    -- contract: <what is removed>; unused since release <N>

and only once the release that stopped using them has been deployed everywhere.

Usage: migration_policy.py [FILE...]   (default: every migration but 0001_initial)
Exit 1 and one line per finding when a file breaks the rule.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = "docs/operations/migrations.md"
MIGRATIONS = ROOT / "src" / "wardbook" / "storage" / "migrations"
CONTRACT = re.compile(
    r"^--\s*contract:\s*(.+;\s*unused since release\s+\S+.*)$", re.MULTILINE | re.IGNORECASE
)
FORBIDDEN = [
    (re.compile(r"\bDROP\s+TABLE\b", re.I), "drops a table"),
    (re.compile(r"\bDROP\s+COLUMN\b", re.I), "drops a column"),
    (re.compile(r"\bRENAME\b", re.I), "renames a table or column"),
    (re.compile(r"\bALTER\s+COLUMN\s+\S+\s+(SET\s+DATA\s+)?TYPE\b", re.I), "changes a column type"),
    (
        re.compile(r"\bALTER\s+COLUMN\s+\S+\s+SET\s+NOT\s+NULL\b", re.I),
        "makes an existing column NOT NULL",
    ),
    (
        re.compile(r"(?:^|;)\s*TRUNCATE\b", re.I),
        "truncates a table",
    ),  # a statement, not a trigger event
    (
        re.compile(r"\bDROP\s+(VIEW|FUNCTION|TRIGGER|TYPE)\b", re.I),
        "drops a view, function, trigger or type",
    ),
]
ADD_COLUMN = re.compile(r"\bADD\s+COLUMN\s+(?:IF\s+NOT\s+EXISTS\s+)?([^,;]*)", re.I)


def strip_comments(sql: str) -> str:
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.S)
    return re.sub(r"--[^\n]*", " ", sql)


def findings(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    code = strip_comments(text)
    problems = [f"{path.name}: {why}" for pattern, why in FORBIDDEN if pattern.search(code)]
    for match in ADD_COLUMN.finditer(code):
        clause = match.group(1)
        if re.search(r"\bNOT\s+NULL\b", clause, re.I) and not re.search(
            r"\bDEFAULT\b", clause, re.I
        ):
            problems.append(
                f"{path.name}: adds a NOT NULL column without a DEFAULT ({clause.split()[0]})"
            )
    if problems and CONTRACT.search(text):
        return []  # a declared contract step
    return problems


def default_files() -> list[Path]:
    return sorted(p for p in MIGRATIONS.glob("*/*.sql") if not p.name.startswith("0001_"))


def main(argv: list[str]) -> int:
    files = [Path(a) for a in argv] or default_files()
    problems = [problem for path in files for problem in findings(path)]
    for problem in problems:
        print(f"migration policy: {problem} (breaks the previous release: see {DOC})")
    if not problems:
        print(f"migration policy: {len(files)} migration file(s) expand only")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
