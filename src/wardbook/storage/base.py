"""The one storage interface every backend implements (SQLite, PostgreSQL).

The service layer talks only to :class:`Repository` and :class:`WriteTx`; it never sees
SQL. The same contract tests (``tests/storage``) run against every backend.

Schema (both backends; created by migrations, see ``wardbook.storage.migrations``):

``resource_entity``  one row per logical resource: ``pid`` (surrogate key), ``res_type``,
    ``res_id``, ``version`` (current), ``deleted``, ``last_updated`` (epoch µs);
    unique (res_type, res_id).
``resource_version`` one row per version, never overwritten: ``vid`` (global insertion
    order), ``pid``, ``res_type``, ``res_id``, ``version``, ``deleted``, ``last_updated``,
    ``method`` (POST/PUT/PATCH/DELETE), ``body`` (JSON incl. ``meta``; NULL when deleted);
    unique (pid, version).
``idx_string`` / ``idx_token`` / ``idx_date`` / ``idx_number`` / ``idx_quantity`` /
``idx_uri`` / ``idx_reference`` / ``idx_composite``: ``pid``, ``res_type``, ``param`` and
    the columns of the matching row type in :mod:`wardbook.search.index`. Only current,
    non-deleted versions have index rows.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from wardbook.errors import WardbookError

if TYPE_CHECKING:
    from wardbook.search.index import IndexRows
    from wardbook.search.query import SearchQuery
    from wardbook.storage.compartment_sql import CompartmentQuery

# Index rows already grouped per idx_* table (see wardbook.storage.index_tables.IndexSets):
# table name -> set of column tuples. The bulk loader computes them in worker processes.
IndexSets = dict[str, set[tuple[Any, ...]]]


class Dialect(enum.StrEnum):
    SQLITE = "sqlite"
    POSTGRES = "postgresql"


def to_micros(moment: datetime) -> int:
    """Epoch microseconds of an aware datetime (the storage form of every instant)."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    """Aware UTC datetime from epoch microseconds."""
    from datetime import timedelta

    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


def as_bytes(body: Any) -> bytes:
    """Normalize a body column (bytes, memoryview or str) to bytes."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return bytes(body)


@dataclass(frozen=True, slots=True)
class StoredResource:
    """One stored version. ``body`` is the JSON bytes with ``id`` and ``meta`` filled in."""

    resource_type: str
    id: str
    version: int
    last_updated: int  # epoch microseconds
    deleted: bool
    body: bytes | None
    method: str = "PUT"
    # A contained resource returned by ``_containedType=contained`` (R4 search.html#contained):
    # its container's ``Type/id``; ``id`` is then the contained resource's local id.
    container: str | None = None

    @property
    def last_updated_dt(self) -> datetime:
        return from_micros(self.last_updated)


@dataclass(frozen=True, slots=True)
class Page:
    """A page of versions (search or history) with opaque cursors for the next/previous one.

    ``included``: what ``_include``/``_revinclude`` added to a search page (never a match).
    """

    entries: list[StoredResource]
    total: int | None
    next_cursor: str | None = None
    prev_cursor: str | None = None
    included: list[StoredResource] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class NewVersion:
    """A version to write. ``version`` must be exactly current + 1 (1 for a new resource)."""

    resource_type: str
    id: str
    version: int
    last_updated: int
    method: str
    body: bytes | None  # None for a delete
    index: IndexRows | IndexSets | None  # None for a delete

    @property
    def deleted(self) -> bool:
        return self.body is None


@dataclass(frozen=True, slots=True)
class LoadRow:
    """One resource for the bulk loader, prepared as its first version.

    ``body`` is stamped as version 1 at ``last_updated``; when the resource already exists
    the loader's ``merge`` callback decides whether (and how) it becomes a new version.
    """

    resource_type: str
    id: str
    last_updated: int
    body: bytes
    index: IndexSets


class LoadOutcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class Merge(Protocol):
    """Decides what an already stored resource becomes: a new version, or None (unchanged)."""

    def __call__(self, current: StoredResource, row: LoadRow) -> NewVersion | None: ...


@dataclass(frozen=True, slots=True)
class MetaSummary:
    """What ``$meta`` at system or type level reports: (system, code) pairs and profiles."""

    tags: list[tuple[str | None, str | None]]
    security: list[tuple[str | None, str | None]]
    profiles: list[str]


class StorageError(WardbookError):
    """The database failed; mapped to 503 with Retry-After, never a 500."""

    status = 503
    issue_code = "transient"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.headers["Retry-After"] = "2"


