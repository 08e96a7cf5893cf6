"""Bulk ingest for ``wardbook load``: every core parses, one writer stores, memory stays flat.

The reading process cuts NDJSON files into chunks of lines (and hands Bundle or single
resource files over whole); a pool of worker processes parses, validates (R4
validation.html), extracts the search index rows and serializes each resource; the single
writer in the calling process stores batches of them, each batch in ONE transaction
(``Repository.load_rows``: PostgreSQL ``COPY``, SQLite multi-row ``INSERT``), one batch at a
time and in order, while the next batch fills. At most a few chunks per worker are in
flight, so memory does not grow with the input. Workers resolve conditional references
(R4 http.html#trules) that have exactly one committed match themselves; the writer
resolves the rest, so it mostly only writes. Reference data (Organizations, Locations,
Practitioners, PractitionerRoles) is read first, whatever the file order
(``wardbook.service.load_order``); a resource whose conditional reference still matches
nothing waits, in memory, until the whole input is loaded, and is then written or rejected
(a resource is never stored with a ``Type?search`` reference in it).

Re-loading is idempotent: a resource that is already stored with the same content (apart
from ``meta.versionId``/``meta.lastUpdated``) makes no new version. Rejected resources are
reported with their source and reason; a batch that fails as a whole is retried resource
by resource, so one bad resource never takes others with it and nothing is half-written.
"""

from __future__ import annotations

import asyncio
import bz2
import gzip
import multiprocessing
import multiprocessing.util
import os
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from wardbook.errors import BadRequest, NotFound, WardbookError
from wardbook.fhir import jsonio
from wardbook.fhir.bundle_refs import is_conditional_reference, rewrite_links
from wardbook.fhir.meta import content_equal, stamp
from wardbook.fhir.registry import resource_types
from wardbook.search.custom import CUSTOM, CustomParam
from wardbook.search.extract import extract_index
from wardbook.service.load_order import is_reference_data_line, reference_data_first
from wardbook.service.loader import (
    Item,
    LoadReport,
    Rejected,
    _Unparsable,
    iter_files,
    iter_items,
    parse_line,
    stem_suffix,
)
from wardbook.service.references import resolve_conditional_reference
from wardbook.service.resources import (
    ResourceService,
    check_id,
    check_type,
    now_micros,
    require_valid,
)
from wardbook.storage.base import (
    LoadOutcome,
    LoadRow,
    NewVersion,
    Repository,
    StorageError,
    StoredResource,
    VersionConflict,
)
from wardbook.storage.index_tables import index_sets

CHUNK_LINES = 500  # NDJSON lines per work unit
BATCH_SIZE = 2000  # resources per write transaction
_IN_FLIGHT_PER_WORKER = 3
# Workers run at a lower CPU priority than the writer and the database: the single writer
# is the load's serial path, and with as many workers as cores it lost its core to them
# (25,000 Synthea resources on SQLite, 2 cores: the writer waited 4-6 s for its own batch
# inserts at equal priority, 0.4 s with the workers at +5; the load took 7-8 s, not 8-9).
# A server sharing the machine is not starved by a bulk load either.
WORKER_NICENESS = 5
_RETRIES = 5

Progress = Callable[[int, int], None]  # (resources done, input bytes done)


# -- work units (picklable) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lines:
    """A chunk of NDJSON lines; ``numbers`` are their line numbers, for error reports."""

    path: str
    numbers: list[int]
    lines: list[bytes]
    resolved: dict[str, str] = field(default_factory=dict)  # conditional ref -> Type/id


@dataclass(frozen=True, slots=True)
class Document:
    """A whole JSON file: a Bundle or a single resource."""

    path: str
    resolved: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Prepared:
    source: str
    row: LoadRow


@dataclass(frozen=True, slots=True)
class Conditional:
    """A Bundle entry with ``ifNoneExist``: created through the service, race-free."""

    source: str
    resource: dict[str, Any]
    if_none_exist: str


@dataclass(frozen=True, slots=True)
class Unresolved:
    """A valid resource with conditional references (``Type?search``) not yet resolved."""

    source: str
    resource: dict[str, Any]
    if_none_exist: str | None
    references: frozenset[str]


Outcome = Prepared | Conditional | Unresolved | Rejected


@dataclass(frozen=True, slots=True)
class Deferred:
    """An Unresolved resource waiting for the end of the input, and the reference that
    matched nothing when it was met."""

    item: Unresolved
    reference: str


# -- the worker side (pure apart from reading its own input file) ------------------------


