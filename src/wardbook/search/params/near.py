"""``Location?near``, R4 search.html#special and the Location ``near`` SearchParameter.

"Search for locations where the location.position is near to, or within a specified
distance of, the provided coordinates expressed as [latitude]|[longitude]|[distance]|[units]
(using the WGS84 datum) ... If the units are omitted, then kms should be assumed. If the
distance is omitted, then the server can use its own discretion" -- Wardbook uses
:data:`DEFAULT_DISTANCE_KM`. Units are UCUM length codes (``km``, ``m``, ``[mi_i]``...).

Index: two number rows per Location with a ``position`` (``near:latitude`` and
``near:longitude``, degrees), written at extraction like every other row. Search: a
latitude/longitude bounding box that the ``idx_number`` B-tree answers, then the exact
great-circle test (haversine on a sphere of :data:`EARTH_RADIUS_KM`) on what is left.
The test compares the haversine term ``h`` with ``sin²(d / 2R)`` instead of taking
``2R·asin(√h)``, so it needs only ``sin``, ``cos`` and ``radians`` and never leaves the
domain of ``asin``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from wardbook.search.index import NumberRow
from wardbook.search.params.escape import split_escaped, unescape
from wardbook.search.ucum import to_canonical

LATITUDE = "near:latitude"
LONGITUDE = "near:longitude"
EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
DEFAULT_DISTANCE_KM = 10.0
# Beyond half the circumference every point of the sphere is within the distance.
_HALF_CIRCUMFERENCE_KM = math.pi * EARTH_RADIUS_KM


@dataclass(frozen=True, slots=True)
class NearValue:
    """A point and a radius in km; ``bound`` is ``sin²(d / 2R)`` (None: the whole sphere)."""

    latitude: float
    longitude: float
    distance_km: float

    @property
    def bound(self) -> float | None:
        if self.distance_km >= _HALF_CIRCUMFERENCE_KM:
            return None
        return math.sin(self.distance_km / (2 * EARTH_RADIUS_KM)) ** 2

    def latitude_range(self) -> tuple[float, float]:
        """Latitudes a matching point can have (degrees, clipped to the poles)."""
        delta = math.degrees(self.distance_km / EARTH_RADIUS_KM)
        return max(-90.0, self.latitude - delta), min(90.0, self.latitude + delta)

    def longitude_ranges(self) -> list[tuple[float, float]] | None:
        """Longitude intervals a matching point can lie in; None when any longitude can.

        The circle's widest longitude span is ``asin(sin(d/R) / cos(lat))``; a circle that
        reaches a pole spans every longitude, one crossing the antimeridian gives two
        intervals.
        """
        low_lat, high_lat = self.latitude_range()
        angular = self.distance_km / EARTH_RADIUS_KM
        if low_lat <= -90.0 or high_lat >= 90.0 or angular >= math.pi / 2:
            return None
        ratio = math.sin(angular) / math.cos(math.radians(self.latitude))
        if ratio >= 1.0:
            return None
        # A hair wider than exact, so rounding never drops a point the haversine test keeps.
        delta = math.degrees(math.asin(ratio)) * (1 + 1e-9) + 1e-9
        low, high = self.longitude - delta, self.longitude + delta
        if low < -180.0:
            return [(low + 360.0, 180.0), (-180.0, high)]
        if high > 180.0:
            return [(low, 180.0), (-180.0, high - 360.0)]
        return [(low, high)]


_DECIMAL = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def _number(text: str, what: str) -> float:
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"{what} must be a decimal number, not {text!r}")
    return float(text)


def parse(text: str) -> NearValue:
    """``latitude|longitude[|distance[|units]]``; ValueError names what is wrong."""
    parts = [unescape(p) for p in split_escaped(text, "|")]
    if len(parts) < 2 or len(parts) > 4 or not parts[0] or not parts[1]:
        raise ValueError(
            f"expected latitude|longitude|distance|units (e.g. 42.25|-83.69|10|km), not {text!r}"
        )
    latitude = _number(parts[0], "latitude")
    longitude = _number(parts[1], "longitude")
    if not -90.0 <= latitude <= 90.0:
        raise ValueError(f"latitude must be between -90 and 90, not {parts[0]}")
    if not -180.0 <= longitude <= 180.0:
        raise ValueError(f"longitude must be between -180 and 180, not {parts[1]}")
    distance_text = parts[2] if len(parts) > 2 else ""
    units = parts[3] if len(parts) > 3 else ""
    if not distance_text:
        if units and to_canonical(1.0, units) is None:
            raise ValueError(f"unknown distance unit {units!r}")
        return NearValue(latitude, longitude, DEFAULT_DISTANCE_KM)
    distance = _number(distance_text, "distance")
    if distance < 0:
        raise ValueError(f"distance must not be negative, not {distance_text}")
    canonical = to_canonical(distance, units or "km")
    if canonical is None or canonical[1] != "m":
        raise ValueError(
            f"distance units must be a UCUM length such as km, m or [mi_i], not {units!r}"
        )
    return NearValue(latitude, longitude, canonical[0] / 1000.0)


def extract_near_rows(value: Any) -> Iterable[NumberRow]:
    """The latitude and longitude rows of a ``Location.position`` (both or none)."""
    if not isinstance(value, dict):
        return
    latitude, longitude = value.get("latitude"), value.get("longitude")
    if not isinstance(latitude, int | float) or not isinstance(longitude, int | float):
        return
    if isinstance(latitude, bool) or isinstance(longitude, bool):
        return
    lat, lon = float(latitude), float(longitude)
    if -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0:
        yield NumberRow(LATITUDE, lat, lat, lat)
        yield NumberRow(LONGITUDE, lon, lon, lon)


def haversine_term(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """``sin²(Δφ/2) + cos φ1 cos φ2 sin²(Δλ/2)``: the distance is ``2R·asin(√h)``."""
    dlat = math.sin(math.radians(lat2 - lat1) / 2)
    dlon = math.sin(math.radians(lon2 - lon1) / 2)
    return dlat * dlat + math.cos(math.radians(lat1)) * math.cos(math.radians(lat2)) * dlon * dlon


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points, in km."""
    h = min(1.0, haversine_term(lat1, lon1, lat2, lon2))
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def matches(rows: Iterable[NumberRow], values: Iterable[NearValue]) -> bool:
    """OR over values: the indexed position lies within a value's distance."""
    found = {r.param: r.value for r in rows if r.param in (LATITUDE, LONGITUDE)}
    if len(found) != 2:
        return False
    lat, lon = found[LATITUDE], found[LONGITUDE]
    for v in values:
        bound = v.bound
        if bound is None or haversine_term(v.latitude, v.longitude, lat, lon) <= bound:
            return True
    return False


def sort_value(rows: Iterable[NumberRow], point: NearValue) -> float | None:
    """``_sort=near``: the haversine term of the indexed position from ``point`` (None: no
    position), as ``wardbook.storage.search_near.distance_sort_sql`` computes it."""
    found = {r.param: r.value for r in rows if r.param in (LATITUDE, LONGITUDE)}
    if len(found) != 2:
        return None
    return haversine_term(point.latitude, point.longitude, found[LATITUDE], found[LONGITUDE])


def position_distance_km(resource: Any, point: NearValue) -> float | None:
    """Distance in km from ``point`` to a Location's ``position`` (None: no usable one)."""
    rows = list(extract_near_rows(resource.get("position") if isinstance(resource, dict) else None))
    if len(rows) != 2:
        return None
    return distance_km(point.latitude, point.longitude, rows[0].value, rows[1].value)
