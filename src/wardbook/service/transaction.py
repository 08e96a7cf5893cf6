"""Transactions and batches: R4 http.html#transaction and http.html#batch.

A ``transaction`` Bundle is all or nothing: every entry runs inside ONE repository
transaction (``ResourceService.in_transaction``: retried from the start on a write
conflict), in the order R4 http.html#trules prescribes -- DELETE, POST, PUT/PATCH, then
GET/HEAD -- and any failing entry rolls everything back; the error names the entry.
A ``batch`` runs each entry in its own transaction and reports each one's status.

Work is split so that the database transaction stays short:

1. Outside it: parse every entry, give each create (and each update) its identity, rewrite
   the links between entries (``urn:uuid:``/``urn:oid:``/absolute ``fullUrl`` ->
   ``Type/id``, :mod:`wardbook.fhir.bundle_refs`), guess conditional references from the
   committed data, validate and extract index rows -- the CPU-heavy part.
2. Inside it: lock the criteria of every conditional operation (sorted, so transactions
   sharing criteria cannot deadlock), resolve conditional creates/updates/deletes/patches
   and conditional references authoritatively, rewrite again only the resources whose
   links resolved differently from the guess, then write (new resources in bulk) and read.

Concurrent transactions with the same conditional create therefore make exactly one
resource: the second waits for the first's lock, then finds its committed resource.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from wardbook.auth.principal import current_principal
from wardbook.errors import (
    BadRequest,
    Gone,
    Issue,
    NotFound,
    PreconditionFailed,
    WardbookError,
)
from wardbook.fhir import jsonio
from wardbook.fhir.bundle_refs import is_conditional_reference, is_placeholder, rewrite_links
from wardbook.fhir.fhirpath_patch import apply_fhirpath_patch
from wardbook.fhir.jsonpatch import apply_json_patch
from wardbook.fhir.meta import parse_etag
from wardbook.search.extract import extract_index
from wardbook.search.index import IndexRows
from wardbook.search.parse import parse_search
from wardbook.search.query import SearchQuery
from wardbook.service.authorization import authorize, require_care
from wardbook.service.references import resolve_conditional_reference
from wardbook.service.resources import (
    MAX_CONDITIONAL_DELETE,
    ResourceService,
    WriteResult,
    check_id,
    check_type,
    criteria_lock_key,
    now_micros,
    parse_criteria,
    reject_nul,
    require_valid,
    stored_version,
)
from wardbook.storage.base import (
    NewVersion,
    Page,
    StoredResource,
    VersionConflict,
    WriteTx,
    to_micros,
)

BundleKind = Literal["transaction", "batch"]
METHODS = ("DELETE", "POST", "PUT", "PATCH", "GET", "HEAD")
# R4 http.html#trules: the processing order of the methods.
_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_WRITES = frozenset(("create", "update", "cond_update"))
_JSON_PATCH = "application/json-patch+json"


class EntryFailed(WardbookError):
    """An entry failed: the entry's own error, with ``Bundle.entry[i]`` in every issue."""

    def __init__(self, index: int, error: WardbookError) -> None:
        issues = [
            Issue(
                issue.severity,
                issue.code,
                f"Bundle.entry[{index}]: {issue.diagnostics}",
                _entry_expressions(index, issue.expression),
            )
            for issue in error.issues
        ]
        super().__init__(f"Bundle.entry[{index}]: {error.message}", issues=issues)
        self.index = index
        self.status = error.status
        self.issue_code = error.issue_code
        self.headers = dict(error.headers)


def _entry_expressions(index: int, expressions: tuple[str, ...]) -> tuple[str, ...]:
    """``Patient.name[0]`` -> ``Bundle.entry[3].resource.name[0]``."""
    prefix = f"Bundle.entry[{index}]"
    out = []
    for expression in expressions:
        head, dot, rest = expression.partition(".")
        if head[:1].isupper() and "[" not in head:
            out.append(f"{prefix}.resource{dot}{rest}" if dot else f"{prefix}.resource")
        else:
            out.append(f"{prefix}.{expression}")
    return tuple(out) or (prefix,)