def prepare_unit(unit: Lines | Document) -> list[Outcome]:
    """Parse, validate, index and serialize every resource of one work unit."""
    micros = now_micros()
    if isinstance(unit, Lines):
        items: Iterator[Item] = (
            parse_line(f"{unit.path}:{number}", line)
            for number, line in zip(unit.numbers, unit.lines, strict=True)
        )
    else:
        items = iter_items(Path(unit.path))
    resolver = _RESOLVER
    if resolver is not None:
        resolver.new_unit()
    return [prepare_item(item, micros, unit.resolved, resolver=resolver) for item in items]


def prepare_item(
    item: Item,
    micros: int,
    resolved: dict[str, str] | None = None,
    *,
    validated: bool = False,
    resolver: ReferenceResolver | None = None,
) -> Outcome:
    """One resource as a LoadRow stamped version 1, or the reason it is refused.

    ``validated``: the resource already passed validation in a worker and came back
    ``Unresolved``; only its links change now. Validation always sees the resource before
    its links are rewritten (R4 http.html#trules), so it is not run a second time.
    ``resolver`` (a worker's): conditional references that are not in ``resolved`` are
    looked up in the database; the resource comes back ``Unresolved`` only when one of
    them has no single committed match (the writer then decides, as before).
    """
    resource = item.resource
    if isinstance(resource, _Unparsable):
        return Rejected(item.source, "?", resource.reason)
    try:
        resource_type = resource.get("resourceType") if isinstance(resource, dict) else None
        if not isinstance(resource_type, str):
            raise BadRequest("Not a FHIR resource: resourceType is missing")
        check_type(resource_type)
        valid = resource if validated else require_valid(resource, resource_type)
        valid, links = rewrite_links(valid, resolved or {})
        unknown = frozenset(
            link
            for link in links
            if is_conditional_reference(link) and link not in (resolved or {})
        )
        if unknown and resolver is not None:
            found = resolver.resolve(unknown)
            if found is not None:
                valid, _ = rewrite_links(valid, found)
                unknown = frozenset()
        if unknown:
            return Unresolved(item.source, valid, item.if_none_exist, unknown)
        if item.if_none_exist is not None:
            return Conditional(item.source, valid, item.if_none_exist)
        resource_id = valid.get("id")
        if resource_id is None:
            resource_id = str(uuid.uuid4())
        elif not isinstance(resource_id, str):
            raise BadRequest("The resource's id is not a string")
        check_id(resource_id, resource_type)
        body = jsonio.dumps(stamp(valid, resource_id, 1, micros))
        index = index_sets(extract_index(valid))
        return Prepared(item.source, LoadRow(resource_type, resource_id, micros, body, index))
    except WardbookError as error:
        return Rejected(item.source, label(resource), error.message)


def label(resource: Any) -> str:
    if isinstance(resource, dict):
        return f"{resource.get('resourceType', '?')}/{resource.get('id', '?')}"
    return "?"


@dataclass(frozen=True, slots=True)
class WorkerSetup:
    """What a worker process needs besides its units (picklable)."""

    # The custom SearchParameters installed in the loading process: a worker extracts
    # their index rows too, as every write of the server does.
    custom: tuple[CustomParam, ...] = ()
    # Where the worker may look conditional references up (None: leave them to the writer).
    database_url: str | None = None


class ReferenceResolver:
    """A worker's lookups of conditional references (R4 http.html#trules) in the database.

    Only a single committed match resolves a reference here; no match (the target may
    still be in the writer's batch), several matches (reported by the writer as before) or
    any error leave the resource to the writer. Answers are kept for the whole load, as
    the writer keeps its own: a reference resolves once, to the resource it named then.
    Without this, every resource of a unit read before the writer had resolved its
    references went back to the writer's single core to be indexed and serialized (40% of
    Synthea: each patient names its own hospital and clinicians).
    """

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.known: dict[str, str] = {}
        self._misses: set[str] = set()  # per unit: no need to ask again for each resource
        self._loop: asyncio.AbstractEventLoop | None = None
        self._repository: Repository | None = None

    def new_unit(self) -> None:
        self._misses.clear()

    def resolve(self, references: frozenset[str]) -> dict[str, str] | None:
        """``Type/id`` for every reference, or None when one of them does not resolve."""
        found: dict[str, str] = {}
        for reference in sorted(references):
            target = self.known.get(reference)
            if target is None:
                if reference in self._misses:
                    return None
                target = self._lookup(reference)
                if target is None:
                    self._misses.add(reference)
                    return None
                self.known[reference] = target
            found[reference] = target
        return found

    def _lookup(self, reference: str) -> str | None:
        try:
            loop, repository = self._open()
            return loop.run_until_complete(resolve_conditional_reference(repository, reference))
        except WardbookError:
            return None

    def _open(self) -> tuple[asyncio.AbstractEventLoop, Repository]:
        if self._loop is None or self._repository is None:
            from wardbook.storage.factory import open_repository

            loop = asyncio.new_event_loop()
            repository = open_repository(
                reader_url(self.database_url), pool_min_size=1, pool_max_size=1
            )
            try:
                loop.run_until_complete(repository.open())
            except BaseException:
                loop.close()
                raise
            self._loop, self._repository = loop, repository
        return self._loop, self._repository

    def close(self) -> None:
        loop, repository = self._loop, self._repository
        self._loop = self._repository = None
        if loop is not None:
            try:
                if repository is not None:
                    loop.run_until_complete(repository.close())
            finally:
                loop.close()


