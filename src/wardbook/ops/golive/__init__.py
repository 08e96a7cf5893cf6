"""``wardbook golive check``: an executable go-live checklist for a real deployment.

Each item inspects the configuration or the database the server would use and says
``pass``, ``fail`` (with how to fix it) or ``skip`` (not applicable, e.g. no replicas
configured). The command exits non-zero when any item fails, so a cut-over plan
(docs/operations/go-live.md) can gate on it. The items reuse the code the server and the
other commands run -- ``config check``, the migration runner, the user store,
``ops_backup_log`` written by ``wardbook backup``, the replica probe and ``audit verify`` --
so the checklist cannot drift from what it checks.

Alert rules need a source, named in the report: ``--prometheus-url`` asks Prometheus which
rules it has *loaded* (``GET /api/v1/rules``, Prometheus HTTP API); ``--rules-file`` only
proves that a rules file is valid (``promtool check rules``) and names every alert.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from wardbook.config import Settings
from wardbook.ops import config_check
from wardbook.ops.golive.alert_rules import EXPECTED_ALERTS, alert_names_in_file, check_alert_rules
from wardbook.ops.golive.configuration import (
    check_production_settings,
    check_secrets,
    check_tls,
    host_matches,
    secret_key_problem,
)
from wardbook.ops.golive.database import database_items
from wardbook.ops.golive.report import FAIL, PASS, SKIP, Item, Options, Report

__all__ = [
    "EXPECTED_ALERTS",
    "FAIL",
    "PASS",
    "SKIP",
    "Item",
    "Options",
    "Report",
    "alert_names_in_file",
    "check_alert_rules",
    "check_production_settings",
    "check_secrets",
    "check_tls",
    "host_matches",
    "run_checks",
    "secret_key_problem",
]


def run_checks(settings: Settings, environ: Mapping[str, str], options: Options) -> Report:
    """Every checklist item, in order: configuration first, then the database."""
    items = [
        check_production_settings(settings, environ),
        check_tls(settings, options),
        check_secrets(settings),
    ]
    items += asyncio.run(database_items(settings, options))
    items.append(check_alert_rules(options))
    return Report(settings.env, config_check.mask_url(settings.database_url), items)
