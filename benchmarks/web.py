"""`make bench`: the patient chart page from a warm server, with 2,000 observations.

Loads one demo patient plus enough vital-sign sets (through the service layer) that the
patient has 2,000+ Observations, starts `wardbook serve` (one worker, --no-auth, loopback),
warms it up, then requests the chart summary, the vital-signs page and, as the baseline in
the same run, `/livez` and the static help page, one request at a time. Reports p50/p95 in
milliseconds and the ratios to the baselines, per backend.

    python -m benchmarks.web [--requests 200] [--backend sqlite|postgresql|all]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.run import BIN, psql, wait_ready
from wardbook.auth.principal import LOCAL_DEVELOPER
from wardbook.demo import generate, shared_resources
from wardbook.service.resources import ResourceService
from wardbook.storage.factory import open_repository
from wardbook.web.forms import VitalsEntry
from wardbook.web.writes import vital_sign_observations

TARGET_OBSERVATIONS = 2000


async def load(database: str) -> str:
    """One demo patient plus two-hourly vital signs up to now: 2,000 Observations in all."""
    repository = open_repository(database)
    await repository.open()
    try:
        service = ResourceService(repository)
        record = next(iter(generate(1, seed=11)))
        await service.put_many([*shared_resources(seed=11), *record])
        patient_id = str(record[0]["id"])
        have = sum(1 for r in record if r["resourceType"] == "Observation")
        # A long admission charted every two hours, the last set just now.
        needed = -(-(TARGET_OBSERVATIONS - have) // 7)
        start = datetime.now(UTC) - timedelta(hours=2 * needed)
        batch: list[dict[str, object]] = []
        index = 0
        while have < TARGET_OBSERVATIONS:
            entry = VitalsEntry(
                respiratory_rate=14 + index % 9,
                spo2=92 + index % 8,
                on_oxygen=index % 5 == 0,
                oxygen_flow=2.0 if index % 5 == 0 else None,
                systolic=100 + index % 40,
                diastolic=60 + index % 20,
                heart_rate=60 + index % 50,
                consciousness="A",
                temperature=36.5 + (index % 20) / 10,
            )
            taken = start + timedelta(hours=2 * index)
            sets = vital_sign_observations(entry, patient_id, taken, LOCAL_DEVELOPER)
            batch.extend(sets)
            have += len(sets)
            index += 1
            if len(batch) >= 350:
                await service.put_many(batch)
                batch = []
        if batch:
            await service.put_many(batch)
        return patient_id
    finally:
        await repository.close()


def timings(url: str, count: int) -> list[float]:
    """Wall time of ``count`` sequential GETs, in milliseconds."""
    out: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
            assert response.status == 200
        out.append((time.perf_counter() - started) * 1000)
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def bench(database: str, label: str, requests: int) -> dict[str, object]:
    subprocess.run([str(BIN / "wardbook"), "migrate", "--database", database], check=True)
    patient_id = asyncio.run(load(database))
    if database.startswith("postgresql"):
        # The statistics autovacuum would have gathered on a live server: without them the
        # planner picks nested loops over the freshly loaded index tables.
        subprocess.run(["psql", database, "-q", "-c", "ANALYZE"], check=True)
    port = 20000 + uuid.uuid4().int % 20000
    log = Path(tempfile.gettempdir()) / f"wardbook-bench-web-{port}.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                *(str(BIN / "wardbook"), "serve", "--database", database),
                *("--port", str(port), "--no-auth"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(port)
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(
            f"{base}/fhir/Observation?subject=Patient/{patient_id}&_summary=count"
        ) as response:
            observations = json.load(response)["total"]
        pages = {
            "livez": f"{base}/livez",
            "help page": f"{base}/help",
            "chart summary": f"{base}/patients/{patient_id}",
            "vital signs page": f"{base}/patients/{patient_id}/vitals",
        }
        for url in pages.values():
            timings(url, 20)  # warm: templates compiled, caches and connections ready
        results: dict[str, object] = {"backend": label, "observations": observations}
        for name, url in pages.items():
            values = timings(url, requests)
            results[name] = {
                "p50_ms": round(statistics.median(values), 2),
                "p95_ms": round(p95(values), 2),
            }
        help_p95 = results["help page"]["p95_ms"]  # type: ignore[index]
        chart_p95 = results["chart summary"]["p95_ms"]  # type: ignore[index]
        results["chart p95 / help p95"] = round(chart_p95 / help_p95, 1)
        results["chart p95 under 150 ms"] = chart_p95 < 150
        return results
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    args = parser.parse_args()
    outcomes = []
    if args.backend in ("sqlite", "all"):
        with tempfile.TemporaryDirectory() as folder:
            outcomes.append(bench(f"sqlite:///{Path(folder)}/bench.db", "sqlite", args.requests))
    if args.backend in ("postgresql", "all"):
        name = f"wardbook_bench_web_{uuid.uuid4().hex[:8]}"
        psql(f'CREATE DATABASE "{name}"')
        try:
            url = f"postgresql://postgres@127.0.0.1:5432/{name}"
            outcomes.append(bench(url, "postgresql", args.requests))
        finally:
            psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(outcomes, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
