"""Use cases on single resources: create, read, update, patch, delete, history, search.

R4 http.html: each write runs in one database transaction. Conditional operations lock
their criteria first (``WriteTx.lock_key``), so concurrent identical conditional creates
make exactly one resource instead of racing between search and insert.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl

from wardbook.auth.principal import Principal, current_principal
from wardbook.errors import (
    BadRequest,
    Gone,
    InvalidResource,
    Issue,
    NotFound,
    PreconditionFailed,
    ValidationReport,
    WardbookError,
)
from wardbook.fhir import jsonio
from wardbook.fhir.meta import content_equal, is_valid_id, stamp
from wardbook.fhir.registry import resource_types
from wardbook.fhir.validator import validate_resource
from wardbook.search.extract import extract_index
from wardbook.search.matcher import contained_matches, matches
from wardbook.search.parse import parse_search
from wardbook.search.query import SearchQuery
from wardbook.service.authorization import (
    authorize,
    care_limits,
    filter_entries,
    in_care,
    require_care,
    restrict_search,
)
from wardbook.service.terminology import resolve_value_sets
from wardbook.storage.base import (
    NewVersion,
    Page,
    Repository,
    StoredResource,
    VersionConflict,
    WriteTx,
)

T = TypeVar("T")

_RETRIES = 5
# A conditional delete removes at most this many resources; more is refused as too costly.
MAX_CONDITIONAL_DELETE = 1000
# Versions are 32-bit integers in both schemas; a larger number cannot name a version.
MAX_VERSION = 2**31 - 1


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a write did: the resulting version and whether it created a resource."""

    stored: StoredResource
    created: bool
    changed: bool = True


def now_micros() -> int:
    return time.time_ns() // 1000


def check_type(resource_type: str) -> None:
    """404 for a name that is not an R4 resource type (R4 http.html#general)."""
    if resource_type not in resource_types():
        raise NotFound(f"Unknown resource type '{resource_type}'")


def check_id(resource_id: str, resource_type: str | None = None) -> None:
    """400 for an id that breaks R4 datatypes.html#id."""
    if not is_valid_id(resource_id):
        message = f"'{resource_id}' is not a valid resource id (1-64 characters of A-Z a-z 0-9 - .)"
        where = (f"{resource_type}.id",) if resource_type else ()
        raise BadRequest(message, issues=[Issue("error", "value", message, where)])


def require_valid(resource: Any, resource_type: str) -> dict[str, Any]:
    """Raise InvalidResource listing every problem when the body is not a valid resource."""
    if not isinstance(resource, dict):
        raise BadRequest("The body must be a JSON object (a FHIR resource)")
    body_type = resource.get("resourceType")
    if body_type != resource_type:
        raise BadRequest(
            f"The body's resourceType '{body_type}' does not match the URL's '{resource_type}'"
        )
    report = validate_resource(resource, resource_type=resource_type)
    if not report.ok:
        raise InvalidResource(
            f"The {resource_type} is not valid: "
            + "; ".join(i.diagnostics for i in report.issues if i.severity in ("error", "fatal")),
            issues=[i for i in report.issues],
        )
    return resource


def validate_only(resource: Any, resource_type: str | None) -> ValidationReport:
    """$validate: every issue, never raising for an invalid resource."""
    if not isinstance(resource, dict):
        report = ValidationReport()
        report.error("structure", "The body must be a JSON object (a FHIR resource)", "Resource")
        return report
    return validate_resource(resource, resource_type=resource_type)


def parse_criteria(resource_type: str, criteria: str) -> SearchQuery:
    """The search in an If-None-Exist header or a conditional URL, parsed strictly."""
    params = parse_qsl(criteria.lstrip("?"), keep_blank_values=True)
    reject_nul(params)
    if not params:
        raise BadRequest("A conditional operation needs search criteria")
    query = parse_search(resource_type, params, strict=True)
    if query.searches_contained:
        raise BadRequest("A conditional operation cannot match contained resources (_contained)")
    return query


