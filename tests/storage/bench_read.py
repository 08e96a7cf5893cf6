"""Single-task read/vread latency per backend (the hot path the HTTP benchmark leans on).

Usage: .venv/bin/python tests/storage/bench_read.py [DATABASE_URL ...]
Default: a temporary SQLite file and a temporary PostgreSQL database at 127.0.0.1:5432.
Prints mean, p50 and p99 in microseconds for read() and vread() of a Synthea patient; for
PostgreSQL also the floor: the same query on a bare asyncpg connection ("raw") and
``SELECT 1`` ("sel1").
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.storage.helpers import T0, new_version, patient
from wardbook.storage.factory import open_repository
from wardbook.storage.postgres.connection import init_connection
from wardbook.storage.postgres.sql import READ

RESOURCES = 1000
READS = 20_000


async def bench(url: str) -> None:
    repository = open_repository(url)
    await repository.open()
    try:
        await repository.migrate()
        base = patient()
        versions = []
        for number in range(RESOURCES):
            base["id"] = f"bench-{number}"
            versions.append(new_version(base, 1, T0 + number))
        await repository.write_many(versions)
        ids = [f"bench-{random.randrange(RESOURCES)}" for _ in range(READS)]
        calls: list[tuple[str, Callable[[str], Awaitable[object]]]] = [
            ("read", lambda i: repository.read("Patient", i)),
            ("vread", lambda i: repository.vread("Patient", i, 1)),
        ]
        if url.startswith("postgresql"):
            # The floor: the same query on a bare asyncpg connection, and a no-op query.
            raw = await asyncpg.connect(url)
            await init_connection(raw)
            calls.append(("raw", lambda i: raw.fetchrow(READ, "Patient", i)))
            calls.append(("sel1", lambda i: raw.fetchrow("SELECT 1")))
        for name, call in calls:
            for resource_id in ids[:1000]:  # warm up caches and prepared statements
                await call(resource_id)
            samples = []
            for resource_id in ids:
                started = time.perf_counter_ns()
                await call(resource_id)
                samples.append((time.perf_counter_ns() - started) / 1000)
            samples.sort()
            p50, p99 = samples[len(samples) // 2], samples[len(samples) * 99 // 100]
            print(
                f"{url.split(':')[0]:<10} {name:<5} mean {statistics.fmean(samples):7.1f} µs"
                f"  p50 {p50:7.1f}  p99 {p99:7.1f}  ({len(versions[0].body or b'')} byte body)"
            )
    finally:
        await repository.close()


async def main(urls: list[str]) -> None:
    if urls:
        for url in urls:
            await bench(url)
        return
    with tempfile.TemporaryDirectory() as folder:
        await bench(f"sqlite:///{folder}/bench.db")
    name = f"wardbook_bench_{random.getrandbits(32):08x}"
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    await admin.execute(f"CREATE DATABASE {name}")
    try:
        await bench(f"postgresql://postgres@127.0.0.1:5432/{name}")
    finally:
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
