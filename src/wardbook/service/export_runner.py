"""The background worker that runs Bulk Data export jobs (Bulk Data IG 2.0.0, export.html).

Each server process runs one :class:`ExportRunner`. It claims a waiting job -- or one
whose runner died and let its lease run out -- streams the current resources through
:meth:`Repository.stream_current` (a server-side cursor: memory stays flat however large
the database) and appends each visible resource to its type's NDJSON file. A restarted
job starts again from the beginning with a new ``transactionTime``: files of the dead run
are removed first, so a manifest never lists half-written files.

Only resources the job's principal may see are written: the principal stored at kick-off
is bound again (``acting_as``) and filtered through :func:`visible_types` and
:func:`patient_scope` in :mod:`wardbook.service.export`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
import uuid
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl

from wardbook.auth.principal import acting_as, current_principal
from wardbook.errors import WardbookError
from wardbook.fhir import jsonio
from wardbook.fhir.registry import compartment_params
from wardbook.search.extract import extract_index
from wardbook.search.matcher import matches
from wardbook.search.parse import parse_search
from wardbook.search.query import SearchQuery
from wardbook.service.authorization import visible
from wardbook.service.export import (
    ExportRequest,
    patient_scope,
    principal_from_json,
    require_exportable,
    visible_types,
)
from wardbook.service.resources import now_micros
from wardbook.storage.base import Repository, StorageError, StoredResource
from wardbook.storage.export_jobs import ExportJob, ExportJobs

log = logging.getLogger("wardbook.export")

HEARTBEAT_CHECK = 200  # resources between looks at the clock for a lease renewal
_BUFFER = 256 * 1024


class Cancelled(Exception):
    """The job was cancelled, or another worker took it over."""


class Selector:
    """Decides which stored resources go into a job's files."""

    def __init__(
        self,
        request: ExportRequest,
        allowed_types: frozenset[str] | None,
        patients: frozenset[str] | None,
    ) -> None:
        self.allowed_types = allowed_types
        self.patients = patients  # None: any; else resources of these patients only
        self.patient_level = request.level != "system" or patients is not None
        self.filters: dict[str, list[SearchQuery]] = {
            resource_type: [
                parse_search(resource_type, parse_qsl(query, keep_blank_values=True), strict=True)
                for query in queries
            ]
            for resource_type, queries in request.type_filters.items()
        }

    def types(self, requested: tuple[str, ...] | None) -> list[str] | None:
        """The types to stream (None: all) -- requested, allowed and in the compartment."""
        wanted: set[str] | None = None if requested is None else set(requested)
        if self.allowed_types is not None:
            wanted = set(self.allowed_types) if wanted is None else wanted & self.allowed_types
        if self.patient_level:
            from wardbook.fhir.registry import compartment_resource_types

            members = compartment_resource_types("Patient") | {"Patient"}
            wanted = set(members) if wanted is None else wanted & members
        return None if wanted is None else sorted(wanted)

    def accepts(self, stored: StoredResource) -> bool:
        queries = self.filters.get(stored.resource_type)
        if not self.patient_level and queries is None:
            return True  # the common case: no need to parse the body
        resource = jsonio.loads(stored.body or b"{}")
        if queries is not None and not any(matches(resource, query) for query in queries):
            return False
        if not self.patient_level:
            return True
        linked = patients_of(stored.resource_type, resource)
        if self.patients is None:
            return bool(linked)
        return not linked.isdisjoint(self.patients)


def patients_of(resource_type: str, resource: dict[str, Any]) -> set[str]:
    """The patients whose compartment holds this resource (R4 compartmentdefinition-patient)."""
    found: set[str] = set()
    if resource_type == "Patient" and isinstance(resource.get("id"), str):
        found.add(resource["id"])
    params = compartment_params("Patient", resource_type)
    if params:
        for row in extract_index(resource).reference:
            if row.param in params and row.target_type == "Patient" and row.target_id:
                found.add(row.target_id)
    return found


async def group_members(repository: Repository, group_id: str) -> frozenset[str]:
    """Patient ids among a Group's members (Group.member.entity)."""
    stored = await repository.read("Group", group_id)
    if stored is None or stored.body is None:
        raise WardbookError(f"Group/{group_id} no longer exists")
    group = jsonio.loads(stored.body)
    members: set[str] = set()
    for member in group.get("member") or ():
        reference = (
            (member.get("entity") or {}).get("reference") if isinstance(member, dict) else None
        )
        if isinstance(reference, str) and reference.startswith("Patient/"):
            members.add(reference.split("/")[1])
    return frozenset(members)


