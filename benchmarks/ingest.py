"""`make bench`: bulk ingest (`wardbook load`) as a ratio to raw inserts of the same lines.

For each backend, in the same run and on the same NDJSON file (the Synthea bundles of
``../shared/data/blaze-synthea`` flattened to one resource per line, ``--copies`` times
with fresh ids):

* raw baseline -- PostgreSQL: binary ``COPY`` of (id, type, body jsonb) into a bare
  table; SQLite: one ``executemany`` of (id, type, body) in one transaction (WAL,
  synchronous=NORMAL, as Wardbook runs);
* Wardbook -- ``wardbook load FILE`` (the real command: worker processes, validation,
  index rows, one writer), into a freshly migrated database; then the same file again
  (idempotent re-run: nothing changes). Besides the rates, the CPU time of the load's
  process tree (writer and workers, not the PostgreSQL server) per resource, which the
  other jobs on a shared machine do not move.

``--export-rss N`` also fills a database with N resources and runs a full system
``$export`` job in a child process, reporting that process's peak RSS (the export must
stay flat however large the database is).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
SYNTHEA = ROOT.parent / "shared" / "data" / "blaze-synthea"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


def synthea_resources() -> Iterator[dict[str, Any]]:
    """Every resource of the Synthea bundles, urn:uuid references rewritten, ids filled."""
    from wardbook.service.loader import iter_files, iter_items

    for item in (i for path in iter_files([SYNTHEA]) for i in iter_items(path)):
        resource_ = item.resource
        if isinstance(resource_, dict):
            if "id" not in resource_:
                key = json.dumps(resource_, sort_keys=True)
                resource_ = {**resource_, "id": str(uuid.uuid5(uuid.NAMESPACE_URL, key))}
            yield resource_


def write_ndjson(
    path: Path, copies: int, limit: int | None = None
) -> tuple[int, list[tuple[str, str, bytes]]]:
    """The benchmark file; and its (id, type, line) rows for the raw baselines."""
    base = list(synthea_resources())[:limit]
    rows: list[tuple[str, str, bytes]] = []
    with path.open("wb") as out:
        for copy in range(copies):
            for item in base:
                resource_id = item["id"] if copy == 0 else f"{item['id'][:56]}-c{copy}"
                line = json.dumps({**item, "id": resource_id}, separators=(",", ":")).encode()
                out.write(line + b"\n")
                rows.append((resource_id, item["resourceType"], line))
    return len(rows), rows


# -- raw baselines ------------------------------------------------------------------------


def raw_sqlite(path: Path, rows: list[tuple[str, str, bytes]]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE raw (id TEXT, type TEXT, body TEXT)")
    records = [(rid, rtype, line.decode()) for rid, rtype, line in rows]
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO raw (id, type, body) VALUES (?, ?, ?)", records)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


async def raw_postgres(url: str, rows: list[tuple[str, str, bytes]]) -> float:
    import asyncpg

    from wardbook.storage.postgres.connection import init_connection

    conn = await asyncpg.connect(url)
    try:
        await init_connection(conn)  # jsonb as raw bytes, as Wardbook sends it
        await conn.execute("CREATE TABLE raw (id text, type text, body jsonb)")
        started = time.perf_counter()
        await conn.copy_records_to_table("raw", records=rows, columns=("id", "type", "body"))
        return time.perf_counter() - started
    finally:
        await conn.close()


# -- Wardbook -----------------------------------------------------------------------------


CPU_SECONDS: dict[str, float] = {}  # wardbook command -> CPU s of its process tree


def wardbook(*args: str, database: str) -> float:
    started = time.perf_counter()
    child = subprocess.Popen(
        [str(BIN / "wardbook"), *args, "--database", database],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler = TreeCpu(child.pid)
    _, stderr = child.communicate()
    elapsed = time.perf_counter() - started
    CPU_SECONDS[args[0]] = sampler.stop()
    if child.returncode != 0:
        raise SystemExit(f"wardbook {args[0]} failed: {stderr[-2000:]}")
    return elapsed


class TreeCpu:
    """CPU seconds (user + system) of a process and all its descendants, from /proc.

    The worker processes are children of multiprocessing's fork server, which nobody waits
    for, so rusage of the command never includes them: sample every 50 ms and keep each
    process's last reading. CPU time does not depend on what else the machine runs, unlike
    the wall time (the PostgreSQL server's own CPU is not included).
    """

    def __init__(self, root: int) -> None:
        import threading

        self.root = root
        self.seen: dict[int, float] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.05):
            self._scan()

    def _scan(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        parents: dict[int, int] = {}
        cpu: dict[int, float] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    stat = handle.read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            parents[int(entry)] = int(fields[1])
            cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
        for pid, seconds in cpu.items():
            ancestor = pid
            while ancestor > 1 and ancestor != self.root:
                ancestor = parents.get(ancestor, 0)
            if ancestor == self.root:
                self.seen[pid] = max(self.seen.get(pid, 0.0), seconds)

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return sum(self.seen.values())


def admin(sql: str) -> None:
    async def run() -> None:
        import asyncpg

        conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def bench_backend(name: str, url: str, raw: float, data: Path, count: int) -> dict[str, Any]:
    wardbook("migrate", database=url)
    load = wardbook("load", str(data), database=url)
    load_cpu = CPU_SECONDS["load"]
    reload = wardbook("load", str(data), database=url)
    return {
        "load_cpu_us_per_resource": load_cpu / count * 1e6,
        "backend": name,
        "resources": count,
        "raw_per_s": count / raw,
        "load_per_s": count / load,
        "reload_per_s": count / reload,
        "ratio": raw / load,
        "reload_ratio": raw / reload,
        "cpus": os.cpu_count(),
    }


# -- export peak RSS ----------------------------------------------------------------------


def fill(url: str, lines: list[bytes], total: int) -> None:
    """``total`` current resources, cycled from ``lines`` with fresh ids (no index rows:
    a system-level export reads only the resource tables)."""

    async def run() -> None:
        from wardbook.fhir.meta import stamp
        from wardbook.service.resources import now_micros
        from wardbook.storage.factory import open_repository

        repository = open_repository(url)
        await repository.open()
        try:
            await repository.migrate()
            micros = now_micros()
            batch: list[Any] = []
            for number in range(total):
                item = json.loads(lines[number % len(lines)])
                rid = f"x{number}"
                body = json.dumps(stamp(item, rid, 1, micros), separators=(",", ":")).encode()
                batch.append((item["resourceType"], rid, body))
                if len(batch) == 20_000 or number == total - 1:
                    await insert_bare(repository, batch, micros)
                    batch = []
        finally:
            await repository.close()

    asyncio.run(run())


async def insert_bare(repository: Any, batch: list[Any], micros: int) -> None:
    from wardbook.storage.base import LoadRow

    rows = [LoadRow(rtype, rid, micros, body, {}) for rtype, rid, body in batch]
    await repository.load_rows(rows, lambda current, row: None)


EXPORT_CHILD = """
import asyncio, json, sys
from pathlib import Path
from wardbook.service.export import ExportRequest, ExportService
from wardbook.service.export_runner import ExportRunner
from wardbook.storage.factory import open_repository

def high_water_kb():
    # VmHWM is this process's own peak (ru_maxrss would carry the parent's over exec).
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

async def main(url, folder):
    repository = open_repository(url)
    await repository.open()
    try:
        before = high_water_kb()
        service = ExportService(repository, Path(folder))
        request = ExportRequest("system", None, None, None, {})
        job = await service.kick_off(request, "http://bench/fhir/$export", "http://bench/fhir")
        assert await ExportRunner(repository, Path(folder)).run_one()
        done = await service.jobs.get(job.id)
        peak = high_water_kb()
        print(json.dumps({"status": done.status,
                          "exported": sum(e["count"] for e in done.output or []),
                          "rss_before_kb": before, "rss_peak_kb": peak}))
    finally:
        await repository.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def export_rss(name: str, url: str, lines: list[bytes], total: int, folder: Path) -> Any:
    fill(url, lines, total)
    started = time.perf_counter()
    done = subprocess.run(
        [str(BIN / "python"), "-c", EXPORT_CHILD, url, str(folder)],
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"export failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(backend=name, resources=total, seconds=elapsed)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=1, help="Synthea data set copies")
    parser.add_argument("--limit", type=int, default=None, help="use the first N resources")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--export-rss", type=int, default=0, metavar="N")
    parser.add_argument("--skip-ingest", action="store_true", help="only the export RSS run")
    args = parser.parse_args()
    backends = args.backends.split(",")
    results: dict[str, Any] = {"ingest": [], "export": []}
    with tempfile.TemporaryDirectory(prefix="wardbook-ingest-") as tmp:
        data = Path(tmp) / "synthea.ndjson"
        count, rows = write_ndjson(data, args.copies, args.limit)
        print(f"{count} resources, {data.stat().st_size / 1e6:.0f} MB of NDJSON", flush=True)
        if "sqlite" in backends and not args.skip_ingest:
            raw = raw_sqlite(Path(tmp) / "raw.db", rows)
            url = f"sqlite:///{tmp}/wardbook.db"
            results["ingest"].append(bench_backend("sqlite", url, raw, data, count))
            print(results["ingest"][-1], flush=True)
        if "postgresql" in backends and not args.skip_ingest:
            name = f"wardbook_bench_{uuid.uuid4().hex[:8]}"
            admin(f'CREATE DATABASE "{name}"')
            try:
                raw = asyncio.run(raw_postgres(f"{PG_SERVER}/{name}", rows))
                admin(f'DROP DATABASE "{name}" WITH (FORCE)')
                admin(f'CREATE DATABASE "{name}"')
                url = f"{PG_SERVER}/{name}"
                results["ingest"].append(bench_backend("postgresql", url, raw, data, count))
                print(results["ingest"][-1], flush=True)
            finally:
                admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if args.export_rss:
            lines = [line for _, _, line in rows[:20_000]]
            del rows
            for backend in backends:
                if backend == "sqlite":
                    url = f"sqlite:///{tmp}/export.db"
                    found = export_rss("sqlite", url, lines, args.export_rss, Path(tmp) / "ex1")
                else:
                    name = f"wardbook_bench_{uuid.uuid4().hex[:8]}"
                    admin(f'CREATE DATABASE "{name}"')
                    try:
                        url = f"{PG_SERVER}/{name}"
                        found = export_rss(
                            "postgresql", url, lines, args.export_rss, Path(tmp) / "ex2"
                        )
                    finally:
                        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                results["export"].append(found)
                print(found, flush=True)
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(exist_ok=True)
    out_name = "export_rss.json" if args.skip_ingest else "ingest.json"
    (out_dir / out_name).write_text(json.dumps(results, indent=2))
    print()
    print(
        "| backend | resources | raw rows/s | wardbook load/s | ratio | re-run/s"
        " | load CPU µs/resource |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results["ingest"]:
        print(
            f"| {r['backend']} | {r['resources']:,} | {r['raw_per_s']:,.0f} |"
            f" {r['load_per_s']:,.0f} | {r['ratio']:.1%} | {r['reload_per_s']:,.0f} |"
            f" {r['load_cpu_us_per_resource']:,.0f} |"
        )
    for r in results["export"]:
        print(
            f"export {r['backend']}: {r['exported']:,} resources in {r['seconds']:.0f} s,"
            f" peak RSS {r['rss_peak_kb'] / 1024:.0f} MB (after start-up"
            f" {r['rss_before_kb'] / 1024:.0f} MB)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