def contained_page(page: Page, query: SearchQuery) -> Page:
    """A ``_contained=true|both`` page as the client asked for it (R4 search.html#contained).

    SQL selected containers holding a contained resource with rows for every criterion;
    here each contained resource is matched on its own (:func:`contained_matches`), so
    two contained resources never combine into one match. ``_containedType=container``
    keeps the containers that hold a match; ``contained`` returns the matching contained
    resources themselves, each with its container's version and time. Resources that
    match as themselves (``both``) stay as they are.
    """
    plain = replace(query, contained=None, contained_type=None, compartment=None, limits=())
    entries: list[StoredResource] = []
    for stored in page.entries:
        if stored.body is None:
            continue
        body = jsonio.loads(stored.body)
        own = query.contained == "both" and matches(body, plain)
        found = contained_matches(body, plain)
        if own:
            entries.append(stored)
        if query.returns_contained:
            container = f"{stored.resource_type}/{stored.id}"
            entries.extend(
                replace(
                    stored,
                    resource_type=str(item["resourceType"]),
                    id=str(item.get("id", "")),
                    body=jsonio.dumps(item),
                    container=container,
                )
                for item in found
            )
        elif found and not own:
            entries.append(stored)
    if query.returns_contained:
        # The total SQL counts containers; one may hold several matches: no total is
        # better than a wrong one (Bundle.total is optional, R4 bundle.html).
        return replace(page, entries=entries, total=None)
    return replace(page, entries=entries)


def reject_nul(params: list[tuple[str, str]]) -> None:
    """400 for NUL characters in search input: no FHIR value can contain them."""
    for name, value in params:
        if "\x00" in name or "\x00" in value:
            raise BadRequest(
                f"Search parameter '{name.replace(chr(0), '')}' contains a NUL character"
            )


SearchPageFilter = Callable[[Principal, Page], Awaitable[Page]]


class Searcher(Protocol):
    """What runs a compiled search: the repository, or a write transaction."""

    async def search(self, query: SearchQuery) -> Page: ...


