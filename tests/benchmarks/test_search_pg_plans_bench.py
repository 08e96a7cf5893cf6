"""The PostgreSQL plan benchmark runs end to end at a tiny size (benchmarks/search_pg_plans.py).

No timings are asserted: every query is timed before and after (statistics dropped and
created again) and reported, and the database it made is dropped.
"""

from __future__ import annotations

import subprocess

import pytest

from benchmarks import search_pg_plans as bench
from benchmarks.run import PG_ADMIN


@pytest.mark.postgres
def test_search_pg_plans_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    code = bench.main(["--patients", "3", "--rounds", "1", "--seconds", "0.02"])

    assert code == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| `")]
    assert len(rows) == 6
    assert all(len(row.split("|")) == 6 for row in rows)  # four cells
    left = subprocess.run(
        ["psql", PG_ADMIN, "-tAc", "SELECT count(*) FROM pg_database WHERE datname LIKE"
         " 'wardbook_pgplans_%'"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert left.stdout.strip() == "0"
