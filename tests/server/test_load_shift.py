"""The hospital-shift load test, small and bounded, with a kill -9 in the middle: every
acknowledged write survives, errors are only "server away" or 503, never a 500."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.load import shift


@pytest.mark.slow
def test_shift_with_a_kill_loses_no_acknowledged_write(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    code = shift.main(
        ["--duration", "12", "--clinicians", "3", "--patients", "3", "--kill-at", "5",
         "--json", str(report_path)]
    )  # fmt: skip
    report = json.loads(report_path.read_text())
    assert code == 0
    assert report["lost_acknowledged_writes"] == 0
    assert report["acknowledged_writes"] > 0
    for action in ("find_patient", "open_chart", "record_vitals", "page_load"):
        assert report["actions"][action]["ok"] > 0, action
        for kind in report["actions"][action]["errors"]:
            assert kind in {"ConnectError", "ReadError", "RemoteProtocolError", "503"}, kind
