"""The writer's ceiling for ``wardbook load``: storing prepared batches, no workers at all.

Prepares the first ``--limit`` Synthea resources exactly as ``benchmarks/ingest.py`` lays
them out (conditional references resolved, index rows extracted) by loading them once
into a scratch SQLite database and keeping every batch the writer stores; then stores the
same batches again with ``Repository.load_rows`` into a fresh database of each backend,
2,000 resources a transaction as ``wardbook load`` does, and reports resources/s and the
CPU time of this process (the client side; the PostgreSQL server's work is the rest of
the wall time). ``--no-fk-checks`` also runs PostgreSQL with the foreign-key triggers off
(``session_replication_role = replica``, a superuser setting, for measurement only) to
show what the per-row FK checks of the index rows cost.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
BATCH = 2000


async def capture(data: Path, folder: Path) -> list[Any]:
    """The LoadRows the writer stores for ``data``, in order."""
    from wardbook.service.ingest import ingest
    from wardbook.service.resources import ResourceService
    from wardbook.storage.factory import open_repository

    repository = open_repository(f"sqlite:///{folder / 'capture.db'}")
    await repository.open()
    try:
        await repository.migrate()
        real = repository.load_rows
        rows: list[Any] = []

        async def keeping(batch: Any, merge: Any) -> Any:
            rows.extend(batch)
            return await real(batch, merge)

        repository.load_rows = keeping  # type: ignore[method-assign]
        await ingest(ResourceService(repository), [data], workers=0)
    finally:
        await repository.close()
    return rows


async def store(url: str, rows: list[Any], *, fk_checks: bool = True) -> tuple[float, float]:
    """(wall s, CPU s of this process) to store ``rows`` in batches into ``url``."""
    from wardbook.storage.factory import open_repository

    repository = open_repository(url)
    await repository.open()
    try:
        await repository.migrate()
        if fk_checks:
            started, cpu = time.perf_counter(), time.process_time()
            for start in range(0, len(rows), BATCH):
                await repository.load_rows(rows[start : start + BATCH], _keep)
            return time.perf_counter() - started, time.process_time() - cpu
    finally:
        await repository.close()
    return await _store_without_fk_checks(url, rows)


def _keep(current: Any, row: Any) -> None:
    return None


async def _store_without_fk_checks(url: str, rows: list[Any]) -> tuple[float, float]:
    """PostgreSQL's ``load_rows`` on one connection whose FK triggers do not fire."""
    import asyncpg

    from wardbook.storage.postgres.connection import init_connection
    from wardbook.storage.postgres.write import load_rows

    conn = await asyncpg.connect(url)
    try:
        await init_connection(conn)
        await conn.execute("SET session_replication_role = replica")
        started, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(rows), BATCH):
            async with conn.transaction(isolation="read_committed"):
                await load_rows(conn, rows[start : start + BATCH], _keep)
        return time.perf_counter() - started, time.process_time() - cpu
    finally:
        await conn.close()


async def admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def main_async(args: argparse.Namespace) -> None:
    from benchmarks.ingest import write_ndjson

    with tempfile.TemporaryDirectory(prefix="wardbook-store-") as tmp:
        folder = Path(tmp)
        data = folder / "synthea.ndjson"
        write_ndjson(data, 1, args.limit)
        rows = await capture(data, folder)
        index_rows = sum(len(keys) for row in rows for keys in row.index.values())
        print(f"{len(rows)} resources, {index_rows} index rows", flush=True)
        runs: list[tuple[str, str, bool]] = []
        if "sqlite" in args.backends:
            runs.append(("sqlite", f"sqlite:///{folder / 'store.db'}", True))
        if "postgresql" in args.backends:
            runs.append(("postgresql", "", True))
            if args.no_fk_checks:
                runs.append(("postgresql, FK checks off", "", False))
        for label, url, fk_checks in runs:
            name = ""
            if not url:
                name = f"wardbook_store_{uuid.uuid4().hex[:8]}"
                await admin(f'CREATE DATABASE "{name}"')
                url = f"{PG_SERVER}/{name}"
            try:
                wall, cpu = await store(url, rows, fk_checks=fk_checks)
            finally:
                if name:
                    await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            print(
                f"{label:<28} {len(rows) / wall:8,.0f} resources/s  wall {wall:5.1f} s"
                f"  CPU of this process {cpu:5.1f} s",
                flush=True,
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=25000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--no-fk-checks", action="store_true")
    asyncio.run(main_async(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
