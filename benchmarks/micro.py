"""CPU cost of the pure per-write steps: validation and index extraction (µs per resource).

Usage: .venv/bin/python -m benchmarks.micro   (part of `make bench`)
Process CPU time, so a busy machine does not inflate it; best of three passes.
"""

from __future__ import annotations

import bz2
import gzip
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wardbook.fhir import jsonio
from wardbook.fhir.validator import validate_resource
from wardbook.search.extract import extract_index

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def synthea() -> list[dict[str, Any]]:
    path = DATA / "blaze-synthea" / "057aa36e-b892-9964-75b9-ffb46b097e34.json.bz2"
    with bz2.open(path) as handle:
        return [entry["resource"] for entry in json.load(handle)["entry"]]


def examples() -> list[dict[str, Any]]:
    with gzip.open(DATA / "r4-examples" / "r4-examples.ndjson.gz") as handle:
        return [jsonio.loads(line) for line in handle]


def per_resource(
    step: Callable[[dict[str, Any]], object], resources: list[dict[str, Any]]
) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for resource in resources:
            step(resource)
        best = min(best, (time.process_time() - start) / len(resources))
    return best * 1e6


def main() -> None:
    record = synthea()
    observations = [r for r in record if r["resourceType"] == "Observation"]
    official = examples()
    print("| step | data | µs per resource |")
    print("|---|---|---|")
    for name, step in (("validate", validate_resource), ("extract index", extract_index)):
        for label, resources in (
            ("Synthea Observation", observations),
            ("one Synthea record, all types", record),
            ("official R4 examples", official),
        ):
            print(f"| {name} | {label} | {per_resource(step, resources):.0f} |")


if __name__ == "__main__":
    main()
