"""Loading FHIR data from files: Bundles, NDJSON, folders, .gz/.bz2 (INTERFACES.md ``load``).

Resources keep their ids and are written as updates, so re-loading the same data makes no
new versions. Bundle entries identified only by ``urn:uuid:`` full URLs get that uuid as
their id, and references to those URLs are rewritten to ``Type/id`` (R4 bundle.html#
references). Each batch of resources is one transaction: nothing is half-written.
"""

from __future__ import annotations

import bz2
import gzip
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from wardbook.errors import WardbookError
from wardbook.fhir import jsonio
from wardbook.service.resources import ResourceService

BATCH_SIZE = 500


@dataclass(slots=True)
class Rejected:
    """A resource that was not loaded, and why."""

    source: str
    reference: str
    reason: str


@dataclass(slots=True)
class LoadReport:
    written: int = 0
    unchanged: int = 0
    files: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    # Resources whose conditional references matched nothing when first met, retried once
    # the whole input was loaded (``wardbook.service.ingest``).
    deferred: int = 0
    # The conditional references that matched nothing even then: resources rejected each.
    unresolved: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.written + self.unchanged + len(self.rejected)


@dataclass(frozen=True, slots=True)
class Item:
    """One resource to load, with its origin for error reports."""

    source: str
    resource: Any
    if_none_exist: str | None = None


def open_input(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed when it ends in .gz or .bz2."""
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if path.suffix == ".bz2":
        return bz2.open(path, "rb")
    return path.open("rb")


def stem_suffix(path: Path) -> str:
    name = path.name
    for compressed in (".gz", ".bz2"):
        if name.endswith(compressed):
            name = name[: -len(compressed)]
    return Path(name).suffix


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files to load: given files, and .json/.ndjson files (optionally compressed) in folders."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and stem_suffix(child) in (".json", ".ndjson", ".jsonl"):
                    yield child
        else:
            yield path


def iter_items(path: Path) -> Iterator[Item]:
    """Resources in one file; NDJSON streams line by line in constant memory."""
    with open_input(path) as handle:
        if stem_suffix(path) in (".ndjson", ".jsonl"):
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield parse_line(f"{path}:{number}", line)
            return
        data = handle.read()
    try:
        document = jsonio.loads(data)
    except WardbookError as error:
        yield Item(str(path), _Unparsable(error.message))
        return
    yield from items_of(str(path), document)


class _Unparsable:
    def __init__(self, reason: str) -> None:
        self.reason = reason


def parse_line(source: str, line: bytes) -> Item:
    try:
        return Item(source, jsonio.loads(line))
    except WardbookError as error:
        return Item(source, _Unparsable(error.message))


def items_of(source: str, document: Any) -> Iterator[Item]:
    """The resources of a parsed document: a Bundle's entries, or the resource itself."""
    if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
        yield Item(source, document)
        return
    entries = [e for e in document.get("entry") or [] if isinstance(e, dict)]
    urn_ids: dict[str, str] = {}
    for entry in entries:
        resource = entry.get("resource")
        full_url = entry.get("fullUrl")
        if (
            isinstance(resource, dict)
            and isinstance(full_url, str)
            and full_url.startswith("urn:uuid:")
            and isinstance(resource.get("resourceType"), str)
        ):
            resource_id = resource.get("id") or full_url[len("urn:uuid:") :]
            urn_ids[full_url] = f"{resource['resourceType']}/{resource_id}"
    for position, entry in enumerate(entries):
        resource = entry.get("resource")
        if not isinstance(resource, dict):
            continue
        request = entry.get("request") if isinstance(entry.get("request"), dict) else {}
        method = (request or {}).get("method")
        if method == "DELETE":
            continue
        full_url = entry.get("fullUrl")
        if "id" not in resource and isinstance(full_url, str) and full_url in urn_ids:
            resource = {**resource, "id": urn_ids[full_url].split("/", 1)[1]}
        if urn_ids:
            resource = _rewrite_references(resource, urn_ids)
        if_none_exist = (request or {}).get("ifNoneExist")
        yield Item(f"{source}#entry[{position}]", resource, if_none_exist)


def _rewrite_references(value: Any, urn_ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "reference" and isinstance(item, str) and item in urn_ids:
                out[key] = urn_ids[item]
            else:
                out[key] = _rewrite_references(item, urn_ids)
        return out
    if isinstance(value, list):
        return [_rewrite_references(item, urn_ids) for item in value]
    return value


async def load_items(service: ResourceService, items: Iterable[Item], report: LoadReport) -> None:
    """Write items in batches of one transaction each; a rejected item is reported, not fatal."""
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) >= BATCH_SIZE:
            await _load_batch(service, batch, report)
            batch = []
    if batch:
        await _load_batch(service, batch, report)


async def _load_batch(service: ResourceService, batch: list[Item], report: LoadReport) -> None:
    good = []
    for item in batch:
        resource = item.resource
        if isinstance(resource, _Unparsable):
            report.rejected.append(Rejected(item.source, "?", resource.reason))
            continue
        if item.if_none_exist is not None or not (
            isinstance(resource, dict) and resource.get("id")
        ):
            try:
                result = await service.create(
                    str(resource.get("resourceType")) if isinstance(resource, dict) else "?",
                    resource,
                    if_none_exist=item.if_none_exist,
                )
            except WardbookError as error:
                report.rejected.append(Rejected(item.source, _label(resource), error.message))
                continue
            if result.changed:
                report.written += 1
            else:
                report.unchanged += 1
            continue
        good.append(item)
    if not good:
        return
    results = await service.put_many([item.resource for item in good])
    for item, outcome in zip(good, results, strict=True):
        if isinstance(outcome, WardbookError):
            report.rejected.append(Rejected(item.source, _label(item.resource), outcome.message))
        elif outcome.changed:
            report.written += 1
        else:
            report.unchanged += 1


def _label(resource: Any) -> str:
    if isinstance(resource, dict):
        return f"{resource.get('resourceType', '?')}/{resource.get('id', '?')}"
    return "?"
