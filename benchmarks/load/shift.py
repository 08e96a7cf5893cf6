"""A hospital shift against a real Wardbook server: the load test (issue 10, item 6).

Virtual clinicians, each in a loop with think time, do what a ward does all day:

* ``find_patient``  -- search by the start of a family name (the search box as you type);
* ``open_chart``    -- the FHIR reads a chart makes: the patient, latest vital signs and
                       labs, active problems, allergies, current medications;
* ``record_vitals`` -- one transaction Bundle with a set of vital-sign Observations;
* ``page_load``     -- the web app's start page (static HTML, what a browser fetches first);
* ``export``        -- one system ``$export`` kicked off in the background and polled, when
                       the server's CapabilityStatement offers it.

It reports throughput and p50/p95/p99 per action and the errors, and with ``--kill-at`` it
``kill -9``s the server at that second, restarts it, and carries on: afterwards every write
the server acknowledged (201/200 transaction entries) must be readable. Everything is
bounded by ``--duration`` (soak: a long duration) and targets 127.0.0.1 only.

    .venv/bin/python -m benchmarks.load.shift --duration 60 --clinicians 8
    .venv/bin/python -m benchmarks.load.shift --duration 60 --kill-at 30 --database postgresql://...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from wardbook.ops.server_process import WARDBOOK, ServerProcess, temporary_log

ROOT = Path(__file__).resolve().parents[2]
FHIR_JSON = "application/fhir+json"


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    acknowledged: list[str] = field(default_factory=list)  # "Type/id" of acknowledged writes
    lost: list[str] = field(default_factory=list)  # acknowledged, yet not readable afterwards

    def ok(self, action: str, seconds: float) -> None:
        self.latencies[action].append(seconds)

    def error(self, action: str, kind: str) -> None:
        self.errors[action][kind] = self.errors[action].get(kind, 0) + 1

    def error_count(self) -> int:
        return sum(sum(kinds.values()) for kinds in self.errors.values())

    def report(self, seconds: float) -> dict[str, Any]:
        out: dict[str, Any] = {"seconds": round(seconds, 1), "actions": {}}
        for action in sorted(set(self.latencies) | set(self.errors)):
            values = sorted(self.latencies.get(action, []))

            def pct(p: float, values: list[float] = values) -> float | None:
                if not values:
                    return None
                return round(values[min(len(values) - 1, int(p * len(values)))] * 1000, 1)

            out["actions"][action] = {
                "ok": len(values),
                "per_second": round(len(values) / seconds, 1),
                "p50_ms": pct(0.50),
                "p95_ms": pct(0.95),
                "p99_ms": pct(0.99),
                "errors": self.errors.get(action, {}),
            }
        out["errors_total"] = self.error_count()
        out["acknowledged_writes"] = len(self.acknowledged)
        return out


def vitals_bundle(patient: str, rng: random.Random) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def obs(code: str, display: str, value: float, unit: str, ucum: str) -> dict[str, Any]:
        return {
            "fullUrl": f"urn:uuid:{rng.getrandbits(128):032x}",
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "category": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs"}]}],
                "code": {"coding": [{"system": "http://loinc.org", "code": code,
                                     "display": display}]},
                "subject": {"reference": patient},
                "effectiveDateTime": now,
                "valueQuantity": {"value": value, "unit": unit,
                                  "system": "http://unitsofmeasure.org", "code": ucum},
            },
            "request": {"method": "POST", "url": "Observation"},
        }  # fmt: skip

    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            obs("8867-4", "Heart rate", rng.randint(55, 120), "beats/minute", "/min"),
            obs("9279-1", "Respiratory rate", rng.randint(10, 28), "breaths/minute", "/min"),
            obs("59408-5", "SpO2", rng.randint(88, 100), "%", "%"),
            obs("8310-5", "Body temperature", round(rng.uniform(35.5, 39.5), 1), "Cel", "Cel"),
        ],
    }


async def timed(results: Results, action: str, work: Any) -> Any:
    started = time.perf_counter()
    try:
        outcome = await work
    except httpx.HTTPError as error:
        results.error(action, type(error).__name__)
        await asyncio.sleep(0.25)  # the server is away (restarting): do not spin
        return None
    if isinstance(outcome, httpx.Response) and outcome.status_code >= 400:
        results.error(action, str(outcome.status_code))
        return None
    results.ok(action, time.perf_counter() - started)
    return outcome


async def clinician(
    client: httpx.AsyncClient, patients: list[str], results: Results, until: float, seed: int
) -> None:
    rng = random.Random(seed)
    while time.monotonic() < until:
        choice = rng.random()
        patient = rng.choice(patients)
        pid = patient.split("/")[1]
        if choice < 0.25:
            prefix = rng.choice("ABCDEFGHJKLMNPRSTW")
            params = {"name": prefix, "_count": "20", "_elements": "name,birthDate,identifier"}
            await timed(results, "find_patient", client.get("/fhir/Patient", params=params))
        elif choice < 0.70:

            async def chart(pid: str = pid) -> httpx.Response:
                responses = await asyncio.gather(
                    client.get(f"/fhir/Patient/{pid}"),
                    client.get("/fhir/Observation", params={
                        "patient": pid, "category": "vital-signs", "_sort": "-date",
                        "_count": "50"}),
                    client.get("/fhir/Condition", params={"patient": pid,
                                                          "clinical-status": "active"}),
                    client.get("/fhir/AllergyIntolerance", params={"patient": pid}),
                    client.get("/fhir/MedicationRequest", params={"patient": pid,
                                                                  "status": "active"}),
                )  # fmt: skip
                worst = max(responses, key=lambda r: r.status_code)
                return worst

            await timed(results, "open_chart", chart())
        elif choice < 0.90:
            response = await timed(
                results,
                "record_vitals",
                client.post("/fhir", json=vitals_bundle(patient, rng),
                            headers={"Content-Type": FHIR_JSON}),
            )  # fmt: skip
            if response is not None:
                for entry in response.json().get("entry", []):
                    location = entry.get("response", {}).get("location", "")
                    if location:  # "Type/id/_history/n", relative or absolute
                        path = location.split("/fhir/", 1)[-1]
                        results.acknowledged.append("/".join(path.split("/")[:2]))
        else:
            await timed(results, "page_load", client.get("/"))
        await asyncio.sleep(rng.uniform(0.0, 0.05))  # think time (compressed)


async def exporter(client: httpx.AsyncClient, results: Results, until: float) -> None:
    """One background system export, polled until complete, if the server offers it."""
    statement = (await client.get("/fhir/metadata")).json()
    operations = {
        op.get("name") for rest in statement.get("rest", []) for op in rest.get("operation", [])
    }
    if "export" not in operations:
        return
    started = time.perf_counter()
    kick = await client.get("/fhir/$export", headers={"Prefer": "respond-async",
                                                      "Accept": FHIR_JSON})  # fmt: skip
    if kick.status_code != 202:
        results.error("export", str(kick.status_code))
        return
    status_url = kick.headers["Content-Location"]
    while time.monotonic() < until:
        poll = await client.get(status_url)
        if poll.status_code == 200:
            results.ok("export", time.perf_counter() - started)
            return
        if poll.status_code != 202:
            results.error("export", str(poll.status_code))
            return
        await asyncio.sleep(float(poll.headers.get("Retry-After", "1")))


async def patient_ids(client: httpx.AsyncClient, limit: int = 200) -> list[str]:
    bundle = (await client.get("/fhir/Patient", params={"_count": str(limit)})).json()
    return [f"Patient/{e['resource']['id']}" for e in bundle.get("entry", [])]


async def run_shift(
    server: ServerProcess, duration: float, clinicians: int, kill_at: float | None
) -> tuple[Results, float]:
    results = Results()
    limits = httpx.Limits(max_connections=clinicians * 5)
    async with httpx.AsyncClient(base_url=server.base, timeout=30, limits=limits) as client:
        patients = await patient_ids(client)
        if not patients:
            raise RuntimeError("no patients: load demo data first")
        started = time.monotonic()
        until = started + duration
        tasks = [
            asyncio.create_task(clinician(client, patients, results, until, seed))
            for seed in range(clinicians)
        ]
        tasks.append(asyncio.create_task(exporter(client, results, until)))
        if kill_at is not None:
            await asyncio.sleep(kill_at)
            await asyncio.to_thread(server.kill)
            await asyncio.to_thread(server.start)
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - started
        lost = []
        for reference in results.acknowledged:
            response = await client.get(f"/fhir/{reference}")
            if response.status_code != 200:
                lost.append(reference)
    results.lost = lost
    return results, elapsed


def prepare(database: str, patients: int) -> None:
    subprocess.run([WARDBOOK, "migrate", "--database", database], check=True, capture_output=True)
    subprocess.run(
        [WARDBOOK, "demo", "--patients", str(patients), "--seed", "7", "--database", database],
        check=True,
        capture_output=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=None, help="default: a new SQLite file")
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds (soak: long)")
    parser.add_argument("--clinicians", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--kill-at", type=float, default=None, help="kill -9 the server then")
    parser.add_argument("--json", default=None, help="write the report here too")
    args = parser.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="wardbook-shift-")
    database = args.database or f"sqlite:///{folder}/shift.db"
    prepare(database, args.patients)
    server = ServerProcess(database, workers=args.workers)
    server.log = temporary_log("wardbook-load-")
    server.start()
    try:
        results, elapsed = asyncio.run(
            run_shift(server, args.duration, args.clinicians, args.kill_at)
        )
    finally:
        server.stop()
    report = results.report(elapsed)
    report["lost_acknowledged_writes"] = len(results.lost)
    report["scenario"] = {
        "clinicians": args.clinicians,
        "workers": args.workers,
        "kill_at": args.kill_at,
        "database": "postgresql" if database.startswith("postgres") else "sqlite",
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 1 if report["lost_acknowledged_writes"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
