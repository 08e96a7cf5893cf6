"""The acceptance run's results and docs/uat-report.md, written from them.

Deterministic on purpose: scenarios, steps, outcomes and the usability measures, in the
order the features list them, with no timestamps or durations, so a re-run leaves the file
unchanged unless behaviour changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPORT_PATH = Path(__file__).resolve().parents[2] / "docs" / "uat-report.md"
MARKS = {"passed": "✅ passed", "failed": "❌ failed", "not run": "⏭️ not run"}


@dataclass
class Task:
    """One task a person did, counted in steps (clicks, fields filled and keys pressed)."""

    name: str
    role: str
    budget: int
    clicks: int = 0
    fills: int = 0
    keys: int = 0
    recovered: bool | None = None

    @property
    def steps(self) -> int:
        return self.clicks + self.fills + self.keys


@dataclass(frozen=True)
class PageCheck:
    """The usability checklist of one page as one role saw it."""

    page: str
    role: str
    axe_violations: int
    help_target: str
    error_summary_links_fields: bool | None


@dataclass
class ScenarioResult:
    feature: str
    name: str
    steps: list[tuple[str, str, str]]  # keyword, text, outcome

    @property
    def outcome(self) -> str:
        outcomes = {o for _k, _t, o in self.steps}
        return "failed" if outcomes - {"passed"} else "passed"


@dataclass
class Results:
    scenarios: list[ScenarioResult] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    pages: dict[tuple[str, str], PageCheck] = field(default_factory=dict)

    def begin(self, feature: str, name: str, steps: list[Any]) -> None:
        self.scenarios.append(
            ScenarioResult(feature, name, [(s.keyword, s.name, "not run") for s in steps])
        )

    def step(self, feature: str, name: str, steps: list[Any], step: Any, outcome: str) -> None:
        current = self.scenarios[-1]
        assert current.name == name
        index = next(i for i, s in enumerate(steps) if s is step)
        keyword, text, _ = current.steps[index]
        current.steps[index] = (keyword, text, outcome)

    def record_task(self, task: Task) -> None:
        self.tasks.append(task)

    def record_page(self, check: PageCheck) -> None:
        self.pages.setdefault((check.page, check.role), check)

    def complete(self, expected: int) -> bool:
        return len(self.scenarios) == expected


RESULTS = Results()


def _yes_no(value: bool | None) -> str:
    return "not applicable" if value is None else ("yes" if value else "**no**")


def render(results: Results) -> str:
    """The report as Markdown."""
    passed = sum(1 for s in results.scenarios if s.outcome == "passed")
    lines = [
        "# User acceptance testing report",
        "",
        "Written by the acceptance run (`.venv/bin/pytest tests/acceptance`, also part of",
        "`make test`); do not edit by hand. The scenarios in `tests/acceptance/features/` follow",
        "one ward patient from admission to discharge through the web app in Chromium, against",
        "a real `wardbook serve` with authentication on and staff made with `wardbook user add`.",
        "",
        f"**{passed} of {len(results.scenarios)} scenarios passed.**",
        "",
        "## Scenarios",
        "",
    ]
    for scenario in results.scenarios:
        lines += [f"### {scenario.name}", "", f"Result: {MARKS[scenario.outcome]}", ""]
        for keyword, text, outcome in scenario.steps:
            mark = {"passed": "✅", "failed": "❌", "not run": "⏭️"}[outcome]
            lines.append(f"- {mark} **{keyword}** {text}")
        lines.append("")
    lines += [
        "## Usability measures",
        "",
        "Steps are what the person did: clicks, fields filled and keys pressed (typing a",
        "whole value into a field counts as one step). Each task has a budget of steps it",
        "must not exceed; a task that starts with a mistake counts the steps to recover.",
        "",
        "| Task | Role | Clicks | Fields filled | Keys pressed | Steps | Budget "
        "| Recovered from an error |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for task in results.tasks:
        lines.append(
            f"| {task.name} | {task.role} | {task.clicks} | {task.fills} | {task.keys} "
            f"| {task.steps} | {task.budget} | {_yes_no(task.recovered)} |"
        )
    lines += [
        "",
        "## Page checklist",
        "",
        "Every page a scenario reached was checked: axe-core finds no WCAG 2.0/2.1/2.2 A or AA",
        "violation, buttons and fields are at least 24 by 24 CSS px, nothing scrolls sideways at",
        "320 CSS px, there is one main heading, and the page's Help link opens its part of the",
        "user manual. Where the page shows an error summary, each of its links leads to a field.",
        "",
        "| Page | Role | axe violations | Help link opens | Error summary links to the fields |",
        "|---|---|---:|---|---|",
    ]
    for check in results.pages.values():
        lines.append(
            f"| {check.page} | {check.role} | {check.axe_violations} | {check.help_target} "
            f"| {_yes_no(check.error_summary_links_fields)} |"
        )
    lines.append("")
    return "\n".join(lines)


def write(path: Path, results: Results = RESULTS) -> None:
    """Write the report only when its text changed (keeps the file's mtime otherwise)."""
    text = render(results)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
