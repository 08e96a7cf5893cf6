"""Alert rules: every alert has a runbook, a firing unit test and only documented metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "monitoring" / "rules.yml"
TESTS = sorted((ROOT / "deploy" / "monitoring" / "tests").glob("*.yml"))
RUNBOOK_BASE = "https://github.com/wardbook/wardbook/blob/main/"
METRIC = re.compile(r"\b(wardbook_[a-z_]+|node_[a-z_]+|probe_[a-z_]+)\b")


def _alerts() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def _documented() -> set[str]:
    text = (ROOT / "docs" / "operations" / "metrics.md").read_text()
    return set(re.findall(r"`((?:wardbook|node|probe)_[a-z_]+)`", text))


def _base(name: str) -> str:
    for suffix in ("_bucket", "_count", "_sum"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def test_every_alert_links_to_its_own_runbook() -> None:
    alerts = _alerts()
    assert len(alerts) >= 15
    for alert in alerts:
        url = alert["annotations"]["runbook_url"]
        path = f"docs/operations/runbooks/{alert['alert']}.md"
        assert url == RUNBOOK_BASE + path, alert["alert"]
        page = (ROOT / path).read_text()
        assert page.startswith(f"# {alert['alert']}\n")
        for heading in ("## Meaning", "## Impact", "## Diagnosis", "## Mitigation"):
            assert heading in page, (path, heading)


def test_no_orphan_runbooks() -> None:
    names = {a["alert"] for a in _alerts()}
    pages = {p.stem for p in (ROOT / "docs" / "operations" / "runbooks").glob("*.md")}
    assert pages - {"index"} == names  # index.md lists the runbooks; it is no alert's page


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {a["alert"] for a in _alerts()}
    assert names <= fired, f"alerts without a firing test: {sorted(names - fired)}"
    assert len(quiet & names) >= len(names) // 2  # most alerts also have a negative case


def test_burn_rate_windows_and_factors_follow_the_sre_workbook() -> None:
    alerts = {a["alert"]: a for a in _alerts()}
    for sli, budget in (("availability_errors", "0.001"), ("latency_slow", "0.01")):
        kind = "Availability" if sli.startswith("availability") else "Latency"
        fast = alerts[f"Wardbook{kind}BurnRateFast"]["expr"]
        slow = alerts[f"Wardbook{kind}BurnRateSlow"]["expr"]
        assert f"ratio_rate1h > (14.4 * {budget})" in fast
        assert f"ratio_rate5m > (14.4 * {budget})" in fast
        assert f"ratio_rate6h > (6 * {budget})" in slow
        assert f"ratio_rate30m > (6 * {budget})" in slow


def test_rules_and_dashboard_use_only_documented_metrics() -> None:
    documented = _documented()
    assert {
        "wardbook_http_requests_total",
        "wardbook_http_request_duration_seconds",
        "wardbook_db_pool_connections",
        "wardbook_replica_lag_seconds",
        "wardbook_backup_last_success_timestamp_seconds",
        "wardbook_break_glass_total",
        "wardbook_logins_total",
        "wardbook_export_jobs",
        "wardbook_jobs_queued",
        "node_filesystem_avail_bytes",
        "node_filesystem_size_bytes",
        "probe_ssl_earliest_cert_expiry",
    } <= documented
    dashboard = json.loads(
        (ROOT / "deploy/monitoring/grafana/wardbook-golden-signals.json").read_text()
    )
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {_base(m) for text in [RULES.read_text(), *exprs] for m in METRIC.findall(text)}
    assert used <= documented, sorted(used - documented)


def test_dashboard_covers_the_golden_signals() -> None:
    dashboard = json.loads(
        (ROOT / "deploy/monitoring/grafana/wardbook-golden-signals.json").read_text()
    )
    titles = " ".join(p["title"] for p in dashboard["panels"])
    for signal in ("Traffic", "Errors", "Latency", "Saturation"):
        assert signal in titles
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