class ExportRunner:
    """Claims and runs export jobs, one at a time, in this process."""

    def __init__(
        self,
        repository: Repository,
        export_dir: Path,
        *,
        lease_seconds: int = 30,
        poll_seconds: float = 1.0,
    ) -> None:
        self.repository = repository
        self.jobs = ExportJobs(repository)
        self.export_dir = export_dir
        self.lease_micros = lease_seconds * 1_000_000
        self.poll_seconds = poll_seconds
        self.owner = f"worker-{uuid.uuid4()}"
        self.wake = asyncio.Event()

    async def run_forever(self) -> None:
        """Poll for jobs until cancelled (the server's lifespan owns this task)."""
        while True:
            try:
                ran = await self.run_one()
            except StorageError as error:
                log.warning("export worker: database unavailable: %s", error.message)
                ran = False
            except Exception:
                log.exception("export worker: unexpected error")
                ran = False
            if not ran:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.poll_seconds)

    async def run_one(self) -> bool:
        """Claim and run one job; False when none was waiting."""
        now = now_micros()
        job = await self.jobs.claim(self.owner, now, now + self.lease_micros)
        if job is None:
            return False
        try:
            await self._run(job)
        except Cancelled:
            shutil.rmtree(self.export_dir / job.id, ignore_errors=True)
        except StorageError:
            raise  # the lease runs out and the job is taken up again later
        except Exception as error:
            log.exception("export job %s failed", job.id)
            message = error.message if isinstance(error, WardbookError) else type(error).__name__
            await self.jobs.fail(job.id, self.owner, message)
            shutil.rmtree(self.export_dir / job.id, ignore_errors=True)
        return True

    async def _run(self, job: ExportJob) -> None:
        request = ExportRequest.from_json(job.params)
        principal = principal_from_json(job.principal)
        require_exportable(principal)  # a job queued before care limits applied to export
        folder = self.export_dir / job.id
        shutil.rmtree(folder, ignore_errors=True)  # a run before a restart left these
        folder.mkdir(parents=True, exist_ok=True)
        transaction_time = now_micros()
        if not await self.jobs.start(job.id, self.owner, transaction_time):
            raise Cancelled()
        with acting_as(principal):
            patients: frozenset[str] | None = None
            if request.group_id is not None:
                patients = await group_members(self.repository, request.group_id)
            limited = patient_scope(principal)
            if limited is not None:
                patients = frozenset({limited}) if patients is None else patients & {limited}
            selector = Selector(request, visible_types(principal), patients)
            counts = await self._write_files(job, request, selector, folder, transaction_time)
        base = str(job.params.get("base", "")).rstrip("/")
        output = [
            {
                "type": resource_type,
                "url": f"{base}/_export/{job.id}/{resource_type}.ndjson",
                "count": count,
            }
            for resource_type, count in sorted(counts.items())
        ]
        total = sum(counts.values())
        if not await self.jobs.finish(job.id, self.owner, output, f"Done: {total} resources"):
            raise Cancelled()

    async def _write_files(
        self,
        job: ExportJob,
        request: ExportRequest,
        selector: Selector,
        folder: Path,
        transaction_time: int,
    ) -> dict[str, int]:
        files: dict[str, IO[bytes]] = {}
        counts: dict[str, int] = {}
        seen = 0
        renewed = time.monotonic()
        renew_after = self.lease_micros / 3_000_000
        types = selector.types(request.types)
        principal = current_principal()
        try:
            if types == []:
                return counts
            async for stored in self.repository.stream_current(types, request.since):
                seen += 1
                if seen % HEARTBEAT_CHECK == 0 and time.monotonic() - renewed > renew_after:
                    await self._heartbeat(job, f"{sum(counts.values())} resources written")
                    renewed = time.monotonic()
                if stored.last_updated > transaction_time or stored.body is None:
                    continue  # committed after the export's point in time
                if not selector.accepts(stored):
                    continue
                if not visible(principal, stored):
                    continue  # the one policy: scopes ∩ role ∩ patient context
                handle = files.get(stored.resource_type)
                if handle is None:
                    path = folder / f"{stored.resource_type}.ndjson"
                    handle = files[stored.resource_type] = path.open("wb", buffering=_BUFFER)
                handle.write(stored.body)
                handle.write(b"\n")
                counts[stored.resource_type] = counts.get(stored.resource_type, 0) + 1
        finally:
            for handle in files.values():
                handle.close()
        return counts

    async def _heartbeat(self, job: ExportJob, progress: str) -> None:
        until = now_micros() + self.lease_micros
        if not await self.jobs.heartbeat(job.id, self.owner, until, progress):
            raise Cancelled()
        await asyncio.sleep(0)  # let requests in between batches


def start_runner(
    repository: Repository, export_dir: Path, *, lease_seconds: int
) -> tuple[ExportRunner, asyncio.Task[None]]:
    """Start the runner as a task of the running loop (the app's lifespan)."""
    runner = ExportRunner(repository, export_dir, lease_seconds=lease_seconds)
    task = asyncio.create_task(runner.run_forever(), name="wardbook-export-runner")
    return runner, task
