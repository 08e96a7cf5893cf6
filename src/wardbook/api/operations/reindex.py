"""``$reindex`` and ``$reindex-status``: start and follow a reindex job over HTTP.

Conventions of HAPI FHIR and the Microsoft FHIR server (there is no R4 OperationDefinition
for it): ``POST [base]/$reindex`` (every type) or ``POST [base]/[type]/$reindex`` starts a
background job and answers ``202 Accepted`` with ``Content-Location: [base]/$reindex-status/[id]``
and a Parameters resource describing the job (R4 async.html style). ``GET`` on that URL
gives the same Parameters with the progress: ``status`` (queued | running | done | failed),
``processed``/``total`` resources, and once done the custom parameters it made active.
See :mod:`wardbook.service.reindex` for what a job does.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from wardbook.api.context import FhirContext
from wardbook.api.http import base_url, fhir_response, negotiate
from wardbook.errors import NotFound
from wardbook.fhir import jsonio
from wardbook.service import reindex
from wardbook.service.resources import check_type


def job_parameters(job: reindex.Job, status_url: str) -> dict[str, Any]:
    """A job as an R4 Parameters resource."""
    params: list[dict[str, Any]] = [
        {"name": "job", "valueString": job.id},
        {"name": "status", "valueCode": job.status},
        {"name": "statusUrl", "valueUrl": status_url},
        {"name": "processed", "valueInteger": job.processed},
        {"name": "total", "valueInteger": job.total},
    ]
    params += [{"name": "type", "valueCode": t} for t in job.types or ()]
    for item in job.notes.get("activated", []):
        params.append(
            {
                "name": "activated",
                "part": [
                    {"name": "url", "valueUri": item["url"]},
                    {"name": "base", "valueCode": item["base"]},
                ],
            }
        )
    for item in job.notes.get("skipped", []):
        params.append(
            {
                "name": "skipped",
                "part": [
                    {"name": "url", "valueUri": item["url"]},
                    {"name": "reason", "valueString": item["reason"]},
                ],
            }
        )
    if job.error:
        params.append({"name": "error", "valueString": job.error})
    return {"resourceType": "Parameters", "parameter": params}


async def _start(ctx: FhirContext, request: Request, types: list[str] | None) -> Response:
    media = negotiate(request)
    repository = ctx.service.repository
    job = await reindex.start_job(repository, types)
    settle = reindex.REFRESH_SECONDS if ctx.settings.workers > 1 else 0.0
    reindex.run_in_background(repository, job.id, settle=settle)
    status_url = f"{base_url(request, ctx.settings.base_url)}/$reindex-status/{job.id}"
    body = jsonio.dumps(job_parameters(job, status_url))
    return fhir_response(body, 202, {"Content-Location": status_url}, media)


async def reindex_system(ctx: FhirContext, request: Request) -> Response:
    """POST [base]/$reindex: every resource type."""
    return await _start(ctx, request, None)


async def reindex_type(ctx: FhirContext, request: Request) -> Response:
    """POST [base]/[type]/$reindex: one resource type."""
    resource_type = request.path_params["type"]
    check_type(resource_type)
    return await _start(ctx, request, [resource_type])


async def reindex_status(ctx: FhirContext, request: Request) -> Response:
    """GET [base]/$reindex-status/[job]."""
    media = negotiate(request)
    job_id = request.path_params["job"]
    job = await reindex.get_job(ctx.service.repository, job_id) if job_id.isalnum() else None
    if job is None:
        raise NotFound(f"No reindex job {job_id}")
    status_url = f"{base_url(request, ctx.settings.base_url)}/$reindex-status/{job.id}"
    return fhir_response(jsonio.dumps(job_parameters(job, status_url)), 200, None, media)