def reader_url(database_url: str) -> str:
    """The database URL for a worker's lookups: PostgreSQL without the extra read pool."""
    parts = urlsplit(database_url)
    if not parts.scheme.startswith("postgres"):
        return database_url
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query["read_connections"] = "0"
    return urlunsplit(parts._replace(query=urlencode(query)))


_RESOLVER: ReferenceResolver | None = None


def _warm_worker(setup: WorkerSetup) -> None:
    """Set a worker up once, before the first unit arrives: the R4 registry, the custom
    SearchParameters and, lazily, its database lookups."""
    global _RESOLVER
    with suppress(OSError):
        os.nice(WORKER_NICENESS)
    resource_types()
    CUSTOM.install(list(setup.custom))
    if setup.database_url is not None:
        _RESOLVER = ReferenceResolver(setup.database_url)
        # Workers leave through multiprocessing's exit path (no atexit): close there.
        multiprocessing.util.Finalize(_RESOLVER, _RESOLVER.close, exitpriority=10)


# -- the reading side ---------------------------------------------------------------------


def _open_counted(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """(decompressed stream, raw file): the raw file's position measures progress."""
    raw = path.open("rb")
    if path.suffix == ".gz":
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw  # type: ignore[return-value]
    if path.suffix == ".bz2":
        return bz2.BZ2File(raw, "rb"), raw
    return raw, raw


def work_units(files: Sequence[Path]) -> Iterator[tuple[Lines | Document, int]]:
    """Work units and the input bytes each one completes (for progress and ETA).

    Reference data comes first (``wardbook.service.load_order``): JSON files of
    Organizations, Locations, Practitioners and PractitionerRoles only, then those
    resources' NDJSON lines (a first pass over every NDJSON file), then everything else in
    the order given.
    """
    documents = {path for path in files if stem_suffix(path) not in (".ndjson", ".jsonl")}
    first = reference_data_first([path for path in files if path in documents])
    for path in first:
        yield Document(str(path)), path.stat().st_size
    done: set[Path] = set(first)
    for path in files:
        if path not in done and path not in documents:
            only_reference_data = yield from _ndjson_units(path, reference_data=True)
            if only_reference_data:
                done.add(path)
    for path in files:
        if path in done:
            continue
        if path in documents:
            yield Document(str(path)), path.stat().st_size
        else:
            yield from _ndjson_units(path, reference_data=False)


def _ndjson_units(path: Path, *, reference_data: bool) -> Generator[tuple[Lines, int], None, bool]:
    """The lines of one NDJSON file that are reference data (or are not), in chunks.

    The reference-data pass counts no bytes for progress unless the file turns out to
    hold nothing else (then the other pass skips it); returns whether it did.
    """
    stream, raw = _open_counted(path)
    other_lines = False
    with raw, stream:
        done = 0
        numbers: list[int] = []
        chunk: list[bytes] = []
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            if is_reference_data_line(line) != reference_data:
                other_lines = True
                continue
            numbers.append(number)
            chunk.append(line)
            if len(chunk) >= CHUNK_LINES:
                position = raw.tell() if not reference_data else done
                yield Lines(str(path), numbers, chunk), position - done
                done, numbers, chunk = position, [], []
        rest = path.stat().st_size - done
        if reference_data and other_lines:
            rest = 0
        yield Lines(str(path), numbers, chunk), rest
    return not other_lines


# -- the writer ---------------------------------------------------------------------------


def merge(current: StoredResource, row: LoadRow) -> NewVersion | None:
    """The next version of a stored resource, or None when the content is the same."""
    new = jsonio.loads(row.body)
    if current.body is not None and content_equal(jsonio.loads(current.body), new):
        return None
    micros = max(now_micros(), current.last_updated + 1)
    version = current.version + 1
    body = jsonio.dumps(stamp(new, row.id, version, micros))
    return NewVersion(row.resource_type, row.id, version, micros, "PUT", body, row.index)


class Writer:
    """Stores prepared resources in batches and keeps the report."""

    def __init__(self, service: ResourceService, report: LoadReport, batch_size: int) -> None:
        self.service = service
        self.report = report
        self.batch_size = batch_size
        self.batch: list[Prepared] = []
        # Conditional references resolved so far; handed to the workers with each unit.
        self.resolved: dict[str, str] = {}
        # The batch being stored while the next one fills (at most one: batches commit in
        # order, and memory holds two batches at most).
        self._storing: asyncio.Task[None] | None = None
        # Resources whose conditional references matched nothing when first met: retried
        # once the whole input is loaded (``finish``), then written or rejected.
        self.deferred: list[Deferred] = []
        # Conditional references that matched nothing, with the generation of their
        # target type then: asked again only once resources of that type were written
        # since, so a patient bundle read before its hospitals costs no commit per entry.
        self._missing: dict[str, int] = {}
        self._generation: dict[str, int] = {}
        self._pending_types: set[str] = set()  # taken, not known to be committed

    async def take(self, outcome: Outcome) -> None:
        if isinstance(outcome, Prepared):
            self.batch.append(outcome)
            self._pending_types.add(outcome.row.resource_type)
            if len(self.batch) >= self.batch_size:
                await self.flush()
        elif isinstance(outcome, Conditional):
            await self._conditional(outcome)
        elif isinstance(outcome, Unresolved):
            await self._resolve(outcome)
        else:
            self.report.rejected.append(outcome)

    async def _resolve(self, item: Unresolved) -> None:
        """R4 http.html#trules conditional references: one match each, else rejected.

        A reference that matches nothing yet defers its resource to ``finish``: the
        target may come later in the input.
        """
        for reference in sorted(item.references - self.resolved.keys()):
            try:
                target = await self._lookup(reference)
            except StorageError:
                raise
            except WardbookError as error:
                self.report.rejected.append(
                    Rejected(item.source, label(item.resource), error.message)
                )
                return
            if target is None:
                self.deferred.append(Deferred(item, reference))
                return
            self.resolved[reference] = target
        again = Item(item.source, item.resource, item.if_none_exist)
        # Validated in the worker already: the writer's core only rewrites, indexes and
        # serializes it.
        await self.take(prepare_item(again, now_micros(), self.resolved, validated=True))

    async def _lookup(self, reference: str) -> str | None:
        """``Type/id`` of the reference's single match, None while it matches nothing."""
        target_type = reference.partition("?")[0]
        generation = self._generation.get(target_type, 0)
        if self._missing.get(reference) == generation and target_type not in self._pending_types:
            return None
        try:
            return await resolve_conditional_reference(self.service.repository, reference)
        except NotFound:
            if target_type not in self._pending_types:
                self._missing[reference] = generation
                return None
        await self.commit()  # the target may be waiting in this batch
        try:
            return await resolve_conditional_reference(self.service.repository, reference)
        except NotFound:
            self._missing[reference] = self._generation.get(target_type, 0)
            return None

    async def finish(self) -> None:
        """Commit everything, then retry the deferred resources until none resolves more.

        Each round commits what it resolved, so a deferred target (a PractitionerRole
        waiting for its Organization) can resolve the next round's references. What still
        matches nothing is rejected, and counted per reference in the report.
        """
        await self.commit()
        self.report.deferred = len(self.deferred)
        while self.deferred:
            waiting, self.deferred = self.deferred, []
            for deferred in waiting:
                await self._resolve(deferred.item)
            await self.commit()
            if len(self.deferred) == len(waiting):
                break  # no progress: nothing else will resolve
        for deferred in self.deferred:
            item, reference = deferred.item, deferred.reference
            reason = (
                f"The conditional reference '{reference}' matches no resource, also after "
                "the whole input was loaded"
            )
            self.report.rejected.append(Rejected(item.source, label(item.resource), reason))
            unresolved = self.report.unresolved
            unresolved[reference] = unresolved.get(reference, 0) + 1
        self.deferred = []

    async def flush(self) -> None:
        """Hand the batch over to be stored; wait only for the batch handed over before.

        The database works on one batch (PostgreSQL in its own process, SQLite in a
        thread) while the workers' next results arrive and fill the next one.
        """
        await self.settle()
        batch, self.batch = self.batch, []
        if batch:
            self._storing = asyncio.create_task(self._store_batch(batch))

    async def settle(self) -> None:
        """Wait until every batch handed over is committed (or raise why it was not)."""
        task, self._storing = self._storing, None
        if task is not None:
            await task

    async def commit(self) -> None:
        """Everything taken so far committed: searches see it."""
        await self.flush()
        await self.settle()
        for resource_type in self._pending_types:
            self._written(resource_type)
        self._pending_types.clear()

    def _written(self, resource_type: str) -> None:
        self._generation[resource_type] = self._generation.get(resource_type, 0) + 1

    async def abandon(self) -> None:
        """The load failed: let a batch in flight finish (it commits or rolls back whole)."""
        with suppress(Exception):
            await self.settle()

    async def _store_batch(self, batch: list[Prepared]) -> None:
        try:
            outcomes = await self._store([p.row for p in batch])
        except StorageError:
            raise  # the database is unreachable: stop, do not reject good data
        except WardbookError:
            await self._one_by_one(batch)  # find the resource(s) the database refused
            return
        self._count(outcomes)

    async def _store(self, rows: list[LoadRow]) -> list[LoadOutcome]:
        for attempt in range(_RETRIES):
            try:
                return await self.service.repository.load_rows(rows, merge)
            except VersionConflict:
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    async def _one_by_one(self, batch: list[Prepared]) -> None:
        for prepared in batch:
            try:
                self._count(await self._store([prepared.row]))
            except StorageError:
                raise
            except WardbookError as error:
                row = prepared.row
                reference = f"{row.resource_type}/{row.id}"
                self.report.rejected.append(Rejected(prepared.source, reference, error.message))

    async def _conditional(self, item: Conditional) -> None:
        await self.settle()  # one writer at a time, as before
        resource_type = str(item.resource["resourceType"])
        try:
            result = await self.service.create(
                resource_type, item.resource, if_none_exist=item.if_none_exist
            )
        except StorageError:
            raise
        except WardbookError as error:
            self.report.rejected.append(Rejected(item.source, label(item.resource), error.message))
            return
        if result.changed:
            self.report.written += 1
            self._written(resource_type)
        else:
            self.report.unchanged += 1

    def _count(self, outcomes: list[LoadOutcome]) -> None:
        for outcome in outcomes:
            if outcome is LoadOutcome.UNCHANGED:
                self.report.unchanged += 1
            else:
                self.report.written += 1


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


async def ingest(
    service: ResourceService,
    paths: Sequence[Path],
    *,
    workers: int | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
    database_url: str | None = None,
) -> LoadReport:
    """Load every resource under ``paths``; ``workers=0`` prepares them in this process.

    ``database_url``: the repository's database, where worker processes may look up
    conditional references themselves (an in-memory SQLite database cannot be shared).
    """
    files = list(iter_files(paths))
    report = LoadReport(files=len(files))
    writer = Writer(service, report, batch_size)
    count = workers if workers is not None else default_workers()
    done_resources = 0
    done_bytes = 0

    async def consume(results: list[Outcome], size: int) -> None:
        nonlocal done_resources, done_bytes
        for outcome in results:
            await writer.take(outcome)
        done_resources += len(results)
        done_bytes += size
        if progress is not None:
            progress(done_resources, done_bytes)

    try:
        if count == 0:
            for unit, size in work_units(files):
                await consume(prepare_unit(replace(unit, resolved=writer.resolved)), size)
        else:
            loop = asyncio.get_running_loop()
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["wardbook.service.ingest"])
            shareable = database_url is not None and ":memory:" not in database_url
            setup = WorkerSetup(tuple(CUSTOM.everything()), database_url if shareable else None)
            with ProcessPoolExecutor(
                count, mp_context=context, initializer=_warm_worker, initargs=(setup,)
            ) as pool:
                in_flight: deque[tuple[asyncio.Future[list[Outcome]], int]] = deque()
                try:
                    for unit, size in work_units(files):
                        unit = replace(unit, resolved=dict(writer.resolved))
                        in_flight.append((loop.run_in_executor(pool, prepare_unit, unit), size))
                        if len(in_flight) >= count * _IN_FLIGHT_PER_WORKER:
                            future, done = in_flight.popleft()
                            await consume(await future, done)
                    while in_flight:
                        future, done = in_flight.popleft()
                        await consume(await future, done)
                finally:
                    for future, _ in in_flight:
                        future.cancel()
        await writer.finish()
    except BaseException:
        await writer.abandon()
        raise
    return report