@dataclass(slots=True)
class EntryRequest:
    """One ``Bundle.entry`` as a request (R4 bundle.html#Bundle.entry.request)."""

    index: int
    method: str
    kind: str  # create, update, cond_update, delete, cond_delete, patch, cond_patch,
    #            read, vread, search, history
    resource_type: str | None
    resource_id: str | None = None
    version_id: str | None = None
    criteria: str | None = None
    full_url: str | None = None
    resource: Any = None
    if_none_exist: str | None = None
    if_match: int | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None


@dataclass(slots=True)
class EntryResult:
    """What one entry did: HTTP status plus the version, outcome or page it produced."""

    status: int
    stored: StoredResource | None = None
    location: bool = False
    issues: list[Issue] | None = None
    page: Page | None = None
    query: SearchQuery | None = None
    history_path: str | None = None
    changed: bool = True
    head: bool = False  # a HEAD entry: status and headers, no resource


@dataclass(slots=True)
class _Prepared:
    """An entry after the work outside the transaction."""

    request: EntryRequest
    original: dict[str, Any] | None = None  # the resource as sent (for a second rewrite)
    resource: dict[str, Any] | None = None  # validated, links rewritten with the guesses
    index: IndexRows | None = None
    target_id: str | None = None  # create/update: the tentative identity
    seen: set[str] = field(default_factory=set)
    query: SearchQuery | None = None
    patch: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    error: WardbookError | None = None

    @property
    def conditional_refs(self) -> set[str]:
        return {ref for ref in self.seen if is_conditional_reference(ref)}


@dataclass(slots=True)
class _Plan:
    """Identities resolved inside one attempt of the transaction."""

    links: dict[str, str]
    targets: dict[int, list[str]] = field(default_factory=dict)
    existing: dict[int, StoredResource] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BundleOutcome:
    """The processed Bundle: its kind and one result per entry, in the entries' order."""

    kind: BundleKind
    results: list[EntryResult]


