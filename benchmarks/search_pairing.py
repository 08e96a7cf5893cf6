"""SQLite search shapes with and without paired lists (migration 0018), on the same databases.

``python -m benchmarks.search`` loads new databases on every run, and SQLite's trivial
shapes (0.05-0.2 ms) move by 1.5x from run to run. This benchmark loads one SQLite
database per size once (the generator and loaders of ``benchmarks/search.py``), copies
each, and on the copy "before" puts back the value indexes without the pid and turns
``paired_lists`` off. Both copies are then timed per shape, alternating, for ``--rounds``
rounds; the tables give medians of the rounds' p50s and the growth from the smaller to
the larger size.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks import search as bs
from wardbook.service.resources import ResourceService
from wardbook.storage import search_sql

# The value indexes as they were before migration 0018.
_BEFORE = """
DROP INDEX idx_string_value;
CREATE INDEX idx_string_value ON idx_string (res_type, param, value_norm);
DROP INDEX idx_token_code; CREATE INDEX idx_token_code ON idx_token (res_type, param, code, system);
DROP INDEX idx_date_range; CREATE INDEX idx_date_range ON idx_date (res_type, param, low, high);
DROP INDEX idx_reference_target;
CREATE INDEX idx_reference_target ON idx_reference (res_type, param, target_type, target_id);
ANALYZE;
"""


@contextmanager
def pairing(on: bool) -> Iterator[None]:
    original = search_sql._where
    if not on:
        search_sql._where = lambda query, pair=False: original(query, False)  # type: ignore[assignment]
    try:
        yield
    finally:
        search_sql._where = original


async def _time(path: Path, sample: bs.Sample, seconds: float) -> dict[str, float]:
    repository = bs._open(f"sqlite:///{path}")
    await repository.open()
    try:
        service = ResourceService(repository)
        return {
            shape.name: (await bs.run_shape(service, shape, sample, seconds, 2000, 1.0)).p50
            for shape in bs.SHAPES
        }
    finally:
        await repository.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50000,500000")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per shape, size, variant")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    p50s: dict[tuple[str, int, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="wardbook-pairing-") as tmp:
        build = Path(tmp) / "build.db"
        url = f"sqlite:///{build}"

        async def migrate_and_settle(path: Path) -> None:
            repository = bs._open(f"sqlite:///{path}")
            await repository.open()
            await repository.migrate()
            await bs.settle(repository, f"sqlite:///{path}")
            await repository.close()

        asyncio.run(migrate_and_settle(build))
        loaded = bs.Loaded()
        copies: dict[int, tuple[Path, Path, bs.Sample]] = {}
        for size in sizes:
            print(f"loading to {size:,} resources", file=sys.stderr, flush=True)
            bs.load_until([url], loaded, size, 3, time.monotonic() + 3600, print)
            asyncio.run(migrate_and_settle(build))
            before, after = Path(tmp) / f"before{size}.db", Path(tmp) / f"after{size}.db"
            shutil.copy(build, before)
            shutil.copy(build, after)
            with sqlite3.connect(before) as conn:
                conn.executescript(_BEFORE)
            sample = bs.Sample(**dataclasses.asdict(loaded.sample))
            copies[size] = (before, after, sample)
        build.unlink()
        for n in range(args.rounds):
            for size, (before, after, sample) in copies.items():
                for name, path, on in (("before", before, False), ("after", after, True)):
                    with pairing(on):
                        for shape, p50 in asyncio.run(_time(path, sample, args.seconds)).items():
                            p50s.setdefault((name, size, shape), []).append(p50)
                    print(f"round {n + 1}: {name} at {size:,}", file=sys.stderr, flush=True)
    small, large = sizes[0], sizes[-1]
    print(
        f"| shape | before: p50 ms {small:,} / {large:,} | before: growth"
        f" | after: p50 ms {small:,} / {large:,} | after: growth |"
    )
    print("|---|---|---|---|---|")
    for shape in bs.SHAPES:
        cells = []
        for name in ("before", "after"):
            a, b = (statistics.median(p50s[(name, s, shape.name)]) for s in (small, large))
            cells.append(f"{a:.3f} / {b:.3f} | {b / a:.2f}")
        print(f"| {shape.name} | {' | '.join(cells)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
