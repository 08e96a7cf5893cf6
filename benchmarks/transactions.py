"""`make bench`: transaction throughput and $everything latency, per backend, as ratios.

In process, through the real ASGI app (httpx's ASGI transport: no sockets, so the figures
are the server's own work). Per backend, on a fresh database:

- **baseline** -- single ``POST /fhir/Observation`` creates, one after another:
  resources per second.
- **transaction-10 / transaction-100** -- ``POST /fhir`` transaction Bundles of a Patient
  (``urn:uuid:`` fullUrl) and 9 or 99 Observations linking to it: Bundles per second, and
  entries per second as a ratio to the baseline's resources per second.
- **$everything** -- ``Patient/[id]/$everything?_count=1000`` for a patient with 1,000
  resources in the compartment, median latency, as a ratio to the plain search returning
  the same Observations (``Observation?subject=...&_count=1000``).

Usage: ``python -m benchmarks.transactions [--creates 300] [--bundles10 40] [--bundles100 8]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from wardbook.app import build_app
from wardbook.config import Settings
from wardbook.storage.factory import open_repository

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
FHIR = {"Content-Type": "application/fhir+json", "Prefer": "return=minimal"}


def observation(subject: str, n: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": f"2024-01-{1 + n % 28:02d}T08:{n % 60:02d}:00Z",
        "valueQuantity": {
            "value": 60 + n % 40,
            "unit": "/min",
            "system": "http://unitsofmeasure.org",
            "code": "/min",
        },
    }


def transaction(size: int) -> dict[str, Any]:
    patient_urn = f"urn:uuid:{uuid.uuid4()}"
    entries = [
        {
            "fullUrl": patient_urn,
            "resource": {"resourceType": "Patient", "name": [{"family": "Bench"}]},
            "request": {"method": "POST", "url": "Patient"},
        }
    ]
    entries += [
        {
            "resource": observation(patient_urn, n),
            "request": {"method": "POST", "url": "Observation"},
        }
        for n in range(size - 1)
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


async def bench_backend(url: str, args: argparse.Namespace) -> dict[str, float]:
    repository = open_repository(url)
    await repository.open()
    await repository.migrate()
    app = build_app(Settings(env="test", no_auth=True), repository)
    results: dict[str, float] = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench/fhir", timeout=600
    ) as client:
        anchor = await client.put(
            "/Patient/bench", json={"resourceType": "Patient", "id": "bench"}, headers=FHIR
        )
        assert anchor.status_code in (200, 201), anchor.text
        bodies = [json.dumps(observation("Patient/bench", n)) for n in range(args.creates)]
        start = time.perf_counter()
        for body in bodies:
            response = await client.post("/Observation", content=body, headers=FHIR)
            assert response.status_code == 201, response.text
        results["create_per_s"] = args.creates / (time.perf_counter() - start)

        for size, count in ((10, args.bundles10), (100, args.bundles100)):
            payloads = [json.dumps(transaction(size)) for _ in range(count)]
            start = time.perf_counter()
            for payload in payloads:
                response = await client.post("", content=payload, headers=FHIR)
                assert response.status_code == 200, response.text[:300]
            elapsed = time.perf_counter() - start
            results[f"tx{size}_bundles_per_s"] = count / elapsed
            results[f"tx{size}_entries_per_s"] = count * size / elapsed
            results[f"tx{size}_ratio"] = (
                results[f"tx{size}_entries_per_s"] / results["create_per_s"]
            )

        # A patient with 1,000 resources in the compartment: itself and 999 observations.
        big = transaction(1000)
        response = await client.post(
            "", content=json.dumps(big), headers={"Content-Type": "application/fhir+json"}
        )
        assert response.status_code == 200, response.text[:300]
        patient_id = response.json()["entry"][0]["resource"]["id"]
        everything: list[float] = []
        search: list[float] = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            page = await client.get(f"/Patient/{patient_id}/$everything", params={"_count": "1000"})
            everything.append(time.perf_counter() - start)
            assert len(page.json()["entry"]) == 1000, len(page.json().get("entry", []))
            start = time.perf_counter()
            found = await client.get(
                "/Observation",
                params={"subject": f"Patient/{patient_id}", "_count": "1000", "_total": "none"},
            )
            search.append(time.perf_counter() - start)
            assert len(found.json()["entry"]) == 999
        results["everything_ms"] = statistics.median(everything) * 1000
        results["search_ms"] = statistics.median(search) * 1000
        results["everything_ratio"] = results["everything_ms"] / results["search_ms"]
    await repository.close()
    return results


async def pg_database() -> str:
    name = f"wardbook_bench_tx_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop(name: str) -> None:
    conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    rows: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("SQLite", await bench_backend(f"sqlite:///{Path(tmp) / 'b.db'}", args)))
    name = await pg_database()
    try:
        rows.append(("PostgreSQL", await bench_backend(f"{PG_SERVER}/{name}", args)))
    finally:
        await drop(name)
    print(
        "| backend | single creates/s | tx-10 bundles/s (entries/s, ratio) "
        "| tx-100 bundles/s (entries/s, ratio) | $everything 1,000 ms | search 999 ms | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for backend, r in rows:
        print(
            f"| {backend} | {r['create_per_s']:.0f} "
            f"| {r['tx10_bundles_per_s']:.1f} ({r['tx10_entries_per_s']:.0f}, "
            f"**{r['tx10_ratio']:.2f}x**) "
            f"| {r['tx100_bundles_per_s']:.2f} ({r['tx100_entries_per_s']:.0f}, "
            f"**{r['tx100_ratio']:.2f}x**) "
            f"| {r['everything_ms']:.0f} | {r['search_ms']:.0f} "
            f"| **{r['everything_ratio']:.2f}x** |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--creates", type=int, default=300)
    parser.add_argument("--bundles10", type=int, default=40)
    parser.add_argument("--bundles100", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