class SearchTimeout(StorageError):
    """A search ran past the statement timeout and was stopped by the database: 503.

    The database cancels the statement (PostgreSQL ``statement_timeout``, SQLite's progress
    handler), so the connection stays usable and nothing else is affected.
    """

    issue_code = "too-costly"

    def __init__(self, timeout_ms: int) -> None:
        super().__init__(
            f"The search took longer than {timeout_ms} ms and was stopped; narrow the"
            " criteria or try again later"
        )
        self.headers["Retry-After"] = "5"


class VersionConflict(WardbookError):
    """Another writer changed the resource first (unique key or version check failed)."""

    status = 409
    issue_code = "conflict"


class SqlRunner(Protocol):
    """What the search compiler needs from a connection: run SQL with ``?`` placeholders."""

    @property
    def dialect(self) -> Dialect: ...

    async def fetch_all(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]: ...


class WriteTx(ABC):
    """One database transaction; everything in it commits or nothing does."""

    @abstractmethod
    async def lock_key(self, key: str) -> None:
        """Serialize writers that share ``key`` (e.g. a conditional create's criteria)."""

    @abstractmethod
    async def current(self, resource_type: str, resource_id: str) -> StoredResource | None:
        """The current version (possibly a deleted marker), locked against other writers."""

    @abstractmethod
    async def write(self, version: NewVersion) -> None:
        """Append a version, move the current pointer and replace its index rows by diff.

        Raises VersionConflict when ``version.version`` is not current + 1.
        """

    async def write_many(self, versions: Sequence[NewVersion]) -> None:
        """Write ``versions`` in order, as :meth:`write` would; backends may batch them."""
        for version in versions:
            await self.write(version)

    @abstractmethod
    async def replace_body(
        self,
        resource_type: str,
        resource_id: str,
        version: int,
        body: bytes,
        index: IndexRows | None,
    ) -> None:
        """Overwrite one stored version's body in place, without a new version.

        Only ``$meta-add``/``$meta-delete`` do this (R4 resource-operation-meta-add: "does
        not cause a new version"). ``index`` re-indexes the resource by diff when the
        version is the current one; None leaves the index rows alone.
        """

    @abstractmethod
    async def search(self, query: SearchQuery) -> Page:
        """Search inside this transaction (sees its own writes)."""

    @property
    @abstractmethod
    def runner(self) -> SqlRunner:
        """The transaction's connection, for the search compiler."""


