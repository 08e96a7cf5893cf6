"""Searches with thousands of comma-separated values, on both backends.

Loads 2,000 Patients and 20,000 Observations (one of 50 LOINC-like codes each, subject
``Patient/pat-(n % 2000)``) through ``Repository.write_many`` and times, three runs each
(median), the long-list shapes that used to be one OR term per value
(``wardbook.storage.value_lists``): 4,769 ids, 5,000 and 900 subject references, 500
``system|code`` codes and 1,000 date prefixes (the range limit of
``wardbook.search.limits``). Results: docs/search.md, "Limits".

Usage: ``python -m benchmarks.search_or_lists [--backends sqlite,postgresql]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from wardbook.errors import WardbookError
from wardbook.fhir.meta import stamp
from wardbook.search.extract import extract_index
from wardbook.search.parse import parse_search
from wardbook.storage.base import Dialect, NewVersion, Repository
from wardbook.storage.factory import open_repository

PATIENTS, OBSERVATIONS, T0 = 2_000, 20_000, 1_709_281_800_000_000
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"

SHAPES: dict[str, list[tuple[str, str]]] = {
    "_id x4769": [("_id", ",".join(f"obs-{n}" for n in range(0, 9538, 2)))],
    "subject x5000": [("subject", ",".join(f"Patient/pat-{n}" for n in range(0, 10_000, 2)))],
    "subject x900": [("subject", ",".join(f"Patient/pat-{n}" for n in range(900)))],
    "code system|code x500": [("code", ",".join(f"http://loinc.org|c{n}" for n in range(500)))],
    "date prefix x1000": [("date", ",".join(f"ge2020-01-{1 + n % 28:02d}" for n in range(1000)))],
}


def _resources() -> list[dict[str, Any]]:
    patients = [{"resourceType": "Patient", "id": f"pat-{n}"} for n in range(PATIENTS)]
    observations = [
        {
            "resourceType": "Observation",
            "id": f"obs-{n}",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": f"c{n % 50}"}]},
            "subject": {"reference": f"Patient/pat-{n % PATIENTS}"},
            "effectiveDateTime": f"20{10 + n % 15}-03-01",
        }
        for n in range(OBSERVATIONS)
    ]
    return patients + observations


async def _load(repository: Repository) -> None:
    versions = []
    for n, resource in enumerate(_resources()):
        stored = stamp(resource, resource["id"], 1, T0 + n)
        versions.append(
            NewVersion(
                resource_type=stored["resourceType"],
                id=stored["id"],
                version=1,
                last_updated=T0 + n,
                method="POST",
                body=orjson.dumps(stored),
                index=extract_index(stored),
            )
        )
    await repository.write_many(versions)
    if repository.dialect is Dialect.POSTGRES:  # autovacuum's statistics, without the wait
        async with repository.transaction() as tx:
            await tx.runner.fetch_all("ANALYZE", [])


async def _time(repository: Repository) -> None:
    for name, params in SHAPES.items():
        query = parse_search("Observation", params, strict=True)
        times, result = [], ""
        for _ in range(3):
            start = time.perf_counter()
            try:
                result = f"total={(await repository.search(query)).total}"
            except WardbookError as error:
                result = f"{type(error).__name__}: {error.message[:60]}"
            times.append(time.perf_counter() - start)
        print(f"  {name:24s} {statistics.median(times) * 1000:9.1f} ms  {result}")


async def _run(url: str) -> None:
    repository = open_repository(url)
    await repository.open()
    try:
        await repository.migrate()
        await _load(repository)
        await _time(repository)
    finally:
        await repository.close()


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def main(backends: list[str]) -> None:
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as scratch:
            print("sqlite")
            await _run(f"sqlite:///{Path(scratch) / 'bench.db'}")
    if "postgresql" in backends:
        name = f"wardbook_bench_or_lists_{int(time.time())}"
        await _admin(f'CREATE DATABASE "{name}"')
        try:
            print("postgresql")
            await _run(f"{PG_SERVER}/{name}")
        finally:
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    asyncio.run(main(parser.parse_args().backends.split(",")))
