"""``GET /metrics`` and the periodic refresh of gauges read from the process and database."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.requests import Request
from starlette.responses import Response

from wardbook.ops import metrics
from wardbook.storage.base import Repository

log = logging.getLogger("wardbook.metrics")

POOL_REFRESH_SECONDS = 10.0


def pool_refresher(repository: Repository) -> metrics.Refresher:
    async def refresh() -> None:
        for state, count in repository.pool_stats().items():
            metrics.DB_POOL.labels(state).set(count)

    return refresh


def backup_refresher(repository: Repository) -> metrics.Refresher:
    async def refresh() -> None:
        micros = await repository.last_backup_time()
        metrics.BACKUP_LAST_SUCCESS.set(0 if micros is None else micros / 1_000_000)

    return refresh


def replica_refresher(repository: Repository) -> metrics.Refresher:
    async def refresh() -> None:
        status = getattr(repository, "replica_status", None)
        if status is None:
            return
        for name, lag in status().items():
            metrics.REPLICA_LAG.labels(name).set(lag)

    return refresh


def jobs_refresher(repository: Repository) -> metrics.Refresher:
    """Export jobs by state and background jobs waiting or running, from their tables."""

    async def refresh() -> None:
        rows = await repository.query("SELECT status, count(*) FROM export_job GROUP BY status")
        counts = {str(state): int(n) for state, n in rows}
        for state in ("accepted", "in-progress", "completed", "failed", "cancelled"):
            metrics.EXPORT_JOBS.labels(state).set(counts.get(state, 0))
        reindex = await repository.query(
            "SELECT count(*) FROM reindex_job WHERE status IN ('queued', 'running')"
        )
        waiting = counts.get("accepted", 0) + counts.get("in-progress", 0) + int(reindex[0][0])
        metrics.JOBS_QUEUED.set(waiting)

    return refresh


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text format; gauges that come from the database are refreshed first."""
    try:
        await metrics.refresh()
    except Exception:  # a failing gauge source must not hide every other metric
        log.exception("refreshing metrics failed")
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


async def refresh_forever(interval: float = POOL_REFRESH_SECONDS) -> None:
    """Keep this worker's gauges current between scrapes (a scrape reaches one worker)."""
    while True:
        with contextlib.suppress(Exception):
            await metrics.refresh()
        await asyncio.sleep(interval)