class ResourceService:
    """The FHIR resource use cases, independent of HTTP.

    ``search_filters`` run, in order, on every search page before anyone sees it: the one
    place where access control removes what the caller may not see, from the matches and
    from what ``_include``/``_revinclude`` added alike (see docs/architecture.md).
    """

    def __init__(
        self, repository: Repository, search_filters: Sequence[SearchPageFilter] = ()
    ) -> None:
        self.repository = repository
        self.search_filters = list(search_filters)

    # -- reads -----------------------------------------------------------------------------

    async def read(self, resource_type: str, resource_id: str) -> StoredResource:
        """R4 http.html#read: 404 when unknown, 410 when deleted."""
        check_type(resource_type)
        check_id(resource_id)
        principal = current_principal()
        authorize(principal, "read", resource_type)
        stored = await self.repository.read(resource_type, resource_id)
        if stored is None:
            raise NotFound(f"{resource_type}/{resource_id} is not known")
        if stored.deleted:
            raise Gone(f"{resource_type}/{resource_id} was deleted")
        authorize(principal, "read", resource_type, stored)
        await require_care(principal, stored, self)
        return stored

    async def vread(self, resource_type: str, resource_id: str, version: str) -> StoredResource:
        """R4 http.html#vread: a deleted version answers 410."""
        check_type(resource_type)
        check_id(resource_id)
        principal = current_principal()
        authorize(principal, "read", resource_type)
        if not version.isdigit() or int(version) > MAX_VERSION:
            raise NotFound(f"Version '{version}' of {resource_type}/{resource_id} is not known")
        stored = await self.repository.vread(resource_type, resource_id, int(version))
        if stored is None:
            raise NotFound(f"Version {version} of {resource_type}/{resource_id} is not known")
        if stored.deleted:
            raise Gone(f"Version {version} of {resource_type}/{resource_id} is a deletion")
        authorize(principal, "read", resource_type, stored)
        await require_care(principal, stored, self)
        return stored

    async def history(
        self,
        *,
        resource_type: str | None,
        resource_id: str | None,
        since: int | None,
        at: int | None,
        count: int,
        cursor: str | None,
    ) -> Page:
        """R4 http.html#history at system, type or instance level.

        Instance history needs read access to the resource; type and system history need
        search access; every version shown is checked like a search result.
        """
        principal = current_principal()
        if resource_type is not None:
            check_type(resource_type)
            authorize(principal, "read" if resource_id is not None else "search", resource_type)
        elif not principal.unrestricted and (principal.client_id or principal.scopes):
            restrict_search(principal, SearchQuery(None))
        if resource_id is not None:
            check_id(resource_id)
            if resource_type is None:
                raise RuntimeError("internal error: resource_type is missing")
            current = await self.repository.read(resource_type, resource_id)
            if current is not None and not current.deleted:
                authorize(principal, "read", resource_type, current)
                await require_care(principal, current, self)
        page = await self.repository.history(
            resource_type=resource_type,
            resource_id=resource_id,
            since=since,
            at=at,
            count=count,
            cursor=cursor,
        )
        unknown = (
            resource_id is not None
            and resource_type is not None
            and not page.entries
            and cursor is None
            and await self.repository.read(resource_type, resource_id) is None
        )
        if unknown:
            raise NotFound(f"{resource_type}/{resource_id} is not known")
        if principal.unrestricted:
            return page
        visible = await in_care(principal, filter_entries(principal, page.entries), self)
        # The stored total counts every version, seen or not: a restricted reader gets none
        # (Bundle.total is optional for history, R4 bundle.html), so nothing is counted.
        return replace(page, entries=visible, total=None)

    async def authorized_entries(self, entries: list[StoredResource]) -> list[StoredResource]:
        """The resources of an assembled result (search, history, $everything, $lastn,
        export) that the current principal may see: scopes, role, patient context and care
        relationship. Every operation that returns many resources passes them through here.
        """
        principal = current_principal()
        if principal.unrestricted:
            return entries
        return await in_care(principal, filter_entries(principal, entries), self)

    async def search(self, query: SearchQuery) -> Page:
        """R4 search.html, constrained to what the principal may see.

        The query is narrowed first (a patient-scoped token searches only its patient's
        compartment, in SQL, so totals and paging stay exact); then the assembled page --
        matches and ``_include``/``_revinclude`` resources alike -- passes the
        ``search_filters`` hooks and the permission filter. This is the one place a search
        page is put together (type, system and compartment search all come here).
        """
        return await self.search_in(self.repository, query)

    async def search_in(self, searcher: Searcher, query: SearchQuery) -> Page:
        """:meth:`search` run by ``searcher`` (a transaction, for a Bundle's GET entries)."""
        principal = current_principal()
        query = await resolve_value_sets(query, self.repository)
        plan = restrict_search(principal, query)
        if query.searches_contained:
            # The matches are containers of any type: each is checked as a read of its own.
            plan = replace(plan, post_filter=True)
        page = await searcher.search(await care_limits(principal, plan.query, self))
        for search_filter in self.search_filters:
            page = await search_filter(principal, page)
        if not principal.unrestricted:
            entries = filter_entries(principal, page.entries) if plan.post_filter else page.entries
            entries = await in_care(principal, entries, self)
            # Included resources are outside the narrowed query: always filter them.
            included = await in_care(principal, filter_entries(principal, page.included), self)
            page = replace(page, entries=entries, included=included)
        if query.searches_contained:
            page = contained_page(page, plan.query)
        return page

    # -- writes ----------------------------------------------------------------------------

    async def create(
        self, resource_type: str, body: Any, *, if_none_exist: str | None = None
    ) -> WriteResult:
        """R4 http.html#create: the server assigns the id; conditional with If-None-Exist."""
        check_type(resource_type)
        principal = current_principal()
        authorize(principal, "create", resource_type)
        resource = require_valid(body, resource_type)
        authorize(principal, "create", resource_type, resource)
        await require_care(principal, resource, self)
        index = extract_index(resource)
        if if_none_exist is None:
            # A fresh uuid4 cannot exist yet: one atomic write, no read, no retry loop.
            micros = now_micros()
            stored = _stored(resource_type, str(uuid.uuid4()), 1, micros, resource, "POST")
            await self.repository.write_new(
                NewVersion(resource_type, stored.id, 1, micros, "POST", stored.body, index)
            )
            return WriteResult(stored, created=True)

        query = parse_criteria(resource_type, if_none_exist)

        async def conditional(tx: WriteTx) -> WriteResult:
            await tx.lock_key(criteria_lock_key(resource_type, query))
            matches = await self._matches(tx, query, limit=2)
            if len(matches) > 1:
                raise PreconditionFailed(
                    f"If-None-Exist '{if_none_exist}' matches more than one {resource_type}"
                )
            if matches:
                authorize(principal, "read", resource_type, matches[0])
                return WriteResult(matches[0], created=False, changed=False)
            return await self._write_new(
                tx, resource_type, str(uuid.uuid4()), resource, index, "POST"
            )

        return await self._in_transaction(conditional)

    async def update(
        self,
        resource_type: str,
        resource_id: str,
        body: Any,
        *,
        if_match: int | None = None,
        method: str = "PUT",
    ) -> WriteResult:
        """R4 http.html#update, including update-as-create with a client-chosen id."""
        check_type(resource_type)
        check_id(resource_id, resource_type)
        principal = current_principal()
        authorize(principal, "update", resource_type)
        resource = require_valid(body, resource_type)
        authorize(principal, "update", resource_type, resource)
        body_id = resource.get("id")
        if body_id is None:
            raise BadRequest("An update must carry the resource's id in the body")
        if body_id != resource_id:
            raise BadRequest(f"The body's id '{body_id}' does not match the URL's '{resource_id}'")
        index = extract_index(resource)

        async def run(tx: WriteTx) -> WriteResult:
            return await self._write_over(
                tx, resource_type, resource_id, resource, index, if_match, method
            )

        return await self._in_transaction(run)

    async def conditional_update(
        self, resource_type: str, criteria: str, body: Any, *, if_match: int | None = None
    ) -> WriteResult:
        """R4 http.html#cond-update: 0 matches create, 1 updates, more is 412."""
        check_type(resource_type)
        principal = current_principal()
        authorize(principal, "update", resource_type)
        resource = require_valid(body, resource_type)
        authorize(principal, "update", resource_type, resource)
        query = parse_criteria(resource_type, criteria)
        index = extract_index(resource)
        body_id = resource.get("id")

        async def run(tx: WriteTx) -> WriteResult:
            await tx.lock_key(criteria_lock_key(resource_type, query))
            matches = await self._matches(tx, query, limit=2)
            if len(matches) > 1:
                raise PreconditionFailed(
                    f"The criteria '{criteria}' match more than one {resource_type}"
                )
            if matches:
                target = matches[0].id
                if body_id is not None and body_id != target:
                    raise BadRequest(
                        f"The body's id '{body_id}' differs from the matched {resource_type}/"
                        f"{target}"
                    )
            else:
                target = body_id if body_id is not None else str(uuid.uuid4())
                check_id(target)
            stamped = dict(resource)
            stamped["id"] = target
            return await self._write_over(
                tx, resource_type, target, stamped, index, if_match, "PUT"
            )

        return await self._in_transaction(run)

    async def delete(self, resource_type: str, resource_id: str) -> WriteResult | None:
        """R4 http.html#delete: logical; deleting a missing or deleted resource is a no-op."""
        check_type(resource_type)
        check_id(resource_id)
        authorize(current_principal(), "delete", resource_type)

        async def run(tx: WriteTx) -> WriteResult | None:
            return await self._delete_in(tx, resource_type, resource_id)

        return await self._in_transaction(run)

    async def conditional_delete(self, resource_type: str, criteria: str) -> int:
        """R4 http.html#cdelete, 'multiple' mode: every match is deleted; returns the count."""
        check_type(resource_type)
        authorize(current_principal(), "delete", resource_type)
        query = parse_criteria(resource_type, criteria)

        async def run(tx: WriteTx) -> int:
            await tx.lock_key(criteria_lock_key(resource_type, query))
            matches = await self._matches(tx, query, limit=MAX_CONDITIONAL_DELETE + 1)
            if len(matches) > MAX_CONDITIONAL_DELETE:
                raise PreconditionFailed(
                    f"The criteria match more than {MAX_CONDITIONAL_DELETE} resources; "
                    "narrow them down"
                )
            for match in matches:
                await self._delete_in(tx, resource_type, match.id)
            return len(matches)

        return await self._in_transaction(run)

    async def patch(
        self,
        resource_type: str,
        resource_id: str,
        apply: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        if_match: int | None = None,
    ) -> WriteResult:
        """R4 http.html#patch: apply to the current version, validate, store a new version."""
        check_type(resource_type)
        check_id(resource_id)
        principal = current_principal()
        authorize(principal, "update", resource_type)

        async def run(tx: WriteTx) -> WriteResult:
            return await self.patch_in(tx, resource_type, resource_id, apply, if_match=if_match)

        return await self._in_transaction(run)

    async def conditional_patch(
        self,
        resource_type: str,
        criteria: str,
        apply: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        if_match: int | None = None,
    ) -> WriteResult:
        """Conditional patch: exactly one match is patched; none is 404, several 412."""
        check_type(resource_type)
        authorize(current_principal(), "update", resource_type)
        query = parse_criteria(resource_type, criteria)
        page = await self.search(_limited(query, 2))
        if not page.entries:
            raise NotFound(f"No {resource_type} matches '{criteria}'")
        if len(page.entries) > 1:
            raise PreconditionFailed(f"The criteria '{criteria}' match more than one resource")
        return await self.patch(resource_type, page.entries[0].id, apply, if_match=if_match)

    async def put_many(self, resources: list[Any]) -> list[WriteResult | WardbookError]:
        """Update-or-create many resources with ids in ONE transaction (loading, demo data).

        Invalid resources are answered with their error and skipped; the valid ones commit
        together. Unchanged resources make no new version, so re-loading is idempotent.
        """
        prepared: list[tuple[str, str, dict[str, Any], Any] | WardbookError] = []
        for body in resources:
            try:
                resource_type = body.get("resourceType") if isinstance(body, dict) else None
                if not isinstance(resource_type, str):
                    raise BadRequest("Not a FHIR resource: resourceType is missing")
                check_type(resource_type)
                resource = require_valid(body, resource_type)
                resource_id = resource["id"]
                check_id(resource_id)
                prepared.append((resource_type, resource_id, resource, extract_index(resource)))
            except WardbookError as error:
                prepared.append(error)

        async def run(tx: WriteTx) -> list[WriteResult | WardbookError]:
            out: list[WriteResult | WardbookError] = []
            for item in prepared:
                if isinstance(item, WardbookError):
                    out.append(item)
                    continue
                resource_type, resource_id, resource, index = item
                out.append(
                    await self._write_over(
                        tx, resource_type, resource_id, resource, index, None, "PUT"
                    )
                )
            return out

        return await self._in_transaction(run)

    # -- inside a caller's transaction (the transaction engine composes these) --------------

    async def in_transaction(self, work: Callable[[WriteTx], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction, retried from the start on a write conflict."""
        return await self._in_transaction(work)

    async def matches_in(self, tx: WriteTx, query: SearchQuery, limit: int) -> list[StoredResource]:
        """The first ``limit`` current matches of ``query``, as the transaction sees them.

        A conditional operation must not reveal (or act on) a match the principal may not
        read: such a match is refused with 403.
        """
        matches = await self._matches(tx, query, limit)
        principal = current_principal()
        for match in matches:
            authorize(principal, "read", match.resource_type, match)
        return matches

    async def write_in(
        self,
        tx: WriteTx,
        resource_type: str,
        resource_id: str,
        resource: dict[str, Any],
        index: Any,
        *,
        if_match: int | None = None,
        method: str = "PUT",
    ) -> WriteResult:
        """Update-or-create a valid resource by id (no new version when unchanged)."""
        return await self._write_over(
            tx, resource_type, resource_id, resource, index, if_match, method
        )

    async def delete_in(
        self, tx: WriteTx, resource_type: str, resource_id: str, *, if_match: int | None = None
    ) -> WriteResult | None:
        """Delete by id; None when there was nothing to delete. 412 on a stale If-Match."""
        if if_match is not None:
            current = await tx.current(resource_type, resource_id)
            if current is None or current.deleted or current.version != if_match:
                raise PreconditionFailed(
                    f"If-Match expects version {if_match} of {resource_type}/{resource_id}"
                )
        return await self._delete_in(tx, resource_type, resource_id)

    async def patch_in(
        self,
        tx: WriteTx,
        resource_type: str,
        resource_id: str,
        apply: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        if_match: int | None = None,
    ) -> WriteResult:
        """Apply a patch to the current version, validate the result and store it."""
        current = await tx.current(resource_type, resource_id)
        if current is None or current.body is None:
            if current is not None and current.deleted:
                raise Gone(f"{resource_type}/{resource_id} was deleted")
            raise NotFound(f"{resource_type}/{resource_id} is not known")
        if if_match is not None and if_match != current.version:
            raise PreconditionFailed(
                f"If-Match version {if_match} is not the current version {current.version}"
            )
        patched = apply(jsonio.loads(current.body))
        if patched.get("resourceType") != resource_type or patched.get("id") != resource_id:
            raise BadRequest("A patch may not change the resource's type or id")
        resource = require_valid(patched, resource_type)
        return await self._write_over(
            tx, resource_type, resource_id, resource, extract_index(resource), None, "PATCH"
        )

    # -- internals -------------------------------------------------------------------------

    async def _in_transaction(self, work: Callable[[WriteTx], Awaitable[T]]) -> T:
        """Run ``work`` in a transaction, retrying when a concurrent writer got there first."""
        for attempt in range(_RETRIES):
            try:
                async with self.repository.transaction() as tx:
                    return await work(tx)
            except VersionConflict:
                if attempt == _RETRIES - 1:
                    raise
                # Jittered backoff: writers that collided should not collide again at once.
                await asyncio.sleep(random.uniform(0, 0.002 * 2**attempt))  # noqa: S311 - retry jitter  # nosec B311
        raise AssertionError("unreachable")

    async def _matches(self, tx: WriteTx, query: SearchQuery, limit: int) -> list[StoredResource]:
        page = await tx.search(_limited(query, limit))
        return page.entries

    async def _write_new(
        self,
        tx: WriteTx,
        resource_type: str,
        resource_id: str,
        resource: dict[str, Any],
        index: Any,
        method: str,
    ) -> WriteResult:
        micros = now_micros()
        stored = _stored(resource_type, resource_id, 1, micros, resource, method)
        await tx.write(
            NewVersion(resource_type, resource_id, 1, micros, method, stored.body, index)
        )
        return WriteResult(stored, created=True)

    async def _write_over(
        self,
        tx: WriteTx,
        resource_type: str,
        resource_id: str,
        resource: dict[str, Any],
        index: Any,
        if_match: int | None,
        method: str,
    ) -> WriteResult:
        current = await tx.current(resource_type, resource_id)
        principal = current_principal()
        if current is not None and current.body is not None:
            # Both versions: nothing can be moved out of (or into) a record one may not change.
            authorize(principal, "update", resource_type, current)
            authorize(principal, "update", resource_type, resource)
            await require_care(principal, current, self)
        else:
            authorize(principal, "create", resource_type, resource)
        await require_care(principal, resource, self)
        if if_match is not None and (current is None or current.version != if_match):
            have = "does not exist" if current is None else f"is at version {current.version}"
            raise PreconditionFailed(
                f"If-Match expects version {if_match} but {resource_type}/{resource_id} {have}"
            )
        if current is None:
            return await self._write_new(tx, resource_type, resource_id, resource, index, method)
        if current.body is not None and content_equal(jsonio.loads(current.body), resource):
            # R4 allows servers to skip no-op updates; re-loading the same data adds no versions.
            return WriteResult(current, created=False, changed=False)
        micros = max(now_micros(), current.last_updated + 1)
        version = current.version + 1
        stored = _stored(resource_type, resource_id, version, micros, resource, method)
        await tx.write(
            NewVersion(resource_type, resource_id, version, micros, method, stored.body, index)
        )
        return WriteResult(stored, created=current.deleted)

    async def _delete_in(
        self, tx: WriteTx, resource_type: str, resource_id: str
    ) -> WriteResult | None:
        current = await tx.current(resource_type, resource_id)
        if current is None or current.deleted:
            return None
        principal = current_principal()
        authorize(principal, "delete", resource_type, current)
        await require_care(principal, current, self)
        micros = max(now_micros(), current.last_updated + 1)
        version = current.version + 1
        await tx.write(
            NewVersion(resource_type, resource_id, version, micros, "DELETE", None, None)
        )
        stored = StoredResource(resource_type, resource_id, version, micros, True, None, "DELETE")
        return WriteResult(stored, created=False)


def criteria_lock_key(resource_type: str, query: SearchQuery) -> str:
    """The lock key of a conditional operation's criteria (WriteTx.lock_key)."""
    return f"{resource_type}?{query.to_query_string()}"


def stored_version(
    resource_type: str, resource_id: str, version: int, micros: int, resource: dict[str, Any]
) -> bytes:
    """The stored bytes of a version: the resource with id and meta stamped in."""
    return jsonio.dumps(stamp(resource, resource_id, version, micros))


def _limited(query: SearchQuery, count: int) -> SearchQuery:
    return replace(query, count=count, cursor=None, total="none")


def _stored(
    resource_type: str,
    resource_id: str,
    version: int,
    micros: int,
    resource: dict[str, Any],
    method: str,
) -> StoredResource:
    body = jsonio.dumps(stamp(resource, resource_id, version, micros))
    return StoredResource(resource_type, resource_id, version, micros, False, body, method)