class BundleService:
    """Runs transaction and batch Bundles on top of :class:`ResourceService`."""

    def __init__(self, resources: ResourceService, *, base_url: str | None = None) -> None:
        self.resources = resources
        self.repository = resources.repository
        self.base_url = base_url

    async def process(self, bundle: Any, *, base: str) -> BundleOutcome:
        """R4 http.html#transaction / #batch: POST [base] with a Bundle."""
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise BadRequest("POST to the base URL needs a Bundle (a transaction or a batch)")
        kind = bundle.get("type")
        if kind not in ("transaction", "batch"):
            raise BadRequest(
                f"Bundle.type '{kind}' cannot be processed: send a transaction or a batch"
            )
        raw_entries = bundle.get("entry", [])
        if not isinstance(raw_entries, list):
            raise BadRequest("Bundle.entry must be an array")
        if kind == "transaction":
            return BundleOutcome("transaction", await self._transaction(raw_entries, base))
        return BundleOutcome("batch", await self._batch(raw_entries, base))

    # -- transaction -----------------------------------------------------------------------

    async def _transaction(self, raw_entries: list[Any], base: str) -> list[EntryResult]:
        prepared = [self._prepare(i, raw, base) for i, raw in enumerate(raw_entries)]
        for item in prepared:
            if item.error is not None:
                raise EntryFailed(item.request.index, item.error)
        links = _entry_links(prepared, unique=True)
        guesses = await self._rewrite_and_validate(prepared, links, fail_fast=True)
        ordered = sorted(prepared, key=lambda p: _ORDER[p.request.method])
        conditional_refs = _first_users(prepared)

        async def work(tx: WriteTx) -> list[EntryResult]:
            plan = _Plan(links=dict(links))
            for key in sorted({k for p in ordered if (k := _lock_key(p)) is not None}):
                await tx.lock_key(key)
            for item in ordered:
                await self._entry_step(item, self._resolve(tx, item, plan))
            _check_overlap(ordered, plan)
            for ref, index in conditional_refs.items():
                plan.links[ref] = await self._entry_step_value(
                    index, resolve_conditional_reference(tx, ref)
                )
            changed = {k for k, v in plan.links.items() if guesses.get(k) != v}
            results: dict[int, EntryResult] = {}
            fresh: list[NewVersion] = []
            for item in ordered:
                if item.request.kind == "create" and item.request.index not in plan.existing:
                    result, version = self._fresh_create(item, plan, changed)
                    results[item.request.index] = result
                    fresh.append(version)
                    continue
                if fresh and _ORDER[item.request.method] > _ORDER["POST"]:
                    await tx.write_many(fresh)
                    fresh = []
                results[item.request.index] = await self._entry_step_value(
                    item.request.index, self._execute(tx, item, plan, changed)
                )
            if fresh:
                await tx.write_many(fresh)
            return [results[i] for i in range(len(prepared))]

        return await self.resources.in_transaction(work)

    async def _entry_step(self, item: _Prepared, step: Any) -> None:
        await self._entry_step_value(item.request.index, step)

    async def _entry_step_value(self, index: int, step: Any) -> Any:
        try:
            return await step
        except EntryFailed:
            raise
        except VersionConflict:
            raise  # the whole transaction is retried by in_transaction
        except WardbookError as error:
            raise EntryFailed(index, error) from error

    # -- batch -----------------------------------------------------------------------------

    async def _batch(self, raw_entries: list[Any], base: str) -> list[EntryResult]:
        prepared = [self._prepare(i, raw, base) for i, raw in enumerate(raw_entries)]
        links = _entry_links(prepared, unique=False)
        guesses = await self._rewrite_and_validate(prepared, links, fail_fast=False)
        results: dict[int, EntryResult] = {}
        for item in sorted(prepared, key=lambda p: _ORDER[p.request.method]):
            if item.error is not None:
                results[item.request.index] = _failure(item.error)
                continue
            try:
                if item.request.kind in ("read", "vread", "search", "history"):
                    result = await self._read(None, item)
                else:
                    result = await self.resources.in_transaction(
                        self._batch_work(item, links, guesses)
                    )
            except WardbookError as error:
                result = _failure(error)
            results[item.request.index] = result
        return [results[i] for i in range(len(prepared))]

    def _batch_work(
        self, item: _Prepared, links: dict[str, str], guesses: dict[str, str]
    ) -> Callable[[WriteTx], Awaitable[EntryResult]]:
        async def work(tx: WriteTx) -> EntryResult:
            return await self._batch_entry(tx, item, links, guesses)

        return work

    async def _batch_entry(
        self, tx: WriteTx, item: _Prepared, links: dict[str, str], guesses: dict[str, str]
    ) -> EntryResult:
        plan = _Plan(links=dict(links))
        key = _lock_key(item)
        if key is not None:
            await tx.lock_key(key)
        await self._resolve(tx, item, plan)
        for ref in sorted(item.conditional_refs):
            plan.links[ref] = await resolve_conditional_reference(tx, ref)
        changed = {k for k, v in plan.links.items() if guesses.get(k) != v}
        if item.request.kind == "create" and item.request.index not in plan.existing:
            result, version = self._fresh_create(item, plan, changed)
            await tx.write(version)
        else:
            result = await self._execute(tx, item, plan, changed)
        # Later entries that link to this one's fullUrl see what it became.
        full_url = item.request.full_url
        if full_url is not None and full_url in plan.links:
            links[full_url] = plan.links[full_url]
        return result

    # -- outside the transaction -----------------------------------------------------------

    def _prepare(self, index: int, raw: Any, base: str) -> _Prepared:
        try:
            request = parse_entry(index, raw, base)
        except WardbookError as error:
            placeholder = EntryRequest(index, "GET", "invalid", None)
            return _Prepared(placeholder, error=error)
        item = _Prepared(request)
        try:
            self._prepare_request(item)
        except WardbookError as error:
            item.error = error
        return item

    def _prepare_request(self, item: _Prepared) -> None:
        request = item.request
        kind = request.kind
        if request.resource_type is None and kind not in ("search", "history"):
            raise RuntimeError(f"internal error: a {kind} entry without a resource type")
        if kind in _WRITES:
            resource = request.resource
            if not isinstance(resource, dict):
                raise BadRequest(f"A {request.method} entry needs a resource")
            if resource.get("resourceType") != request.resource_type:
                raise BadRequest(
                    f"The entry's resource is a {resource.get('resourceType')}, but its URL "
                    f"names {request.resource_type}"
                )
            item.original = resource
        if kind == "create":
            item.target_id = str(uuid.uuid4())
            if request.if_none_exist is not None:
                item.query = parse_criteria(str(request.resource_type), request.if_none_exist)
        elif kind == "update":
            body_id = request.resource.get("id")
            if body_id != request.resource_id:
                raise BadRequest(
                    f"The resource's id '{body_id}' does not match the URL's "
                    f"'{request.resource_id}'"
                )
            item.target_id = request.resource_id
        elif kind == "cond_update":
            body_id = request.resource.get("id")
            item.target_id = body_id if isinstance(body_id, str) else str(uuid.uuid4())
            check_id(item.target_id, request.resource_type)
        if kind in ("cond_update", "cond_delete", "cond_patch"):
            item.query = parse_criteria(str(request.resource_type), str(request.criteria))
        if kind in ("patch", "cond_patch"):
            item.patch = patch_function(request.resource)
        if kind == "search":
            params = parse_qsl(request.criteria or "", keep_blank_values=True)
            reject_nul(params)
            item.query = parse_search(request.resource_type, params, strict=False)

    async def _rewrite_and_validate(
        self, prepared: list[_Prepared], links: dict[str, str], *, fail_fast: bool
    ) -> dict[str, str]:
        """Rewrite links with the entries' identities and guessed conditional references.

        Returns the mapping used (the guesses), so the transaction can tell which links
        resolved differently inside it.
        """
        writers = [p for p in prepared if p.error is None and p.original is not None]
        for item in writers:
            item.resource, item.seen = rewrite_links(item.original, links)
        guesses = dict(links)
        for ref in sorted({ref for item in writers for ref in item.conditional_refs}):
            # A guess that fails is resolved (and reported) inside the transaction.
            with contextlib.suppress(WardbookError):
                guesses[ref] = await resolve_conditional_reference(self.repository, ref)
        guessed = {ref: target for ref, target in guesses.items() if ref not in links}
        for item in writers:
            try:
                if guessed and not item.seen.isdisjoint(guessed):
                    item.resource, _ = rewrite_links(item.resource, guessed)
                dangling = sorted(r for r in item.seen if is_placeholder(r) and r not in links)
                if dangling:
                    raise BadRequest(
                        f"'{dangling[0]}' names no entry of this Bundle (a urn:uuid:/urn:oid: "
                        "reference must be the fullUrl of an entry)"
                    )
                resource_type = str(item.request.resource_type)
                item.resource = require_valid(item.resource, resource_type)
                item.index = extract_index(item.resource)
            except WardbookError as error:
                if fail_fast:
                    raise EntryFailed(item.request.index, error) from error
                item.error = error
        return guesses

    # -- inside the transaction ------------------------------------------------------------

    async def _resolve(self, tx: WriteTx, item: _Prepared, plan: _Plan) -> None:
        """Find the identity an entry acts on (conditional ones by search, under lock)."""
        request = item.request
        kind, index = request.kind, request.index
        resource_type = str(request.resource_type)
        if kind in ("delete", "patch"):
            plan.targets[index] = [str(request.resource_id)]
        elif kind in ("update", "create") and item.query is None:
            plan.targets[index] = [str(item.target_id)]
        elif kind == "cond_delete":
            if item.query is None:
                raise RuntimeError("internal error: item.query is missing")
            found = await self.resources.matches_in(tx, item.query, MAX_CONDITIONAL_DELETE + 1)
            if len(found) > MAX_CONDITIONAL_DELETE:
                raise _too_many(request.criteria)
            plan.targets[index] = [m.id for m in found]
        elif kind in ("create", "cond_update", "cond_patch"):
            if item.query is None:
                raise RuntimeError("internal error: item.query is missing")
            found = await self.resources.matches_in(tx, item.query, 2)
            criteria = request.if_none_exist if kind == "create" else request.criteria
            if len(found) > 1:
                raise PreconditionFailed(
                    f"The criteria '{criteria}' match more than one {resource_type}"
                )
            if kind == "cond_patch" and not found:
                raise NotFound(f"No {resource_type} matches '{criteria}'")
            if kind == "create" and found:
                plan.existing[index] = found[0]
                target = found[0].id
            elif found:
                target = found[0].id
                body_id = request.resource.get("id") if kind == "cond_update" else None
                if body_id is not None and body_id != target:
                    raise BadRequest(
                        f"The resource's id '{body_id}' differs from the matched "
                        f"{resource_type}/{target}"
                    )
            else:
                target = str(item.target_id)
            plan.targets[index] = [target]
        else:
            return
        if request.full_url is not None and kind in _WRITES:
            plan.links[request.full_url] = f"{resource_type}/{plan.targets[index][0]}"

    def _final_resource(self, item: _Prepared, plan: _Plan, changed: set[str]) -> dict[str, Any]:
        """The resource to write: re-rewritten only when one of its links changed."""
        if item.resource is None or item.original is None:
            raise RuntimeError("internal error: item.resource or item.original is missing")
        if not (item.seen & changed):
            return item.resource
        resource, _ = rewrite_links(item.original, plan.links)
        resource = require_valid(resource, str(item.request.resource_type))
        item.index = extract_index(resource)
        return resource

    def _fresh_create(
        self, item: _Prepared, plan: _Plan, changed: set[str]
    ) -> tuple[EntryResult, NewVersion]:
        """A create with a new id: the version to write, and its entry result."""
        resource = self._final_resource(item, plan, changed)
        resource_type = str(item.request.resource_type)
        resource_id = plan.targets[item.request.index][0]
        micros = now_micros()
        body = stored_version(resource_type, resource_id, 1, micros, resource)
        stored = StoredResource(resource_type, resource_id, 1, micros, False, body, "POST")
        version = NewVersion(resource_type, resource_id, 1, micros, "POST", body, item.index)
        return EntryResult(201, stored, location=True), version

    async def _execute(
        self, tx: WriteTx, item: _Prepared, plan: _Plan, changed: set[str]
    ) -> EntryResult:
        request = item.request
        kind = request.kind
        resource_type = str(request.resource_type)
        targets = plan.targets.get(request.index, [])
        if kind in ("delete", "cond_delete"):
            last: WriteResult | None = None
            for target in targets:
                done = await self.resources.delete_in(
                    tx, resource_type, target, if_match=request.if_match
                )
                last = done or last
            return EntryResult(204, last.stored if last and len(targets) == 1 else None)
        if kind == "create":
            existing = plan.existing[request.index]
            return EntryResult(200, existing, location=True, changed=False)
        if kind in ("update", "cond_update"):
            resource = self._final_resource(item, plan, changed)
            if resource.get("id") != targets[0]:
                resource = {**resource, "id": targets[0]}
            result = await self.resources.write_in(
                tx, resource_type, targets[0], resource, item.index, if_match=request.if_match
            )
            status = 201 if result.created else 200
            return EntryResult(status, result.stored, location=True, changed=result.changed)
        if kind in ("patch", "cond_patch"):
            if item.patch is None:
                raise RuntimeError("internal error: item.patch is missing")
            result = await self.resources.patch_in(
                tx, resource_type, targets[0], item.patch, if_match=request.if_match
            )
            return EntryResult(200, result.stored, location=True, changed=result.changed)
        return await self._read(tx, item)

    async def _read(self, tx: WriteTx | None, item: _Prepared) -> EntryResult:
        """GET/HEAD entries: read, vread, search, history (inside the transaction if any)."""
        result = await self._get(tx, item)
        result.head = item.request.method == "HEAD"
        return result

    async def _get(self, tx: WriteTx | None, item: _Prepared) -> EntryResult:
        request = item.request
        kind = request.kind
        if kind == "read":
            resource_type, resource_id = str(request.resource_type), str(request.resource_id)
            if tx is None:
                stored = await self.resources.read(resource_type, resource_id)
            else:
                check_type(resource_type)
                check_id(resource_id)
                principal = current_principal()
                authorize(principal, "read", resource_type)
                current = await tx.current(resource_type, resource_id)
                if current is None:
                    raise NotFound(f"{resource_type}/{resource_id} is not known")
                if current.deleted:
                    raise Gone(f"{resource_type}/{resource_id} was deleted")
                # The same checks as ResourceService.read, on what the transaction sees.
                authorize(principal, "read", resource_type, current)
                await require_care(principal, current, self.resources)
                stored = current
            if _not_modified(request, stored):
                return EntryResult(304, stored)
            return EntryResult(200, stored)
        if kind == "vread":
            stored = await self.resources.vread(
                str(request.resource_type), str(request.resource_id), str(request.version_id)
            )
            if _not_modified(request, stored):
                return EntryResult(304, stored)
            return EntryResult(200, stored)
        if kind == "search":
            if item.query is None:
                raise RuntimeError("internal error: item.query is missing")
            searcher = tx if tx is not None else self.repository
            page = await self.resources.search_in(searcher, item.query)
            return EntryResult(200, page=page, query=item.query)
        # history
        page = await self.resources.history(
            resource_type=request.resource_type,
            resource_id=request.resource_id,
            since=None,
            at=None,
            count=50,
            cursor=None,
        )
        path = "/".join(p for p in (request.resource_type, request.resource_id, "_history") if p)
        return EntryResult(200, page=page, history_path=path)


