"""Search at scale: a mixed workload at two database sizes, per backend, with query plans.

For each backend (a SQLite file, a fresh PostgreSQL database) the benchmark loads demo
patients (``wardbook.demo``, about 93 resources each) through the bulk write path
(``Repository.write_many``) until the first size is reached, runs every query shape, loads
on to the second size and runs them again. Each shape draws its values (patient ids,
names, MRNs, LOINC codes, dates) from the loaded data and runs through the service layer
(``parse_search`` + ``ResourceService.search``: no HTTP), so the figures are the search
engine's own. Reported per shape: searches/s, p50/p95/p99 latency at each size, the
scaling ratio p50(large) / p50(small) (target <= 1.5) and the query plan of the statement
that selects the page (EXPLAIN / EXPLAIN QUERY PLAN), flagged when it scans a table.

Shapes the search engine cannot run yet (strict parsing refuses them) are listed as
skipped, with the reason. Time is bounded: loading stops at ``--max-seconds`` (the
report then says at which size), each shape runs ``--seconds`` at most.

Usage: ``python -m benchmarks.search [--sizes 50000,500000] [--backends sqlite,postgresql]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import multiprocessing
import random
import re
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from wardbook.config import Settings
from wardbook.demo import generate, shared_resources
from wardbook.errors import BadRequest
from wardbook.fhir import jsonio
from wardbook.fhir.meta import stamp
from wardbook.search.extract import extract_index
from wardbook.search.parse import parse_search
from wardbook.service.resources import ResourceService
from wardbook.storage.base import Dialect, NewVersion, Repository
from wardbook.storage.factory import open_repository

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
SEED = 7
BATCH = 1000
MRN = "https://wardbook.example.org/fhir/sid/mrn"
OBS_CATEGORY_VS = "http://hl7.org/fhir/ValueSet/observation-category"
LARGE_TABLES = ("resource_entity", "resource_version", "idx_")


@dataclass(slots=True)
class Sample:
    """Values taken from the loaded data that the shapes search for."""

    patients: list[dict[str, str]] = field(default_factory=list)
    observations: list[dict[str, str]] = field(default_factory=list)
    conditions: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Shape:
    name: str
    resource_type: str
    params: Callable[[Sample, random.Random], list[tuple[str, str]]]
    pages: int = 1  # >1: follow the next link (sorted paging)


def _pick(items: list[dict[str, str]], rng: random.Random) -> dict[str, str]:
    return items[rng.randrange(len(items))]


SHAPES: tuple[Shape, ...] = (
    Shape(
        "patient-by-name",
        "Patient",
        lambda s, r: (lambda p: [("family", p["family"]), ("given", p["given"])])(
            _pick(s.patients, r)
        ),
    ),
    Shape(
        "patient-by-birthdate",
        "Patient",
        lambda s, r: [("birthdate", _pick(s.patients, r)["birthdate"])],
    ),
    Shape(
        "patient-by-identifier",
        "Patient",
        lambda s, r: [("identifier", f"{MRN}|{_pick(s.patients, r)['mrn']}")],
    ),
    Shape(
        "observation-patient-code-date",
        "Observation",
        lambda s, r: (
            lambda o: [
                ("subject", f"Patient/{o['patient']}"),
                ("code", f"http://loinc.org|{o['code']}"),
                ("date", f"ge{o['date'][:10]}"),
            ]
        )(_pick(s.observations, r)),
    ),
    Shape(
        "condition-by-patient",
        "Condition",
        lambda s, r: [("patient", f"Patient/{_pick(s.patients, r)['id']}")],
    ),
    Shape(
        "encounter-include-patient",
        "Encounter",
        lambda s, r: [
            ("patient", f"Patient/{_pick(s.patients, r)['id']}"),
            ("_include", "Encounter:patient"),
        ],
    ),
    Shape(
        "medicationrequest-revinclude",
        "Patient",
        lambda s, r: [
            ("_id", _pick(s.patients, r)["id"]),
            ("_revinclude", "MedicationRequest:subject"),
        ],
    ),
    Shape(
        "observation-chained-identifier",
        "Observation",
        lambda s, r: (
            lambda o: [
                ("subject.identifier", f"{MRN}|{o['mrn']}"),
                ("code", f"http://loinc.org|{o['code']}"),
            ]
        )(_pick(s.observations, r)),
    ),
    Shape(
        "patient-has-condition",
        "Patient",
        lambda s, r: (
            lambda c: [
                ("_has:Condition:patient:code", c["code"]),
                ("identifier", f"{MRN}|{c['mrn']}"),
            ]
        )(_pick(s.conditions, r)),
    ),
    Shape(
        "observation-sorted-paging",
        "Observation",
        lambda s, r: [
            ("subject", f"Patient/{_pick(s.patients, r)['id']}"),
            ("_sort", "-date"),
            ("_count", "20"),
        ],
        pages=3,
    ),
    Shape(
        "observation-lastupdated-paging",
        "Observation",
        lambda s, r: [
            ("subject", f"Patient/{_pick(s.patients, r)['id']}"),
            ("_sort", "-_lastUpdated"),
            ("_count", "20"),
        ],
        pages=3,
    ),
    Shape(
        "observation-category-in-valueset",
        "Observation",
        lambda s, r: [
            ("subject", f"Patient/{_pick(s.patients, r)['id']}"),
            ("category:in", OBS_CATEGORY_VS),
            ("_count", "20"),
        ],
    ),
    Shape(
        "patient-content-fulltext",
        "Patient",
        lambda s, r: [("_content", _pick(s.patients, r)["mrn"])],
    ),
)


# --- loading -----------------------------------------------------------------------------------


def _remember(resource: dict[str, Any], sample: Sample, mrn_of: dict[str, str]) -> None:
    rtype = resource["resourceType"]
    if rtype == "Patient":
        name = resource["name"][0]
        mrn = next(i["value"] for i in resource["identifier"] if i.get("system") == MRN)
        mrn_of[resource["id"]] = mrn
        sample.patients.append(
            {
                "id": resource["id"],
                "family": name["family"],
                "given": name["given"][0],
                "birthdate": resource["birthDate"],
                "mrn": mrn,
            }
        )
    elif rtype == "Observation" and "effectiveDateTime" in resource:
        patient = resource["subject"]["reference"].split("/", 1)[1]
        coding = resource["code"]["coding"][0]
        if coding.get("system") == "http://loinc.org" and len(sample.observations) < 5000:
            sample.observations.append(
                {
                    "patient": patient,
                    "mrn": mrn_of.get(patient, ""),
                    "code": coding["code"],
                    "date": resource["effectiveDateTime"],
                }
            )
    elif rtype == "Condition" and len(sample.conditions) < 5000:
        coding = resource["code"]["coding"][0]
        patient = resource["subject"]["reference"].split("/", 1)[1]
        sample.conditions.append(
            {"code": f"{coding['system']}|{coding['code']}", "mrn": mrn_of.get(patient, "")}
        )


def _version(resource: dict[str, Any], micros: int) -> NewVersion:
    body = jsonio.dumps(stamp(resource, resource["id"], 1, micros))
    return NewVersion(
        resource["resourceType"], resource["id"], 1, micros, "POST", body, extract_index(resource)
    )


@dataclass(slots=True)
class Loaded:
    """What is in the databases so far: resources, patients per loader, sampled values."""

    resources: int = 0
    next_patient: int = 0  # every loader has written its patients [0, next_patient)
    seconds: float = 0.0
    sample: Sample = field(default_factory=Sample)


def _open(url: str) -> Repository:
    if url.startswith("sqlite:///"):
        from wardbook.storage.sqlite import SqliteRepository

        # Several loader processes share the file: wait for the write lock, do not fail.
        repository: Repository = SqliteRepository(url[len("sqlite:///") :], busy_timeout=3600)
    else:
        # ANALYZE of a 500,000-resource database takes longer than the default 30 s limit.
        repository = open_repository(url, command_timeout=3600)
    # Searches run as in production: under the default WARDBOOK_SEARCH_TIMEOUT_MS (on
    # PostgreSQL a read-only transaction with SET LOCAL, on SQLite a progress handler).
    repository.search_timeout_ms = Settings().search_timeout_ms
    return repository


async def _load_range(
    urls: list[str], seed: int, start: int, stop: int, deadline: float
) -> tuple[int, int, dict[str, Any]]:
    """Patients [start, stop) of population ``seed`` into every database, in lockstep."""
    repositories = [_open(url) for url in urls]
    for repository in repositories:
        await repository.open()
    sample, mrn_of = Sample(), dict[str, str]()
    written = done = 0
    batch: list[NewVersion] = []
    micros = time.time_ns() // 1000

    async def flush() -> None:
        nonlocal written
        for repository in repositories:
            await repository.write_many(batch)
        written += len(batch)
        batch.clear()

    try:
        if start == 0:
            batch.extend(_version(r, micros) for r in shared_resources(seed))
        for index, record in enumerate(generate(stop, seed)):
            if index < start:
                continue  # the generator hands out MRNs in order: replay, do not write
            if time.time() >= deadline:
                break
            for resource in record:
                _remember(resource, sample, mrn_of)
                batch.append(_version(resource, micros))
            done += 1
            if len(batch) >= BATCH:
                await flush()
        if batch:
            await flush()
    finally:
        for repository in repositories:
            await repository.close()
    return written, done, dataclasses.asdict(sample)


def _loader(job: tuple[list[str], int, int, int, float]) -> tuple[int, int, dict[str, Any]]:
    return asyncio.run(_load_range(*job))


def load_until(
    urls: list[str],
    loaded: Loaded,
    target: int,
    loaders: int,
    deadline: float,
    log: Callable[[str], None],
) -> None:
    """Add patients until about ``target`` resources are stored (or the deadline passes).

    ``loaders`` processes each generate their own population (seed ``SEED + k``: distinct
    ids), extract index rows once per resource and write every batch to every backend.
    """
    started = time.monotonic()
    per_patient = loaded.resources / loaded.next_patient / loaders if loaded.next_patient else 93
    missing = max(0, target - loaded.resources)
    stop = loaded.next_patient + max(1, -(-missing // int(per_patient * loaders)))
    jobs = [
        (urls, SEED + k, loaded.next_patient, stop, time.time() + deadline - time.monotonic())
        for k in range(loaders)
    ]
    with multiprocessing.get_context("spawn").Pool(loaders) as pool:
        results = pool.map(_loader, jobs)
    for written, _, sample in results:
        loaded.resources += written
        loaded.sample.patients += sample["patients"]
        loaded.sample.observations += sample["observations"]
        loaded.sample.conditions += sample["conditions"]
    loaded.next_patient = (
        stop
        if all(r[1] == stop - loaded.next_patient for r in results)
        else (loaded.next_patient + min(r[1] for r in results))
    )
    loaded.seconds = time.monotonic() - started
    log(f"  {loaded.resources:,} resources ({loaded.resources / loaded.seconds:,.0f}/s overall)")


async def settle(repository: Repository, url: str) -> None:
    """After a bulk load, what an operator would run before opening the doors: fresh planner
    statistics and no maintenance left for later. On PostgreSQL ``VACUUM (ANALYZE)`` (an
    autovacuum of the freshly inserted tables would otherwise run while other shapes, or
    the other backend, are measured); on SQLite ``ANALYZE`` and a WAL checkpoint."""
    if repository.dialect is Dialect.POSTGRES:
        conn = await asyncpg.connect(url, timeout=10, command_timeout=3600)
        try:
            await conn.execute("VACUUM (ANALYZE)")  # not allowed inside a transaction
        finally:
            await conn.close()
        return
    async with repository.transaction() as tx:
        await tx.runner.fetch_all("ANALYZE", [])
    path = url[len("sqlite:///") :]
    with contextlib.closing(sqlite3.connect(path, timeout=3600)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# --- running shapes ----------------------------------------------------------------------------


@dataclass(slots=True)
class Result:
    shape: str
    skipped: str | None = None
    per_second: float = 0.0
    p50: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    runs: int = 0
    plan: str = ""
    plan_uses_index: bool | None = None
    matches: float = 0.0  # mean total of the search: how much the answer itself grows


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_shape(
    service: ResourceService,
    shape: Shape,
    sample: Sample,
    seconds: float,
    max_runs: int,
    warmup: float = 0.0,
) -> Result:
    rng = random.Random(hash(shape.name) & 0xFFFF)
    try:
        parse_search(shape.resource_type, shape.params(sample, rng), strict=True)
    except BadRequest as exc:
        return Result(shape.name, skipped=exc.message)
    # Untimed warm-up with other values of the same shape: the first searches after a bulk
    # load read index pages no search has touched yet; a server in use has them cached.
    warm_until = time.perf_counter() + warmup
    while time.perf_counter() < warm_until:
        await service.search(
            parse_search(shape.resource_type, shape.params(sample, rng), strict=True)
        )
    latencies: list[float] = []
    totals: list[int] = []
    started = time.perf_counter()
    while len(latencies) < max_runs and time.perf_counter() - started < seconds:
        query = parse_search(shape.resource_type, shape.params(sample, rng), strict=True)
        t0 = time.perf_counter()
        page = await service.search(query)
        if page.total is not None:
            totals.append(page.total)
        for _ in range(shape.pages - 1):
            if page.next_cursor is None:
                break
            query.cursor = page.next_cursor
            page = await service.search(query)
        latencies.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - started
    return Result(
        shape.name,
        per_second=len(latencies) / elapsed if elapsed else 0.0,
        p50=statistics.median(latencies),
        p95=_percentile(latencies, 0.95),
        p99=_percentile(latencies, 0.99),
        runs=len(latencies),
        matches=statistics.fmean(totals) if totals else 0.0,
    )


# A full scan of a table (or of an index from end to end), not a virtual table's own index.
_SQLITE_SCAN = re.compile(r"^SCAN (?!CONSTANT ROW)(\w+)\b(?! VIRTUAL TABLE)")


def _uses_index(dialect: Dialect, lines: list[str]) -> bool:
    """False when the plan reads a whole large table.

    A SQLite ``SCAN n`` of a ``CO-ROUTINE n`` or ``MATERIALIZE n`` reads the rows a
    subquery produced (the bounded counts of ``search_sql.paired_lists``), not a table.
    """
    derived = {
        match.group(1)
        for line in lines
        if (match := re.match(r"(?:CO-ROUTINE|MATERIALIZE) (\w+)", line.strip()))
    }
    for line in lines:
        text = line.strip()
        if dialect is Dialect.POSTGRES:
            match = re.search(r"Seq Scan on (\w+)", text)
            if match and match.group(1).startswith(LARGE_TABLES):
                return False
        elif (scan := _SQLITE_SCAN.match(text)) and scan.group(1) not in derived:
            return False  # SQLite names the alias (e, i): every table is large
    return True


async def explain(repository: Repository, shape: Shape, sample: Sample) -> tuple[str, bool | None]:
    """The plan of the statement selecting the first page, and whether it avoids scans."""
    from wardbook.storage import search_sql

    rng = random.Random(1)
    query = parse_search(shape.resource_type, shape.params(sample, rng), strict=True)
    try:
        sql = search_sql.ids_sql(query, query.count + 1, dialect=repository.dialect)
    except Exception as exc:  # the compiler's shape may differ for newer features
        return f"(plan not available: {exc})", None
    async with repository.transaction() as tx:
        if repository.dialect is Dialect.SQLITE:
            rows = await tx.runner.fetch_all(f"EXPLAIN QUERY PLAN {sql.text}", sql.params)
            lines = [str(r[-1]) for r in rows]
        else:
            # As searches run (storage/postgres/deadline.py): no parallel workers.
            await tx.runner.fetch_all("SET LOCAL max_parallel_workers_per_gather = 0", [])
            rows = await tx.runner.fetch_all(f"EXPLAIN {sql.text}", sql.params)
            lines = [str(r[0]) for r in rows]
    return "\n".join(lines), _uses_index(repository.dialect, lines)


# --- one backend -------------------------------------------------------------------------------


async def _pg_admin(statement: str) -> None:
    conn = await asyncpg.connect(f"{PG_SERVER}/postgres", timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@dataclass(slots=True)
class Backend:
    name: str
    url: str
    repository: Repository
    report: dict[str, Any]
    pg_name: str | None = None


async def _open_backend(name: str, tmp: Path) -> Backend:
    pg_name = None
    if name == "sqlite":
        url = f"sqlite:///{tmp / 'bench.db'}"
    elif name == "postgresql":
        pg_name = f"wardbook_bench_{secrets.token_hex(4)}"
        await _pg_admin(f'CREATE DATABASE "{pg_name}"')
        url = f"{PG_SERVER}/{pg_name}"
    else:
        raise SystemExit(f"unknown backend {name}")
    repository = _open(url)
    await repository.open()
    await repository.migrate()
    report: dict[str, Any] = {"backend": name, "sizes": [], "results": {}, "plans": {}}
    return Backend(name, url, repository, report, pg_name)


async def bench(
    names: list[str], sizes: list[int], args: argparse.Namespace, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Load every backend in lockstep to each size and run every shape on each."""
    deadline = time.monotonic() + args.max_seconds
    backends: list[Backend] = []
    with tempfile.TemporaryDirectory(prefix="wardbook-bench-") as tmp:
        try:
            for name in names:
                backends.append(await _open_backend(name, Path(tmp)))
            loaded = Loaded()
            for size in sizes:
                log(f"loading {', '.join(names)} to {size:,} resources")
                before = loaded.resources
                await asyncio.to_thread(
                    load_until, [b.url for b in backends], loaded, size, args.loaders, deadline, log
                )
                added = loaded.resources - before
                rate = added / loaded.seconds if loaded.seconds else 0.0
                # Every database is settled before any is measured: none does maintenance
                # while another is timed.
                for backend in backends:
                    await settle(backend.repository, backend.url)
                for backend in backends:
                    backend.report["sizes"].append(loaded.resources)
                    backend.report.setdefault("load_rate", []).append(rate)
                    service = ResourceService(backend.repository)
                    log(f"{backend.name}: {loaded.resources:,} resources; {len(SHAPES)} shapes")
                    for shape in SHAPES:
                        result = await run_shape(
                            service, shape, loaded.sample, args.seconds, args.max_runs, args.warmup
                        )
                        backend.report["results"].setdefault(shape.name, []).append(result)
                # Each stage's figures are kept even if a later stage fails.
                log(markdown([b.report for b in backends]))
                if time.monotonic() >= deadline:
                    log(f"stopped loading at {loaded.resources:,} resources (time limit)")
                    break
            for backend in backends:
                for shape in SHAPES:
                    if backend.report["results"][shape.name][0].skipped is None:
                        backend.report["plans"][shape.name] = await explain(
                            backend.repository, shape, loaded.sample
                        )
        finally:
            for backend in backends:
                await backend.repository.close()
                if backend.pg_name is not None:
                    await _pg_admin(f'DROP DATABASE IF EXISTS "{backend.pg_name}" WITH (FORCE)')
    return [b.report for b in backends]


