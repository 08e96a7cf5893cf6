"""SQLite searches whose rank-chosen driver is unselective, with and without choose_driver.

``search_sql.driving_rank`` orders criteria by kind: a token drives before a string, and of
two tokens the first drives. ``search_sql.choose_driver`` (SQLite only) counts the index
rows of the rank's driver, up to a bound, and lets a smaller criterion drive instead. This
benchmark loads ``wardbook demo`` databases (one per ``--patients`` size, same seed), picks
query values from their data (the commonest surname, a Condition code held by a few
percent of Conditions, body height), and times each query with the choice on and off on
the same database, alternating, for ``--rounds`` rounds. Reported: medians of the rounds'
p50 per query, the "on/off" ratio, and the growth from the smallest size to the largest.

Usage: .venv/bin/python -m benchmarks.search_driver [--patients 100,1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from benchmarks.run import BIN
from wardbook.search.parse import parse_search
from wardbook.storage import search_sql
from wardbook.storage.factory import open_repository


def queries(db: Path) -> list[tuple[str, str]]:
    """(type, query string) per shape, values taken from the database's own rows."""
    with sqlite3.connect(db) as conn:

        async def fetchone(sql: str, params: tuple[Any, ...] = ()) -> Any:
            return conn.execute(sql, params).fetchone()

        return asyncio.run(queries_from(fetchone))


async def queries_from(fetchone: Callable[..., Awaitable[Any]]) -> list[tuple[str, str]]:
    """:func:`queries` on any database: ``await fetchone(sql, params=())`` runs ``?`` SQL."""
    family = (
        await fetchone(
            "SELECT value_norm FROM idx_string WHERE res_type = 'Patient' AND param = 'family'"
            " GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        )
    )[0]
    given = (
        await fetchone(
            "SELECT g.value_norm FROM idx_string g JOIN idx_string f ON f.pid = g.pid"
            " WHERE g.res_type = 'Patient' AND g.param = 'given' AND f.param = 'family'"
            " AND f.value_norm = ? ORDER BY 1 LIMIT 1",
            (family,),
        )
    )[0]
    total = (
        await fetchone(
            "SELECT count(*) FROM idx_token WHERE res_type = 'Condition' AND param = 'code'"
        )
    )[0]
    # A code held by about 3% of Conditions: a diagnosis, not a rarity.
    code = (
        await fetchone(
            "SELECT code FROM idx_token WHERE res_type = 'Condition' AND param = 'code'"
            " AND code IS NOT NULL GROUP BY code ORDER BY abs(count(*) - ?), code LIMIT 1",
            (total * 0.03,),
        )
    )[0]
    return [
        ("Patient", f"gender=female&family={family}"),
        ("Condition", f"clinical-status=active&code={code}"),
        ("Observation", "status=final&code=8302-2&_count=20"),
        ("Observation", "category=vital-signs&code=8302-2&_count=20&_total=none"),
        # Controls: the rank already picks the smaller list (only the count is added).
        ("Condition", f"code={code}&clinical-status=active"),
        ("Patient", f"family={family}&given={given}"),
    ]


@contextmanager
def choosing(on: bool) -> Iterator[None]:
    original = search_sql.choose_driver

    async def rank_only(runner: object, query: object) -> None:
        return None

    if not on:
        search_sql.choose_driver = rank_only  # type: ignore[assignment]
    try:
        yield
    finally:
        search_sql.choose_driver = original


async def time_queries(
    url: str, shapes: list[tuple[str, str]], seconds: float, max_runs: int = 2000
) -> list[float]:
    """p50 in ms of each (type, query string), searched for ``seconds`` or ``max_runs``."""
    repository = open_repository(url)
    await repository.open()
    try:
        p50s = []
        for resource_type, text in shapes:
            query = parse_search(resource_type, parse_qsl(text), strict=True)
            for _ in range(5):  # warm the page cache
                await repository.search(query)
            times: list[float] = []
            stop = time.perf_counter() + seconds
            while time.perf_counter() < stop and len(times) < max_runs:
                start = time.perf_counter()
                await repository.search(query)
                times.append(time.perf_counter() - start)
            p50s.append(statistics.median(times) * 1000)
        return p50s
    finally:
        await repository.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", default="100,1000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per query and variant")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.patients.split(","))
    with tempfile.TemporaryDirectory(prefix="wardbook-driver-") as tmp:
        dbs: dict[int, Path] = {}
        for size in sizes:
            db = dbs[size] = Path(tmp) / f"demo{size}.db"
            print(f"loading {size} demo patients", file=sys.stderr, flush=True)
            for cmd in (["migrate"], ["demo", "--patients", str(size), "--seed", "11"]):
                subprocess.run(
                    [str(BIN / "wardbook"), *cmd, "--database", f"sqlite:///{db}"],
                    check=True,
                    capture_output=True,
                )
            with sqlite3.connect(db) as conn:
                conn.execute("ANALYZE")
        shapes = {size: queries(db) for size, db in dbs.items()}
        resources = {}
        for size, db in dbs.items():
            with sqlite3.connect(db) as conn:
                resources[size] = conn.execute("SELECT count(*) FROM resource_entity").fetchone()[0]
        p50: dict[tuple[int, bool], list[list[float]]] = {}
        for n in range(args.rounds):
            for size, db in dbs.items():
                for on in (False, True):
                    with choosing(on):
                        p50.setdefault((size, on), []).append(
                            asyncio.run(time_queries(f"sqlite:///{db}", shapes[size], args.seconds))
                        )
            print(f"round {n + 1} done", file=sys.stderr, flush=True)
    small, large = sizes[0], sizes[-1]
    print(
        f"Sizes: {', '.join(f'{s} patients ({resources[s]:,} resources)' for s in sizes)};"
        f" {args.rounds} rounds; query values of the {large}-patient database shown.\n"
    )
    print(
        f"| query | off: p50 ms {small} / {large} | on: p50 ms {small} / {large}"
        f" | on/off at {large} | growth off | growth on |"
    )
    print("|---|---|---|---|---|---|")
    for i, (resource_type, text) in enumerate(shapes[large]):
        med = {key: statistics.median(run[i] for run in runs) for key, runs in p50.items()}
        off_s, off_l, on_s, on_l = (
            med[(small, False)],
            med[(large, False)],
            med[(small, True)],
            med[(large, True)],
        )
        print(
            f"| `{resource_type}?{text}` | {off_s:.3f} / {off_l:.3f} | {on_s:.3f} / {on_l:.3f}"
            f" | {on_l / off_l:.2f} | {off_l / off_s:.2f} | {on_l / on_s:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
