"""``$reindex``: make custom SearchParameters searchable, as a background, resumable job.

R4 searchparameter.html: a server may accept SearchParameter resources; it can only search
by one once every existing resource of its base types has rows for it. As HAPI FHIR and
the Microsoft FHIR server do, Wardbook runs that as a ``$reindex`` job (``POST [base]/$reindex``
or ``POST [base]/[type]/$reindex``; progress at ``GET [base]/$reindex-status/[job]`` or with
``wardbook reindex``):

1. *Sync*: the stored SearchParameter resources (not retired) are read; each usable one
   becomes a row of ``custom_search_param`` per base type, *indexing* until a job has
   covered that type (changed definitions go back to indexing; deleted ones are dropped at
   once). Indexing parameters are installed in :data:`wardbook.search.custom.CUSTOM`, so
   every write from now on extracts their rows.
2. *Scan*: every current resource of the job's types with ``pid`` up to the largest at the
   start is re-extracted and its index rows replaced by diff, in batches; ``last_pid`` and
   ``processed`` are committed per batch in ``reindex_job``, so an interrupted job (a
   restart) resumes where it stopped. A lease (owner, expiry) keeps two processes from
   running one job.
3. *Activate*: the job's parameters become *active*: searchable and in the
   CapabilityStatement.

The same rebuild also fills ``_text``/``_content`` rows of data stored before they existed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from wardbook.fhir import jsonio
from wardbook.fhir.registry import is_resource_type
from wardbook.search.custom import (
    CUSTOM,
    CustomParam,
    InvalidDefinition,
    clashes_with_core,
    definition_from_resource,
)
from wardbook.search.extract import extract_index
from wardbook.search.index import IndexRows
from wardbook.storage.base import Repository

log = logging.getLogger("wardbook.reindex")

BATCH = 200
LEASE_SECONDS = 30
# Other worker processes install new definitions within this many seconds (their refresh);
# a job waits that long after its sync before scanning, so no write misses a definition.
REFRESH_SECONDS = 2.0

_tasks: set[asyncio.Task[Any]] = set()


@dataclass(slots=True)
class Job:
    """One row of ``reindex_job``."""

    id: str
    types: list[str] | None
    status: str  # queued | running | done | failed
    total: int
    processed: int
    last_pid: int
    max_pid: int
    created_at: int
    updated_at: int
    finished_at: int | None = None
    error: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


def _now() -> int:
    return time.time_ns() // 1000


async def _sql(repository: Repository, text: str, params: Sequence[Any] = ()) -> list[Any]:
    async with repository.transaction() as tx:
        return await tx.runner.fetch_all(text, list(params))


# --- custom parameter definitions --------------------------------------------------------------


async def load_custom_parameters(repository: Repository) -> None:
    """Install the definitions the database holds (start-up, after a job, periodically)."""
    rows = await _sql(
        repository, "SELECT res_type, status, definition FROM custom_search_param ORDER BY url"
    )
    params: list[CustomParam] = []
    for res_type, status, definition in rows:
        try:
            param = definition_from_resource(jsonio.loads(definition))
        except (InvalidDefinition, ValueError):
            continue
        params.append(CustomParam(str(res_type), param, status == "active"))
    CUSTOM.install(params)


async def _stored_definitions(
    repository: Repository,
) -> tuple[dict[tuple[str, str], bytes], list[dict[str, str]]]:
    """(url, type) -> canonical JSON of the usable definitions; and what was skipped, why."""
    wanted: dict[tuple[str, str], bytes] = {}
    skipped: list[dict[str, str]] = []
    async for stored in repository.stream_current(["SearchParameter"]):
        if stored.body is None:
            continue
        resource = jsonio.loads(stored.body)
        if resource.get("status") == "retired":
            continue
        label = str(resource.get("url") or f"SearchParameter/{stored.id}")
        try:
            definition = definition_from_resource(resource)
        except InvalidDefinition as exc:
            skipped.append({"url": label, "reason": str(exc)})
            continue
        kept = {
            key: resource[key]
            for key in ("url", "code", "name", "type", "base", "expression", "target")
            if key in resource
        }
        for base in definition.base:
            if clashes_with_core(definition, base):
                skipped.append(
                    {
                        "url": label,
                        "reason": f"{base} already has a core parameter {definition.code}",
                    }
                )
                continue
            wanted[(definition.url, base)] = jsonio.dumps(kept)
    return wanted, skipped


async def _sync_definitions(
    repository: Repository, job_id: str, types: list[str] | None
) -> list[dict[str, str]]:
    wanted, skipped = await _stored_definitions(repository)
    now = _now()
    async with repository.transaction() as tx:
        run = tx.runner.fetch_all
        have = {
            (str(url), str(rtype)): bytes(definition)
            if not isinstance(definition, str)
            else definition.encode()
            for url, rtype, definition in await run(
                "SELECT url, res_type, definition FROM custom_search_param", []
            )
        }
        for url, rtype in have.keys() - wanted.keys():
            await run(
                "DELETE FROM custom_search_param WHERE url = ? AND res_type = ?", [url, rtype]
            )
        for (url, rtype), definition in wanted.items():
            covered = types is None or rtype in types
            if have.get((url, rtype)) == definition:
                if covered:  # still indexing: this job finishes it
                    await run(
                        "UPDATE custom_search_param SET job_id = ? WHERE url = ? AND res_type = ?"
                        " AND status = 'indexing'",
                        [job_id, url, rtype],
                    )
                continue
            await run(
                "DELETE FROM custom_search_param WHERE url = ? AND res_type = ?", [url, rtype]
            )
            await run(
                "INSERT INTO custom_search_param"
                " (url, res_type, definition, status, job_id, updated_at)"
                " VALUES (?, ?, ?, 'indexing', ?, ?)",
                [url, rtype, definition.decode(), job_id if covered else None, now],
            )
    await load_custom_parameters(repository)
    return skipped


# --- jobs --------------------------------------------------------------------------------------

_JOB_COLUMNS = (
    "id, types, status, total, processed, last_pid, max_pid, created_at, updated_at,"
    " finished_at, error, notes"
)


def _job(row: Sequence[Any]) -> Job:
    types = jsonio.loads(row[1]) if row[1] else None
    notes = jsonio.loads(row[11]) if row[11] else {}
    return Job(
        id=str(row[0]),
        types=types,
        status=str(row[2]),
        total=int(row[3]),
        processed=int(row[4]),
        last_pid=int(row[5]),
        max_pid=int(row[6]),
        created_at=int(row[7]),
        updated_at=int(row[8]),
        finished_at=None if row[9] is None else int(row[9]),
        error=None if row[10] is None else str(row[10]),
        notes=notes,
    )


async def get_job(repository: Repository, job_id: str) -> Job | None:
    # constant column list:
    rows = await _sql(repository, f"SELECT {_JOB_COLUMNS} FROM reindex_job WHERE id = ?", [job_id])  # nosec B608
    return _job(rows[0]) if rows else None


async def start_job(repository: Repository, types: list[str] | None) -> Job:
    """Record a new job (queued) and sync the definitions it will activate."""
    for rtype in types or ():
        if not is_resource_type(rtype):
            raise ValueError(f"{rtype} is not a resource type")
    job_id = uuid.uuid4().hex
    skipped = await _sync_definitions(repository, job_id, types)
    type_filter = ""
    params: list[Any] = []
    if types:
        type_filter = f" AND res_type IN ({', '.join('?' * len(types))})"
        params = list(types)
    total, max_pid = (
        await _sql(
            repository,
            "SELECT COUNT(*), COALESCE(MAX(pid), 0) FROM resource_entity"  # constant column list  # nosec B608
            f" WHERE NOT deleted{type_filter}",
            params,
        )
    )[0]
    now = _now()
    notes = {"skipped": skipped}
    await _sql(
        repository,
        "INSERT INTO reindex_job (id, types, status, total, processed, last_pid, max_pid,"
        " created_at, updated_at, notes) VALUES (?, ?, 'queued', ?, 0, 0, ?, ?, ?, ?)",
        [
            job_id,
            jsonio.dumps(types).decode() if types else None,
            int(total),
            int(max_pid),
            now,
            now,
            jsonio.dumps(notes).decode(),
        ],
    )
    job = await get_job(repository, job_id)
    if job is None:
        raise RuntimeError("internal error: job is missing")
    return job


async def _claim(repository: Repository, job_id: str, owner: str) -> bool:
    now = _now()
    async with repository.transaction() as tx:
        await tx.runner.fetch_all(
            "UPDATE reindex_job SET lease_owner = ?, lease_until = ?, status = 'running'"
            " WHERE id = ? AND status IN ('queued', 'running')"
            " AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)",
            [owner, now + LEASE_SECONDS * 1_000_000, job_id, owner, now],
        )
        rows = await tx.runner.fetch_all(
            "SELECT lease_owner, status FROM reindex_job WHERE id = ?", [job_id]
        )
    return bool(rows) and rows[0][0] == owner and rows[0][1] == "running"


def _extract(body: bytes) -> IndexRows:
    return extract_index(jsonio.loads(body))


async def run_job(
    repository: Repository,
    job_id: str,
    *,
    owner: str | None = None,
    settle: float = 0.0,
    batch: int = BATCH,
    progress: Callable[[Job], None] | None = None,
) -> Job:
    """Run (or resume) a job to the end; returns its final state (another owner: as found)."""
    owner = owner or uuid.uuid4().hex
    if not await _claim(repository, job_id, owner):
        job = await get_job(repository, job_id)
        if job is None:
            raise LookupError(job_id)
        return job
    job = await get_job(repository, job_id)
    if job is None:
        raise RuntimeError("internal error: job is missing")
    try:
        if job.last_pid == 0 and settle:
            await asyncio.sleep(settle)
        while job.last_pid < job.max_pid:
            last, done = await repository.reindex_batch(
                job.types, job.last_pid, job.max_pid, batch, _extract
            )
            job.last_pid = last if done else job.max_pid
            job.processed = min(job.total, job.processed + done)
            job.updated_at = _now()
            await _sql(
                repository,
                "UPDATE reindex_job SET last_pid = ?, processed = ?, updated_at = ?,"
                " lease_until = ? WHERE id = ? AND lease_owner = ?",
                [
                    job.last_pid,
                    job.processed,
                    job.updated_at,
                    job.updated_at + LEASE_SECONDS * 1_000_000,
                    job.id,
                    owner,
                ],
            )
            if progress is not None:
                progress(job)
            await asyncio.sleep(0)  # let requests in between batches
        activated = await _activate(repository, job)
        job.notes["activated"] = activated
        job.processed = job.total
        job.status = "done"
    except Exception as exc:  # recorded on the job, which a client then sees as failed
        log.exception("reindex job %s failed", job_id)
        job.status = "failed"
        job.error = str(exc) or type(exc).__name__
    job.finished_at = job.updated_at = _now()
    await _sql(
        repository,
        "UPDATE reindex_job SET status = ?, processed = ?, updated_at = ?, finished_at = ?,"
        " error = ?, notes = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?",
        [
            job.status,
            job.processed,
            job.updated_at,
            job.finished_at,
            job.error,
            jsonio.dumps(job.notes).decode(),
            job.id,
        ],
    )
    if progress is not None:
        progress(job)
    return job


async def _activate(repository: Repository, job: Job) -> list[dict[str, str]]:
    rows = await _sql(
        repository,
        "SELECT url, res_type FROM custom_search_param WHERE job_id = ? AND status = 'indexing'",
        [job.id],
    )
    await _sql(
        repository,
        "UPDATE custom_search_param SET status = 'active', updated_at = ?"
        " WHERE job_id = ? AND status = 'indexing'",
        [_now(), job.id],
    )
    await load_custom_parameters(repository)
    return [{"url": str(url), "base": str(rtype)} for url, rtype in sorted(rows)]


def run_in_background(repository: Repository, job_id: str, *, settle: float) -> None:
    """Run a job on this event loop; a reference is kept so the task is not collected."""
    task = asyncio.get_running_loop().create_task(run_job(repository, job_id, settle=settle))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def unfinished_jobs(repository: Repository) -> list[str]:
    """Ids of jobs queued or running whose lease has expired (their process went away)."""
    rows = await _sql(
        repository,
        "SELECT id FROM reindex_job WHERE status IN ('queued', 'running')"
        " AND (lease_until IS NULL OR lease_until < ?) ORDER BY created_at",
        [_now()],
    )
    return [str(r[0]) for r in rows]


class ReindexWorker:
    """Per process: keeps the installed definitions current and resumes orphaned jobs."""

    def __init__(self, repository: Repository, interval: float = REFRESH_SECONDS) -> None:
        self.repository = repository
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await load_custom_parameters(self.repository)
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await load_custom_parameters(self.repository)
                for job_id in await unfinished_jobs(self.repository):
                    await run_job(self.repository, job_id)
            except Exception:  # the database may be briefly away; try again next round
                log.warning("reindex worker: refresh failed", exc_info=True)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
