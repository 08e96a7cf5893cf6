"""A small Synthea output for tests: two patients and the hospitals and practitioners they
name (../shared/data/blaze-synthea, see its README)."""

from __future__ import annotations

import bz2
import re
from pathlib import Path
from typing import Any

from wardbook.fhir import jsonio

SYNTHEA = Path(__file__).resolve().parents[1].parent / "shared/data/blaze-synthea"
HOSPITALS = SYNTHEA / "0-hospitalInformation1625911868739.json.bz2"
PRACTITIONERS = SYNTHEA / "0-practitionerInformation1625911868739.json.bz2"
# The two smallest patient bundles: 268 entries together.
PATIENTS = [
    SYNTHEA / "8a4c9c04-1524-9f1c-d65b-9b17e4520fef.json.bz2",
    SYNTHEA / "8708d3e1-f718-96bb-03f0-f2a6564ae1cd.json.bz2",
]


def read_bundle(path: Path) -> dict[str, Any]:
    return dict(jsonio.loads(bz2.decompress(path.read_bytes())))


def trimmed(source: Path, patients: list[Path], extra: int = 3) -> bytes:
    """A hospital or practitioner bundle cut to what the patients name, plus a few more
    (the whole one is ~400 conditional creates: seconds per test)."""
    named = set()
    for patient in patients:
        for match in re.findall(rb"\?identifier=([^\"]*)", bz2.decompress(patient.read_bytes())):
            named.add(match.decode())
    bundle = read_bundle(source)
    kept, others = [], []
    for entry in bundle["entry"]:
        criteria = entry["request"].get("ifNoneExist", "").removeprefix("identifier=")
        role = entry["resource"].get("practitioner", {}).get("identifier", {})
        npi = f"{role.get('system')}|{role.get('value')}"
        (kept if criteria in named or npi in named else others).append(entry)
    return jsonio.dumps({**bundle, "entry": kept + others[:extra]})
