"""``wardbook golive check``: the go-live checklist (wardbook.ops.golive), kept out of cli.py."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wardbook.config import ConfigError

Command = Callable[[str, str], argparse.ArgumentParser]


def cmd_golive_check(args: argparse.Namespace) -> int:
    """Print every checklist item; exit 1 when any fails."""
    from wardbook.cli import _settings
    from wardbook.ops.golive import Options, run_checks

    if args.cert_min_days < 0 or args.backup_max_age_hours <= 0:
        raise ConfigError("--cert-min-days must be 0 or more and --backup-max-age-hours above 0")
    options = Options(
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        cert_min_days=args.cert_min_days,
        backup_max_age_hours=args.backup_max_age_hours,
        prometheus_url=args.prometheus_url,
        rules_file=Path(args.rules_file) if args.rules_file else None,
    )
    report = run_checks(_settings(args), os.environ, options)
    print(report.as_json() if args.json else report.as_text())
    return 0 if report.ok else 1


def register(sub: Any, command: Command) -> None:
    """Add the ``golive`` command group to the top-level parser."""
    golive = sub.add_parser("golive", help="go-live tools", description="go-live tools")
    golive_sub = golive.add_subparsers(dest="golive_command", required=True)
    check = golive_sub.add_parser(
        "check",
        help="the go-live checklist: pass/fail per item with the fix; exit 1 on any failure",
        description="Inspect the configuration ($WARDBOOK_*) and the database of a deployment"
        " and print pass, fail or skip per go-live item, with how to fix each failure."
        " Exit 1 when any item fails.",
    )
    check.add_argument("--database", help="database URL (overrides $WARDBOOK_DATABASE_URL)")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.add_argument("--tls-cert", metavar="PEM", help="the served certificate, to check it")
    check.add_argument(
        "--cert-min-days",
        type=int,
        default=30,
        metavar="N",
        help="fail when the certificate expires within N days (default 30)",
    )
    check.add_argument(
        "--backup-max-age-hours",
        type=float,
        default=24.0,
        metavar="H",
        help="a restore-tested backup must be newer than this (default 24)",
    )
    check.add_argument(
        "--prometheus-url",
        metavar="URL",
        help="Prometheus to ask which alert rules are loaded (GET /api/v1/rules)",
    )
    check.add_argument(
        "--rules-file",
        metavar="PATH",
        help="Prometheus rules file: checked with promtool; with --prometheus-url, its"
        " alerts must be loaded too",
    )
    check.set_defaults(func=cmd_golive_check)
