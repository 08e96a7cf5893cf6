"""Prometheus metrics (INTERFACES.md: ``/metrics``, ``wardbook_*``).

Names and labels are a contract with the alert rules in ``deploy/monitoring/`` and are
listed in ``docs/operations/metrics.md``. Every metric is declared at import, so a scrape
shows its ``# HELP``/``# TYPE`` lines from start-up, before it has any sample.

Served by several granian worker processes, the values live in prometheus_client's
multiprocess files (``PROMETHEUS_MULTIPROC_DIR``, set by ``wardbook serve`` before any
worker starts) and a scrape of any worker sums them; without that variable (tests, one
process) the ordinary in-memory registry is used.

Labels are bounded: ``resource_type`` is an R4 type name or ``-``, ``interaction`` one of
the route table's codes or a fixed word (``web``, ``probe``, ``metrics``, ``unknown``), and
``code`` the HTTP status. Nothing from a request's path or query beyond that is a label.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric

from wardbook.fhir.registry import resource_types

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Latency buckets around a FHIR server's range: sub-millisecond reads to slow searches.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "wardbook_http_requests",
    "HTTP requests answered, by FHIR interaction, resource type and status code.",
    ("interaction", "resource_type", "code"),
)
HTTP_DURATION = Histogram(
    "wardbook_http_request_duration_seconds",
    "Time from request to the end of the response, by FHIR interaction and resource type.",
    ("interaction", "resource_type"),
    buckets=_BUCKETS,
)
DB_POOL = Gauge(
    "wardbook_db_pool_connections",
    "Database connections of this server by state (idle, busy), summed over workers.",
    ("state",),
    multiprocess_mode="livesum",
)
REPLICA_LAG = Gauge(
    "wardbook_replica_lag_seconds",
    "Replay lag of each configured read replica, as last measured.",
    ("replica",),
    multiprocess_mode="livemax",
)
BACKUP_LAST_SUCCESS = Gauge(
    "wardbook_backup_last_success_timestamp_seconds",
    "Unix time of the last successful backup recorded in the database (0: never).",
    multiprocess_mode="livemostrecent",
)
BREAK_GLASS = Counter(
    "wardbook_break_glass",
    "Break-the-glass accesses granted.",
)
LOGINS = Counter(
    "wardbook_logins",
    "Sign-in attempts by outcome (success, failure, locked, mfa_failure).",
    ("outcome",),
)
EXPORT_JOBS = Gauge(
    "wardbook_export_jobs",
    "Bulk export jobs by state, as last counted.",
    ("state",),
    multiprocess_mode="livemostrecent",
)
JOBS_QUEUED = Gauge(
    "wardbook_jobs_queued",
    "Background jobs (export, reindex) waiting or running, as last counted.",
    multiprocess_mode="livemostrecent",
)
AUDIT_WRITTEN = Counter(
    "wardbook_audit_events_written",
    "AuditEvents committed by the audit writer (with their hash-chain rows).",
)
AUDIT_PENDING = Gauge(
    "wardbook_audit_pending",
    "Audit records buffered, not yet committed, summed over workers.",
    multiprocess_mode="livesum",
)
AUDIT_WRITER_RESTARTS = Counter(
    "wardbook_audit_writer_restarts",
    "Audit writer processes found dead and started again.",
)

DECLARED: tuple[Counter | Gauge | Histogram, ...] = (
    HTTP_REQUESTS,
    HTTP_DURATION,
    DB_POOL,
    REPLICA_LAG,
    BACKUP_LAST_SUCCESS,
    BREAK_GLASS,
    LOGINS,
    EXPORT_JOBS,
    JOBS_QUEUED,
    AUDIT_WRITTEN,
    AUDIT_PENDING,
    AUDIT_WRITER_RESTARTS,
)

Refresher = Callable[[], Awaitable[None]]
_refreshers: list[Refresher] = []


def add_refresher(refresh: Refresher) -> None:
    """Run ``refresh`` before each scrape (gauges read from the database: backups, jobs)."""
    _refreshers.append(refresh)


def clear_refreshers() -> None:
    _refreshers.clear()


_known_types: frozenset[str] | None = None


def type_label(name: object) -> str:
    """``name`` if it is an R4 resource type, else ``-`` (labels must stay bounded)."""
    global _known_types
    if _known_types is None:
        _known_types = resource_types()
    return name if isinstance(name, str) and name in _known_types else "-"


def interaction_label(scope: MutableMapping[str, Any]) -> tuple[str, str]:
    """(interaction, resource_type) labels for a finished request's ASGI scope."""
    interaction = scope.get("wardbook.interaction")
    if isinstance(interaction, str):
        params = scope.get("path_params") or {}
        return interaction, type_label(params.get("type"))
    path: str = scope.get("path", "")
    if path in ("/livez", "/readyz"):
        return "probe", "-"
    if path == "/metrics":
        return "metrics", "-"
    if path == "/fhir" or path.startswith("/fhir/"):
        return "unknown", "-"
    return "web", "-"


def observe_request(scope: MutableMapping[str, Any], status: int, seconds: float) -> None:
    interaction, resource_type = interaction_label(scope)
    HTTP_REQUESTS.labels(interaction, resource_type, str(status)).inc()
    HTTP_DURATION.labels(interaction, resource_type).observe(seconds)


class _DeclaredFirst:
    """A collector: the multiprocess samples, plus an empty family for each declared
    metric that has none yet (the multiprocess collector only knows metrics with files)."""

    def __init__(self, directory: str) -> None:
        self._registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(self._registry, path=directory)  # type: ignore[no-untyped-call]

    def collect(self) -> Iterator[Metric]:
        seen: set[str] = set()
        for family in self._registry.collect():
            seen.add(family.name)
            yield family
        for metric in DECLARED:
            for family in metric.collect():
                if family.name not in seen:
                    family.samples = []
                    yield family


def exposition() -> bytes:
    """The Prometheus text exposition of every metric of this server."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    registry.register(_DeclaredFirst(directory))
    return generate_latest(registry)


async def refresh() -> None:
    for refresher in list(_refreshers):
        await refresher()


CONTENT_TYPE = CONTENT_TYPE_LATEST
