"""Bulk Data $export over HTTP (HL7 FHIR Bulk Data Access IG 2.0.0, export.html).

- Kick-off: ``GET [base]/$export``, ``[base]/Patient/$export``, ``[base]/Group/[id]/$export``
  with ``Prefer: respond-async`` -> 202 Accepted and ``Content-Location`` (the status URL).
- Status: ``GET [base]/_export/[job]`` -> 202 with ``X-Progress`` and ``Retry-After`` while
  running; 200 with the JSON manifest when complete; an OperationOutcome when it failed.
- Cancel: ``DELETE [base]/_export/[job]`` -> 202; the files are removed and the status URL
  answers 404 from then on.
- Files: ``GET [base]/_export/[job]/[Type].ndjson`` -> ``application/fhir+ndjson``.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from wardbook.api.context import FhirContext
from wardbook.api.http import base_url, fhir_response, negotiate, outcome_response
from wardbook.errors import BadRequest, Issue
from wardbook.fhir import jsonio
from wardbook.service.export import (
    NDJSON,
    ExportService,
    failed_issue,
    manifest,
    parse_export_request,
)
from wardbook.storage.export_jobs import COMPLETED, FAILED

RETRY_AFTER_SECONDS = "2"


def export_service(ctx: FhirContext) -> ExportService:
    return ExportService(ctx.service.repository, Path(ctx.settings.export_dir))


def _respond_async(request: Request) -> bool:
    for part in request.headers.get("prefer", "").split(","):
        if part.strip().lower() == "respond-async":
            return True
    return False


async def _kick_off(ctx: FhirContext, request: Request, level: str) -> Response:
    negotiate(request)  # the kick-off's own answers are FHIR JSON (OperationOutcome)
    if not _respond_async(request):
        raise BadRequest("$export runs asynchronously: send the header 'Prefer: respond-async'")
    params = list(request.query_params.multi_items())
    for name, value in params:
        if "\x00" in name or "\x00" in value:
            raise BadRequest("A $export parameter contains a NUL character")
    export = parse_export_request(
        level,
        request.path_params.get("id"),
        params,
        lenient="handling=lenient" in request.headers.get("prefer", "").replace(" ", ""),
    )
    base = base_url(request, ctx.settings.base_url)
    job = await export_service(ctx).kick_off(export, str(request.url), base)
    issue = Issue("information", "informational", f"Export job {job.id} accepted")
    return outcome_response([issue], 202, {"Content-Location": f"{base}/_export/{job.id}"})


async def export_system(ctx: FhirContext, request: Request) -> Response:
    """GET [base]/$export: every resource the caller may see."""
    return await _kick_off(ctx, request, "system")


async def export_patient(ctx: FhirContext, request: Request) -> Response:
    """GET [base]/Patient/$export: the Patient compartments of all patients."""
    return await _kick_off(ctx, request, "patient")


async def export_group(ctx: FhirContext, request: Request) -> Response:
    """GET [base]/Group/[id]/$export: the Patient compartments of the group's members."""
    return await _kick_off(ctx, request, "group")


async def export_status(ctx: FhirContext, request: Request) -> Response:
    """Poll a job: 202 while running, 200 with the manifest, or the failure."""
    job = await export_service(ctx).job_for_caller(request.path_params["id"])
    if job.status == COMPLETED:
        body = jsonio.dumps(manifest(job))
        return Response(body, 200, media_type="application/json")
    if job.status == FAILED:
        return outcome_response([failed_issue(job)], 500)
    return fhir_response(
        None,
        202,
        {"X-Progress": job.progress or job.status, "Retry-After": RETRY_AFTER_SECONDS},
    )


async def export_cancel(ctx: FhirContext, request: Request) -> Response:
    """DELETE the status URL: cancel the job and delete its files."""
    job_id = request.path_params["id"]
    await export_service(ctx).cancel(job_id)
    issue = Issue("information", "informational", f"Export job {job_id} cancelled")
    return outcome_response([issue], 202)


async def export_file(ctx: FhirContext, request: Request) -> Response:
    """One NDJSON output file of a completed job."""
    name = request.path_params["file"]
    path = await export_service(ctx).file(request.path_params["id"], name)
    return FileResponse(path, media_type=NDJSON, headers={"Cache-Control": "no-store"})
