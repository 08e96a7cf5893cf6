"""Bulk Data export (HL7 FHIR Bulk Data Access IG 2.0.0, export.html): requests and jobs.

Kick-off (``[base]/$export``, ``[base]/Patient/$export``, ``[base]/Group/[id]/$export``)
stores a job (``wardbook.storage.export_jobs``) with who asked and what; a runner in the
server process (:mod:`wardbook.service.export_runner`) writes the NDJSON files. Status,
cancel and file downloads read the job back. The job keeps the requesting principal's
subject, scopes and patient, and every file only holds what :func:`visible_types` and
:func:`patient_scope` allow that principal -- the single filter hook the authorization
work plugs into.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from wardbook.auth.principal import Principal, current_principal
from wardbook.auth.roles import needs_care_relationship, user_may
from wardbook.errors import BadRequest, Forbidden, Issue, NotFound
from wardbook.fhir.meta import is_valid_id
from wardbook.fhir.registry import resource_types
from wardbook.search.params.date import parse_date_range
from wardbook.search.parse import parse_search
from wardbook.service.resources import check_type, now_micros
from wardbook.storage.base import Repository
from wardbook.storage.export_jobs import ACCEPTED, CANCELLED, ExportJob, ExportJobs

# _outputFormat values meaning NDJSON (export.html#query-parameters: servers SHALL accept
# application/fhir+ndjson and SHOULD accept the abbreviations).
NDJSON_FORMATS = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})
NDJSON = "application/fhir+ndjson"
SUPPORTED = frozenset({"_outputFormat", "_since", "_type", "_typeFilter", "_format"})
# Defined by the IG but not implemented here; refused unless Prefer: handling=lenient.
UNSUPPORTED = frozenset({"_elements", "patient", "includeAssociatedData", "organizeOutputBy"})

LEVELS = ("system", "patient", "group")


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """What an export asks for, validated. ``types`` None means every type."""

    level: str  # system | patient | group
    group_id: str | None
    types: tuple[str, ...] | None
    since: int | None
    type_filters: dict[str, list[str]]  # type -> query strings (any one must match)
    output_format: str = NDJSON

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["types"] = None if self.types is None else list(self.types)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExportRequest:
        types = data.get("types")
        return cls(
            level=data["level"],
            group_id=data.get("group_id"),
            types=None if types is None else tuple(types),
            since=data.get("since"),
            type_filters={k: list(v) for k, v in (data.get("type_filters") or {}).items()},
            output_format=data.get("output_format", NDJSON),
        )


def parse_export_request(
    level: str,
    group_id: str | None,
    params: list[tuple[str, str]],
    *,
    lenient: bool = False,
) -> ExportRequest:
    """Validate the kick-off parameters (export.html#query-parameters); 400 when wrong."""
    if level not in LEVELS:
        raise ValueError(level)
    if group_id is not None and not is_valid_id(group_id):
        raise BadRequest(f"'{group_id}' is not a valid Group id")
    output_format = NDJSON
    since: int | None = None
    types: list[str] | None = None
    filters: dict[str, list[str]] = {}
    for name, value in params:
        if name == "_outputFormat":
            if value not in NDJSON_FORMATS:
                raise BadRequest(
                    f"_outputFormat '{value}' is not supported; use application/fhir+ndjson"
                )
        elif name == "_since":
            bounds = parse_date_range(value)
            if bounds is None or "T" not in value:
                raise BadRequest(
                    f"_since '{value}' is not a FHIR instant (e.g. 2024-01-01T00:00:00Z)"
                )
            since = bounds[0]
        elif name == "_type":
            for item in value.split(","):
                item = item.strip()
                if not item:
                    continue
                if item not in resource_types():
                    raise BadRequest(f"_type '{item}' is not a FHIR R4 resource type")
                types = (types or []) + ([item] if item not in (types or []) else [])
        elif name == "_typeFilter":
            for query in _split_filters(value):
                resource_type, _, criteria = query.partition("?")
                check_type_for_filter(resource_type)
                pairs = parse_qsl(criteria, keep_blank_values=True)
                if not pairs:
                    raise BadRequest(f"_typeFilter '{query}' has no search criteria")
                parse_search(resource_type, pairs, strict=True)  # 400 when not understood
                filters.setdefault(resource_type, []).append(criteria)
        elif name in SUPPORTED:
            continue
        elif not lenient:
            why = "is not supported" if name in UNSUPPORTED else "is not a $export parameter"
            raise BadRequest(
                f"Parameter '{name}' {why}; send Prefer: handling=lenient to ignore it"
            )
    if types is not None:
        for resource_type in filters:
            if resource_type not in types:
                raise BadRequest(f"_typeFilter names {resource_type}, which _type leaves out")
    return ExportRequest(
        level=level,
        group_id=group_id,
        types=None if types is None else tuple(types),
        since=since,
        type_filters=filters,
        output_format=output_format,
    )


def _split_filters(value: str) -> list[str]:
    """_typeFilter values are comma separated; a comma inside a query is escaped (%2C)."""
    return [part.strip() for part in value.split(",") if part.strip()]


def check_type_for_filter(resource_type: str) -> None:
    try:
        check_type(resource_type)
    except NotFound as exc:
        raise BadRequest(f"_typeFilter names '{resource_type}', not a resource type") from exc


def principal_json(principal: Principal) -> dict[str, Any]:
    """What a job remembers of its principal (enough to apply the same limits later)."""
    return {
        "kind": principal.kind,
        "subject": principal.subject,
        "roles": sorted(principal.roles),
        "scopes": list(principal.scopes),
        "client_id": principal.client_id,
        "fhir_user": principal.fhir_user,
        "patient": principal.patient,
    }


def principal_from_json(data: dict[str, Any]) -> Principal:
    return Principal(
        kind=data["kind"],
        subject=data["subject"],
        roles=frozenset(data.get("roles") or ()),
        scopes=tuple(data.get("scopes") or ()),
        client_id=data.get("client_id"),
        fhir_user=data.get("fhir_user"),
        patient=data.get("patient"),
    )


# -- the authorization hook ---------------------------------------------------------------


def visible_types(principal: Principal) -> frozenset[str] | None:
    """Resource types ``principal`` may export; None means every type.

    The single filter hook for exports. Roles go through the role table
    (``wardbook.auth.roles.user_may(..., "export", type)``); SMART scopes are read here --
    ``system|user|patient/<type|*>.read`` (v1) or ``.../<type|*>.r..`` (v2) -- until the
    SMART layer's service-level check lands. An unrestricted principal (local developer,
    ``--no-auth``) sees everything.
    """
    if principal.unrestricted:
        return None
    types: frozenset[str] | None
    if principal.scopes:
        types = _types_in_scopes(principal)
    else:
        # A signed-in user without a token is governed by roles alone; a client needs scopes.
        types = None if principal.kind == "user" else frozenset()
    if principal.roles:
        candidates = resource_types() if types is None else types
        types = frozenset(t for t in candidates if user_may(principal, "export", t))
    return types


def _types_in_scopes(principal: Principal) -> frozenset[str] | None:
    allowed: set[str] = set()
    for scope in principal.scopes:
        context, _, rest = scope.partition("/")
        if context not in ("system", "user", "patient"):
            continue
        resource_type, _, access = rest.partition(".")
        if not (access in ("read", "*") or (access[:1] in ("c", "r") and "r" in access)):
            continue
        if resource_type == "*":
            return None
        allowed.add(resource_type)
    return frozenset(allowed)


def require_exportable(principal: Principal) -> None:
    """Forbidden for principals whose clinical access is limited by care relationships.

    A physician's role may export clinical data, but only of the patients in their care
    (``wardbook.auth.care``); a bulk export of every patient cannot honour that, so it is
    refused outright rather than silently exporting more (or quietly less) than asked.
    """
    if needs_care_relationship(principal):
        raise Forbidden(
            f"{principal.subject} may not use bulk $export: the role's clinical access is"
            " limited by care relationships, which a bulk export cannot honour; open each"
            " patient's record instead, or ask an administrator for a backend export"
        )


def patient_scope(principal: Principal) -> str | None:
    """The one patient a principal is limited to (patient-context launch), if any."""
    return None if principal.unrestricted else principal.patient


# -- the use cases ------------------------------------------------------------------------


class ExportService:
    """Kick-off, status, cancel and files of Bulk Data export jobs."""

    def __init__(self, repository: Repository, export_dir: Path) -> None:
        self.jobs = ExportJobs(repository)
        self.repository = repository
        self.export_dir = export_dir

    async def kick_off(self, request: ExportRequest, request_url: str, base: str) -> ExportJob:
        """Store a new job for the current principal (export.html#bulk-data-kick-off-request)."""
        principal = current_principal()
        require_exportable(principal)
        types = visible_types(principal)
        if types is not None and not types:
            raise Forbidden("Your access grants no resource type that could be exported")
        if request.group_id is not None:
            group = await self.repository.read("Group", request.group_id)
            if group is None or group.deleted:
                raise NotFound(f"Group/{request.group_id} is not known")
        params = request.to_json()
        params["base"] = base
        job = ExportJob(
            id=str(uuid.uuid4()),
            status=ACCEPTED,
            request=request_url,
            params=params,
            principal=principal_json(principal),
            created=now_micros(),
            progress="Accepted",
        )
        await self.jobs.add(job)
        return job

    async def job_for_caller(self, job_id: str) -> ExportJob:
        """The job, when it exists, is not cancelled and belongs to the current principal."""
        job = await self.jobs.get(job_id) if _looks_like_job_id(job_id) else None
        if job is None or job.status == CANCELLED:
            raise NotFound(f"No export job '{job_id}' (it may have been cancelled)")
        principal = current_principal()
        owner = job.principal
        if not principal.unrestricted and (
            owner.get("subject") != principal.subject or owner.get("kind") != principal.kind
        ):
            raise Forbidden("This export job belongs to someone else")
        return job

    async def cancel(self, job_id: str) -> None:
        """export.html#bulk-data-delete-request: stop the job and remove its files."""
        job = await self.job_for_caller(job_id)
        await self.jobs.cancel(job.id)
        shutil.rmtree(self.export_dir / job.id, ignore_errors=True)

    async def file(self, job_id: str, name: str) -> Path:
        """An output file of a completed job (export.html#file-request)."""
        job = await self.job_for_caller(job_id)
        names = {entry["url"].rsplit("/", 1)[1] for entry in job.output or ()}
        if name not in names:
            raise NotFound(f"Export job '{job_id}' has no file '{name}'")
        path = self.export_dir / job.id / name
        if not path.is_file():
            raise NotFound(f"The file '{name}' of export job '{job_id}' is gone")
        return path


def _looks_like_job_id(job_id: str) -> bool:
    try:
        uuid.UUID(job_id)
    except ValueError:
        return False
    return True


def manifest(job: ExportJob) -> dict[str, Any]:
    """The completion manifest (export.html#response---complete-status)."""
    from wardbook.fhir.meta import format_instant

    return {
        "transactionTime": format_instant(job.transaction_time or job.created),
        "request": job.request,
        "requiresAccessToken": job.principal.get("kind") != "local",
        "output": job.output or [],
        "error": [],
    }


def failed_issue(job: ExportJob) -> Issue:
    return Issue("fatal", "exception", f"The export failed: {job.error or 'unknown error'}")
