"""CPU time per resource of each stage of ``wardbook load``'s worker side, in process.

Reads the first ``--limit`` resources of the Synthea bundles flattened exactly as
``benchmarks/ingest.py`` does, serializes each to its NDJSON line, then times every stage of
``prepare_item`` separately with ``time.process_time`` (CPU time of this process only, so
other jobs on a shared machine do not inflate it): JSON parse, validation, link rewriting,
index extraction, index sets, stamp + serialization. Each stage runs ``--repeat`` times
over the whole set and the fastest pass is kept.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", default=None, help="write a cProfile of prepare_item here")
    args = parser.parse_args()

    from benchmarks.ingest import synthea_resources
    from wardbook.fhir import jsonio
    from wardbook.fhir.bundle_refs import rewrite_links
    from wardbook.fhir.meta import stamp
    from wardbook.search.extract import extract_index
    from wardbook.service.ingest import prepare_item
    from wardbook.service.loader import parse_line
    from wardbook.service.resources import require_valid
    from wardbook.storage.index_tables import index_sets

    base = list(synthea_resources())[: args.limit]
    lines = [json.dumps(r, separators=(",", ":")).encode() for r in base]
    parsed = [jsonio.loads(line) for line in lines]
    for resource in parsed:  # warm every cache (type plans, element tables)
        extract_index(resource)
        require_valid(resource, resource["resourceType"])
    extracted = [extract_index(r) for r in parsed]
    n = len(lines)

    def timed(name: str, run: Callable[[], Any]) -> float:
        best = float("inf")
        for _ in range(args.repeat):
            started = time.process_time()
            run()
            best = min(best, time.process_time() - started)
        print(f"{name:<22} {best / n * 1e6:8.1f} µs/resource", flush=True)
        return best

    total = 0.0
    total += timed("parse (jsonio.loads)", lambda: [jsonio.loads(x) for x in lines])
    total += timed("validate", lambda: [require_valid(r, r["resourceType"]) for r in parsed])
    total += timed("rewrite_links", lambda: [rewrite_links(r, {}) for r in parsed])
    total += timed("extract_index", lambda: [extract_index(r) for r in parsed])
    total += timed("index_sets", lambda: [index_sets(x) for x in extracted])
    total += timed(
        "stamp + dumps",
        lambda: [jsonio.dumps(stamp(r, r["id"], 1, 1_700_000_000_000_000)) for r in parsed],
    )
    print(f"{'sum of stages':<22} {total / n * 1e6:8.1f} µs/resource")
    items = [parse_line(f"x:{i}", line) for i, line in enumerate(lines)]
    timed("prepare_item (whole)", lambda: [prepare_item(i, 1_700_000_000_000_000) for i in items])
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        for item in items:
            prepare_item(item, 1_700_000_000_000_000)
        for resource in parsed:  # also the resources prepare_item hands to the writer
            extract_index(resource)
        profiler.disable()
        profiler.dump_stats(args.profile)
    print(f"{n} resources", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
