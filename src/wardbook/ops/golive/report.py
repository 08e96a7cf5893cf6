"""The go-live checklist's items, the operator's options and the report they make."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass(frozen=True, slots=True)
class Item:
    """One line of the checklist."""

    id: str
    title: str
    status: str  # pass | fail | skip
    detail: str
    fix: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Options:
    """What the operator tells the check beyond the configuration (CLI flags)."""

    tls_cert: Path | None = None
    cert_min_days: int = 30
    backup_max_age_hours: float = 24.0
    prometheus_url: str | None = None
    rules_file: Path | None = None
    promtool: str | None = None  # default: promtool on PATH


@dataclass(frozen=True, slots=True)
class Report:
    """Every item, in checklist order."""

    env: str
    database: str
    items: list[Item]

    @property
    def ok(self) -> bool:
        return all(item.status != FAIL for item in self.items)

    @property
    def failed(self) -> list[Item]:
        return [item for item in self.items if item.status == FAIL]

    def as_json(self) -> str:
        """The report as one JSON document (``--json``)."""
        body = {
            "ok": self.ok,
            "env": self.env,
            "database": self.database,
            "items": [asdict(item) for item in self.items],
        }
        return json.dumps(body, indent=2)

    def as_text(self) -> str:
        """One line per item, with the fix under each failure."""
        width = max(len(item.id) for item in self.items)
        lines = [f"Wardbook go-live check: WARDBOOK_ENV={self.env}, database {self.database}"]
        for item in self.items:
            lines.append(f"[{item.status.upper()}] {item.id:<{width}}  {item.title}: {item.detail}")
            if item.source:
                lines.append(f"       {'':<{width}}  source: {item.source}")
            if item.status == FAIL and item.fix:
                lines.append(f"       {'':<{width}}  fix: {item.fix}")
        if self.ok:
            lines.append(f"Ready to go live: all {len(self.items)} items pass or do not apply")
        else:
            names = ", ".join(item.id for item in self.failed)
            lines.append(
                f"NOT ready to go live: {len(self.failed)} of {len(self.items)} items failed"
                f" ({names})"
            )
        return "\n".join(lines)
