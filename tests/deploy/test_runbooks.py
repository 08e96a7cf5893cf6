"""Every alert in the Prometheus rules files under deploy/ has its runbook page, linked from
the alert, from the runbook index and from the documentation site's navigation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "docs/operations/runbooks"


def rules_files() -> list[Path]:
    """YAML files under deploy/ holding Prometheus rule groups (not promtool test files)."""
    found = []
    for path in sorted([*ROOT.glob("deploy/**/*.yml"), *ROOT.glob("deploy/**/*.yaml")]):
        try:
            documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except yaml.YAMLError:
            continue  # templated files (e.g. Helm-style) are not rules files
        if any(isinstance(d, dict) and isinstance(d.get("groups"), list) for d in documents):
            found.append(path)
    return found


def alerting_rules() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in rules_files():
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            for group in document.get("groups", []):
                for rule in group.get("rules", []):
                    if "alert" in rule:
                        yield path, rule


def nav_pages(node: Any) -> Iterator[str]:
    """Every page path in an mkdocs nav tree."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from nav_pages(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from nav_pages(value)


def test_the_rules_files_are_found() -> None:
    assert ROOT / "deploy/monitoring/rules.yml" in rules_files()
    assert len(list(alerting_rules())) >= 17


def test_every_alert_has_a_runbook_page_it_links_to() -> None:
    problems = []
    for path, rule in alerting_rules():
        name = rule["alert"]
        page = RUNBOOKS / f"{name}.md"
        if not page.exists():
            problems.append(f"{name} ({path.name}): no {page.relative_to(ROOT)}")
            continue
        if not page.read_text(encoding="utf-8").startswith(f"# {name}\n"):
            problems.append(f"{page.name}: the title is not the alert name")
        url = rule.get("annotations", {}).get("runbook_url", "")
        if not url.endswith(f"docs/operations/runbooks/{name}.md"):
            problems.append(f"{name}: runbook_url {url!r} does not point at its page")
    assert not problems, problems


def test_the_runbook_index_and_the_site_nav_list_every_alert() -> None:
    index = (RUNBOOKS / "index.md").read_text(encoding="utf-8")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    in_nav = set(nav_pages(config["nav"]))
    assert "operations/runbooks/index.md" in in_nav
    for _, rule in alerting_rules():
        name = rule["alert"]
        assert f"]({name}.md)" in index, f"docs/operations/runbooks/index.md lacks {name}"
        assert f"`{name}` | {rule['labels']['severity']} |" in index, f"{name}: wrong severity"
        assert f"operations/runbooks/{name}.md" in in_nav, f"mkdocs.yml nav lacks {name}"


def test_no_runbook_is_left_without_an_alert() -> None:
    alerts = {rule["alert"] for _, rule in alerting_rules()}
    pages = {p.stem for p in RUNBOOKS.glob("*.md")} - {"index"}
    assert pages == alerts
