"""PostgreSQL searches with two selective-looking criteria, before and after migration 0019.

"Before" is the planner without the extended statistics of migration 0019 and with the
probes that do not name ``res_type``; "after" is both (docs/search.md, "Which criterion
drives a search"). One ``wardbook demo`` database per ``--patients`` size; each round
drops or creates the statistics (and ANALYZEs) and times the queries of
``benchmarks/search_driver.py`` (values from the data), alternating before and after for
``--rounds`` rounds. Reported: medians of the rounds' p50 per query.

Usage: .venv/bin/python -m benchmarks.search_pg_plans [--patients 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg

from benchmarks.run import BIN, PG_ADMIN
from benchmarks.search_driver import queries_from, time_queries
from wardbook.storage import search_sql
from wardbook.storage.base import Dialect
from wardbook.storage.migrate import load_migrations

_STATISTICS = next(
    m.sql for m in load_migrations(Dialect.POSTGRES) if m.name == "0019_index_statistics"
)
_DROP = (
    "DROP STATISTICS IF EXISTS idx_token_type_param_code, idx_string_type_param_value,"
    " idx_reference_type_param_target, idx_date_type_param;"
    " ANALYZE idx_token, idx_string, idx_reference, idx_date"
)


@contextmanager
def untyped_probes(on: bool) -> Iterator[None]:
    """The probes as before 0019: without their ``res_type`` test on PostgreSQL too."""
    original = search_sql._where

    def plain(query: Any, pair: bool = False, driver: Any = None, typed: bool = False) -> Any:
        return original(query, pair, driver, False)

    if on:
        search_sql._where = plain  # type: ignore[assignment]
    try:
        yield
    finally:
        search_sql._where = original


def _dollars(sql: str) -> str:
    parts = sql.split("?")
    return "".join(f"{p}${n}" for n, p in enumerate(parts[:-1], 1)) + parts[-1]


async def _values(url: str) -> list[tuple[str, str]]:
    """The query values of ``benchmarks/search_driver.py``, looked up in this database."""
    conn = await asyncpg.connect(url)
    try:
        return await queries_from(lambda sql, params=(): conn.fetchrow(_dollars(sql), *params))
    finally:
        await conn.close()


async def _set_statistics(url: str, before: bool) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(_DROP if before else _STATISTICS)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per query and variant")
    args = parser.parse_args(argv)
    name = f"wardbook_pgplans_{uuid.uuid4().hex[:8]}"
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    subprocess.run(["psql", PG_ADMIN, "-q", "-c", f"CREATE DATABASE {name}"], check=True)
    try:
        print(f"loading {args.patients} demo patients", file=sys.stderr, flush=True)
        for cmd in (["migrate"], ["demo", "--patients", str(args.patients), "--seed", "11"]):
            subprocess.run(
                [str(BIN / "wardbook"), *cmd, "--database", url], check=True, capture_output=True
            )
        shapes = asyncio.run(_values(url))
        p50: dict[bool, list[list[float]]] = {}
        for n in range(args.rounds):
            for before in (True, False):
                asyncio.run(_set_statistics(url, before))
                with untyped_probes(before):
                    p50.setdefault(before, []).append(
                        asyncio.run(time_queries(url, shapes, args.seconds, 1000))
                    )
            print(f"round {n + 1} done", file=sys.stderr, flush=True)
    finally:
        subprocess.run(
            ["psql", PG_ADMIN, "-q", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
            check=True,
        )
    print(f"{args.patients} demo patients; {args.rounds} rounds.\n")
    print("| query | before: p50 ms | after: p50 ms | after/before |")
    print("|---|---|---|---|")
    for i, (resource_type, text) in enumerate(shapes):
        b, a = (statistics.median(run[i] for run in p50[k]) for k in (True, False))
        print(f"| `{resource_type}?{text}` | {b:.3f} | {a:.3f} | {a / b:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
