"""Persistent Bulk Data export jobs (table ``export_job``, migration 0005), both backends.

A job row is the whole state of one ``$export`` request: what was asked, by whom, how far
it got and, once done, the manifest's output entries. A worker process *claims* a job by
taking a lease (``owner``, ``lease_until``) in one atomic statement and renews it while it
runs; when the process dies the lease runs out and another worker (or the restarted
server) claims the job again. Every statement runs in its own transaction
(:meth:`Repository.run_statement`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from wardbook.storage.base import Dialect, Repository, as_bytes

ACCEPTED = "accepted"
IN_PROGRESS = "in-progress"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"

_COLUMNS = (
    "id, status, request, params, principal, created, transaction_time, progress, output,"
    " error, owner, lease_until"
)


@dataclass(frozen=True, slots=True)
class ExportJob:
    """One export job as stored. ``params``/``principal``/``output`` are decoded JSON."""

    id: str
    status: str
    request: str
    params: dict[str, Any]
    principal: dict[str, Any]
    created: int
    transaction_time: int | None = None
    progress: str | None = None
    output: list[dict[str, Any]] | None = None
    error: str | None = None
    owner: str | None = None
    lease_until: int | None = None


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _decode(value: Any) -> Any:
    return None if value is None else orjson.loads(as_bytes(value))


def _job(row: tuple[Any, ...]) -> ExportJob:
    return ExportJob(
        id=row[0],
        status=row[1],
        request=row[2],
        params=_decode(row[3]),
        principal=_decode(row[4]),
        created=row[5],
        transaction_time=row[6],
        progress=row[7],
        output=_decode(row[8]),
        error=row[9],
        owner=row[10],
        lease_until=row[11],
    )


class ExportJobs:
    """The export_job table through one repository."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository

    async def _run(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return await self.repository.run_statement(sql, params)

    async def add(self, job: ExportJob) -> None:
        await self._run(
            # constant columns and states:
            f"INSERT INTO export_job ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # nosec B608
            [
                job.id,
                job.status,
                job.request,
                _json(job.params),
                _json(job.principal),
                job.created,
                job.transaction_time,
                job.progress,
                None if job.output is None else _json(job.output),
                job.error,
                job.owner,
                job.lease_until,
            ],
        )

    async def get(self, job_id: str) -> ExportJob | None:
        # constant columns and states:
        rows = await self._run(f"SELECT {_COLUMNS} FROM export_job WHERE id = ?", [job_id])  # nosec B608
        return _job(rows[0]) if rows else None

    async def claim(self, owner: str, now: int, lease_until: int) -> ExportJob | None:
        """Take the oldest job that waits or whose runner's lease ran out; None if none."""
        lock = " FOR UPDATE SKIP LOCKED" if self.repository.dialect is Dialect.POSTGRES else ""
        runnable = (
            f"status IN ('{ACCEPTED}', '{IN_PROGRESS}')"
            " AND (lease_until IS NULL OR lease_until < ?)"
        )
        rows = await self._run(
            # constant columns and states:
            f"UPDATE export_job SET owner = ?, lease_until = ?, status = '{IN_PROGRESS}',"  # nosec B608
            " progress = 'Starting'"
            f" WHERE id = (SELECT id FROM export_job WHERE {runnable}"
            f" ORDER BY created LIMIT 1{lock}) AND {runnable}"
            f" RETURNING {_COLUMNS}",
            [owner, lease_until, now, now],
        )
        return _job(rows[0]) if rows else None

    async def start(self, job_id: str, owner: str, transaction_time: int) -> bool:
        """Record the snapshot time of a (re)started run; False when the job was lost."""
        rows = await self._run(
            # constant columns and states:
            "UPDATE export_job SET transaction_time = ?, output = NULL, error = NULL"  # nosec B608
            f" WHERE id = ? AND owner = ? AND status = '{IN_PROGRESS}' RETURNING id",
            [transaction_time, job_id, owner],
        )
        return bool(rows)

    async def heartbeat(self, job_id: str, owner: str, lease_until: int, progress: str) -> bool:
        """Renew the lease and report progress; False when the job was cancelled or taken."""
        rows = await self._run(
            "UPDATE export_job SET lease_until = ?, progress = ?"  # constant columns and states  # nosec B608
            f" WHERE id = ? AND owner = ? AND status = '{IN_PROGRESS}' RETURNING id",
            [lease_until, progress, job_id, owner],
        )
        return bool(rows)

    async def finish(
        self, job_id: str, owner: str, output: list[dict[str, Any]], progress: str
    ) -> bool:
        rows = await self._run(
            # constant columns and states:
            f"UPDATE export_job SET status = '{COMPLETED}', output = ?, progress = ?,"  # nosec B608
            " lease_until = NULL"
            f" WHERE id = ? AND owner = ? AND status = '{IN_PROGRESS}' RETURNING id",
            [_json(output), progress, job_id, owner],
        )
        return bool(rows)

    async def fail(self, job_id: str, owner: str, error: str) -> None:
        await self._run(
            # constant columns and states:
            f"UPDATE export_job SET status = '{FAILED}', error = ?, lease_until = NULL"  # nosec B608
            f" WHERE id = ? AND owner = ? AND status = '{IN_PROGRESS}'",
            [error, job_id, owner],
        )

    async def cancel(self, job_id: str) -> bool:
        """Mark a job cancelled (its runner notices at its next heartbeat)."""
        rows = await self._run(
            # constant columns and states:
            f"UPDATE export_job SET status = '{CANCELLED}', lease_until = NULL, output = NULL"  # nosec B608
            f" WHERE id = ? AND status <> '{CANCELLED}' RETURNING id",
            [job_id],
        )
        return bool(rows)
