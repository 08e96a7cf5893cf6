"""The search benchmark runs end to end at a tiny size, so it cannot rot (benchmarks/search.py).

No timings are asserted: only that every shape is either measured (with runs, percentiles
and a query plan) or reported as skipped with a reason, on both backends, and that the
run stops by itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import search as bench


@pytest.mark.postgres
def test_search_benchmark_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    code = bench.main(
        [
            "--sizes", "150,400",
            "--backends", "sqlite,postgresql",
            "--seconds", "0.05",
            "--max-runs", "3",
            "--warmup", "0.01",
            "--loaders", "1",
            "--max-seconds", "300",
            "--quiet",
            "--json", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    report = capsys.readouterr().out
    assert "### sqlite" in report and "### postgresql" in report
    raw = json.loads(out.read_text())
    assert [r["backend"] for r in raw] == ["sqlite", "postgresql"]
    for backend in raw:
        assert len(backend["sizes"]) == 2 and backend["sizes"][0] < backend["sizes"][1]
        assert backend["sizes"][0] >= 150
        assert set(backend["results"]) == {shape.name for shape in bench.SHAPES}
        measured = 0
        for name, results in backend["results"].items():
            if results[0]["skipped"] is not None:
                assert f"`{name}`" in report  # listed with the reason it was skipped
                continue
            measured += 1
            assert all(r["runs"] >= 1 and r["p50"] > 0 for r in results)
            assert f"| {name} |" in report
            assert backend["plans"][name][0]  # a query plan was recorded
        assert measured >= 8  # the shapes Wardbook runs today, at least
        # How many resources each search found is reported: values come from the data.
        found = [r["matches"] for results in backend["results"].values() for r in results]
        assert sum(1 for m in found if m > 0) >= 8
    assert "| mean matches |" in report


def test_plan_check_flags_table_scans() -> None:
    from wardbook.storage.base import Dialect

    assert not bench._uses_index(Dialect.POSTGRES, ["  ->  Seq Scan on idx_token i"])
    assert bench._uses_index(Dialect.POSTGRES, ["Index Scan using idx_token_code on idx_token"])
    assert not bench._uses_index(Dialect.SQLITE, ["SCAN e"])
    assert not bench._uses_index(Dialect.SQLITE, ["SCAN i USING INDEX idx_token_pid"])
    assert bench._uses_index(Dialect.SQLITE, ["SEARCH i USING INDEX idx_token_code (res_type=?)"])
    assert bench._uses_index(Dialect.SQLITE, ["SCAN idx_text_fts VIRTUAL TABLE INDEX 0:M1"])
    # The rows of a subquery (paired lists' bounded count), not a table.
    counted = ["SCALAR SUBQUERY 3", "CO-ROUTINE n", "SEARCH i USING COVERING INDEX x", "SCAN n"]
    assert bench._uses_index(Dialect.SQLITE, counted)
    assert not bench._uses_index(Dialect.SQLITE, [*counted, "SCAN e"])
