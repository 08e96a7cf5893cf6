"""The order ``wardbook load`` reads its input in: reference data before what names it.

Synthea patient bundles name their hospitals and clinicians by conditional references
(``Organization?identifier=https://github.com/synthetichealth/synthea|...``, R4
http.html#trules) that only its ``hospitalInformation*`` and ``practitionerInformation*``
bundles define -- and a folder sorts ``Aaron...json`` before ``hospitalInformation...json``.
So the loader reads reference data first, recognised by content, not by file name: a JSON
file whose resources are all Organization, Location, Practitioner or PractitionerRole, and
the NDJSON lines of those types. The order only saves work: a reference that still finds
nothing is retried once the whole input is loaded (``wardbook.service.ingest``).
"""

from __future__ import annotations

import re
from pathlib import Path

from wardbook.service.loader import open_input

# Each type may name the ones before it (a PractitionerRole its Organization, Location and
# Practitioner), so a file is ranked by the last of them it holds.
REFERENCE_DATA_TYPES: dict[str, int] = {
    "Organization": 0,
    "Location": 1,
    "Practitioner": 2,
    "PractitionerRole": 3,
}
_RESOURCE_TYPE = re.compile(rb'"resourceType"\s*:\s*"([A-Za-z]+)"')
_SCAN_BYTES = 1 << 16
_OVERLAP = 64  # longer than any '"resourceType" : "PractitionerRole"'


def reference_data_rank(path: Path) -> int | None:
    """The rank of a JSON file of reference data only, else None.

    Scans the raw bytes for ``"resourceType": "X"`` and stops at the first other type: a
    patient bundle (its Patient comes first) costs one block of its file, a hospital bundle
    is read whole. JSON escapes quotes inside strings, so text cannot fake a match.
    """
    rank: int | None = None
    tail = b""
    try:
        with open_input(path) as handle:
            while block := handle.read(_SCAN_BYTES):
                window = tail + block
                # A match across the previous block's end was seen in full in ``tail``
                # or is seen in full now: counting it twice changes nothing.
                for match in _RESOURCE_TYPE.finditer(window):
                    resource_type = match.group(1).decode()
                    if resource_type == "Bundle":
                        continue
                    found = REFERENCE_DATA_TYPES.get(resource_type)
                    if found is None:
                        return None
                    rank = found if rank is None else max(rank, found)
                tail = window[-_OVERLAP:]
    except (OSError, EOFError, ValueError):
        return None  # unreadable or corrupt: loaded in its place and reported there
    return rank


def line_resource_type(line: bytes) -> str | None:
    """The first ``resourceType`` of an NDJSON line (the resource's own, as FHIR writes it)."""
    match = _RESOURCE_TYPE.search(line)
    return match.group(1).decode() if match else None


def is_reference_data_line(line: bytes) -> bool:
    """Whether an NDJSON line holds an Organization, Location, Practitioner(Role)."""
    return line_resource_type(line) in REFERENCE_DATA_TYPES


def reference_data_first(documents: list[Path]) -> list[Path]:
    """The JSON files that hold reference data only, by rank, then in the order given."""
    ranked = []
    for position, path in enumerate(documents):
        rank = reference_data_rank(path)
        if rank is not None:
            ranked.append((rank, position, path))
    return [path for _, _, path in sorted(ranked)]
