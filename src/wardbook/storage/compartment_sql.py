"""``$everything``: a compartment's members and what they reference, one keyset page at a time.

R4 patient-operation-everything.html: "all resources ... in the patient compartment for the
identified patient, and any resource referenced from those". Membership is taken from the
compartment definition (R4 compartmentdefinition-patient.html, ``fhir/r4/compartments.json``):
a resource is a member when one of its listed search parameters references the focus, which
``idx_reference`` answers through its ``(target_type, target_id)`` index. Pages are ordered
by ``pid`` and continue after the last one (keyset), so no page costs more than its size
and nothing is held between pages.

Care dates (``start``/``end``): a resource is left out when it has a care date (the
type's clinical date parameter, :func:`care_date_params`) and none overlaps the range;
resources without one (Medication, Practitioner...) are kept, and so is the focus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from wardbook.fhir import registry
from wardbook.storage.base import Dialect, Page, SqlRunner
from wardbook.storage.version_rows import stored_from_row, version_columns

_BODY = {Dialect.SQLITE: "CAST(v.body AS BLOB)", Dialect.POSTGRES: "v.body"}
# The clinical ("care") date of a type: its ``date`` parameter, else the first of these.
_CARE_DATE_FALLBACKS = (
    "onset-date",
    "authoredon",
    "created",
    "started",
    "effective-time",
    "effective",
    "occurrence",
    "period",
    "recorded-date",
    "issued",
)


@dataclass(frozen=True, slots=True)
class CompartmentQuery:
    """One page of ``[compartment]/[id]/$everything``; ``after`` is the last pid seen."""

    compartment: str  # Patient or Encounter
    focus_id: str
    count: int
    after: int = 0
    types: tuple[str, ...] | None = None
    since: int | None = None  # epoch µs: last updated at or after
    start: int | None = None  # epoch µs: care dates overlapping [start, end)
    end: int | None = None


@cache
def membership_pairs(compartment: str) -> tuple[str, ...]:
    """``Type|param`` for every search parameter linking a type to the compartment."""
    pairs = []
    for resource_type in sorted(registry.compartment_resource_types(compartment)):
        for param in registry.compartment_params(compartment, resource_type):
            if param != "{def}":
                pairs.append(f"{resource_type}|{param}")
    return tuple(pairs)


@cache
def care_date_params() -> tuple[str, ...]:
    """``Type|param`` of each type's clinical date (R4 patient-operation-everything: start)."""
    pairs = []
    for resource_type in sorted(registry.resource_types()):
        if resource_type in ("Patient", "Person", "Practitioner", "RelatedPerson"):
            continue  # birth dates and the like are not care dates
        params = registry.search_parameters(resource_type)
        for code in ("date", *_CARE_DATE_FALLBACKS):
            param = params.get(code)
            if param is not None and param.type == "date":
                pairs.append(f"{resource_type}|{code}")
                break
    return tuple(pairs)


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))


def _everything_from(query: CompartmentQuery) -> tuple[str, list[object]]:
    """``WITH ... FROM ... WHERE``: every current resource the query returns, on any page."""
    members = membership_pairs(query.compartment)
    params: list[object] = [query.compartment, query.focus_id, *members]
    params += [query.compartment, query.focus_id, query.compartment, query.focus_id]
    text = (
        "WITH members(pid) AS ("  # internal identifiers, values bound  # nosec B608
        " SELECT r.pid FROM idx_reference r"
        " WHERE r.target_type = ? AND r.target_id = ?"
        f" AND r.res_type || '|' || r.param IN ({_marks(members)})"
        " UNION SELECT pid FROM resource_entity WHERE res_type = ? AND res_id = ?"
        "), linked(pid) AS ("
        " SELECT e.pid FROM idx_reference r"
        " JOIN resource_entity e ON e.res_type = r.target_type AND e.res_id = r.target_id"
        " WHERE r.pid IN (SELECT pid FROM members) AND r.target_id IS NOT NULL"
        # Another patient (encounter) is linked, not a member: only the focus itself.
        " AND NOT (e.res_type = ? AND e.res_id <> ?)"
        "), everything(pid) AS (SELECT pid FROM members UNION SELECT pid FROM linked)"
        " {columns} FROM everything x JOIN resource_entity e ON e.pid = x.pid"
        "{join} WHERE NOT e.deleted"
    )
    if query.types is not None:
        text += f" AND e.res_type IN ({_marks(query.types)})"
        params += list(query.types)
    if query.since is not None:
        text += " AND e.last_updated >= ?"
        params.append(query.since)
    if query.start is not None or query.end is not None:
        care = care_date_params()
        low = query.start if query.start is not None else -(2**62)
        high = query.end if query.end is not None else 2**62
        text += (
            " AND ((e.res_type = ? AND e.res_id = ?)"  # internal identifiers, values bound  # nosec B608
            " OR NOT EXISTS (SELECT 1 FROM idx_date d WHERE d.pid = e.pid"
            f" AND d.res_type || '|' || d.param IN ({_marks(care)}))"
            " OR EXISTS (SELECT 1 FROM idx_date d WHERE d.pid = e.pid"
            f" AND d.res_type || '|' || d.param IN ({_marks(care)})"
            " AND d.high > ? AND d.low < ?))"
        )
        params += [query.compartment, query.focus_id, *care, *care, low, high]
    return text, params


def everything_sql(query: CompartmentQuery, dialect: Dialect) -> tuple[str, list[object]]:
    """The page's SQL: members, resources they reference, filters, keyset, limit."""
    text, params = _everything_from(query)
    text = text.format(
        columns=f"SELECT {version_columns('v', _BODY[dialect])}, e.pid",
        join=" JOIN resource_version v ON v.pid = e.pid AND v.version = e.version",
    )
    return f"{text} AND e.pid > ? ORDER BY e.pid LIMIT ?", [*params, query.after, query.count + 1]


def everything_count_sql(query: CompartmentQuery) -> tuple[str, list[object]]:
    """How many resources the query returns over all its pages (``Bundle.total``)."""
    text, params = _everything_from(query)
    return text.format(columns="SELECT COUNT(*)", join=""), params


async def everything_page(runner: SqlRunner, query: CompartmentQuery) -> Page:
    """One page of the compartment, with the cursor (last pid) of the next one.

    The first page carries ``total``: what every page together returns, with ``_type``,
    ``_since`` and the care dates applied (``_count`` only splits it). Clients show progress
    from it (HAPI, Blaze report it too). Known for free when everything fits on the page;
    otherwise one COUNT over the same members. Later pages leave it out: counting again on
    every page would double the cost of walking a large record.
    """
    text, params = everything_sql(query, runner.dialect)
    rows = await runner.fetch_all(text, params)
    more = len(rows) > query.count
    rows = rows[: query.count]
    entries = [stored_from_row(row) for row in rows]
    next_cursor = str(rows[-1][-1]) if more and rows else None
    total = None
    if query.after == 0:
        if more:
            text, params = everything_count_sql(query)
            total = int((await runner.fetch_all(text, params))[0][0])
        else:
            total = len(rows)
    return Page(entries=entries, total=total, next_cursor=next_cursor)