# -- parsing entries ---------------------------------------------------------------------------


def parse_entry(index: int, raw: Any, base: str) -> EntryRequest:
    """A Bundle entry's request: method, URL (relative, or absolute on this server), headers."""
    if not isinstance(raw, dict):
        raise BadRequest("A Bundle entry must be an object")
    request = raw.get("request")
    if not isinstance(request, dict):
        raise BadRequest("A transaction or batch entry needs a request (method and url)")
    method = request.get("method")
    url = request.get("url")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise BadRequest(f"request.method '{method}' is not one of {', '.join(METHODS)}")
    if not isinstance(url, str) or not url.strip():
        raise BadRequest("request.url is missing")
    method = method.upper()
    path, criteria = _split_url(url.strip(), base)
    segments = [s for s in path.split("/") if s]
    full_url = raw.get("fullUrl")
    entry = EntryRequest(
        index=index,
        method=method,
        kind="",
        resource_type=segments[0] if segments else None,
        full_url=full_url if isinstance(full_url, str) and full_url else None,
        resource=raw.get("resource"),
        if_none_exist=_text(request, "ifNoneExist"),
        if_none_match=_text(request, "ifNoneMatch"),
        if_modified_since=_text(request, "ifModifiedSince"),
    )
    if_match = _text(request, "ifMatch")
    if if_match is not None:
        entry.if_match = parse_etag(if_match)
        if entry.if_match is None:
            raise BadRequest(f"ifMatch '{if_match}' is not a version ETag like W/\"3\"")
    entry.kind = _kind(method, segments, criteria, entry)
    if entry.kind == "create" and criteria:
        # Search parameters on a POST's url: a conditional create, as on the REST API
        # (wardbook.api.type_level.create_condition), never silently dropped.
        if entry.if_none_exist is None:
            entry.if_none_exist = criteria
        elif parse_qsl(entry.if_none_exist.lstrip("?")) != parse_qsl(criteria):
            raise BadRequest("request.ifNoneExist and the search parameters in request.url differ")
    if entry.resource_type is not None and not segments[0].startswith("_"):
        check_type(entry.resource_type)
    if entry.resource_id is not None:
        check_id(entry.resource_id, entry.resource_type)
    entry.criteria = criteria
    return entry