class Repository(ABC):
    """Versioned FHIR resource storage with search indexes."""

    dialect: Dialect
    # Milliseconds a search may run before the database stops it (None or 0: no limit).
    search_timeout_ms: int | None = None

    @abstractmethod
    async def open(self) -> None:
        """Connect (pools, pragmas). Does not migrate."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def migrate(self) -> list[str]:
        """Apply pending migrations; return the names applied (empty when current)."""

    @abstractmethod
    async def pending_migrations(self) -> list[str]:
        """Names of migrations not yet applied."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise StorageError when the database is unreachable."""

    async def last_backup_time(self) -> int | None:
        """Epoch microseconds of the last successful backup (``ops_backup_log``), or None."""
        return None

    async def refresh_statistics(self) -> None:
        """Bring the planner's statistics up to date after a bulk load (``wardbook load``,
        ``wardbook demo``). Nothing to do unless the backend plans from statistics."""
        return None

    def pool_stats(self) -> dict[str, int]:
        """Connections by state (``idle``, ``busy``) for metrics; empty when not pooled."""
        return {}

    @abstractmethod
    async def read(self, resource_type: str, resource_id: str) -> StoredResource | None:
        """The current version, or a deleted marker, or None when it never existed."""

    @abstractmethod
    async def vread(
        self, resource_type: str, resource_id: str, version: int
    ) -> StoredResource | None: ...

    @abstractmethod
    async def history(
        self,
        *,
        resource_type: str | None = None,
        resource_id: str | None = None,
        since: int | None = None,
        at: int | None = None,
        count: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Versions newest first (R4 http.html#history); ``at``: as of that instant."""

    @abstractmethod
    async def search(self, query: SearchQuery) -> Page: ...

    @abstractmethod
    def reading(self) -> AbstractAsyncContextManager[SqlRunner]:
        """A connection for read statements over one snapshot (shared SQL builders)."""

    async def everything(self, query: CompartmentQuery) -> Page:
        """One page of a compartment's members and what they reference ($everything)."""
        from wardbook.storage.compartment_sql import everything_page

        async with self.reading() as runner:
            return await everything_page(runner, query)

    async def lastn(self, query: SearchQuery, max_per_code: int, limit: int) -> Page:
        """Observations matching ``query``: the latest ``max_per_code`` per code ($lastn)."""
        from wardbook.storage.lastn_sql import lastn_page

        async with self.reading() as runner:
            return await lastn_page(runner, query, max_per_code, limit)

    async def meta_summary(self, resource_type: str | None) -> MetaSummary:
        """Tags, security labels and profiles in use on current resources ($meta)."""
        async with self.reading() as runner:
            type_filter = " AND res_type = ?" if resource_type is not None else ""
            args: list[Any] = [resource_type] if resource_type is not None else []
            tokens = await runner.fetch_all(
                # constant fragments, values bound:
                "SELECT DISTINCT param, system, code FROM idx_token"  # nosec B608
                f" WHERE param IN ('_tag', '_security'){type_filter}"
                " ORDER BY param, system, code",
                args,
            )
            profiles = await runner.fetch_all(
                # constant fragments, values bound:
                f"SELECT DISTINCT uri FROM idx_uri WHERE param = '_profile'{type_filter}"  # nosec B608
                " ORDER BY uri",
                args,
            )
        return MetaSummary(
            tags=[(r[1], r[2]) for r in tokens if r[0] == "_tag"],
            security=[(r[1], r[2]) for r in tokens if r[0] == "_security"],
            profiles=[str(r[0]) for r in profiles],
        )

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[WriteTx]:
        """A write transaction; commits on normal exit, rolls back on exception."""

    @abstractmethod
    def stream_current(
        self, resource_types: Sequence[str] | None = None, since: int | None = None
    ) -> AsyncIterator[StoredResource]:
        """Every current, non-deleted resource, in constant memory (export, backup)."""

    @abstractmethod
    async def run_statement(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run ONE statement (``?`` placeholders) in its own write transaction; its rows.

        For small bookkeeping tables beside the resources (export jobs), not resources.
        """

    async def write_new(self, version: NewVersion) -> None:
        """Create a resource that cannot exist yet (a server-assigned id), atomically.

        Raises VersionConflict if it does exist. Backends may do this in fewer round trips
        than a general transaction.
        """
        async with self.transaction() as tx:
            await tx.write(version)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One statement (``?`` placeholders) in its own transaction, for the small side
        tables outside the resource model (users, sessions, break-the-glass, audit chain).
        Returns the rows it produces (none for a plain INSERT/UPDATE/DELETE)."""
        async with self.transaction() as tx:
            return await tx.runner.fetch_all(sql, params)

    async def reindex_batch(
        self,
        resource_types: Sequence[str] | None,
        after_pid: int,
        upto_pid: int,
        limit: int,
        extract: Callable[[bytes], IndexRows],
    ) -> tuple[int, int]:
        """Rebuild the index rows of the next ``limit`` live resources with a pid in
        (``after_pid``, ``upto_pid``] from ``extract(body)``, by diff, in one transaction.

        Returns (the last pid done, how many were done); ``$reindex`` calls it in a loop.
        """
        raise NotImplementedError

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One read-only statement on the side tables; backends answer it without a write
        transaction (it may not see writes committed a moment ago by another process)."""
        return await self.execute(sql, params)

    async def write_many(self, versions: Sequence[NewVersion]) -> None:
        """Write ``versions`` in order in ONE transaction, all or nothing (the bulk loader).

        Same checks as :meth:`WriteTx.write`; backends override this with a faster path.
        """
        async with self.transaction() as tx:
            for version in versions:
                await tx.write(version)

    async def load_rows(self, rows: Sequence[LoadRow], merge: Merge) -> list[LoadOutcome]:
        """Create-or-update ``rows`` in ONE transaction, all or nothing (``wardbook load``).

        A resource that does not exist yet is created from its row as version 1; for one
        that exists ``merge`` returns its next version, or None when nothing changed (then
        nothing is written: re-loading the same data makes no versions). Backends override
        this with a set-based path (PostgreSQL ``COPY``, SQLite ``executemany``).
        """
        outcomes: list[LoadOutcome] = []
        async with self.transaction() as tx:
            for row in rows:
                current = await tx.current(row.resource_type, row.id)
                outcomes.append(await merge_into(tx, current, row, merge))
        return outcomes


def first_version(row: LoadRow) -> NewVersion:
    """The row as the first version of a new resource."""
    return NewVersion(row.resource_type, row.id, 1, row.last_updated, "PUT", row.body, row.index)


async def merge_into(
    tx: WriteTx, current: StoredResource | None, row: LoadRow, merge: Merge
) -> LoadOutcome:
    """Write ``row`` over ``current`` (None: create it) inside ``tx``."""
    if current is None:
        await tx.write(first_version(row))
        return LoadOutcome.CREATED
    version = merge(current, row)
    if version is None:
        return LoadOutcome.UNCHANGED
    await tx.write(version)
    return LoadOutcome.CREATED if current.deleted else LoadOutcome.UPDATED
