"""Resource metadata the server owns: id, meta.versionId, meta.lastUpdated (R4 resource.html#Meta).

Bodies are stored with these filled in, so a read returns stored bytes untouched.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ID_PATTERN = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_ETAG = re.compile(r'^\s*(?:W/)?"?([0-9]+)"?\s*$')


def format_instant(micros: int) -> str:
    """An R4 ``instant`` in UTC with microseconds, e.g. 2026-11-25T13:45:01.123456+00:00."""
    moment = _EPOCH + timedelta(microseconds=micros)
    return moment.isoformat(timespec="microseconds")


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(micros: int) -> str:
    """RFC 9110 IMF-fixdate for Last-Modified, e.g. ``Wed, 25 Nov 2026 13:45:01 GMT``."""
    t = time.gmtime(micros // 1_000_000)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def etag(version: int) -> str:
    """Weak ETag of a version (R4 http.html#versioning)."""
    return f'W/"{version}"'


def parse_etag(value: str) -> int | None:
    """The version in ``W/"3"`` (or ``"3"`` / ``3``); None when it is not a version tag."""
    match = _ETAG.match(value)
    return int(match.group(1)) if match else None


def is_valid_id(value: str) -> bool:
    """R4 datatypes.html#id: 1-64 of [A-Za-z0-9-.]."""
    return ID_PATTERN.fullmatch(value) is not None


def stamp(resource: dict[str, Any], resource_id: str, version: int, micros: int) -> dict[str, Any]:
    """A copy with id and meta set; resourceType, id, meta first for readable output."""
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = format_instant(micros)
    out: dict[str, Any] = {
        "resourceType": resource["resourceType"],
        "id": resource_id,
        "meta": meta,
    }
    for key, value in resource.items():
        if key not in out:
            out[key] = value
    return out


def content_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal apart from the server-owned meta.versionId and meta.lastUpdated."""
    return strip_server_meta(a) == strip_server_meta(b)


def strip_server_meta(resource: dict[str, Any]) -> dict[str, Any]:
    """A shallow copy without meta.versionId / meta.lastUpdated (and no empty meta)."""
    out = dict(resource)
    meta = out.get("meta")
    if isinstance(meta, dict):
        rest = {k: v for k, v in meta.items() if k not in ("versionId", "lastUpdated")}
        if rest:
            out["meta"] = rest
        else:
            del out["meta"]
    return out