def _text(request: dict[str, Any], name: str) -> str | None:
    value = request.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"request.{name} must be a string")
    return value


def _split_url(url: str, base: str) -> tuple[str, str | None]:
    """Path relative to the FHIR base, and the query (None when there is none)."""
    path, mark, query = url.partition("?")
    if "://" in path:
        if not path.startswith(base + "/") and path != base:
            raise BadRequest(f"request.url '{url}' is not on this server ({urlsplit(url).netloc})")
        path = path[len(base) :]
    return path.strip("/"), query if mark else None


def _kind(method: str, segments: list[str], criteria: str | None, entry: EntryRequest) -> str:
    """Which interaction an entry is (R4 http.html#summary)."""
    n = len(segments)
    if any(s.startswith("$") for s in segments):
        raise BadRequest("Operations ($...) are not supported inside a transaction or batch")
    if method in ("GET", "HEAD"):
        if n == 0 or (n == 1 and segments[0] == "_history"):
            if n == 0:
                entry.resource_type = None
                return "search"
            entry.resource_type = None
            return "history"
        if n == 1:
            return "search"
        if n == 2 and segments[1] == "_history":
            return "history"
        if n == 2:
            entry.resource_id = segments[1]
            return "read"
        if n == 3 and segments[2] == "_history":
            entry.resource_id = segments[1]
            return "history"
        if n == 4 and segments[2] == "_history":
            entry.resource_id, entry.version_id = segments[1], segments[3]
            return "vread"
    elif method == "POST" and n == 1:
        return "create"
    elif method != "POST" and n == 1 and criteria:
        return {"PUT": "cond_update", "DELETE": "cond_delete", "PATCH": "cond_patch"}[method]
    elif method != "POST" and n == 2:
        entry.resource_id = segments[1]
        return {"PUT": "update", "DELETE": "delete", "PATCH": "patch"}[method]
    raise BadRequest(f"{method} {'/'.join(segments) or '[base]'} is not a supported entry request")


