"""The go-live item for alert rules: loaded in Prometheus, or at least a valid rules file.

``--prometheus-url`` asks Prometheus which rules it has *loaded* (``GET /api/v1/rules``,
Prometheus HTTP API); ``--rules-file`` only proves that a rules file is valid
(``promtool check rules``) and names every alert. The report names the source used.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess  # runs promtool with a fixed argv  # nosec B404
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from wardbook.ops.golive.report import FAIL, PASS, Item, Options

# The alerts of deploy/monitoring/rules.yml (a test keeps the two equal): Prometheus must
# have every one loaded before go-live, each with its runbook in docs/operations/runbooks/.
EXPECTED_ALERTS = (
    "WardbookAvailabilityBurnRateFast",
    "WardbookAvailabilityBurnRateSlow",
    "WardbookLatencyBurnRateFast",
    "WardbookLatencyBurnRateSlow",
    "WardbookDown",
    "WardbookErrorSpike",
    "WardbookFailedLoginSpike",
    "WardbookBreakGlassUsed",
    "WardbookDbPoolSaturated",
    "WardbookJobQueueBacklog",
    "WardbookExportJobsFailing",
    "WardbookReplicaLagHigh",
    "WardbookBackupTooOld",
    "WardbookDiskSpaceLow",
    "WardbookDiskWillFillIn4Hours",
    "WardbookCertificateExpiresSoon",
    "WardbookCertificateExpiryCritical",
)
RULE_GROUP_PREFIX = "wardbook"
_ALERT_LINE = re.compile(r"^\s*-?\s*alert:\s*[\"']?([A-Za-z_:][A-Za-z0-9_:]*)[\"']?\s*$", re.M)


def alert_names_in_file(text: str) -> list[str]:
    """The ``alert:`` names of a Prometheus rules file (YAML), in file order."""
    return _ALERT_LINE.findall(text)


def _promtool_check(promtool: str, rules_file: Path) -> str | None:
    """None when ``promtool check rules`` accepts the file, else its last output line."""
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell  # nosec B603
        [promtool, "check", "rules", str(rules_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode == 0:
        return None
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


def _loaded_alerts(prometheus_url: str) -> tuple[set[str], list[str]]:
    """Alert names in Wardbook's rule groups loaded by Prometheus, and rules in error."""
    url = prometheus_url.rstrip("/") + "/api/v1/rules?type=alert"
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"--prometheus-url must be http(s)://..., not {prometheus_url!r}")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - scheme checked above  # nosec B310
        body = json.loads(response.read())
    if body.get("status") != "success":
        raise ValueError(f"Prometheus answered {body.get('status')}: {body.get('error')}")
    names: set[str] = set()
    broken: list[str] = []
    for group in body.get("data", {}).get("groups", []):
        if not str(group.get("name", "")).startswith(RULE_GROUP_PREFIX):
            continue
        for rule in group.get("rules", []):
            if rule.get("type") != "alerting":
                continue
            names.add(str(rule.get("name")))
            if rule.get("health") == "err":
                broken.append(f"{rule.get('name')}: {rule.get('lastError')}")
    return names, broken


def check_alert_rules(options: Options) -> Item:
    """Every Wardbook alert is loaded in Prometheus (or at least in a valid rules file)."""
    title = "Alert rules"
    fix = (
        "load deploy/monitoring/rules.yml into Prometheus (rule_files) and reload it;"
        " see docs/operations/metrics.md"
    )
    expected: tuple[str, ...] = EXPECTED_ALERTS
    in_file: list[str] = []
    file_source = ""
    if options.rules_file is not None:
        promtool = options.promtool or shutil.which("promtool")
        if promtool is None:
            return Item(
                "alert-rules",
                title,
                FAIL,
                "promtool not found, so the rules file cannot be checked",
                "install the prometheus package (scripts/deploy/install-tools.sh) or give"
                " --prometheus-url",
            )
        try:
            text = options.rules_file.read_text("utf-8")
            problem = _promtool_check(promtool, options.rules_file)
        except (OSError, subprocess.SubprocessError) as error:
            problem = str(error)
            text = ""
        if problem:
            return Item(
                "alert-rules",
                title,
                FAIL,
                f"promtool check rules {options.rules_file}: {problem}",
                fix,
                f"rules file {options.rules_file}",
            )
        in_file = alert_names_in_file(text)
        # The site's own alerts in the file must be loaded too, never fewer than Wardbook's.
        expected = tuple(dict.fromkeys((*EXPECTED_ALERTS, *in_file)))
        file_source = f"rules file {options.rules_file} (valid: promtool check rules)"
    if options.prometheus_url:
        source = f"Prometheus at {options.prometheus_url} (GET /api/v1/rules)"
        if file_source:
            source += f", expected alerts from {file_source}"
        try:
            loaded, broken = _loaded_alerts(options.prometheus_url)
        except (OSError, ValueError, urllib.error.URLError) as error:
            return Item(
                "alert-rules",
                title,
                FAIL,
                f"cannot read the loaded rules: {error}",
                "give the Prometheus URL the operators use (e.g. http://prometheus:9090)",
                source,
            )
        missing = [name for name in expected if name not in loaded]
        problems = []
        if missing:
            problems.append(f"{len(missing)} alert(s) not loaded: {', '.join(missing)}")
        if broken:
            problems.append(f"rule(s) failing to evaluate: {'; '.join(broken)}")
        if problems:
            return Item("alert-rules", title, FAIL, "; ".join(problems), fix, source)
        return Item(
            "alert-rules",
            title,
            PASS,
            f"all {len(expected)} alerts loaded and evaluating without error",
            source=source,
        )
    if file_source:
        missing = [name for name in EXPECTED_ALERTS if name not in in_file]
        if missing:
            return Item(
                "alert-rules",
                title,
                FAIL,
                f"the rules file lacks {len(missing)} alert(s): {', '.join(missing)}",
                "use the rules file of this release (deploy/monitoring/rules.yml)",
                file_source,
            )
        return Item(
            "alert-rules",
            title,
            PASS,
            f"{len(in_file)} alerts, every Wardbook alert present (proves the file, not that"
            " Prometheus loaded it: give --prometheus-url for that)",
            source=file_source,
        )
    return Item(
        "alert-rules",
        title,
        FAIL,
        "no source for the alert rules was given",
        "give --prometheus-url URL (rules Prometheus has loaded) or --rules-file PATH"
        " (checked with promtool)",
    )