# --- report ------------------------------------------------------------------------------------


def markdown(reports: list[dict[str, Any]]) -> str:
    out: list[str] = []
    for report in reports:
        sizes = report["sizes"]
        rates = ", ".join(f"{r:,.0f}" for r in report.get("load_rate", []))
        out.append(f"### {report['backend']}: {' / '.join(f'{s:,}' for s in sizes)} resources")
        out.append("")
        out.append(
            "Bulk load (write_many, every batch to every backend, all loaders; per stage):"
            f" {rates} resources/s."
        )
        out.append("")
        small, large = (0, len(sizes) - 1)
        out.append(
            f"| shape | searches/s @{sizes[large]:,} | p50 / p95 / p99 ms @{sizes[small]:,} "
            f"| p50 / p95 / p99 ms @{sizes[large]:,} | p50 ratio | mean matches"
            " | plan uses indexes |"
        )
        out.append("|---|---|---|---|---|---|---|")
        skipped: list[str] = []
        for name, results in report["results"].items():
            first, last = results[small], results[-1]
            if first.skipped is not None:
                skipped.append(f"- `{name}`: {first.skipped}")
                continue
            ratio = last.p50 / first.p50 if first.p50 else float("nan")
            plan = report["plans"].get(name, ("", None))[1]
            out.append(
                f"| {name} | {last.per_second:,.0f} "
                f"| {first.p50:.2f} / {first.p95:.2f} / {first.p99:.2f} "
                f"| {last.p50:.2f} / {last.p95:.2f} / {last.p99:.2f} "
                f"| {ratio:.2f} | {first.matches:,.1f} / {last.matches:,.1f} "
                f"| {'yes' if plan else 'NO' if plan is False else 'n/a'} |"
            )
        if skipped:
            out += ["", "Skipped (not built yet):", *skipped]
        out.append("")
        out.append("<details><summary>Query plans at the largest size</summary>")
        out.append("")
        for name, (plan, _) in report["plans"].items():
            out += [f"`{name}`:", "```", plan, "```"]
        out += ["</details>", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50000,500000", help="resource counts, ascending")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--seconds", type=float, default=4.0, help="time per shape and size")
    parser.add_argument("--max-runs", type=int, default=2000, help="searches per shape and size")
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="untimed seconds per shape and size first"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=3600, help="loading stops after this, per backend"
    )
    parser.add_argument("--loaders", type=int, default=3, help="loader processes")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    reports = asyncio.run(bench(args.backends.split(","), sizes, args, log))
    print(markdown(reports))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        raw = [
            {
                **r,
                "results": {k: [dataclasses.asdict(x) for x in v] for k, v in r["results"].items()},
            }
            for r in reports
        ]
        args.json.write_text(json.dumps(raw, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