def patch_function(resource: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A PATCH entry's body: a Binary holding a JSON Patch, or a FHIRPath Patch Parameters.

    R4 http.html#patch: "in a transaction, the Binary resource carries the JSON patch".
    """
    if isinstance(resource, dict) and resource.get("resourceType") == "Parameters":
        return lambda current: apply_fhirpath_patch(current, resource)
    if isinstance(resource, dict) and resource.get("resourceType") == "Binary":
        if str(resource.get("contentType", "")).split(";")[0].strip() != _JSON_PATCH:
            raise BadRequest(f"A Binary PATCH body needs contentType {_JSON_PATCH}")
        try:
            document = jsonio.loads(base64.b64decode(str(resource.get("data", "")), validate=True))
        except (binascii.Error, ValueError) as exc:
            raise BadRequest("The Binary's data is not base64-encoded JSON") from exc
        return lambda current: apply_json_patch(current, document)
    raise BadRequest("A PATCH entry needs a Binary (JSON Patch) or a Parameters resource")


# -- helpers -------------------------------------------------------------------------------------


def _entry_links(prepared: list[_Prepared], *, unique: bool) -> dict[str, str]:
    """fullUrl -> ``Type/id`` for every entry that creates or updates a resource."""
    links: dict[str, str] = {}
    for item in prepared:
        request = item.request
        if item.error is not None or request.full_url is None or request.kind not in _WRITES:
            continue
        if unique and request.full_url in links:
            raise EntryFailed(
                request.index,
                BadRequest(f"fullUrl '{request.full_url}' is used by more than one entry"),
            )
        links[request.full_url] = f"{request.resource_type}/{item.target_id}"
    return links


def _first_users(prepared: list[_Prepared]) -> dict[str, int]:
    """Each conditional reference and the first entry using it (errors name that entry)."""
    users: dict[str, int] = {}
    for item in prepared:
        for ref in sorted(item.conditional_refs):
            users.setdefault(ref, item.request.index)
    return dict(sorted(users.items()))


def _lock_key(item: _Prepared) -> str | None:
    if item.query is None or item.request.kind == "search":
        return None
    return criteria_lock_key(str(item.request.resource_type), item.query)


def _check_overlap(ordered: Iterable[_Prepared], plan: _Plan) -> None:
    """R4 http.html#trules: identities written by two entries make the transaction fail."""
    owner: dict[tuple[str, str], int] = {}
    for item in ordered:
        request = item.request
        if request.kind in ("read", "vread", "search", "history"):
            continue
        if request.index in plan.existing:
            continue
        for target in plan.targets.get(request.index, []):
            key = (str(request.resource_type), target)
            if key in owner:
                raise EntryFailed(
                    request.index,
                    BadRequest(
                        f"{key[0]}/{key[1]} is also the subject of Bundle.entry[{owner[key]}]; "
                        "a transaction may act on each resource only once"
                    ),
                )
            owner[key] = request.index


def _too_many(criteria: str | None) -> WardbookError:
    return PreconditionFailed(
        f"The criteria '{criteria}' match more than {MAX_CONDITIONAL_DELETE} resources"
    )


def _failure(error: WardbookError) -> EntryResult:
    return EntryResult(error.status, issues=list(error.issues))


def _not_modified(request: EntryRequest, stored: StoredResource) -> bool:
    """ifNoneMatch / ifModifiedSince of a GET entry (R4 bundle.html#Bundle.entry.request)."""
    if request.if_none_match is not None:
        return any(parse_etag(t) == stored.version for t in request.if_none_match.split(","))
    if request.if_modified_since is not None:
        try:
            moment = parsedate_to_datetime(request.if_modified_since)
        except (TypeError, ValueError):
            try:
                moment = datetime.fromisoformat(request.if_modified_since.replace("Z", "+00:00"))
            except ValueError:
                return False
        if moment.tzinfo is None:
            return False
        return stored.last_updated // 1_000_000 <= to_micros(moment) // 1_000_000
    return False
