"""SQL for ``Location?near`` (R4 search.html#special, Location ``near``): one text, both backends.

Each value becomes a bounding box on the two ``idx_number`` rows of a Location's position
(``near:latitude``, ``near:longitude``; both answered by ``idx_number_value``) and, on the
rows inside it, the exact haversine test ``h <= sin²(d / 2R)`` (see
:mod:`wardbook.search.params.near`). ``sin``, ``cos`` and ``radians`` are built into
PostgreSQL; SQLite builds without its math functions get Python ones registered on every
connection (:func:`wardbook.storage.sqlite.connection.connect`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from wardbook.search.params.near import LATITUDE, LONGITUDE, NearValue

if TYPE_CHECKING:
    from wardbook.search.query import Criterion
    from wardbook.storage.search_sql import Sql

# h = sin²(Δφ/2) + cos φ1 · cos φ2 · sin²(Δλ/2), with a = latitude row, o = longitude row.
_HAVERSINE = (
    "(sin(radians(a.value - ?) / 2) * sin(radians(a.value - ?) / 2)"
    " + cos(radians(?)) * cos(radians(a.value))"
    " * sin(radians(o.value - ?) / 2) * sin(radians(o.value - ?) / 2))"
)


def _value_sql(value: NearValue) -> Sql:
    from wardbook.storage.search_sql import Sql

    low, high = value.latitude_range()
    text = "a.value >= ? AND a.value <= ?"
    params: list[object] = [low, high]
    ranges = value.longitude_ranges()
    if ranges is not None:
        text += " AND (" + " OR ".join("(o.value >= ? AND o.value <= ?)" for _ in ranges) + ")"
        params.extend(x for r in ranges for x in r)
    bound = value.bound
    if bound is not None:
        lat, lon = value.latitude, value.longitude
        text += f" AND {_HAVERSINE} <= ?"
        params.extend([lat, lat, lat, lon, lon, bound])
    return Sql(f"({text})", params)


def near_sql(criterion: Criterion, resource_type: str | None) -> Sql:
    """``e.pid IN (...)``: Locations whose position is within one value's distance."""
    from wardbook.storage.search_sql import Sql, Subquery, _in, _or

    where = _or([_value_sql(cast(NearValue, v)) for v in criterion.values])
    text = "o.param = ? AND a.param = ?"
    params: list[object] = [LONGITUDE, LATITUDE]
    if resource_type is not None:
        text += " AND a.res_type = ?"
        params.append(resource_type)
    source = "idx_number a JOIN idx_number o ON o.pid = a.pid AND o.res_type = a.res_type"
    return _in(Subquery("a.pid", source, Sql(f"{text} AND {where.text}", [*params, *where.params])))


def distance_sort_sql(point: NearValue, aggregate: str) -> Sql:
    """A Location's haversine term from ``point``: ``_sort=near`` orders by it.

    The term rises with the great-circle distance, so it sorts as the distance does
    without ``asin``; ``aggregate`` (MIN/MAX) keeps the subquery scalar.
    """
    from wardbook.storage.search_sql import Sql

    lat, lon = point.latitude, point.longitude
    return Sql(
        # internal identifiers, values bound:
        f"(SELECT {aggregate}({_HAVERSINE}) FROM idx_number a JOIN idx_number o"  # nosec B608
        " ON o.pid = a.pid AND o.res_type = a.res_type AND o.param = ?"
        " WHERE a.pid = e.pid AND a.param = ?)",
        [lat, lat, lat, lon, lon, LONGITUDE, LATITUDE],
    )
