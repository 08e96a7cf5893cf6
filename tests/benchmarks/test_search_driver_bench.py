"""The driver-choice benchmark runs end to end at a tiny size (benchmarks/search_driver.py).

No timings are asserted: only that every query is timed with the choice off and on at
both sizes, on values taken from the data, and reported as a row of the table.
"""

from __future__ import annotations

import pytest

from benchmarks import search_driver as bench


def test_search_driver_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    code = bench.main(["--patients", "3,6", "--rounds", "1", "--seconds", "0.02"])

    assert code == 0
    report = capsys.readouterr().out
    rows = [line for line in report.splitlines() if line.startswith("| `")]
    assert len(rows) == 6
    assert rows[0].startswith("| `Patient?gender=female&family=")
    assert all(len(row.split("|")) == 8 for row in rows)  # six cells
    assert "3 patients" in report and "6 patients" in report
